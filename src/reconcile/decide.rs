//! What to do next for a MeetingBot: a pure function of what is known about
//! it. The hardest rules of the operator live here — never join twice, never
//! hang a deletion without a way out, which failures stall and which retry —
//! so that they can be tested case by case without any server.

use super::memo::{Call, Memo};
use super::plan::{Health, Learned, LeavePurpose, Notice, Plan, SecretProblem, Settle};
use crate::api::{
    BotRecord, DeletionPolicy, JoinAttempt, MeetingBot, Phase, RecordedBot, annotation, event,
    reason,
};
use crate::lemonslice::{FailureKind, SessionOutcome, SessionStatus};
use jiff::Timestamp;
use std::time::Duration;

/// Everything `decide` looks at.
pub struct Facts<'a> {
    pub bot: &'a MeetingBot,
    /// Failures met earlier with this object, and when to try again.
    pub memo: &'a Memo,
    pub now: Timestamp,
    /// Operator option: after an unknown join outcome, join again (presence over uniqueness).
    pub retry_unknown_joins: bool,
    /// What the previous step of this reconcile learned that the object does not show.
    pub last: Option<&'a Learned>,
    /// How often the session of a joined bot is read (operator option), before
    /// a per-object jitter that keeps a thousand bots from polling in step.
    pub session_poll: Duration,
    /// When the session was last read, or else when the operator started:
    /// a restart does not make every joined bot call LemonSlice at once.
    pub session_checked_at: Timestamp,
}

/// How often a MeetingBot that needs nothing is looked at again anyway.
pub const RESYNC: Duration = Duration::from_secs(30 * 60);
/// A queued session is read again after this, plus a tenth of the time it has waited…
const QUEUED_POLL_MIN: Duration = Duration::from_secs(2);
/// …but never less often than this.
const QUEUED_POLL_MAX: Duration = Duration::from_secs(20);

/// How many 404s in a row, over at least `NOT_FOUND_PROOF_AGE`, make a
/// joined bot's session count as gone: a 404 alone may be a vendor's hiccup.
const NOT_FOUND_PROOF_READS: u32 = 3;
const NOT_FOUND_PROOF_AGE: Duration = Duration::from_secs(60);
/// Step by which reads of a joined bot's session come sooner after failures.
const FAILED_READ_RETRY: Duration = Duration::from_secs(5);

pub fn decide(facts: &Facts) -> Plan {
    let bot = facts.bot;
    let record = record(facts);
    // A bot seen to leave whose record a refused write left behind: finish
    // forgetting it, never take it for live again.
    if let BotRecord::Joined(recorded) = &record
        && let Some((left, purpose)) = &facts.memo.left_bot
        && *left == recorded.meeting_bot_id
    {
        if bot.is_deleting() && bot.has_finalizer() {
            return Plan::RemoveFinalizer {
                unknown_join: false,
            };
        }
        return Plan::Forget {
            bot: recorded.clone(),
            purpose: *purpose,
        };
    }
    if bot.is_deleting() {
        return decide_deletion(facts, record);
    }
    if let BotRecord::Foreign { uid, bot } = record {
        return decide_foreign(facts, &uid, bot);
    }
    if let Some(Err(invalid)) = bot.platform() {
        return settle(
            Phase::Failed,
            Health::Stalled,
            reason::INVALID_MEETING_URL,
            format!("spec.meetingUrl {invalid}"),
            None,
        )
        .with_warning(event::JOIN_FAILED);
    }
    if let Some(Err(invalid)) = bot.max_duration() {
        return settle(
            Phase::Failed,
            Health::Stalled,
            reason::INVALID_SPEC,
            format!("spec.maxDuration: {invalid}"),
            None,
        )
        .with_warning(event::JOIN_FAILED);
    }
    match record {
        BotRecord::Joined(recorded) => decide_joined(facts, recorded),
        BotRecord::JoinInFlight(attempt) => decide_unknown_join(facts, attempt),
        BotRecord::None => decide_join(facts),
        BotRecord::Foreign { .. } => unreachable!("handled above"),
    }
}

