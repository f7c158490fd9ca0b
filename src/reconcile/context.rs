//! What every reconcile shares: clients, settings, the per-object memory of
//! vendor calls, and the gate that says whether this process may still start
//! calls that change a meeting.

pub use super::cluster::MANAGER;
use super::cluster::connection_secret::Written;
use super::cluster::{Events, OperatorApiKey, SecretReader};
use super::decide::memo::{Call, Memo};
use super::decide::plan::LeavePurpose;
use super::metrics::Metrics;
use super::schedule::{
    Cached, Lanes, OwnWrites, RecordedIds, Remembered, SecretName, SecretRefs, Uid, WaitingRoom,
    Watched,
};
use crate::api::MeetingBot;
use crate::lemonslice;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use kube::api::PartialObjectMeta;
use kube::runtime::events::Reporter;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, ResourceExt};
use parking_lot::Mutex;
use rand::Rng;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::Notify;
use tracing::{info, warn};

/// The same failure of a reconcile is reported on its object at most this often.
const REPORT_EVERY_SECS: i64 = 60;

/// What the controller watches and how.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// Namespaces to watch; empty means all.
    pub namespaces: Vec<String>,
    pub label_selector: Option<String>,
    pub concurrency: u16,
    pub retry_unknown_joins: bool,
    /// How often the session of a joined bot is read.
    pub session_poll: Duration,
    /// Keep the websocket URL's token out of status.
    pub redact_websocket_token: bool,
    /// Name of this replica, for Events.
    pub instance: Option<String>,
    /// The identity of this install: stamped on the objects it acts on.
    pub install: String,
}

/// Open while this process may start a join or a leave: it leads, its
/// Lease is fresh, and it is not shutting down. Calls already sent finish
/// and are recorded whatever the gate says.
#[derive(Clone, Debug, Default)]
pub struct Gate(Arc<AtomicBool>);

impl Gate {
    pub fn open(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn close(&self) {
        self.0.store(false, Ordering::Release);
    }

    pub fn is_open(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Shared by all reconciles.
pub struct Context {
    pub(super) kube: kube::Client,
    pub(super) vendor: lemonslice::Client,
    pub(super) operator_key: OperatorApiKey,
    pub(super) secrets: SecretReader,
    memos: Mutex<HashMap<Uid, Memo>>,
    pub(super) events: Events,
    pub(super) settings: Settings,
    pub(super) metrics: Metrics,
    pub(super) stores: Mutex<Vec<Store<Cached>>>,
    /// Until a bot's session is read, it counts as read at start.
    pub(super) started_at: Timestamp,
    pub(super) gate: Gate,
    /// Turns for reconciles (in order, joins first) and where they wait for them.
    pub(super) waiting: WaitingRoom,
    /// What the operator's own writes returned, until the watch has it.
    pub(super) own_writes: OwnWrites,
    /// Which objects' statuses record which bot ids, as last delivered.
    pub(super) recorded_ids: RecordedIds,
    /// Which objects' specs name which Secrets, as last delivered.
    pub(super) secret_refs: SecretRefs,
    /// UIDs of deleted objects whose finalizer this process removed itself,
    /// until the watch delivers their deletion.
    let_go: Mutex<HashSet<String>>,
    /// UIDs of the objects a reconcile (or a hand-over) works on now, and a
    /// wake-up for those waiting for one to end.
    working: Mutex<HashSet<String>>,
    idle: Notify,
}

fn uid_of(bot: &MeetingBot) -> Uid {
    Uid::of(bot.metadata.uid.as_deref().unwrap_or_default())
}

/// Work on one object, which no other reconcile or hand-over does meanwhile.
pub(super) struct Working<'a> {
    ctx: &'a Context,
    uid: String,
}

impl Drop for Working<'_> {
    fn drop(&mut self) {
        self.ctx.working.lock().remove(&self.uid);
        self.ctx.idle.notify_waiters();
    }
}

impl Context {
    pub fn new(
        kube: kube::Client,
        vendor: lemonslice::Client,
        operator_key: OperatorApiKey,
        settings: Settings,
        metrics: Metrics,
        gate: Gate,
    ) -> Arc<Context> {
        let reporter = Reporter {
            // Qualified with the API group: liveai.lemonslice.com/meetingbot-operator.
            controller: format!("{}/{MANAGER}", <MeetingBot as kube::Resource>::group(&())),
            instance: settings.instance.clone(),
        };
        let lanes = Lanes::new(settings.concurrency);
        Arc::new(Context {
            events: Events::new(kube.clone(), reporter, lanes.clone()),
            secrets: SecretReader::new(kube.clone()),
            kube,
            vendor,
            operator_key,
            memos: Mutex::default(),
            settings,
            metrics,
            stores: Mutex::default(),
            started_at: Timestamp::now(),
            gate,
            waiting: WaitingRoom::new(lanes),
            own_writes: OwnWrites::default(),
            recorded_ids: RecordedIds::default(),
            secret_refs: SecretRefs::default(),
            let_go: Mutex::default(),
            working: Mutex::default(),
            idle: Notify::new(),
        })
    }

