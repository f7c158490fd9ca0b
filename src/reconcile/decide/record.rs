//! The record's own rules, before any other: a copy of another object's
//! record, copies that disagree, a bot id another MeetingBot records, and
//! a request to adopt a bot. None of them makes a vendor call.

use super::Facts;
use super::plan::{Ending, Plan};
use crate::api::{AdoptRequest, JoinedKey, LEGACY_RECORD_ANNOTATIONS, reason};
use crate::api::{BotRecord, DeletionPolicy, MeetingBot, Phase, RecordedBot, annotation, event};
use jiff::Timestamp;

/// Whether deleting `bot` makes no call: it goes its usual way even when the
/// record is in doubt, since nothing is asked of LemonSlice.
fn deletion_without_leave(bot: &MeetingBot) -> bool {
    bot.is_deleting()
        && (!bot.has_finalizer()
            || bot.skip_leave()
            || bot.spec.deletion_policy == DeletionPolicy::Orphan)
}

/// A bot id that this object's status does not record, but another
/// MeetingBot's does: written into this object's annotations by hand or by a
/// tenant. The operator neither leaves nor adopts it from here, deleting the
/// object included; skip-leave lets it go.
pub(super) fn claimed_elsewhere(facts: &Facts, record: &BotRecord) -> Option<Plan> {
    let BotRecord::Joined(recorded) = record else {
        return None;
    };
    let bot = facts.bot;
    let in_own_status = bot.status.as_ref().is_some_and(|status| {
        status.meeting_bot_id.as_deref() == Some(recorded.meeting_bot_id.as_str())
            && status.record_uid == bot.metadata.uid
    });
    if !facts.recorded_elsewhere || in_own_status || deletion_without_leave(bot) {
        return None;
    }
    Some(
        adoption_conflict(format!(
            "bot {} is recorded by another MeetingBot: the operator makes no call for it from this \
             object. Remove this object's annotation {} if it was written by mistake; to delete the \
             object without leave, set the annotation {}=true",
            recorded.meeting_bot_id,
            annotation::RECORD,
            annotation::SKIP_LEAVE,
        ))
        .into(),
    )
}

fn adoption_conflict(message: String) -> Ending {
    Ending::stalled(Phase::Failed, reason::ADOPTION_CONFLICT, message)
        .with_warning(event::ADOPTION_CONFLICT)
}

/// Copies of the record that name different bots, neither provably the
/// operator's latest: no call until a person decides which is right.
pub(super) fn conflict(bot: &MeetingBot, record: &BotRecord) -> Option<Plan> {
    let BotRecord::Conflict {
        annotated,
        in_status,
    } = record
    else {
        return None;
    };
    if deletion_without_leave(bot) {
        return None;
    }
    let annotation_says = match annotated {
        Some(id) => format!("the annotation {} names bot {id}", annotation::RECORD),
        None => format!(
            "the annotation {} cannot be read (or only an older operator's annotations, such as {}, \
             name a bot)",
            annotation::RECORD,
            LEGACY_RECORD_ANNOTATIONS[0]
        ),
    };
    let message = match in_status.as_ref().map(|copy| &copy.meeting_bot_id) {
        Some(id) => format!(
            "{annotation_says}, which did not join after bot {id} that status records: the annotation \
             was written by someone other than the operator. No call is made. Remove the annotation to \
             keep bot {id} (the operator writes it again from status)"
        ),
        None => format!(
            "{annotation_says}, and status records no bot: no call is made. Remove the annotation; if a \
             bot is in the meeting, adopt it with `kubectl mbot adopt`"
        ),
    };
    // Status keeps the operator's own copy, with its websocket URL.
    Some(
        Ending::stalled(Phase::Failed, reason::RECORD_CONFLICT, message)
            .showing(in_status.clone())
            .with_warning(event::RECORD_CONFLICT)
            .into(),
    )
}

/// A request to adopt a bot, honoured only while no bot is recorded: the bot
/// is recorded (this object's from now on), or the request stalls when it
/// cannot be read or names a bot another MeetingBot records.
pub(super) fn adoption(facts: &Facts, record: &BotRecord) -> Option<Plan> {
    let bot = facts.bot;
    let session_of_attempt = match record {
        BotRecord::None => None,
        BotRecord::JoinInFlight(attempt) => Some(attempt.session_id.clone()),
        _ => return None,
    };
    let request = bot.adopt_request()?;
    // A finalizer cannot be added to an object being deleted.
    if bot.is_deleting() && !bot.has_finalizer() {
        return None;
    }
    let AdoptRequest {
        meeting_bot_id,
        session_id,
    } = match request {
        Ok(request) => request,
        Err(problem) => {
            return Some(
                Ending::stalled(Phase::Failed, reason::INVALID_SPEC, problem)
                    .with_warning(event::INVALID_SPEC)
                    .into(),
            );
        }
    };
    if facts.recorded_elsewhere {
        return Some(
            adoption_conflict(format!(
                "the annotation {} asks to adopt bot {meeting_bot_id}, which another MeetingBot records: \
                 the operator does not adopt it here. Remove the annotation",
                annotation::ADOPT,
            ))
            .into(),
        );
    }
    Some(Plan::Record(RecordedBot {
        meeting_bot_id,
        session_id: session_id
            .or(session_of_attempt)
            .unwrap_or_else(|| bot.spec.session_id.clone()),
        joined_spec: Some(bot.spec.join_fingerprint()),
        // Whole seconds, as status keeps it: the two copies agree.
        joined_at: Timestamp::from_second(facts.now.as_second()).ok(),
        uid: bot.metadata.uid.clone(),
        api_key: Some(JoinedKey {
            secret_ref: bot.spec.api_key_secret_ref.clone(),
        }),
        install: Some(facts.install.to_owned()),
    }))
}

/// A record made by another MeetingBot: no call, and a person decides.
pub(super) fn foreign(facts: &Facts, uid: &str, recorded: Option<RecordedBot>) -> Ending {
    let own = facts.bot.metadata.uid.as_deref().unwrap_or_default();
    let avatar = recorded.as_ref().map_or_else(
        || "whatever avatar its unfinished join made".to_owned(),
        |r| format!("avatar {}", r.meeting_bot_id),
    );
    Ending::stalled(
        Phase::Failed,
        reason::FOREIGN_RECORD,
        format!(
            "the bot record was made by the MeetingBot with UID {uid}, not by this one ({own}): this object \
             is a copy or a restore of it, and {avatar} is that object's. The operator makes no call for it. \
             To make this MeetingBot responsible for it (when the original is gone), set the annotation \
             {}={uid}; to drop the record and join a new avatar, set the annotation {}={uid}",
            annotation::ADOPT_RECORD,
            annotation::DISCARD_RECORD,
        ),
    )
    .showing(recorded)
    .with_warning(event::FOREIGN_RECORD)
}
