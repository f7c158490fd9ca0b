//! What the operator records on a MeetingBot, in annotations, about the bot
//! it joined — and the annotations through which users steer it.
//!
//! The bot id lives in an annotation as well as in status: backup and restore
//! tools commonly skip status, and a bot whose id is lost can never be removed.

use super::names::{FINALIZER, annotation};
use super::{MeetingBot, MeetingBotSpec};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    /// UID of the MeetingBot that began the join.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

/// A bot that the operator knows to be (or to have been) in the meeting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedBot {
    pub meeting_bot_id: String,
    pub session_id: String,
    /// Fingerprint of the spec it joined with; unknown for a bot adopted by hand.
    pub joined_spec: Option<String>,
    /// When it joined; unknown for a bot adopted by hand.
    pub joined_at: Option<Timestamp>,
    /// UID of the MeetingBot that made the join; unknown for a bot adopted by
    /// hand (which then counts as this object's own).
    pub uid: Option<String>,
}

/// The record as each place keeps it, before they are reconciled.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordCopies {
    /// The bot named in the annotations.
    pub annotated: Option<RecordedBot>,
    /// The join in flight named in the annotations.
    pub in_flight: Option<JoinAttempt>,
    /// The bot named in status.
    pub in_status: Option<RecordedBot>,
}

