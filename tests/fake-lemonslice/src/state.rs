//! Everything the fake remembers, behind one lock that is only ever held for
//! a few map operations (never across an await), so that thousands of
//! concurrent calls do not queue behind each other.

use crate::Config;
use crate::faults::{Endpoint, Faults};
use crate::model::{Bot, CallCounts, Leave, Peaks, RequestRecord, now};
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
    /// The live bots, by id. Changed only through [`Inner::add_bot`],
    /// [`Inner::remove_bot`] and [`Inner::end_session`], which keep `live`.
    bots: HashMap<String, Bot>,
    /// The API key (the account) that joined each live bot: another
    /// account's key cannot see it, so its leave answers 404.
    accounts: HashMap<String, String>,
    /// How many bots are live now and the most ever live at once, by session
    /// and for every session together: kept at each change of `bots`, under
    /// the same lock, so that no overlap is too short to count.
    live: Live,
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
                accounts: HashMap::new(),
                live: Live::default(),
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
            inner.end_session(session_id);
        }
    }

    /// Puts one more bot of the session in the meeting, for the account of `api_key`.
    pub(crate) fn join(
        &self,
        session_id: &str,
        api_key: &str,
        request: JoinRequest,
    ) -> Result<Bot, JoinRefusal> {
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
        inner
            .accounts
            .insert(bot.meeting_bot_id.clone(), api_key.to_owned());
        inner.add_bot(bot.clone());
        inner.joins.push(bot.clone());
        Ok(bot)
    }

    /// Takes a live bot of the session out of its meeting, when the account
    /// of `api_key` joined it.
    pub(crate) fn leave(
        &self,
        session_id: &str,
        api_key: &str,
        meeting_bot_id: &str,
    ) -> Result<(), LeaveRefusal> {
        let mut inner = self.lock();
        if inner
            .session_status(session_id, self.only_known_sessions)
            .is_none()
        {
            return Err(LeaveRefusal::SessionNotFound);
        }
        match inner.bots.get(meeting_bot_id) {
            Some(bot)
                if bot.session_id == session_id
                    && inner.accounts.get(meeting_bot_id).map(String::as_str) == Some(api_key) => {}
            // A bot of another session, or of another account, is not this
            // call's to remove.
            _ => return Err(LeaveRefusal::BotNotFound),
        }
        inner.remove_bot(meeting_bot_id);
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

    /// The most bots that were ever live at once, by session and in all.
    pub(crate) fn peaks(&self) -> Peaks {
        let live = &self.lock().live;
        Peaks {
            all: live.all.peak,
            sessions: live
                .sessions
                .iter()
                .map(|(id, tally)| (id.clone(), tally.peak))
                .collect(),
        }
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
        inner.accounts.clear();
        inner.live = Live::default();
        inner.joins.clear();
        inner.leaves.clear();
        inner.calls = no_calls();
        inner.requests.clear();
        inner.faults = Faults::default();
    }
}

/// Bots live now, and the most ever live at once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Tally {
    now: usize,
    peak: usize,
}

impl Tally {
    fn up(&mut self) {
        self.now += 1;
        self.peak = self.peak.max(self.now);
    }

    fn down(&mut self, by: usize) {
        self.now = self.now.saturating_sub(by);
    }
}

/// The tallies of live bots: by session (every session that ever had one),
/// and for all sessions together.
#[derive(Default)]
struct Live {
    sessions: HashMap<String, Tally>,
    all: Tally,
}

impl Inner {
    fn add_bot(&mut self, bot: Bot) {
        self.live
            .sessions
            .entry(bot.session_id.clone())
            .or_default()
            .up();
        self.live.all.up();
        self.bots.insert(bot.meeting_bot_id.clone(), bot);
    }

    fn remove_bot(&mut self, meeting_bot_id: &str) {
        self.accounts.remove(meeting_bot_id);
        if let Some(bot) = self.bots.remove(meeting_bot_id) {
            self.gone(&bot.session_id, 1);
        }
    }

    /// Takes every bot of the session away, as its end does.
    fn end_session(&mut self, session_id: &str) {
        let before = self.bots.len();
        self.bots.retain(|_, bot| bot.session_id != session_id);
        let bots = &self.bots;
        self.accounts.retain(|id, _| bots.contains_key(id));
        self.gone(session_id, before - self.bots.len());
    }

    /// Counts `count` bots of the session out.
    fn gone(&mut self, session_id: &str, count: usize) {
        // Every bot was counted in when it joined, so its session has a
        // tally; nothing panics under the lock, whatever the case.
        if let Some(tally) = self.live.sessions.get_mut(session_id) {
            tally.down(count);
        }
        self.live.all.down(count);
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Store {
        Store::new(&Config::default(), "127.0.0.1:0".into())
    }

    fn join(store: &Store, session_id: &str) -> String {
        let request = JoinRequest {
            meeting_url: "https://meet.google.com/abc-defg-hij".into(),
            bot_name: None,
        };
        store
            .join(session_id, "key-a", request)
            .unwrap()
            .meeting_bot_id
    }

    /// The tallies of bots live now agree with the bots themselves.
    fn assert_tallies_match_bots(store: &Store) {
        let inner = store.lock();
        let mut live: HashMap<&str, usize> = HashMap::new();
        for bot in inner.bots.values() {
            *live.entry(&bot.session_id).or_default() += 1;
        }
        for (session_id, tally) in &inner.live.sessions {
            let now = live.get(session_id.as_str()).copied().unwrap_or(0);
            assert_eq!(tally.now, now, "{session_id}");
            assert!(tally.peak >= tally.now, "{session_id}");
        }
        assert!(live.keys().all(|id| inner.live.sessions.contains_key(*id)));
        assert_eq!(inner.live.all.now, inner.bots.len());
    }

    #[test]
    fn every_change_of_the_bots_keeps_the_tallies() {
        let store = store();
        let a = join(&store, "a");
        join(&store, "a");
        join(&store, "b");
        assert_tallies_match_bots(&store);
        assert_eq!(
            store.leave("a", "key-b", &a),
            Err(LeaveRefusal::BotNotFound),
            "another account cannot see the bot"
        );
        store.leave("a", "key-a", &a).unwrap();
        assert_eq!(
            store.leave("b", "key-a", &a),
            Err(LeaveRefusal::BotNotFound)
        );
        assert_tallies_match_bots(&store);
        store.set_session_status("a", SessionStatus::Failed);
        store.set_session_status("c", SessionStatus::Completed);
        assert_tallies_match_bots(&store);
        store.set_session_status("a", SessionStatus::Active);
        join(&store, "a");
        assert_tallies_match_bots(&store);
        let peaks = store.peaks();
        assert_eq!(
            (peaks.all, peaks.session("a"), peaks.session("b")),
            (3, 2, 1)
        );
        store.reset();
        assert_tallies_match_bots(&store);
        assert_eq!(store.peaks(), Peaks::default());
    }
}
