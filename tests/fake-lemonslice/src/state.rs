//! Everything the fake remembers, behind one lock that is only ever held for
//! a few map operations (never across an await), so that thousands of
//! concurrent calls do not queue behind each other.

use crate::Config;
use crate::faults::{Endpoint, Faults};
use crate::model::{Bot, CallCounts, Leave, RequestRecord, now};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// How many vendor calls `/_fake/requests` remembers, the latest ones.
const REQUESTS_KEPT: usize = 100_000;

/// The status of a LemonSlice session, as the vendor spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum SessionStatus {
    Queued,
    Active,
    Completed,
    TimedOut,
    Failed,
}

impl SessionStatus {
    /// Whether the session is over, taking its avatars out of their meetings.
    fn ended(self) -> bool {
        matches!(
            self,
            SessionStatus::Completed | SessionStatus::TimedOut | SessionStatus::Failed
        )
    }
}

impl fmt::Display for SessionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SessionStatus::Queued => "QUEUED",
            SessionStatus::Active => "ACTIVE",
            SessionStatus::Completed => "COMPLETED",
            SessionStatus::TimedOut => "TIMED_OUT",
            SessionStatus::Failed => "FAILED",
        })
    }
}

/// Why a join created no bot.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum JoinRefusal {
    SessionNotFound,
    SessionNotActive(SessionStatus),
}

/// Why a leave removed no bot.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LeaveRefusal {
    SessionNotFound,
    BotNotFound,
}

/// What a join asks for, once its body is valid.
pub(crate) struct JoinRequest {
    pub meeting_url: String,
    pub bot_name: Option<String>,
}

/// The fake's memory, shared by every connection.
pub(crate) struct Store {
    inner: Mutex<Inner>,
    /// `HOST:PORT` the fake listens on, for answers to requests without `Host`.
    listen_host: String,
    /// Whether a session must have been named to exist; fixed at start.
    only_known_sessions: bool,
}

struct Inner {
    api_keys: HashSet<String>,
    /// Sessions named at start or through `/_fake/sessions`.
    sessions: HashMap<String, SessionStatus>,
    /// The live bots, by id.
    bots: HashMap<String, Bot>,
    joins: Vec<Bot>,
    leaves: Vec<Leave>,
    calls: CallCounts,
    requests: VecDeque<RequestRecord>,
    faults: Faults,
}

