//! No bot in the meeting yet: join, once the session is active and nothing
//! says to wait; and a join whose outcome was never learned, which is not
//! repeated without a person's word, or until its session ended.

use super::Facts;
use super::backoff::waiting;
use super::memo::Call;
use super::plan::{Ending, Learned, LeavePurpose, Notice, Plan, SecretProblem};
use super::session::{due_in, ended_reason, jittered, over};
use crate::api::{JoinAttempt, Phase, annotation, event, reason};
use crate::lemonslice::{SessionOutcome, SessionStatus};
use std::time::Duration;

/// A queued session is read again after this, plus a tenth of the time it has waited…
const QUEUED_POLL_MIN: Duration = Duration::from_secs(2);
/// …but never less often than this.
const QUEUED_POLL_MAX: Duration = Duration::from_secs(20);

/// A join in flight whose outcome this process does not know.
pub(super) fn decide_unknown(facts: &Facts, attempt: JoinAttempt) -> Plan {
    let bot = facts.bot;
    if !bot.has_finalizer() {
        return Plan::AddFinalizer;
    }
    if facts.memo.seldom().unsent_join == Some(attempt.started_at) {
        // A new object's record is its only claim: status takes the claim
        // over first, or another install could take the object between the
        // record going and status being written, and the object would
        // change hands.
        if bot.status.is_none() {
            return Plan::Claim;
        }
        return Plan::ClearUnsentJoin;
    }
    let retry_requested = bot
        .retry_join()
        .is_some_and(|value| Some(value) != attempt.retry_join.as_deref());
    if retry_requested || facts.retry_unknown_joins {
        return decide(facts);
    }
    // Whatever bot the join made left every meeting with its session. Only
    // LemonSlice saying the session ended proves that: a 404 does not (a key
    // of another account, or a wrong base URL, answers 404 too).
    if let Some(Learned::Session(SessionOutcome::Status(session))) = facts.just_learned
        && ended_reason(*session).is_some()
    {
        // As for a join never sent: the record may be the object's only claim.
        if bot.status.is_none() {
            return Plan::Claim;
        }
        return Plan::ClearEndedJoin {
            keep_learned: attempt.session_id == bot.spec.session_id,
            session_id: attempt.session_id,
        };
    }
    // Read now and then to learn that; what this reconcile already learned
    // (a read, or a Secret it lacks) waits for the next poll.
    let poll = jittered(facts.session_poll, bot);
    let next_read = match facts.just_learned {
        Some(_) => Some(poll),
        None => due_in(facts, poll),
    };
    let Some(next_read) = next_read else {
        return Plan::CheckSession {
            session_id: attempt.session_id,
        };
    };
    // What the answer said, and the bot it named, when one came that proves nothing.
    let answer = attempt
        .answer
        .as_deref()
        .map(|answer| format!(" (the answer was {answer}, which is not LemonSlice refusing)"))
        .unwrap_or_default();
    let name = bot.metadata.name.as_deref().unwrap_or_default();
    let seen = match &attempt.seen_meeting_bot_id {
        Some(id) => format!(
            "The answer named the bot {id}: it is probably in the meeting; to have the operator record it \
             (and take it out when asked), adopt it: `kubectl mbot adopt {name} --bot-id {id}` (the \
             annotation {}={id})",
            annotation::ADOPT,
        ),
        None => format!(
            "If the bot is there, adopt it: `kubectl mbot adopt {name} --bot-id ID` (the annotation {}=ID)",
            annotation::ADOPT,
        ),
    };
    Ending::stalled(
        Phase::Failed,
        reason::JOIN_OUTCOME_UNKNOWN,
        format!(
            "a join under session {} began at {} and its outcome was never learned{answer}: a bot may be in \
             the meeting, so the operator will not join again on its own. {seen}; to allow exactly one new \
             join, set the annotation {} to a new value. Once LemonSlice says the session ended (read \
             now and then), no bot of this join can be in a meeting, and the operator goes on by itself",
            attempt.session_id,
            attempt.started_at,
            annotation::RETRY_JOIN,
        ),
    )
    .with_warning(event::JOIN_OUTCOME_UNKNOWN)
    .with_requeue(next_read)
    .into()
}

