//! What the operator records on a MeetingBot, in annotations, about the bot
//! it joined — and the annotations through which users steer it.
//!
//! The bot id lives in an annotation as well as in status: backup and restore
//! tools commonly skip status, and a bot whose id is lost can never be removed.

use super::names::{FINALIZER, annotation};
use super::{ApiKeySecretRef, MeetingBot, MeetingBotSpec};
use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
    /// What the join's answer was, when one came that proves nothing (a
    /// proxy's 503, a redirect, a body that could not be read): for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// A bot id seen in that answer: the bot that may be in the meeting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen_meeting_bot_id: Option<String>,
    /// The operator install that began it: no other install acts on the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install: Option<String>,
}

/// A bot that the operator knows to be (or to have been) in the meeting: the
/// record, which the annotation `record` holds whole, as JSON, and status copies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedBot {
    pub meeting_bot_id: String,
    pub session_id: String,
    /// Fingerprint of the spec it joined with (or that adopted it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joined_spec: Option<String>,
    /// When it joined (or was adopted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joined_at: Option<Timestamp>,
    /// UID of the MeetingBot that made the join (or adopted the bot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// The API key it joined with, which leave and session reads use,
    /// whatever the spec names now. Unknown for a record of an operator
    /// before 0.2, which took the spec's key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<JoinedKey>,
    /// The operator install responsible for the bot, which alone takes it
    /// out. Unknown for a record of an operator before 0.3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install: Option<String>,
}

/// The API key a bot joined with: the account that can see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JoinedKey {
    /// The Secret that held it (in the MeetingBot's namespace); absent: the
    /// operator's own key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<ApiKeySecretRef>,
}

impl RecordedBot {
    /// Where the key that can take this bot out is kept (`None`: the
    /// operator's own key). A record that does not say takes the spec's.
    pub fn api_key_secret_ref<'a>(
        &'a self,
        spec: &'a MeetingBotSpec,
    ) -> Option<&'a ApiKeySecretRef> {
        match &self.api_key {
            Some(joined) => joined.secret_ref.as_ref(),
            None => spec.api_key_secret_ref.as_ref(),
        }
    }
}

/// The record annotation holds something that is not a record, or only
/// the annotations of an operator before 0.2 name a bot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unreadable;

/// The annotations in which operators before 0.2 kept the record piece by
/// piece. Read only to refuse to join over them; cleared whenever the record
/// is written whole.
pub const LEGACY_RECORD_ANNOTATIONS: [&str; 5] = [
    "liveai.lemonslice.com/meeting-bot-id",
    "liveai.lemonslice.com/meeting-bot-session",
    "liveai.lemonslice.com/joined-spec",
    "liveai.lemonslice.com/joined-at",
    "liveai.lemonslice.com/record-uid",
];

/// The record as each place keeps it, before they are reconciled.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordCopies {
    /// The bot named in the record annotation.
    pub annotated: Option<Result<RecordedBot, Unreadable>>,
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
        recorded: Option<RecordedBot>,
    },
    /// The copies disagree and neither is provably the operator's latest (the
    /// annotation was written by someone else): nothing is called until a
    /// person decides. `annotated` is `None` when the annotation is unreadable.
    Conflict {
        annotated: Option<String>,
        in_status: Option<RecordedBot>,
    },
}