/// The record as the object shows it, updated with what this reconcile
/// learned and has not yet written everywhere.
fn record(facts: &Facts) -> BotRecord {
    let record = facts.bot.bot_record();
    match (record, facts.last) {
        (_, Some(Learned::Joined(joined))) => BotRecord::Joined(joined.recorded.clone()),
        (BotRecord::Joined(recorded), Some(Learned::Left(_, left)))
            if recorded.meeting_bot_id == *left =>
        {
            BotRecord::None
        }
        (record, _) => record,
    }
}

/// A record made by another MeetingBot: no call, and a person decides.
fn decide_foreign(facts: &Facts, uid: &str, recorded: Option<RecordedBot>) -> Plan {
    let own = facts.bot.metadata.uid.as_deref().unwrap_or_default();
    let avatar = recorded.as_ref().map_or_else(
        || "whatever avatar its unfinished join made".to_owned(),
        |r| format!("avatar {}", r.meeting_bot_id),
    );
    settle(
        Phase::Failed,
        Health::Stalled,
        reason::FOREIGN_RECORD,
        format!(
            "the bot record was made by the MeetingBot with UID {uid}, not by this one ({own}): this object \
             is a copy or a restore of it, and {avatar} is that object's. The operator makes no call for it. \
             To make this MeetingBot responsible for it (when the original is gone), set the annotation \
             {}={uid}; to drop the record and join a new avatar, set the annotation {}={uid}",
            annotation::ADOPT_RECORD,
            annotation::DISCARD_RECORD,
        ),
        recorded,
    )
    .with_warning(event::FOREIGN_RECORD)
}

fn decide_joined(facts: &Facts, recorded: RecordedBot) -> Plan {
    let bot = facts.bot;
    let recorded = RecordedBot {
        uid: bot.metadata.uid.clone(),
        ..recorded
    };
    // Status is written first after a join; the annotations follow.
    let fresh = matches!(facts.last, Some(Learned::Joined(_)));
    if !fresh && (!bot.annotations_hold(&recorded) || !bot.has_finalizer()) {
        return Plan::Record(recorded);
    }
    let spec_changed = recorded
        .joined_spec
        .as_ref()
        .is_some_and(|joined| *joined != bot.spec.join_fingerprint());
    if spec_changed {
        if bot.skip_leave() {
            return Plan::Forget {
                bot: recorded,
                purpose: LeavePurpose::Rejoin,
            };
        }
        return leave_unless_ended(facts, recorded, LeavePurpose::Rejoin);
    }
    if bot.spec.suspend {
        return leave_unless_ended(facts, recorded, LeavePurpose::Suspend);
    }
    let until_max = match (bot.max_duration(), recorded.joined_at) {
        (Some(Ok(max)), Some(joined_at)) if session_ended(bot, &recorded).is_none() => {
            let end = joined_at.checked_add(max).unwrap_or(Timestamp::MAX);
            match Duration::try_from(end.duration_since(facts.now)) {
                Ok(remaining) if !remaining.is_zero() => Some(remaining),
                _ => return leave_or_wait(facts, recorded, LeavePurpose::Complete),
            }
        }
        _ => None,
    };
    decide_joined_session(facts, recorded, until_max)
}

/// Leave, or just forget a bot whose session already ended (leave would answer 404).
fn leave_unless_ended(facts: &Facts, recorded: RecordedBot, purpose: LeavePurpose) -> Plan {
    if session_ended(facts.bot, &recorded).is_some() {
        return Plan::Forget {
            bot: recorded,
            purpose,
        };
    }
    leave_or_wait(facts, recorded, purpose)
}