/// No bot yet: unless suspended, completed or scheduled for later, read the
/// session, then join only an active one.
pub(super) fn decide(facts: &Facts) -> Plan {
    let bot = facts.bot;
    if bot.spec.suspend {
        return Ending::ready(
            Phase::Suspended,
            reason::SUSPENDED,
            "spec.suspend is true: the avatar stays out of the meeting".into(),
        )
        .with_event(Notice::Normal(event::SUSPENDED))
        .into();
    }
    if completed(facts) {
        return Ending::ready(
            Phase::Completed,
            reason::COMPLETED,
            format!(
                "the avatar left after spec.maxDuration ({}) and does not rejoin; a new spec joins again",
                bot.spec.max_duration.as_deref().unwrap_or_default()
            ),
        )
        .with_event(Notice::Normal(event::COMPLETED))
        .into();
    }
    if let Some(join_at) = &bot.spec.join_at
        && let Ok(wait) = Duration::try_from(join_at.0.duration_since(facts.now))
        && !wait.is_zero()
    {
        return Ending::reconciling(
            Phase::Scheduled,
            reason::SCHEDULED,
            format!("the avatar joins at {} (spec.joinAt)", join_at.0),
        )
        .with_requeue(wait)
        .into();
    }
    if let Some(Learned::SecretMissing(problem)) = facts.just_learned {
        return secret_missing(problem).into();
    }
    let session_id = &bot.spec.session_id;
    match facts.just_learned {
        Some(Learned::Session(SessionOutcome::Status(SessionStatus::Active))) => {
            return Plan::Join(attempt(facts));
        }
        Some(Learned::Session(SessionOutcome::Status(SessionStatus::Queued))) => {
            let waited = bot
                .metadata
                .creation_timestamp
                .as_ref()
                .and_then(|created| Duration::try_from(facts.now.duration_since(created.0)).ok())
                .unwrap_or_default();
            let poll = (QUEUED_POLL_MIN + waited / 10).min(QUEUED_POLL_MAX);
            return Ending::reconciling(
                Phase::WaitingForSession,
                reason::SESSION_QUEUED,
                format!("session {session_id} is still QUEUED; the avatar joins once it is ACTIVE"),
            )
            .with_requeue(poll)
            .into();
        }
        Some(Learned::Session(SessionOutcome::Status(session))) => {
            if let Some(ended) = ended_reason(*session) {
                return over(session_id, ended)
                    .with_warning(event::JOIN_FAILED)
                    .into();
            }
        }
        _ => {}
    }
    if let Some(wait) = waiting(facts, Call::Join).or_else(|| waiting(facts, Call::Session)) {
        return wait.into();
    }
    Plan::CheckSession {
        session_id: session_id.clone(),
    }
}

/// The record of a join of the spec as it is, begun now by this install.
pub(super) fn attempt(facts: &Facts) -> JoinAttempt {
    let bot = facts.bot;
    JoinAttempt {
        session_id: bot.spec.session_id.clone(),
        retry_join: bot.retry_join().map(str::to_owned),
        started_at: facts.now,
        uid: bot.metadata.uid.clone(),
        answer: None,
        seen_meeting_bot_id: None,
        install: Some(facts.install.to_owned()),
    }
}

/// A Secret the join needs is missing: wait for it, or stall on a meeting URL
/// it holds that the operator may not join.
fn secret_missing(problem: &SecretProblem) -> Ending {
    match problem {
        SecretProblem::NotFound { secret } => Ending::reconciling(
            Phase::Pending,
            reason::SECRET_NOT_FOUND,
            format!("Secret {secret} not found in this namespace; the bot joins once it exists"),
        ),
        SecretProblem::KeyNotFound { secret, key } => Ending::reconciling(
            Phase::Pending,
            reason::SECRET_KEY_NOT_FOUND,
            format!("Secret {secret} has no non-empty key {key}; the bot joins once it has"),
        ),
        SecretProblem::InvalidMeetingUrl {
            secret,
            key,
            problem,
        } => Ending::stalled(
            Phase::Failed,
            reason::INVALID_MEETING_URL,
            format!("the meeting URL in Secret {secret}, key {key}, {problem}"),
        )
        .with_warning(event::JOIN_FAILED),
    }
}

/// Whether the bot left for good after `spec.maxDuration`: just now, or as
/// the annotations (which survive a restore without status) or status say
/// for this spec.
fn completed(facts: &Facts) -> bool {
    if let Some(Learned::Left(LeavePurpose::Complete, _)) = facts.just_learned {
        return true;
    }
    let bot = facts.bot;
    bot.annotation(annotation::COMPLETED_SPEC) == Some(bot.spec.join_fingerprint().as_str())
        || bot.status.as_ref().is_some_and(|status| {
            status.phase == Some(Phase::Completed)
                && status.observed_generation == bot.metadata.generation
        })
}