    /// Waits until no reconcile or hand-over works on `uid`, then works on it.
    pub(super) async fn when_idle_work_on(&self, uid: &str) -> Working<'_> {
        loop {
            // Registered before looking, so that an end between the two is not missed.
            let mut ended = std::pin::pin!(self.idle.notified());
            ended.as_mut().enable();
            if self.working.lock().insert(uid.to_owned()) {
                return Working {
                    ctx: self,
                    uid: uid.to_owned(),
                };
            }
            ended.await;
        }
    }

    /// Whether one of this process's watches holds `bot` (this object, not
    /// another of its name): it is in scope, and not yet seen deleted.
    pub(super) fn watches(&self, object: &impl ResourceExt) -> bool {
        let key = ObjectRef::<Cached>::new(&object.name_any())
            .within(&object.namespace().unwrap_or_default());
        self.stores
            .lock()
            .iter()
            .filter_map(|store| store.get(&key))
            .any(|watched| watched.uid() == object.uid())
    }

    /// The MeetingBots of each watched namespace (or of all).
    pub(super) fn bot_apis(&self) -> Vec<Api<Watched>> {
        if self.settings.namespaces.is_empty() {
            return vec![Api::all(self.kube.clone())];
        }
        self.settings
            .namespaces
            .iter()
            .map(|ns| Api::namespaced(self.kube.clone(), ns))
            .collect()
    }

    /// This process removes `uid`'s finalizer itself: its deletion loses nothing.
    pub(super) fn letting_go(&self, uid: &str) {
        self.let_go.lock().insert(uid.to_owned());
    }

    /// Whether this process let `uid` go itself; asked once, at its deletion.
    pub(super) fn let_go_by_us(&self, uid: &str) -> bool {
        self.let_go.lock().remove(uid)
    }

    /// The vendor client, for checks outside reconciles.
    pub fn vendor(&self) -> &lemonslice::Client {
        &self.vendor
    }

    pub fn operator_key(&self) -> &OperatorApiKey {
        &self.operator_key
    }

    fn with_memo(&self, bot: &MeetingBot, change: impl FnOnce(&mut Memo)) {
        change(self.memos.lock().entry(uid_of(bot)).or_default());
    }

    /// Notes that `install` acts on `bot`; true the first time, when users
    /// are to be told.
    pub(super) fn first_seen_acting_elsewhere(&self, bot: &MeetingBot, install: &str) -> bool {
        let mut first = false;
        self.with_memo(bot, |memo| {
            let seldom = memo.seldom_mut();
            first = seldom.told_other_install.as_deref() != Some(install);
            seldom.told_other_install = Some(install.to_owned());
        });
        first
    }

    pub(super) fn memo(&self, uid: &str) -> Memo {
        self.memos
            .lock()
            .get(&Uid::of(uid))
            .cloned()
            .unwrap_or_default()
    }

    pub(super) fn record_failure(
        &self,
        bot: &MeetingBot,
        call: Call,
        failure: lemonslice::Failure,
    ) {
        let jitter = jitter();
        self.with_memo(bot, |memo| {
            memo.record(
                bot.metadata.generation,
                call,
                failure,
                Timestamp::now(),
                jitter,
            );
        });
    }

    /// `call` succeeded for `bot`: its earlier failures are forgotten.
    pub(super) fn call_succeeded(&self, bot: &MeetingBot, call: Call) {
        if let Some(memo) = self.memos.lock().get_mut(&uid_of(bot)) {
            memo.succeeded(call);
        }
    }

    pub(super) fn forget_failures(&self, bot: &MeetingBot) {
        if let Some(memo) = self.memos.lock().get_mut(&uid_of(bot)) {
            memo.clear_failures();
        }
    }

    /// Remembers that the bot `meeting_bot_id` left the meeting, for `purpose`.
    pub(super) fn saw_leave(&self, bot: &MeetingBot, meeting_bot_id: &str, purpose: LeavePurpose) {
        self.with_memo(bot, |memo| {
            memo.seldom_mut().left = Some((meeting_bot_id.to_owned(), purpose));
        });
    }

    /// Remembers that the join begun at `started_at` made no bot: its call
    /// was never sent, or was refused, although its record may remain.
    pub(super) fn join_not_made(&self, bot: &MeetingBot, started_at: Timestamp) {
        self.with_memo(bot, |memo| memo.seldom_mut().unsent_join = Some(started_at));
    }

    pub(super) fn session_checked(&self, bot: &MeetingBot) {
        self.with_memo(bot, |memo| memo.session_checked_at = Some(Timestamp::now()));
    }