/// A joined bot with an unchanged spec: still in the meeting, unless its
/// session ended, which the session's status is read now and then to learn.
fn decide_joined_session(
    facts: &Facts,
    recorded: RecordedBot,
    until_max: Option<Duration>,
) -> Plan {
    let ended = match facts.last {
        Some(Learned::Session(SessionOutcome::Status(status))) => ended_reason(*status),
        Some(Learned::Session(SessionOutcome::Failed(failure)))
            if failure.kind == FailureKind::NotFound =>
        {
            not_found_proven(facts).then_some(reason::SESSION_NOT_FOUND)
        }
        _ => session_ended(facts.bot, &recorded),
    };
    if let Some(ended) = ended {
        let settle = session_ended_settle(&recorded.session_id, ended);
        return Plan::Settle(Settle {
            bot: Some(recorded),
            event: Some(Notice::Normal(event::SESSION_ENDED)),
            ..settle
        });
    }
    let poll = jittered(facts.session_poll, facts.bot).min(until_not_found_read(facts));
    let fresh = matches!(facts.last, Some(Learned::Session(_) | Learned::Joined(_)));
    let next_check = if fresh {
        poll
    } else {
        let due = facts
            .session_checked_at
            .checked_add(poll)
            .unwrap_or(Timestamp::MAX);
        match Duration::try_from(due.duration_since(facts.now)) {
            Ok(remaining) if !remaining.is_zero() => remaining,
            _ => {
                return Plan::CheckSession {
                    session_id: recorded.session_id,
                };
            }
        }
    };
    let joined = match facts.last {
        Some(Learned::Joined(joined)) => Some(joined.clone()),
        _ => None,
    };
    Plan::Settle(Settle {
        phase: Phase::Joined,
        health: Health::Ready,
        reason: reason::JOINED,
        message: format!(
            "the avatar is in the meeting as {}",
            recorded.meeting_bot_id
        ),
        bot: Some(recorded),
        joined,
        requeue: Some(until_max.map_or(next_check, |until| until.min(next_check))),
        event: None,
    })
}

/// Whether the session's 404s have lasted long enough to be believed.
fn not_found_proven(facts: &Facts) -> bool {
    facts
        .memo
        .current(facts.bot.metadata.generation, Call::Session)
        .is_some_and(|memo| {
            memo.consecutive_failures >= NOT_FOUND_PROOF_READS
                && Duration::try_from(facts.now.duration_since(memo.first_failed_at))
                    .is_ok_and(|age| age >= NOT_FOUND_PROOF_AGE)
        })
}

/// While session reads of a joined bot fail, when to read again: soon, so
/// that a lasting 404 is proven within about a minute, and a passing one
/// costs nothing; otherwise no limit.
fn until_not_found_read(facts: &Facts) -> Duration {
    facts
        .memo
        .current(facts.bot.metadata.generation, Call::Session)
        .map_or(Duration::MAX, |memo| {
            (FAILED_READ_RETRY * memo.consecutive_failures).min(FAILED_READ_RETRY * 4)
        })
}

/// Whether the bot left for good after `spec.maxDuration`: just now, or as
/// the annotations (which survive a restore without status) or status say
/// for this spec.
fn completed(facts: &Facts) -> bool {
    if let Some(Learned::Left(LeavePurpose::Complete, _)) = facts.last {
        return true;
    }
    let bot = facts.bot;
    bot.annotation(annotation::COMPLETED_SPEC) == Some(bot.spec.join_fingerprint().as_str())
        || bot.status.as_ref().is_some_and(|status| {
            status.phase == Some(Phase::Completed)
                && status.observed_generation == bot.metadata.generation
        })
}

/// The Ready reason of a session that is over, taking its avatar with it.
fn ended_reason(status: SessionStatus) -> Option<&'static str> {
    match status {
        SessionStatus::Queued | SessionStatus::Active => None,
        SessionStatus::Completed => Some(reason::SESSION_COMPLETED),
        SessionStatus::TimedOut => Some(reason::SESSION_TIMED_OUT),
        SessionStatus::Failed => Some(reason::SESSION_FAILED),
    }
}

/// The reason that a vendor call's failure shows in conditions and Events.
fn failure_reason(kind: FailureKind) -> &'static str {
    match kind {
        FailureKind::ConnectFailed => reason::CONNECT_FAILED,
        FailureKind::InvalidRequest => reason::INVALID_REQUEST,
        FailureKind::Unauthorized => reason::UNAUTHORIZED,
        FailureKind::NotFound => reason::SESSION_NOT_FOUND,
        FailureKind::Conflict => reason::SESSION_CONFLICT,
        FailureKind::RateLimited => reason::RATE_LIMITED,
        FailureKind::Unavailable => reason::VENDOR_UNAVAILABLE,
        FailureKind::ServerError => reason::VENDOR_ERROR,
        FailureKind::NoAnswer => reason::NO_ANSWER,
    }
}

