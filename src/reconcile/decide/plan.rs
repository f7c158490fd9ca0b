//! What `decide` answers and what the steps that carry plans out learn: the
//! next step, down to the status a reconcile ends with, and what the previous
//! step learned. Plain data that imports nothing of `reconcile`, so that the
//! planner, the status, the memo and the steps share it without a circle
//! (`decide::Facts`, which borrows the memo, stays with the planner).

use crate::api::{JoinAttempt, Phase, Platform, RecordedBot};
use crate::lemonslice::{SessionOutcome, WebsocketUrl};
use jiff::Timestamp;
use std::time::Duration;

/// Facts a step learns that are not (yet) written on the object.
#[derive(Clone, Debug, PartialEq)]
pub enum Learned {
    /// Join succeeded just now; status gets the websocket URL.
    Joined(JustJoined),
    /// A Secret the next call needs is missing.
    SecretMissing(SecretProblem),
    /// The session was just read (a failed read is also in the memo, for backoff).
    Session(SessionOutcome),
    /// The bot left the meeting (or was let go) for this reason, and its
    /// record left the annotations; status still names it until it is settled.
    Left(LeavePurpose, String),
}

/// A join that succeeded in this reconcile, with what only it knows.
#[derive(Clone, Debug, PartialEq)]
pub struct JustJoined {
    /// The record of the new bot, stamped with this object's UID.
    pub recorded: RecordedBot,
    /// `None` when the join's answer carried none: the bot is recorded anyway.
    pub websocket_url: Option<WebsocketUrl>,
    pub joined_at: Timestamp,
    /// The platform of the URL joined, also of one read from a Secret.
    pub platform: Option<Platform>,
}

/// Why a referenced Secret could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretProblem {
    /// The Secret does not exist (in the MeetingBot's namespace).
    NotFound { secret: String },
    /// The Secret exists but lacks the key, or its value is empty or not UTF-8.
    KeyNotFound { secret: String, key: String },
    /// The meeting URL read from a Secret is not one the operator may join.
    InvalidMeetingUrl {
        secret: String,
        key: String,
        problem: String,
    },
}

impl SecretProblem {
    /// The name of the Secret at fault.
    pub fn secret(&self) -> &str {
        match self {
            SecretProblem::NotFound { secret }
            | SecretProblem::KeyNotFound { secret, .. }
            | SecretProblem::InvalidMeetingUrl { secret, .. } => secret,
        }
    }
}

/// Why a bot is being taken out of its meeting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeavePurpose {
    /// The MeetingBot is being deleted.
    Delete,
    /// The spec changed: leave, then join anew.
    Rejoin,
    /// `spec.suspend` became true.
    Suspend,
    /// The bot has been in the meeting for `spec.maxDuration`.
    Complete,
    /// The object left this install's scope, and the bot joined with this
    /// install's own API key, which no other install holds.
    HandOver,
}

