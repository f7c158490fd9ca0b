//! The records the fake keeps, in the shapes its control API (`/_fake/`)
//! shows them: the server serializes them and [`crate::Admin`] reads them back.

use jiff::{RoundMode, Timestamp, TimestampRound, Unit};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A meeting bot that a join created.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bot {
    pub meeting_bot_id: String,
    pub session_id: String,
    pub meeting_url: String,
    pub bot_name: Option<String>,
    pub joined_at: Timestamp,
}

/// A successful leave.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leave {
    pub meeting_bot_id: String,
    pub session_id: String,
    pub left_at: Timestamp,
}

/// One vendor call, as it arrived and as it was answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// `join`, `leave` or `session`.
    pub endpoint: String,
    pub session_id: String,
    /// The HTTP status of the answer, or `dropped` / `hung` when none was sent.
    pub status: String,
    /// When the request arrived, before any injected latency: tests compare
    /// these to check that retries respect `Retry-After`.
    pub at: Timestamp,
    /// The bot the call created (join) or named (leave).
    pub meeting_bot_id: Option<String>,
    /// The last four characters of the API key the call came with, as
    /// vendors show a key: which account called.
    #[serde(default)]
    pub key_hint: Option<String>,
}

/// Vendor calls counted by endpoint (`join`, `leave`, `session`), then by
/// status as in [`RequestRecord::status`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CallCounts(pub BTreeMap<String, BTreeMap<String, u64>>);

impl CallCounts {
    /// Every call made to `endpoint`, whatever its answer.
    pub fn total(&self, endpoint: &str) -> u64 {
        self.0
            .get(endpoint)
            .map_or(0, |by_status| by_status.values().sum())
    }

    /// The calls made to `endpoint` that were answered with `status`.
    pub fn count(&self, endpoint: &str, status: &str) -> u64 {
        self.0
            .get(endpoint)
            .and_then(|by_status| by_status.get(status))
            .copied()
            .unwrap_or(0)
    }
}

/// The most bots that were ever live (joined, and neither left nor ended
/// with their session) at the same time. The fake counts at every join,
/// leave and session end, under the lock that changes its bots, so that an
/// overlap however short is counted, unlike by reading `/_fake/bots` now and then.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peaks {
    /// For every session together.
    pub all: usize,
    /// By session, for every session that ever had a bot.
    pub sessions: BTreeMap<String, usize>,
}

impl Peaks {
    /// The most bots of `session_id` live at once; 0 if it never had one.
    pub fn session(&self, session_id: &str) -> usize {
        self.sessions.get(session_id).copied().unwrap_or(0)
    }

    /// The most bots live at once in any one session; 0 if none had one.
    pub fn worst_session(&self) -> usize {
        self.sessions.values().copied().max().unwrap_or(0)
    }
}

/// The current time, to the millisecond: what the records show, so that a
/// record read back through JSON equals the one kept.
pub(crate) fn now() -> Timestamp {
    let millisecond = TimestampRound::new()
        .smallest(Unit::Millisecond)
        .mode(RoundMode::Trunc);
    Timestamp::now()
        .round(millisecond)
        .expect("a millisecond is a valid rounding")
}