/// Whether status already says that this bot's session ended, and why.
fn session_ended(bot: &MeetingBot, recorded: &RecordedBot) -> Option<&'static str> {
    let status = bot.status.as_ref()?;
    let same_bot = status.meeting_bot_id.as_deref() == Some(recorded.meeting_bot_id.as_str());
    if status.phase != Some(Phase::SessionEnded) || !same_bot {
        return None;
    }
    let said = super::status::ready_reason(Some(status))?;
    [
        reason::SESSION_COMPLETED,
        reason::SESSION_TIMED_OUT,
        reason::SESSION_FAILED,
        reason::SESSION_NOT_FOUND,
    ]
    .into_iter()
    .find(|known| *known == said)
}

fn session_ended_settle(session_id: &str, reason: &'static str) -> Settle {
    Settle {
        phase: Phase::SessionEnded,
        health: Health::Stalled,
        reason,
        message: format!(
            "session {session_id} is over ({reason}), and with it the avatar's presence in any meeting; \
             delete the MeetingBot, or set spec.sessionId to a live session"
        ),
        bot: None,
        joined: None,
        requeue: Some(RESYNC),
        event: None,
    }
}

/// `interval` stretched by a factor in 0.8..1.2 fixed per object, so that
/// bots created together do not poll together.
fn jittered(interval: Duration, bot: &MeetingBot) -> Duration {
    let uid = bot.metadata.uid.as_deref().unwrap_or_default();
    let spread = crate::api::fnv1a(uid.as_bytes()) % 1000;
    interval.mul_f64(0.8 + spread as f64 * 0.4 / 1000.0)
}

fn decide_unknown_join(facts: &Facts, attempt: JoinAttempt) -> Plan {
    let bot = facts.bot;
    if !bot.has_finalizer() {
        return Plan::AddFinalizer;
    }
    if facts.memo.unsent_join == Some(attempt.started_at) {
        return Plan::ClearUnsentJoin;
    }
    let retry_requested = bot
        .retry_join()
        .is_some_and(|value| Some(value) != attempt.retry_join.as_deref());
    if retry_requested || facts.retry_unknown_joins {
        return decide_join(facts);
    }
    settle(
        Phase::Failed,
        Health::Stalled,
        reason::JOIN_OUTCOME_UNKNOWN,
        format!(
            "a join under session {} began at {} and its outcome was never learned: a bot may be in the \
             meeting, so the operator will not join again on its own. If the bot is there, write its id \
             into the annotation {}; to allow exactly one new join, set the annotation {} to a new value",
            attempt.session_id,
            attempt.started_at,
            annotation::MEETING_BOT_ID,
            annotation::RETRY_JOIN,
        ),
        None,
    )
    .with_warning(event::JOIN_OUTCOME_UNKNOWN)
}