/// The next step. Each is one vendor call or one Kubernetes write; `Settle`
/// ends the reconcile.
#[derive(Clone, Debug, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "one short-lived value per step; boxing buys nothing"
)]
pub enum Plan {
    /// Stamp this install into status as the one acting on the object (a
    /// version-checked write), before any call for it, where no join's
    /// record can be the claim (see `ClaimAndJoin`).
    Claim,
    /// Another install acts on the object: no call and no write from here.
    LeaveToInstall { install: String },
    /// The object left this install's scope: clear its stamp from status
    /// (keeping any record, whose key the next install leaves with).
    Release,
    /// Add the finalizer to an object that may have a bot in a meeting.
    AddFinalizer,
    /// Read the session's status: before a join, and now and then while joined.
    CheckSession { session_id: String },
    /// Record the attempt and add the finalizer (one version-checked write),
    /// then call join.
    Join(JoinAttempt),
    /// The join of an object no install acts on yet: its record, which names
    /// this install, is also the claim, so it comes first; then the session
    /// is read, and join is called only when it is ACTIVE (otherwise the
    /// record goes again, since no join was sent).
    ClaimAndJoin(JoinAttempt),
    Leave {
        recorded: RecordedBot,
        purpose: LeavePurpose,
    },
    /// Drop the record of a bot without calling leave: users said skip-leave,
    /// or this process saw it leave already.
    Forget {
        recorded: RecordedBot,
        purpose: LeavePurpose,
    },
    /// Write the record into the annotations, stamped with this object's UID,
    /// with the finalizer, clearing a join in flight: the copy that restores
    /// status, restored itself from status, or a bot adopted by hand.
    Record(RecordedBot),
    /// Clear a join-in-flight record that this process knows was never
    /// followed by a call (its write failed, perhaps after it landed).
    ClearUnsentJoin,
    /// Clear the record of a join whose outcome was never learned: its
    /// session `session_id` ended, and any bot it made with it. What the read
    /// learned decides next when `keep_learned` (the spec names that session).
    ClearEndedJoin {
        session_id: String,
        keep_learned: bool,
    },
    /// Let the object go. `unknown_join` says a join's outcome was never learned.
    RemoveFinalizer { unknown_join: bool },
    /// Write the status of this ending (when it changed) and wait.
    Settle(Ending),
}

/// The status a reconcile ends with, and when to look again.
#[derive(Clone, Debug, PartialEq)]
pub struct Ending {
    pub phase: Phase,
    pub health: Health,
    /// CamelCase reason for the Ready condition (and Stalled/Reconciling when set).
    pub reason: &'static str,
    pub message: String,
    /// The bot to show in status; `None` clears it.
    pub recorded: Option<RecordedBot>,
    /// Fresh from a join in this reconcile; otherwise status keeps what it had.
    pub joined: Option<JustJoined>,
    pub requeue: Option<Duration>,
    /// Event to publish when the status enters this state.
    pub event: Option<Notice>,
}

/// An Event's type and reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    Normal(&'static str),
    Warning(&'static str),
}

/// kstatus's view: done, making progress, or stuck until a human acts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    Ready,
    Reconciling,
    Stalled,
}

/// How often a MeetingBot that needs nothing is looked at again anyway.
pub const RESYNC: Duration = Duration::from_secs(30 * 60);

impl Ending {
    /// Done for now: Ready is true.
    pub fn ready(phase: Phase, reason: &'static str, message: String) -> Ending {
        Ending::new(phase, Health::Ready, reason, message)
    }

    /// On its way, without a person: Ready is false and Reconciling true.
    pub fn reconciling(phase: Phase, reason: &'static str, message: String) -> Ending {
        Ending::new(phase, Health::Reconciling, reason, message)
    }

    /// Stuck until a person (or a change) acts: Ready is false and Stalled true.
    pub fn stalled(phase: Phase, reason: &'static str, message: String) -> Ending {
        Ending::new(phase, Health::Stalled, reason, message)
    }

    /// Showing no bot, with no Event, looked at again after [`RESYNC`].
    fn new(phase: Phase, health: Health, reason: &'static str, message: String) -> Ending {
        Ending {
            phase,
            health,
            reason,
            message,
            recorded: None,
            joined: None,
            requeue: Some(RESYNC),
            event: None,
        }
    }

    /// Status shows this record (or, with `None`, none).
    pub fn showing(self, recorded: Option<RecordedBot>) -> Ending {
        Ending { recorded, ..self }
    }

    pub fn with_requeue(self, after: Duration) -> Ending {
        Ending {
            requeue: Some(after),
            ..self
        }
    }

    pub fn with_warning(self, reason: &'static str) -> Ending {
        self.with_event(Notice::Warning(reason))
    }

    pub fn with_event(self, notice: Notice) -> Ending {
        Ending {
            event: Some(notice),
            ..self
        }
    }
}

impl From<Ending> for Plan {
    fn from(ending: Ending) -> Plan {
        Plan::Settle(ending)
    }
}
