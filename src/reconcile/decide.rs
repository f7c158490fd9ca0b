//! What to do next for a MeetingBot: a pure function of what is known about
//! it. The hardest rules of the operator live here — never join twice, never
//! hang a deletion without a way out, which failures stall and which retry —
//! so that they can be tested case by case without any server.

use super::memo::{Call, Memo};
use crate::api::{
    BotRecord, DeletionPolicy, JoinAttempt, MeetingBot, Phase, RecordedBot, annotation,
};
use crate::lemonslice::WebsocketUrl;
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
}

/// Facts a step learns that are not (yet) written on the object.
#[derive(Clone, Debug, PartialEq)]
pub enum Learned {
    /// Join succeeded just now; status gets the websocket URL.
    Joined {
        websocket_url: WebsocketUrl,
        joined_at: Timestamp,
    },
    /// A Secret the next call needs is missing.
    SecretMissing(SecretProblem),
}

/// Why a referenced Secret could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretProblem {
    /// The Secret does not exist (in the MeetingBot's namespace).
    NotFound { secret: String },
    /// The Secret exists but lacks the key, or its value is empty or not UTF-8.
    KeyNotFound { secret: String, key: String },
}

/// Why a bot is being taken out of its meeting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeavePurpose {
    /// The MeetingBot is being deleted.
    Delete,
    /// The spec changed: leave, then join anew.
    Rejoin,
}

/// The next step. Each is one vendor call or one Kubernetes write; `Settle`
/// ends the reconcile.
#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    AddFinalizer,
    /// Record the attempt (version-checked), then call join.
    Join(JoinAttempt),
    Leave {
        bot: RecordedBot,
        purpose: LeavePurpose,
    },
    /// Drop the record of a bot without calling leave (users said skip-leave).
    Forget {
        bot: RecordedBot,
    },
    /// Rewrite the record of a bot adopted by hand, clearing the join in flight.
    Adopt(RecordedBot),
    /// Let the object go. `unknown_join` says a join's outcome was never learned.
    RemoveFinalizer {
        unknown_join: bool,
    },
    /// Write status (when it changed) and wait.
    Settle(Settle),
}

/// The status a reconcile ends with, and when to look again.
#[derive(Clone, Debug, PartialEq)]
pub struct Settle {
    pub phase: Phase,
    pub health: Health,
    /// CamelCase reason for the Ready condition (and Stalled/Reconciling when set).
    pub reason: &'static str,
    pub message: String,
    /// The bot to show in status; `None` clears it.
    pub bot: Option<RecordedBot>,
    /// Fresh from a join in this reconcile; otherwise status keeps what it had.
    pub joined: Option<(WebsocketUrl, Timestamp)>,
    pub requeue: Option<Duration>,
    /// Warning Event reason to publish when the status enters this state.
    pub warning: Option<&'static str>,
}

/// kstatus's view: done, making progress, or stuck until a human acts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    Ready,
    Reconciling,
    Stalled,
}

/// Condition reasons that users see and the README documents.
pub mod reason {
    pub const JOINED: &str = "Joined";
    pub const LEAVING: &str = "Leaving";
    pub const SECRET_NOT_FOUND: &str = "SecretNotFound";
    pub const SECRET_KEY_NOT_FOUND: &str = "SecretKeyNotFound";
    pub const INVALID_MEETING_URL: &str = "InvalidMeetingUrl";
    pub const JOIN_OUTCOME_UNKNOWN: &str = "JoinOutcomeUnknown";
    pub const LEAVE_FAILED: &str = "LeaveFailed";
}

/// Event reasons that users see and the README documents.
pub mod event {
    pub const JOINED: &str = "Joined";
    pub const LEFT: &str = "Left";
    pub const REJOINING: &str = "Rejoining";
    pub const JOIN_FAILED: &str = "JoinFailed";
    pub const LEAVE_FAILED: &str = "LeaveFailed";
    pub const JOIN_OUTCOME_UNKNOWN: &str = "JoinOutcomeUnknown";
}

/// How often a MeetingBot that needs nothing is looked at again anyway.
pub const RESYNC: Duration = Duration::from_secs(30 * 60);

pub fn decide(facts: &Facts) -> Plan {
    let bot = facts.bot;
    if bot.is_deleting() {
        return decide_deletion(facts);
    }
    if !bot.has_finalizer() {
        return Plan::AddFinalizer;
    }
    if let Err(invalid) = bot.platform() {
        return settle(
            Phase::Failed,
            Health::Stalled,
            reason::INVALID_MEETING_URL,
            format!("spec.meetingUrl {invalid}"),
            None,
        )
        .with_warning(event::JOIN_FAILED);
    }
    match bot.bot_record() {
        BotRecord::Joined(recorded) => decide_joined(facts, recorded),
        BotRecord::JoinInFlight(attempt) => decide_unknown_join(facts, attempt),
        BotRecord::None => decide_join(facts),
    }
}