    /// A referenced Secret changed (by the watch's metadata): forgets the
    /// remembered failures of the MeetingBots that reference it, if any has
    /// some, when the Secret's data differs from what their calls used. A
    /// touch or a relist alone does not reset anyone's backoff.
    pub(super) async fn forget_failures_if_data_changed(
        &self,
        bots: &Store<Cached>,
        secret: &PartialObjectMeta<Secret>,
    ) {
        let namespace = secret.namespace().unwrap_or_default();
        let name = secret.name_any();
        let failing: Vec<MeetingBot> = self
            .secret_refs
            .referencing(&namespace, &name)
            .iter()
            .filter_map(|key| bots.get(key))
            .filter(|cached| {
                let uid = cached.uid().unwrap_or_default();
                self.memo(&uid).failing().next().is_some()
            })
            .filter_map(|cached| cached.bot())
            .collect();
        if failing.is_empty() {
            return;
        }
        match self
            .secrets
            .data_changed(&namespace, &name, secret.resource_version().as_deref())
            .await
        {
            Ok(true) => {
                info!(
                    namespace,
                    secret = name,
                    bots = failing.len(),
                    "a referenced Secret's data changed: forgetting failures"
                );
                failing.iter().for_each(|bot| self.forget_failures(bot));
            }
            Ok(false) => {}
            Err(error) => {
                warn!(%error, namespace, secret = name, "could not read a changed Secret")
            }
        }
    }

    /// Remembers how the last write of a MeetingBot's connection Secret went.
    pub(super) fn connection_secret_written(&self, bot: &MeetingBot, written: Written) {
        self.with_memo(bot, |memo| {
            memo.seldom_mut().connection_secret = Some(written);
        });
    }

    /// Counts a failed reconcile of the object: how many in a row, and
    /// whether to report it (a new category, or a minute since the last report).
    pub(super) fn reconcile_failed(&self, uid: &str, reason: &'static str) -> (u32, bool) {
        let mut memos = self.memos.lock();
        let memo = memos.entry(Uid::of(uid)).or_default();
        let errors = &mut memo.seldom_mut().reconcile_errors;
        errors.count += 1;
        let now = Timestamp::now();
        let due = errors.reported.is_none_or(|(last_reason, at)| {
            last_reason != reason || now.duration_since(at).as_secs() >= REPORT_EVERY_SECS
        });
        if due {
            errors.reported = Some((reason, now));
        }
        (errors.count, due)
    }

    pub(super) fn reconcile_succeeded(&self, uid: &str) {
        if let Some(memo) = self.memos.lock().get_mut(&Uid::of(uid)) {
            memo.reconcile_succeeded();
        }
    }

    /// This process removed `bot`'s finalizer: what it remembers of the
    /// object goes with the watch's Delete, or now if that came already.
    /// Kept until then, the record of this process's writes stops a trigger
    /// still queued from acting on the version before them (a second leave).
    pub(super) fn let_go_of(&self, bot: &MeetingBot) {
        if !self.watches(bot) {
            self.forget(&bot.uid().unwrap_or_default());
        }
    }

    /// Drops everything remembered about an object that is going away.
    pub(super) fn forget(&self, uid: &str) {
        self.memos.lock().remove(&Uid::of(uid));
        self.own_writes.forget(uid);
        self.recorded_ids.forget(uid);
        self.secrets_released(self.secret_refs.forget(uid));
    }

    /// No MeetingBot names these Secrets any more: what was kept of them goes.
    fn secrets_released(&self, secrets: Vec<SecretName>) {
        for (namespace, name) in secrets {
            self.secrets.forget(&namespace, &name);
        }
    }

    /// Counts MeetingBots by phase (and stalled reason, and deletion age)
    /// across the watched scopes (for /metrics).
    pub fn count_phases(&self) {
        let cached: Vec<Arc<Cached>> = self
            .stores
            .lock()
            .iter()
            .flat_map(|store| store.state())
            .collect();
        // Decoded one at a time, as counted.
        let bots = cached.iter().filter_map(|cached| cached.bot());
        self.metrics
            .count(bots, Timestamp::now(), &self.settings.install);
        self.metrics.lanes(self.waiting.load());
        let (secret_digests, api_keys) = self.secrets.kept();
        self.metrics.kept([
            ("memos", self.memos.lock().len()),
            ("own_writes", self.own_writes.len()),
            ("bot_ids", self.recorded_ids.len()),
            ("secret_refs", self.secret_refs.len()),
            ("secret_digests", secret_digests),
            ("api_keys", api_keys),
        ]);
    }
}

/// The triggers (see `schedule::triggers`) ask the context what it remembers.
impl Remembered for Context {
    fn observed(&self, seen: &Watched) -> bool {
        self.recorded_ids.observed(seen);
        self.secrets_released(self.secret_refs.observed(seen));
        self.own_writes.observed(seen)
    }
    fn forget(&self, uid: &str) {
        Context::forget(self, uid)
    }
}

/// A factor in 0.8..1.2 for a retry delay, so that objects that failed
/// together are not retried together.
pub(super) fn jitter() -> f64 {
    rand::rng().random_range(0.8..1.2)
}