/// What the record says, once its copies are reconciled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BotRecord {
    /// No bot, and no join in flight.
    None,
    /// A join began and its outcome was never recorded: a bot may exist.
    JoinInFlight(JoinAttempt),
    /// A bot whose id is known.
    Joined(RecordedBot),
    /// A record made by another MeetingBot (this one is its copy or restore):
    /// the bot, if any, is that object's to take out, not this one's.
    Foreign {
        uid: String,
        bot: Option<RecordedBot>,
    },
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

    /// Each copy of the record, as written.
    pub fn record_copies(&self) -> RecordCopies {
        let in_flight = self.annotation(annotation::JOIN_IN_FLIGHT).map(|text| {
            serde_json::from_str::<JoinAttempt>(text).unwrap_or_else(|_| JoinAttempt {
                // An unreadable record still says a join began: assume the worst.
                session_id: self.spec.session_id.clone(),
                retry_join: None,
                started_at: Timestamp::UNIX_EPOCH,
                uid: None,
            })
        });
        let annotated = self
            .annotation(annotation::MEETING_BOT_ID)
            .map(|meeting_bot_id| RecordedBot {
                meeting_bot_id: meeting_bot_id.to_owned(),
                session_id: self
                    .annotation(annotation::MEETING_BOT_SESSION)
                    .map(str::to_owned)
                    .or_else(|| in_flight.as_ref().map(|a| a.session_id.clone()))
                    .unwrap_or_else(|| self.spec.session_id.clone()),
                joined_spec: self.annotation(annotation::JOINED_SPEC).map(str::to_owned),
                joined_at: self
                    .annotation(annotation::JOINED_AT)
                    .and_then(|at| at.parse().ok()),
                uid: self.annotation(annotation::RECORD_UID).map(str::to_owned),
            });
        let in_status = self.status.as_ref().and_then(|status| {
            Some(RecordedBot {
                meeting_bot_id: status.meeting_bot_id.clone().filter(|id| !id.is_empty())?,
                session_id: status
                    .session_id
                    .clone()
                    .unwrap_or_else(|| self.spec.session_id.clone()),
                joined_spec: status.joined_spec.clone(),
                joined_at: status.joined_at.as_ref().map(|t| t.0),
                uid: status.record_uid.clone(),
            })
        });
        RecordCopies {
            annotated,
            in_flight,
            in_status,
        }
    }

    /// The record, its copies reconciled:
    /// - a copy stamped with another object's UID makes the record foreign,
    ///   unless users named that UID in `adopt-record` (it counts as this
    ///   object's) or in `discard-record` (it counts as absent);
    /// - of two copies naming different bots, one written by hand wins, else
    ///   the later join (the earlier bot was left before the later joined);
    /// - a bot in status that joined after the join in flight began is that
    ///   join's outcome (status is written first, the annotations after).
    pub fn bot_record(&self) -> BotRecord {
        let own = self.metadata.uid.as_deref();
        let adopted = self.annotation(annotation::ADOPT_RECORD);
        let discarded = self.annotation(annotation::DISCARD_RECORD);
        let copies = self.record_copies();
        let mut foreign = None;
        let mut keep = |uid: Option<&String>| -> bool {
            match uid.map(String::as_str) {
                None => true,
                Some(uid) if Some(uid) == own || Some(uid) == adopted => true,
                Some(uid) if Some(uid) == discarded => false,
                Some(uid) => {
                    foreign.get_or_insert_with(|| uid.to_owned());
                    true
                }
            }
        };
        let annotated = copies.annotated.filter(|bot| keep(bot.uid.as_ref()));
        let in_flight = copies
            .in_flight
            .filter(|attempt| keep(attempt.uid.as_ref()));
        let in_status = copies.in_status.filter(|bot| keep(bot.uid.as_ref()));
        if let Some(uid) = foreign {
            let bot = [annotated, in_status]
                .into_iter()
                .flatten()
                .find(|bot| bot.uid.as_deref() == Some(uid.as_str()));
            return BotRecord::Foreign { uid, bot };
        }
        match (annotated, in_flight, in_status) {
            (Some(annotated), _, Some(in_status))
                if annotated.meeting_bot_id != in_status.meeting_bot_id
                    && annotated.uid.is_some()
                    && in_status.joined_at > annotated.joined_at =>
            {
                BotRecord::Joined(in_status)
            }
            (Some(annotated), _, _) => BotRecord::Joined(annotated),
            (None, Some(attempt), Some(in_status))
                if in_status
                    .joined_at
                    // Status keeps whole seconds.
                    .is_some_and(|at| at.as_second() >= attempt.started_at.as_second()) =>
            {
                BotRecord::Joined(in_status)
            }
            (None, Some(attempt), _) => BotRecord::JoinInFlight(attempt),
            (None, None, Some(in_status)) => BotRecord::Joined(in_status),
            (None, None, None) => BotRecord::None,
        }
    }

    /// Whether the annotations hold `recorded`, stamped with this object's
    /// UID, and no join in flight: the copy that survives a restore without status.
    pub fn annotations_hold(&self, recorded: &RecordedBot) -> bool {
        let copies = self.record_copies();
        copies.in_flight.is_none()
            && copies.annotated.as_ref() == Some(recorded)
            && recorded.uid.as_deref() == self.metadata.uid.as_deref()
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
        (
            annotation::JOINED_AT,
            bot.joined_at.map(|at| at.to_string()),
        ),
        (annotation::RECORD_UID, bot.uid.clone()),
        (annotation::JOIN_IN_FLIGHT, None),
    ])
}