fn decide_joined(facts: &Facts, recorded: RecordedBot) -> Plan {
    let bot = facts.bot;
    if bot.annotation(annotation::JOIN_IN_FLIGHT).is_some() {
        return Plan::Adopt(recorded);
    }
    let spec_changed = recorded
        .joined_spec
        .as_ref()
        .is_some_and(|joined| *joined != bot.spec.join_fingerprint());
    if !spec_changed {
        let joined = match facts.last {
            Some(Learned::Joined {
                websocket_url,
                joined_at,
            }) => Some((websocket_url.clone(), *joined_at)),
            _ => None,
        };
        return Plan::Settle(Settle {
            phase: Phase::Joined,
            health: Health::Ready,
            reason: reason::JOINED,
            message: format!(
                "the avatar is in the meeting as {}",
                recorded.meeting_bot_id
            ),
            bot: Some(recorded),
            joined,
            requeue: Some(RESYNC),
            warning: None,
        });
    }
    if bot.skip_leave() {
        return Plan::Forget { bot: recorded };
    }
    leave_or_wait(facts, recorded, LeavePurpose::Rejoin)
}

fn decide_unknown_join(facts: &Facts, attempt: JoinAttempt) -> Plan {
    let bot = facts.bot;
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

fn decide_join(facts: &Facts) -> Plan {
    let bot = facts.bot;
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
        };
        return settle(Phase::Pending, Health::Reconciling, reason, message, None);
    }
    if let Some(wait) = waiting(facts, Call::Join) {
        return wait;
    }
    Plan::Join(JoinAttempt {
        session_id: bot.spec.session_id.clone(),
        retry_join: bot.retry_join().map(str::to_owned),
        started_at: facts.now,
    })
}

fn decide_deletion(facts: &Facts) -> Plan {
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
    match bot.bot_record() {
        BotRecord::None => Plan::RemoveFinalizer {
            unknown_join: false,
        },
        BotRecord::JoinInFlight(_) => Plan::RemoveFinalizer { unknown_join: true },
        BotRecord::Joined(_)
            if bot.spec.deletion_policy == DeletionPolicy::Orphan || bot.skip_leave() =>
        {
            Plan::RemoveFinalizer {
                unknown_join: false,
            }
        }
        BotRecord::Joined(recorded) => leave_or_wait(facts, recorded, LeavePurpose::Delete),
    }
}

/// Leave now, or report why not yet.
fn leave_or_wait(facts: &Facts, recorded: RecordedBot, purpose: LeavePurpose) -> Plan {
    if let Some(Learned::SecretMissing(problem)) = facts.last {
        let secret = match problem {
            SecretProblem::NotFound { secret } | SecretProblem::KeyNotFound { secret, .. } => {
                secret
            }
        };
        return settle(
            Phase::Leaving,
            Health::Stalled,
            reason::LEAVE_FAILED,
            format!(
                "leave needs the API key in Secret {secret}, which is missing; restore it, or {}",
                LEAVE_WAYS_OUT
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

const LEAVE_WAYS_OUT: &str = "to let the MeetingBot go without leave set spec.deletionPolicy to Orphan \
     or the annotation liveai.lemonslice.com/skip-leave to \"true\"";

/// When earlier failures of `call` say to wait (a backoff, or a refusal that
/// only a change can cure), the status to show meanwhile.
fn waiting(facts: &Facts, call: Call) -> Option<Plan> {
    let memo = facts.memo.current(facts.bot.metadata.generation, call)?;
    let failure = memo.failure.as_ref()?;
    let remaining = Duration::try_from(memo.retry_at.duration_since(facts.now)).ok()?;
    let (phase, health, reason) = match (call, memo.gave_up) {
        (Call::Join, false) => (Phase::Joining, Health::Reconciling, failure.kind.reason()),
        (Call::Join, true) => (Phase::Failed, Health::Stalled, failure.kind.reason()),
        (Call::Leave, false) => (Phase::Leaving, Health::Reconciling, reason::LEAVING),
        (Call::Leave, true) => (Phase::Leaving, Health::Stalled, reason::LEAVE_FAILED),
    };
    let message = match (call, memo.gave_up) {
        (Call::Join, false) => format!("join failed ({}); retrying", failure.describe()),
        (Call::Join, true) => format!(
            "join refused ({}); the operator tries again when the spec or a referenced Secret changes",
            failure.describe()
        ),
        (Call::Leave, false) => format!("leave failed ({}); retrying", failure.describe()),
        (Call::Leave, true) => {
            format!("leave refused ({}); {}", failure.describe(), LEAVE_WAYS_OUT)
        }
    };
    let warning = match call {
        Call::Join => event::JOIN_FAILED,
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
        warning: None,
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
        self.map_settle(|settle| Settle {
            warning: Some(reason),
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
