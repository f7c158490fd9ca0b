//! A bot in a meeting: keep both copies of its record, take it out when the
//! spec asks, and read its session now and then to learn that it ended.

use super::Facts;
use super::leave::leave_or_wait;
use super::memo::Call;
use super::plan::{Ending, Learned, LeavePurpose, Notice, Plan};
use super::session::{due_in, ended_reason, jittered, over, said_ended};
use crate::api::{Phase, RecordedBot, event, reason};
use crate::lemonslice::{FailureKind, SessionOutcome};
use jiff::Timestamp;
use std::time::Duration;

/// Step by which reads of a joined bot's session come sooner after failures.
const FAILED_READ_RETRY: Duration = Duration::from_secs(5);
/// How often the session of a bot whose session answered only 404 is read
/// again, in case the vendor finds it.
const NOT_FOUND_READ: Duration = Duration::from_secs(5 * 60);

pub(super) fn decide(facts: &Facts, recorded: RecordedBot) -> Plan {
    let bot = facts.bot;
    let recorded = RecordedBot {
        uid: bot.metadata.uid.clone(),
        ..recorded
    };
    // Status is written first after a join; the annotations follow.
    let fresh = matches!(facts.just_learned, Some(Learned::Joined(_)));
    if !fresh && (!bot.annotations_hold(&recorded) || !bot.has_finalizer()) {
        return Plan::Record(recorded);
    }
    // A bot just joined is recorded in status before anything else is
    // planned for it (a leave the spec asks for comes in the next reconcile).
    if fresh {
        return in_session(facts, recorded, None);
    }
    if let Some(invalid) = super::invalid_spec(bot) {
        return invalid.showing(Some(recorded)).into();
    }
    // A new API key rejoins too: the bot can be taken out only with the key
    // it joined with (another account's key answers 404 for it).
    let spec_changed = recorded
        .joined_spec
        .as_ref()
        .is_some_and(|joined| *joined != bot.spec.join_fingerprint())
        || recorded.api_key_secret_ref(&bot.spec) != bot.spec.api_key_secret_ref.as_ref();
    if spec_changed {
        if bot.skip_leave() {
            return Plan::Forget {
                recorded,
                purpose: LeavePurpose::Rejoin,
            };
        }
        return leave_or_wait(facts, recorded, LeavePurpose::Rejoin);
    }
    if bot.spec.suspend {
        return leave_or_wait(facts, recorded, LeavePurpose::Suspend);
    }
    let until_max = match (bot.max_duration(), recorded.joined_at) {
        (Some(Ok(max)), Some(joined_at)) if said_ended(bot, &recorded).is_none() => {
            let end = joined_at.checked_add(max).unwrap_or(Timestamp::MAX);
            match Duration::try_from(end.duration_since(facts.now)) {
                Ok(remaining) if !remaining.is_zero() => Some(remaining),
                _ => return leave_or_wait(facts, recorded, LeavePurpose::Complete),
            }
        }
        _ => None,
    };
    in_session(facts, recorded, until_max)
}

/// A joined bot with an unchanged spec: still in the meeting, unless its
/// session ended, which the session's status is read now and then to learn.
/// A session that only answered 404 is still read, slowly: an ACTIVE answer
/// brings the bot back to Joined (a 404 proves nothing once the vendor
/// answers again), any other end settles it for good.
fn in_session(facts: &Facts, recorded: RecordedBot, until_max: Option<Duration>) -> Plan {
    let said = said_ended(facts.bot, &recorded);
    let ended = match facts.just_learned {
        Some(Learned::Session(SessionOutcome::Status(session))) => ended_reason(*session),
        Some(Learned::Session(SessionOutcome::Failed(failure)))
            if failure.kind == FailureKind::NotFound =>
        {
            (not_found_proven(facts) || said == Some(reason::SESSION_NOT_FOUND))
                .then_some(reason::SESSION_NOT_FOUND)
        }
        _ => said,
    };
    if let Some(ended) = ended {
        let ending = over(&recorded.session_id, ended)
            .showing(Some(recorded.clone()))
            .with_event(Notice::Normal(event::SESSION_ENDED));
        if ended != reason::SESSION_NOT_FOUND {
            return ending.into();
        }
        return match due_in(facts, NOT_FOUND_READ) {
            Some(remaining) => ending.with_requeue(remaining).into(),
            None => Plan::CheckSession {
                session_id: recorded.session_id,
            },
        };
    }
    let poll = jittered(facts.session_poll, facts.bot).min(until_not_found_read(facts));
    let Some(next_check) = due_in(facts, poll) else {
        return Plan::CheckSession {
            session_id: recorded.session_id,
        };
    };
    let joined = match facts.just_learned {
        Some(Learned::Joined(joined)) => Some(joined.clone()),
        _ => None,
    };
    // Status keeps the URL of the bot it shows; a join just now brings its own.
    let websocket_url_known = match &joined {
        Some(joined) => joined.websocket_url.is_some(),
        None => facts.bot.status.as_ref().is_some_and(|status| {
            status.websocket_url.is_some()
                && status.meeting_bot_id.as_deref() == Some(recorded.meeting_bot_id.as_str())
        }),
    };
    let mut message = format!(
        "the avatar is in the meeting as {}",
        recorded.meeting_bot_id
    );
    if !websocket_url_known {
        message.push_str(
            ", but no websocket URL is known for it (the join's answer carried none, or status lost \
             it): the meeting's audio cannot be received; to get one, have it join again (suspend and \
             resume, or change the spec)",
        );
    }
    Plan::Settle(Ending {
        joined,
        ..Ending::ready(Phase::Joined, reason::JOINED, message)
            .showing(Some(recorded))
            .with_requeue(until_max.map_or(next_check, |until| until.min(next_check)))
    })
}

/// Whether the session's 404s, in a row with nothing else between them,
/// have lasted long enough to be believed.
fn not_found_proven(facts: &Facts) -> bool {
    facts
        .failures(Call::Session)
        .is_some_and(|memo| memo.not_found_proven(0, facts.now))
}

/// While session reads of a joined bot fail, when to read again: soon, so
/// that a lasting 404 is proven within about a minute, and a passing one
/// costs nothing; otherwise no limit.
fn until_not_found_read(facts: &Facts) -> Duration {
    facts.failures(Call::Session).map_or(Duration::MAX, |memo| {
        (FAILED_READ_RETRY * memo.consecutive_failures).min(FAILED_READ_RETRY * 4)
    })
}