/// No bot yet: unless suspended, completed or scheduled for later, read the
/// session, then join only an active one.
fn decide_join(facts: &Facts) -> Plan {
    let bot = facts.bot;
    if bot.spec.suspend {
        return settle(
            Phase::Suspended,
            Health::Ready,
            reason::SUSPENDED,
            "spec.suspend is true: the avatar stays out of the meeting".into(),
            None,
        )
        .with_event(Notice::Normal(event::SUSPENDED));
    }
    if completed(facts) {
        return settle(
            Phase::Completed,
            Health::Ready,
            reason::COMPLETED,
            format!(
                "the avatar left after spec.maxDuration ({}) and does not rejoin; a new spec joins again",
                bot.spec.max_duration.as_deref().unwrap_or_default()
            ),
            None,
        )
        .with_event(Notice::Normal(event::COMPLETED));
    }
    if let Some(join_at) = &bot.spec.join_at
        && let Ok(wait) = Duration::try_from(join_at.0.duration_since(facts.now))
        && !wait.is_zero()
    {
        return settle(
            Phase::Scheduled,
            Health::Reconciling,
            reason::SCHEDULED,
            format!("the avatar joins at {} (spec.joinAt)", join_at.0),
            None,
        )
        .with_requeue(wait);
    }
    if let Some(Learned::SecretMissing(problem)) = facts.last {
        let (reason, message) = match problem {
            SecretProblem::NotFound { secret } => (
                reason::SECRET_NOT_FOUND,
                format!(
                    "Secret {secret} not found in this namespace; the bot joins once it exists"
                ),
            ),
            SecretProblem::KeyNotFound { secret, key } => (
                reason::SECRET_KEY_NOT_FOUND,
                format!("Secret {secret} has no non-empty key {key}; the bot joins once it has"),
            ),
            SecretProblem::InvalidMeetingUrl {
                secret,
                key,
                problem,
            } => {
                return settle(
                    Phase::Failed,
                    Health::Stalled,
                    reason::INVALID_MEETING_URL,
                    format!("the meeting URL in Secret {secret}, key {key}, {problem}"),
                    None,
                )
                .with_warning(event::JOIN_FAILED);
            }
        };
        return settle(Phase::Pending, Health::Reconciling, reason, message, None);
    }
    let session_id = &bot.spec.session_id;
    match facts.last {
        Some(Learned::Session(SessionOutcome::Status(SessionStatus::Active))) => {
            return Plan::Join(JoinAttempt {
                session_id: session_id.clone(),
                retry_join: bot.retry_join().map(str::to_owned),
                started_at: facts.now,
                uid: bot.metadata.uid.clone(),
            });
        }
        Some(Learned::Session(SessionOutcome::Status(SessionStatus::Queued))) => {
            let waited = bot
                .metadata
                .creation_timestamp
                .as_ref()
                .and_then(|created| Duration::try_from(facts.now.duration_since(created.0)).ok())
                .unwrap_or_default();
            let poll = (QUEUED_POLL_MIN + waited / 10).min(QUEUED_POLL_MAX);
            return settle(
                Phase::WaitingForSession,
                Health::Reconciling,
                reason::SESSION_QUEUED,
                format!("session {session_id} is still QUEUED; the avatar joins once it is ACTIVE"),
                None,
            )
            .with_requeue(poll);
        }
        Some(Learned::Session(SessionOutcome::Status(status))) => {
            if let Some(ended) = ended_reason(*status) {
                return Plan::Settle(session_ended_settle(session_id, ended))
                    .with_warning(event::JOIN_FAILED);
            }
        }
        _ => {}
    }
    if let Some(wait) = waiting(facts, Call::Join).or_else(|| waiting(facts, Call::Session)) {
        return wait;
    }
    Plan::CheckSession {
        session_id: session_id.clone(),
    }
}

fn decide_deletion(facts: &Facts, record: BotRecord) -> Plan {
    let bot = facts.bot;
    if !bot.has_finalizer() {
        // Nothing of ours holds the object; the API server removes it.
        return settle(
            Phase::Leaving,
            Health::Reconciling,
            reason::LEAVING,
            String::new(),
            None,
        );
    }
    let let_go = Plan::RemoveFinalizer {
        unknown_join: false,
    };
    match record {
        // A copy's bot belongs to the original: deleting the copy leaves it be.
        BotRecord::None | BotRecord::Foreign { .. } => let_go,
        BotRecord::JoinInFlight(_) => Plan::RemoveFinalizer { unknown_join: true },
        BotRecord::Joined(_)
            if bot.spec.deletion_policy == DeletionPolicy::Orphan || bot.skip_leave() =>
        {
            let_go
        }
        // Even when its session seems over: leave answers 404 for a bot already gone.
        BotRecord::Joined(recorded) => leave_or_wait(facts, recorded, LeavePurpose::Delete),
    }
}

