//! What the operator records on a MeetingBot, in annotations, about the bot
//! it joined — and the annotations through which users steer it.
//!
//! The bot id lives in an annotation as well as in status: backup and restore
//! tools commonly skip status, and a bot whose id is lost can never be removed.

use super::{MeetingBot, MeetingBotSpec};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The finalizer that makes deletion wait for the bot to leave.
pub const FINALIZER: &str = "liveai.lemonslice.com/leave";
/// Annotations, all under the API group.
pub mod annotation {
    /// Id of the bot in the meeting. Users may write it by hand to adopt a bot.
    pub const MEETING_BOT_ID: &str = "liveai.lemonslice.com/meeting-bot-id";
    /// The session the bot joined under.
    pub const MEETING_BOT_SESSION: &str = "liveai.lemonslice.com/meeting-bot-session";
    /// Fingerprint of the spec fields the bot joined with.
    pub const JOINED_SPEC: &str = "liveai.lemonslice.com/joined-spec";
    /// A join call began and its outcome has not been recorded (JSON).
    pub const JOIN_IN_FLIGHT: &str = "liveai.lemonslice.com/join-in-flight";
    /// Set by users to a new value to allow one more join after an unknown outcome.
    pub const RETRY_JOIN: &str = "liveai.lemonslice.com/retry-join";
    /// Set by users to `"true"` to forget the bot without calling leave.
    pub const SKIP_LEAVE: &str = "liveai.lemonslice.com/skip-leave";
    /// Set by users (any new value) to request a reconcile; echoed into status.
    pub const RECONCILE_REQUESTED_AT: &str = "liveai.lemonslice.com/reconcile-requested-at";
    /// UID of the MeetingBot whose join the record describes. A record whose
    /// UID is not the object's own was copied or restored from another object.
    pub const RECORD_UID: &str = "liveai.lemonslice.com/record-uid";
    /// When the recorded bot joined (RFC 3339), for `spec.maxDuration`.
    pub const JOINED_AT: &str = "liveai.lemonslice.com/joined-at";
    /// Fingerprint of the spec whose bot left after `spec.maxDuration`: that
    /// spec does not join again.
    pub const COMPLETED_SPEC: &str = "liveai.lemonslice.com/completed-spec";
    /// Set by users to the UID of a foreign record to make it this object's own.
    pub const ADOPT_RECORD: &str = "liveai.lemonslice.com/adopt-record";
    /// Set by users to the UID of a foreign record to drop it (no leave: the
    /// bot belongs to the other object) and join afresh.
    pub const DISCARD_RECORD: &str = "liveai.lemonslice.com/discard-record";
}

/// A join that began: written, with the object's resourceVersion as a
/// precondition, before the call is made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinAttempt {
    pub session_id: String,
    /// The value of the retry-join annotation that this attempt used up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_join: Option<String>,
    pub started_at: Timestamp,
}

/// A bot that the operator knows to be (or to have been) in the meeting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedBot {
    pub meeting_bot_id: String,
    pub session_id: String,
    /// Fingerprint of the spec it joined with; unknown for a bot adopted by hand.
    pub joined_spec: Option<String>,
}

/// What the annotations say about the bot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BotRecord {
    /// No bot, and no join in flight.
    None,
    /// A join began and its outcome was never recorded: a bot may exist.
    JoinInFlight(JoinAttempt),
    /// A bot whose id is known.
    Joined(RecordedBot),
}

impl MeetingBot {
    /// A non-empty annotation's value.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.metadata
            .annotations
            .as_ref()
            .and_then(|annotations| annotations.get(key))
            .map(String::as_str)
            .filter(|value| !value.is_empty())
    }

    /// Reads the bot record from the annotations. A bot id written by hand wins
    /// over a join in flight: that is how users adopt a bot whose join outcome was unknown.
    pub fn bot_record(&self) -> BotRecord {
        let attempt = self
            .annotation(annotation::JOIN_IN_FLIGHT)
            .map(serde_json::from_str::<JoinAttempt>);
        if let Some(meeting_bot_id) = self.annotation(annotation::MEETING_BOT_ID) {
            let session_id = self
                .annotation(annotation::MEETING_BOT_SESSION)
                .map(str::to_owned)
                .or_else(|| {
                    attempt
                        .and_then(Result::ok)
                        .map(|attempt| attempt.session_id)
                })
                .unwrap_or_else(|| self.spec.session_id.clone());
            return BotRecord::Joined(RecordedBot {
                meeting_bot_id: meeting_bot_id.to_owned(),
                session_id,
                joined_spec: self.annotation(annotation::JOINED_SPEC).map(str::to_owned),
            });
        }
        match attempt {
            Some(Ok(attempt)) => BotRecord::JoinInFlight(attempt),
            // An unreadable record still says a join began: assume the worst.
            Some(Err(_)) => BotRecord::JoinInFlight(JoinAttempt {
                session_id: self.spec.session_id.clone(),
                retry_join: None,
                started_at: Timestamp::UNIX_EPOCH,
            }),
            None => BotRecord::None,
        }
    }

    /// The value of the retry-join annotation, if set.
    pub fn retry_join(&self) -> Option<&str> {
        self.annotation(annotation::RETRY_JOIN)
    }

    /// Whether users asked to forget the bot without calling leave.
    pub fn skip_leave(&self) -> bool {
        self.annotation(annotation::SKIP_LEAVE) == Some("true")
    }

    pub fn has_finalizer(&self) -> bool {
        self.metadata
            .finalizers
            .as_ref()
            .is_some_and(|finalizers| finalizers.iter().any(|f| f == FINALIZER))
    }

    pub fn is_deleting(&self) -> bool {
        self.metadata.deletion_timestamp.is_some()
    }
}