/// The annotations that forget a bot (after it left), as a merge-patch fragment.
pub fn forgotten_annotations() -> BTreeMap<&'static str, Option<String>> {
    [
        annotation::MEETING_BOT_ID,
        annotation::MEETING_BOT_SESSION,
        annotation::JOINED_SPEC,
        annotation::JOINED_AT,
        annotation::RECORD_UID,
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
                joined_spec: None,
                joined_at: None,
                uid: None,
            })
        );
    }

    #[test]
    fn an_unreadable_join_record_still_counts_as_in_flight() {
        let record = bot(&[(annotation::JOIN_IN_FLIGHT, "garbage")]).bot_record();
        assert!(matches!(record, BotRecord::JoinInFlight(attempt) if attempt.session_id == "s1"));
        assert_eq!(bot(&[]).bot_record(), BotRecord::None);
    }

    fn stamped(id: &str, uid: &str, joined_at: &str) -> RecordedBot {
        RecordedBot {
            meeting_bot_id: id.into(),
            session_id: "s1".into(),
            joined_spec: None,
            joined_at: Some(joined_at.parse().unwrap()),
            uid: Some(uid.into()),
        }
    }

    fn with_status(mut bot: MeetingBot, recorded: &RecordedBot) -> MeetingBot {
        bot.status = Some(super::super::MeetingBotStatus {
            meeting_bot_id: Some(recorded.meeting_bot_id.clone()),
            session_id: Some(recorded.session_id.clone()),
            joined_at: recorded
                .joined_at
                .map(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time),
            record_uid: recorded.uid.clone(),
            ..Default::default()
        });
        bot
    }

    fn with_annotations(mut bot: MeetingBot, recorded: &RecordedBot) -> MeetingBot {
        let annotations = bot.metadata.annotations.get_or_insert_default();
        for (key, value) in joined_annotations(recorded) {
            if let Some(value) = value {
                annotations.insert(key.into(), value);
            }
        }
        bot
    }

    #[test]
    fn either_copy_alone_is_the_record() {
        let mut b = bot(&[]);
        b.metadata.uid = Some("u1".into());
        let recorded = stamped("bot-1", "u1", "2026-01-01T00:00:00Z");
        let only_status = with_status(b.clone(), &recorded);
        assert_eq!(
            only_status.bot_record(),
            BotRecord::Joined(recorded.clone())
        );
        let only_annotations = with_annotations(b, &recorded);
        assert_eq!(only_annotations.bot_record(), BotRecord::Joined(recorded));
    }

    #[test]
    fn a_copy_stamped_with_another_uid_is_foreign_until_adopted_or_discarded() {
        let mut b = bot(&[]);
        b.metadata.uid = Some("copy".into());
        let original = stamped("bot-1", "original", "2026-01-01T00:00:00Z");
        let copy = with_status(with_annotations(b, &original), &original);
        assert_eq!(
            copy.bot_record(),
            BotRecord::Foreign {
                uid: "original".into(),
                bot: Some(original.clone())
            }
        );
        let mut adopted = copy.clone();
        adopted
            .metadata
            .annotations
            .get_or_insert_default()
            .insert(annotation::ADOPT_RECORD.into(), "original".into());
        assert_eq!(adopted.bot_record(), BotRecord::Joined(original));
        let mut discarded = copy;
        discarded
            .metadata
            .annotations
            .get_or_insert_default()
            .insert(annotation::DISCARD_RECORD.into(), "original".into());
        assert_eq!(discarded.bot_record(), BotRecord::None);
    }

    #[test]
    fn of_two_different_copies_the_later_join_wins_and_a_status_written_after_the_attempt_is_its_outcome()
     {
        let mut b = bot(&[]);
        b.metadata.uid = Some("u1".into());
        let older = stamped("bot-old", "u1", "2026-01-01T00:00:00Z");
        let newer = stamped("bot-new", "u1", "2026-01-02T00:00:00Z");
        let stale_annotations = with_status(with_annotations(b.clone(), &older), &newer);
        assert_eq!(
            stale_annotations.bot_record(),
            BotRecord::Joined(newer.clone())
        );
        let attempt = JoinAttempt {
            session_id: "s1".into(),
            retry_join: None,
            started_at: "2026-01-01T12:00:00Z".parse().unwrap(),
            uid: Some("u1".into()),
        };
        let mut joining = b.clone();
        joining.metadata.annotations = Some(BTreeMap::from([(
            annotation::JOIN_IN_FLIGHT.to_owned(),
            serde_json::to_string(&attempt).unwrap(),
        )]));
        assert_eq!(
            with_status(joining.clone(), &newer).bot_record(),
            BotRecord::Joined(newer)
        );
        assert_eq!(
            with_status(joining, &older).bot_record(),
            BotRecord::JoinInFlight(attempt)
        );
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
