//! What the operator records on a MeetingBot, in annotations, about the bot
//! it joined — and the annotations through which users steer it.
//!
//! The bot id lives in an annotation as well as in status: backup and restore
//! tools commonly skip status, and a bot whose id is lost can never be removed.

use super::MeetingBot;
use super::names::{FINALIZER, annotation};
use jiff::Timestamp;
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
        recorded: Option<RecordedBot>,
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
                answer: None,
                seen_meeting_bot_id: None,
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
        let annotated = copies.annotated.filter(|copy| keep(copy.uid.as_ref()));
        let in_flight = copies
            .in_flight
            .filter(|attempt| keep(attempt.uid.as_ref()));
        let in_status = copies.in_status.filter(|copy| keep(copy.uid.as_ref()));
        if let Some(uid) = foreign {
            let recorded = [annotated, in_status]
                .into_iter()
                .flatten()
                .find(|copy| copy.uid.as_deref() == Some(uid.as_str()));
            return BotRecord::Foreign { uid, recorded };
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

#[cfg(test)]
mod tests;