/// Leave now, or report why not yet.
fn leave_or_wait(facts: &Facts, recorded: RecordedBot, purpose: LeavePurpose) -> Plan {
    if let Some(Learned::SecretMissing(problem)) = facts.last {
        let secret = match problem {
            SecretProblem::NotFound { secret }
            | SecretProblem::KeyNotFound { secret, .. }
            | SecretProblem::InvalidMeetingUrl { secret, .. } => secret,
        };
        return settle(
            Phase::Leaving,
            Health::Stalled,
            reason::LEAVE_FAILED,
            format!(
                "leave needs the API key in Secret {secret}, which is missing; restore it, or {}",
                leave_ways_out()
            ),
            Some(recorded),
        )
        .with_warning(event::LEAVE_FAILED);
    }
    if let Some(wait) = waiting(facts, Call::Leave) {
        return wait.map_settle(|settle| Settle {
            bot: Some(recorded),
            ..settle
        });
    }
    Plan::Leave {
        bot: recorded,
        purpose,
    }
}

fn leave_ways_out() -> String {
    format!(
        "to let the MeetingBot go without leave set spec.deletionPolicy to Orphan or the annotation {} \
         to \"true\"",
        annotation::SKIP_LEAVE
    )
}

/// When earlier failures of `call` say to wait (a backoff, or a refusal that
/// only a change can cure), the status to show meanwhile.
fn waiting(facts: &Facts, call: Call) -> Option<Plan> {
    let memo = facts.memo.current(facts.bot.metadata.generation, call)?;
    let failure = memo.failure.as_ref()?;
    let remaining = Duration::try_from(memo.retry_at.duration_since(facts.now)).ok()?;
    let (phase, health, reason) = match (call, memo.gave_up) {
        (Call::Join, false) => (
            Phase::Joining,
            Health::Reconciling,
            failure_reason(failure.kind),
        ),
        (Call::Session, false) => (
            Phase::Pending,
            Health::Reconciling,
            failure_reason(failure.kind),
        ),
        (Call::Join | Call::Session, true) => {
            (Phase::Failed, Health::Stalled, failure_reason(failure.kind))
        }
        (Call::Leave, false) => (Phase::Leaving, Health::Reconciling, reason::LEAVING),
        (Call::Leave, true) => (Phase::Leaving, Health::Stalled, reason::LEAVE_FAILED),
    };
    let message = match (call, memo.gave_up) {
        (Call::Join, false) => format!("join failed ({}); retrying", failure.describe()),
        (Call::Session, false) => format!(
            "reading the session failed ({}); retrying",
            failure.describe()
        ),
        (Call::Join | Call::Session, true) => format!(
            "join refused ({}); the operator tries again when the spec or a referenced Secret changes",
            failure.describe()
        ),
        (Call::Leave, false) => format!("leave failed ({}); retrying", failure.describe()),
        (Call::Leave, true) => {
            format!(
                "leave refused ({}); {}",
                failure.describe(),
                leave_ways_out()
            )
        }
    };
    let warning = match call {
        Call::Join | Call::Session => event::JOIN_FAILED,
        Call::Leave => event::LEAVE_FAILED,
    };
    Some(
        settle(phase, health, reason, message, None)
            .with_requeue(remaining)
            .with_warning(warning),
    )
}

fn settle(
    phase: Phase,
    health: Health,
    reason: &'static str,
    message: String,
    bot: Option<RecordedBot>,
) -> Plan {
    Plan::Settle(Settle {
        phase,
        health,
        reason,
        message,
        bot,
        joined: None,
        requeue: Some(RESYNC),
        event: None,
    })
}

impl Plan {
    fn with_requeue(self, after: Duration) -> Plan {
        self.map_settle(|settle| Settle {
            requeue: Some(after),
            ..settle
        })
    }

    fn with_warning(self, reason: &'static str) -> Plan {
        self.with_event(Notice::Warning(reason))
    }

    fn with_event(self, notice: Notice) -> Plan {
        self.map_settle(|settle| Settle {
            event: Some(notice),
            ..settle
        })
    }

    fn map_settle(self, change: impl FnOnce(Settle) -> Settle) -> Plan {
        match self {
            Plan::Settle(settle) => Plan::Settle(change(settle)),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests;