impl Store {
    pub(crate) fn new(config: &Config, listen_host: String) -> Store {
        let sessions = config
            .sessions
            .iter()
            .map(|id| (id.clone(), SessionStatus::Active))
            .collect();
        Store {
            inner: Mutex::new(Inner {
                api_keys: config.api_keys.iter().cloned().collect(),
                sessions,
                bots: HashMap::new(),
                joins: Vec::new(),
                leaves: Vec::new(),
                calls: no_calls(),
                requests: VecDeque::new(),
                faults: config.faults.clone(),
            }),
            listen_host,
            only_known_sessions: config.only_known_sessions,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing panics while holding the lock; should something ever, the
        // maps are still usable, and a fake that keeps answering is more
        // useful to a failing test than one that fails every later call.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn listen_host(&self) -> &str {
        &self.listen_host
    }

    pub(crate) fn faults(&self) -> Faults {
        self.lock().faults.clone()
    }

    pub(crate) fn set_faults(&self, faults: Faults) {
        self.lock().faults = faults;
    }

    pub(crate) fn accepts_key(&self, key: &str) -> bool {
        self.lock().api_keys.contains(key)
    }

    pub(crate) fn set_api_keys(&self, keys: Vec<String>) {
        self.lock().api_keys = keys.into_iter().collect();
    }

    /// The session's status; `None` when the session does not exist.
    pub(crate) fn session_status(&self, session_id: &str) -> Option<SessionStatus> {
        self.lock()
            .session_status(session_id, self.only_known_sessions)
    }

    /// The known sessions and their status, sorted by id.
    pub(crate) fn session_ids(&self) -> Vec<(String, SessionStatus)> {
        let mut sessions: Vec<_> = self
            .lock()
            .sessions
            .iter()
            .map(|(id, status)| (id.clone(), *status))
            .collect();
        sessions.sort_by(|a, b| a.0.cmp(&b.0));
        sessions
    }

    /// Sets (and makes known) a session; ending it takes its bots away.
    pub(crate) fn set_session_status(&self, session_id: &str, status: SessionStatus) {
        let mut inner = self.lock();
        inner.sessions.insert(session_id.to_owned(), status);
        if status.ended() {
            inner.bots.retain(|_, bot| bot.session_id != session_id);
        }
    }

    /// Puts one more bot of the session in the meeting.
    pub(crate) fn join(&self, session_id: &str, request: JoinRequest) -> Result<Bot, JoinRefusal> {
        let mut inner = self.lock();
        match inner.session_status(session_id, self.only_known_sessions) {
            None => return Err(JoinRefusal::SessionNotFound),
            Some(SessionStatus::Active) => {}
            Some(status) => return Err(JoinRefusal::SessionNotActive(status)),
        }
        let bot = Bot {
            meeting_bot_id: format!("meeting-bot-{}", random_hex::<6>()),
            session_id: session_id.to_owned(),
            meeting_url: request.meeting_url,
            bot_name: request.bot_name,
            joined_at: now(),
        };
        inner.bots.insert(bot.meeting_bot_id.clone(), bot.clone());
        inner.joins.push(bot.clone());
        Ok(bot)
    }

    /// Takes a live bot of the session out of its meeting.
    pub(crate) fn leave(&self, session_id: &str, meeting_bot_id: &str) -> Result<(), LeaveRefusal> {
        let mut inner = self.lock();
        if inner
            .session_status(session_id, self.only_known_sessions)
            .is_none()
        {
            return Err(LeaveRefusal::SessionNotFound);
        }
        match inner.bots.get(meeting_bot_id) {
            Some(bot) if bot.session_id == session_id => {}
            // A bot of another session is not this session's to remove.
            _ => return Err(LeaveRefusal::BotNotFound),
        }
        inner.bots.remove(meeting_bot_id);
        inner.leaves.push(Leave {
            meeting_bot_id: meeting_bot_id.to_owned(),
            session_id: session_id.to_owned(),
            left_at: now(),
        });
        Ok(())
    }

    /// Counts and logs one vendor call.
    pub(crate) fn record(&self, record: RequestRecord) {
        let mut inner = self.lock();
        *inner
            .calls
            .0
            .entry(record.endpoint.clone())
            .or_default()
            .entry(record.status.clone())
            .or_default() += 1;
        if inner.requests.len() == REQUESTS_KEPT {
            inner.requests.pop_front();
        }
        inner.requests.push_back(record);
    }

    /// The live bots, oldest first.
    pub(crate) fn bots(&self) -> Vec<Bot> {
        let mut bots: Vec<Bot> = self.lock().bots.values().cloned().collect();
        bots.sort_by(|a, b| {
            (a.joined_at, &a.meeting_bot_id).cmp(&(b.joined_at, &b.meeting_bot_id))
        });
        bots
    }

    pub(crate) fn joins(&self) -> Vec<Bot> {
        self.lock().joins.clone()
    }

    pub(crate) fn leaves(&self) -> Vec<Leave> {
        self.lock().leaves.clone()
    }

    pub(crate) fn calls(&self) -> CallCounts {
        self.lock().calls.clone()
    }

    /// The vendor calls remembered, in the order they arrived.
    pub(crate) fn requests(&self) -> Vec<RequestRecord> {
        let mut requests: Vec<RequestRecord> = self.lock().requests.iter().cloned().collect();
        // Calls are recorded once answered, and injected latency can answer a
        // later call first; a stable sort restores the order of arrival.
        requests.sort_by_key(|record| record.at);
        requests
    }

    /// Forgets every bot, record, session and fault; the API keys stay.
    pub(crate) fn reset(&self) {
        let mut inner = self.lock();
        inner.sessions.clear();
        inner.bots.clear();
        inner.joins.clear();
        inner.leaves.clear();
        inner.calls = no_calls();
        inner.requests.clear();
        inner.faults = Faults::default();
    }
}

impl Inner {
    fn session_status(&self, session_id: &str, only_known_sessions: bool) -> Option<SessionStatus> {
        match self.sessions.get(session_id) {
            Some(status) => Some(*status),
            None if only_known_sessions => None,
            None => Some(SessionStatus::Active),
        }
    }
}

/// Counts with every endpoint present, so that `/_fake/calls` always shows all three.
fn no_calls() -> CallCounts {
    CallCounts(
        Endpoint::ALL
            .iter()
            .map(|endpoint| (endpoint.name().to_owned(), Default::default()))
            .collect(),
    )
}

/// `N` random bytes as `2 * N` lowercase hex digits.
pub(crate) fn random_hex<const N: usize>() -> String {
    rand::random::<[u8; N]>()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}