impl MeetingBotSpec {
    /// Fingerprint of the fields whose change makes the avatar rejoin: the
    /// session, the meeting, the LiveKit server and the bot's name. The
    /// broadcast token is left out on purpose: a new token alone does not rejoin.
    pub fn join_fingerprint(&self) -> String {
        // A URL kept in a Secret counts by its reference: its content (maybe a
        // password) stays out of annotations, and changing it does not rejoin.
        let url_secret = self
            .meeting_url_secret_ref
            .as_ref()
            .map(|r| format!("secret:{}/{}", r.name, r.key));
        let fields = [
            self.session_id.as_str(),
            self.meeting_url
                .as_deref()
                .or(url_secret.as_deref())
                .unwrap_or(""),
            self.livekit_url.as_str(),
            self.bot_name.as_deref().unwrap_or(""),
        ];
        format!("{:016x}", fnv1a(fields.join("\n").as_bytes()))
    }
}

/// FNV-1a: a hash that stays the same across Rust releases, unlike std's.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The annotations that record a joined bot (and clear a join in flight), as a
/// merge-patch fragment.
pub fn joined_annotations(bot: &RecordedBot) -> BTreeMap<&'static str, Option<String>> {
    BTreeMap::from([
        (annotation::MEETING_BOT_ID, Some(bot.meeting_bot_id.clone())),
        (
            annotation::MEETING_BOT_SESSION,
            Some(bot.session_id.clone()),
        ),
        (annotation::JOINED_SPEC, bot.joined_spec.clone()),
        (annotation::JOIN_IN_FLIGHT, None),
    ])
}

/// The annotations that forget a bot (after it left), as a merge-patch fragment.
pub fn forgotten_annotations() -> BTreeMap<&'static str, Option<String>> {
    [
        annotation::MEETING_BOT_ID,
        annotation::MEETING_BOT_SESSION,
        annotation::JOINED_SPEC,
        annotation::JOIN_IN_FLIGHT,
    ]
    .into_iter()
    .map(|key| (key, None))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bot(annotations: &[(&str, &str)]) -> MeetingBot {
        let mut bot = MeetingBot::new(
            "b",
            MeetingBotSpec::new(
                "s1",
                "https://meet.google.com/abc-defg-hij",
                "wss://x.livekit.cloud",
                "t",
            ),
        );
        bot.metadata.annotations = Some(
            annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        bot
    }

    #[test]
    fn a_hand_written_bot_id_adopts_the_bot_of_an_unknown_join() {
        let attempt = r#"{"sessionId":"old","startedAt":"2026-01-01T00:00:00Z"}"#;
        let record = bot(&[
            (annotation::JOIN_IN_FLIGHT, attempt),
            (annotation::MEETING_BOT_ID, "meeting-bot-1"),
        ])
        .bot_record();
        assert_eq!(
            record,
            BotRecord::Joined(RecordedBot {
                meeting_bot_id: "meeting-bot-1".into(),
                session_id: "old".into(),
                joined_spec: None
            })
        );
    }

    #[test]
    fn an_unreadable_join_record_still_counts_as_in_flight() {
        let record = bot(&[(annotation::JOIN_IN_FLIGHT, "garbage")]).bot_record();
        assert!(matches!(record, BotRecord::JoinInFlight(attempt) if attempt.session_id == "s1"));
        assert_eq!(bot(&[]).bot_record(), BotRecord::None);
    }

    #[test]
    fn the_broadcast_token_does_not_change_the_fingerprint() {
        let a = bot(&[]).spec;
        let mut b = a.clone();
        b.broadcast_token_secret_ref.name = "other".into();
        assert_eq!(a.join_fingerprint(), b.join_fingerprint());
        b.meeting_url = Some("https://meet.google.com/zzz-zzzz-zzz".into());
        assert_ne!(a.join_fingerprint(), b.join_fingerprint());
    }
}