/// A request to record a bot that is in the meeting as this object's.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdoptRequest {
    pub meeting_bot_id: String,
    /// The session the bot is in; the spec's when absent.
    #[serde(default)]
    pub session_id: Option<String>,
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
                answer: None,
                seen_meeting_bot_id: None,
                install: None,
            })
        });
        // A bot named only by an older version's annotations cannot be
        // told from one written by hand: never joined over, never left.
        let legacy = self
            .annotation(LEGACY_RECORD_ANNOTATIONS[0])
            .map(|_| Err(Unreadable));
        let annotated = self
            .annotation(annotation::RECORD)
            .map(|text| serde_json::from_str::<RecordedBot>(text).map_err(|_| Unreadable))
            .or(legacy);
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
                api_key: status.joined_api_key.clone(),
                install: status.install.clone(),
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
    /// - status, which only the operator writes, wins over an annotation that
    ///   names the same bot or an earlier one (an old file re-applied), and
    ///   over one that cannot be read; an annotation naming a bot that joined
    ///   later than status's, or with nothing to tell, is a conflict;
    /// - a bot that joined after the join in flight began is that join's
    ///   outcome (status is written first, the annotation after).
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
        let annotated = copies.annotated.filter(|copy| match copy {
            Ok(copy) => keep(copy.uid.as_ref()),
            Err(Unreadable) => true,
        });
        let in_flight = copies
            .in_flight
            .filter(|attempt| keep(attempt.uid.as_ref()));
        let in_status = copies.in_status.filter(|copy| keep(copy.uid.as_ref()));
        if let Some(uid) = foreign {
            let recorded = [annotated.and_then(Result::ok), in_status]
                .into_iter()
                .flatten()
                .find(|copy| copy.uid.as_deref() == Some(uid.as_str()));
            return BotRecord::Foreign { uid, recorded };
        }
        let outcome_of = |attempt: &JoinAttempt, recorded: &RecordedBot| {
            // Status keeps whole seconds.
            recorded
                .joined_at
                .is_some_and(|at| at.as_second() >= attempt.started_at.as_second())
        };
        match (annotated, in_flight, in_status) {
            (Some(Ok(annotated)), _, Some(in_status))
                if annotated.meeting_bot_id == in_status.meeting_bot_id
                    || in_status.joined_at > annotated.joined_at =>
            {
                BotRecord::Joined(in_status)
            }
            (Some(Err(Unreadable)), _, Some(in_status)) => BotRecord::Joined(in_status),
            (Some(annotated), _, Some(in_status)) => BotRecord::Conflict {
                annotated: annotated.ok().map(|copy| copy.meeting_bot_id),
                in_status: Some(in_status),
            },
            (Some(Ok(annotated)), Some(attempt), None) if !outcome_of(&attempt, &annotated) => {
                BotRecord::JoinInFlight(attempt)
            }
            (Some(Ok(annotated)), _, None) => BotRecord::Joined(annotated),
            (Some(Err(Unreadable)), _, None) => BotRecord::Conflict {
                annotated: None,
                in_status: None,
            },
            (None, Some(attempt), Some(in_status)) if outcome_of(&attempt, &in_status) => {
                BotRecord::Joined(in_status)
            }
            (None, Some(attempt), _) => BotRecord::JoinInFlight(attempt),
            (None, None, Some(in_status)) => BotRecord::Joined(in_status),
            (None, None, None) => BotRecord::None,
        }
    }

    /// The bot users asked to adopt (annotation `adopt`), if they did: a bot
    /// id, or JSON naming the id and the session. `Err` says what is wrong.
    pub fn adopt_request(&self) -> Option<Result<AdoptRequest, String>> {
        let text = self.annotation(annotation::ADOPT)?.trim();
        let request = if text.starts_with('{') {
            serde_json::from_str::<AdoptRequest>(text).map_err(|_| {
                format!(
                    "annotation {}: expected a bot id, or JSON with meetingBotId and sessionId",
                    annotation::ADOPT
                )
            })
        } else {
            Ok(AdoptRequest {
                meeting_bot_id: text.to_owned(),
                session_id: None,
            })
        };
        Some(request.and_then(|request| {
            if request.meeting_bot_id.is_empty() || request.meeting_bot_id.len() > 253 {
                Err(format!(
                    "annotation {}: the bot id must have 1 to 253 characters",
                    annotation::ADOPT
                ))
            } else {
                Ok(request)
            }
        }))
    }

    /// Whether the annotations hold `recorded`, stamped with this object's
    /// UID, and no join in flight: the copy that survives a restore without
    /// status. An adopt request left beside a record is cleared with it, so
    /// that it cannot adopt a bot long gone once the record is forgotten.
    pub fn annotations_hold(&self, recorded: &RecordedBot) -> bool {
        let copies = self.record_copies();
        copies.in_flight.is_none()
            && self.annotation(annotation::ADOPT).is_none()
            && LEGACY_RECORD_ANNOTATIONS
                .iter()
                .all(|key| self.annotation(key).is_none())
            && copies.annotated.as_ref() == Some(&Ok(recorded.clone()))
            && recorded.uid.as_deref() == self.metadata.uid.as_deref()
    }

    /// The operator install that acts on this object, if one claimed it:
    /// status says, since only the acting install writes it (none after an
    /// install let the object go); after a restore without status, the
    /// annotations' copy of this object's own record says (a copy's record
    /// was made for another object, by whichever install acted on that one).
    pub fn acting_install(&self) -> Option<String> {
        if let Some(status) = &self.status {
            return status.install.clone();
        }
        let own = |uid: &Option<String>| uid.is_none() || *uid == self.metadata.uid;
        let copies = self.record_copies();
        let annotated = copies
            .annotated
            .and_then(Result::ok)
            .filter(|r| own(&r.uid));
        let in_flight = copies.in_flight.filter(|attempt| own(&attempt.uid));
        annotated
            .and_then(|recorded| recorded.install)
            .or_else(|| in_flight.and_then(|attempt| attempt.install))
    }

    /// Whether an install other than `install` acts on this object.
    pub fn acted_on_elsewhere(&self, install: &str) -> bool {
        self.acting_install()
            .is_some_and(|acting| acting != install)
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

#[cfg(test)]
mod tests;
