//! The controller: watches MeetingBots and the Secrets they reference, and
//! carries out what `decide` plans — one vendor call or one Kubernetes write
//! at a time — until the plan settles.

use super::connection_secret;
use super::decide::{
    Facts, JustJoined, Learned, LeavePurpose, Notice, Plan, SecretProblem, Settle, decide, event,
};
use super::memo::{Call, Memo};
use super::metrics::{Endpoint, Metrics, ReconcileResult};
use super::secrets::{OperatorApiKey, SecretKeyRef, SecretReader};
use super::status;
use crate::api::{
    FINALIZER, JoinAttempt, MeetingBot, Platform, RecordedBot, annotation, forgotten_annotations,
    joined_annotations,
};
use crate::lemonslice::{
    self, JoinOutcome, JoinRequest, LeaveOutcome, SecretString, SessionOutcome,
};
use crate::{Error, Result};
use futures::{StreamExt, TryStreamExt, future};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{PartialObjectMeta, Patch, PatchParams};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use rand::Rng;
use serde_json::json;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::{Instrument, info, info_span, warn};

/// Name of the operator as a field manager and Event reporter.
pub const MANAGER: &str = "meetingbot-operator";

/// A reconcile that keeps planning steps past this many is cut short and requeued.
const MAX_STEPS: usize = 8;
/// After a write conflict, how soon to look again (the watch brings the newer object).
const CONFLICT_RETRY: Duration = Duration::from_millis(200);
/// How long to keep trying to record a bot id that join just returned: this
/// process holds the only copy, so it outlasts an API-server outage (a restart
/// of kube-apiserver took about a minute in `make chaos`).
const PERSIST_DEADLINE: Duration = Duration::from_secs(15 * 60);

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
}

/// Shared by all reconciles.
pub struct Context {
    kube: kube::Client,
    vendor: lemonslice::Client,
    operator_key: OperatorApiKey,
    secrets: SecretReader,
    memos: Mutex<HashMap<String, Memo>>,
    recorder: Recorder,
    settings: Settings,
    metrics: Metrics,
    stores: Mutex<Vec<Store<MeetingBot>>>,
    /// Until a bot's session is read, it counts as read at start.
    started_at: Timestamp,
}

impl Context {
    pub fn new(
        kube: kube::Client,
        vendor: lemonslice::Client,
        operator_key: OperatorApiKey,
        settings: Settings,
        metrics: Metrics,
    ) -> Arc<Context> {
        let reporter = Reporter {
            controller: MANAGER.into(),
            instance: settings.instance.clone(),
        };
        Arc::new(Context {
            recorder: Recorder::new(kube.clone(), reporter),
            secrets: SecretReader::new(kube.clone()),
            kube,
            vendor,
            operator_key,
            memos: Mutex::default(),
            settings,
            metrics,
            stores: Mutex::default(),
            started_at: Timestamp::now(),
        })
    }

    fn memos(&self) -> std::sync::MutexGuard<'_, HashMap<String, Memo>> {
        self.memos
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn memo(&self, uid: &str) -> Memo {
        self.memos().get(uid).cloned().unwrap_or_default()
    }

    fn record_failure(&self, bot: &MeetingBot, call: Call, failure: lemonslice::Failure) {
        let jitter = rand::rng().random_range(0.8..1.2);
        self.memos()
            .entry(bot.uid().unwrap_or_default())
            .or_default()
            .record(
                bot.metadata.generation,
                call,
                failure,
                Timestamp::now(),
                jitter,
            );
    }

    fn forget_failures(&self, bot: &MeetingBot) {
        if let Some(memo) = self.memos().get_mut(&bot.uid().unwrap_or_default()) {
            memo.clear_failures();
        }
    }

    fn join_not_sent(&self, bot: &MeetingBot, started_at: Timestamp) {
        self.memos()
            .entry(bot.uid().unwrap_or_default())
            .or_default()
            .unsent_join = Some(started_at);
    }

    fn session_checked(&self, bot: &MeetingBot) {
        self.memos()
            .entry(bot.uid().unwrap_or_default())
            .or_default()
            .session_checked_at = Some(Timestamp::now());
    }

    /// A referenced Secret changed (by the watch's metadata): forgets the
    /// remembered failures of the MeetingBots that reference it, if any has
    /// some, when the Secret's data differs from what their calls used.
    async fn forget_failures_if_data_changed(
        &self,
        bots: &Store<MeetingBot>,
        secret: &PartialObjectMeta<Secret>,
    ) {
        let namespace = secret.namespace().unwrap_or_default();
        let name = secret.name_any();
        let failing: Vec<Arc<MeetingBot>> = bots
            .state()
            .into_iter()
            .filter(|bot| {
                bot.namespace().as_deref() == Some(namespace.as_str())
                    && bot.references_secret(&name)
                    && self
                        .memo(&bot.uid().unwrap_or_default())
                        .failing()
                        .next()
                        .is_some()
            })
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

    /// Drops everything remembered about an object that is going away.
    fn forget(&self, bot: &MeetingBot) {
        self.memos().remove(&bot.uid().unwrap_or_default());
    }

    /// Counts MeetingBots by phase across the watched scopes (for /metrics).
    pub fn count_phases(&self) {
        let mut counts: HashMap<String, i64> = HashMap::new();
        for store in self.stores.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            for bot in store.state() {
                let phase = bot.status.as_ref().and_then(|s| s.phase);
                let name = phase.map_or_else(|| "Unknown".to_owned(), |p| format!("{p:?}"));
                *counts.entry(name).or_default() += 1;
            }
        }
        self.metrics.phases.clear();
        for (phase, count) in counts {
            self.metrics
                .phases
                .get_or_create(&super::metrics::PhaseLabels { phase })
                .set(count);
        }
    }
}

/// Runs the controller until `shutdown` resolves, then lets in-flight
/// reconciles finish. `on_synced` is called once every watch has listed.
pub async fn run(
    ctx: Arc<Context>,
    shutdown: impl Future<Output = ()> + Send + Sync + Clone + 'static,
    on_synced: impl FnOnce() + Send + 'static,
) {
    let scopes: Vec<Option<String>> = if ctx.settings.namespaces.is_empty() {
        vec![None]
    } else {
        ctx.settings.namespaces.iter().cloned().map(Some).collect()
    };
    // Counted from the watch streams themselves: `Store::wait_until_ready`
    // wakes only one of several waiters, and the controller is already one.
    let unsynced = AtomicUsize::new(scopes.len());
    let on_synced = Mutex::new(Some(on_synced));
    let scope_synced: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
        if unsynced.fetch_sub(1, Ordering::AcqRel) == 1
            && let Some(on_synced) = on_synced.lock().unwrap_or_else(|p| p.into_inner()).take()
        {
            on_synced();
        }
    });
    let mut controllers = Vec::new();
    for scope in scopes {
        let (reader, controller) =
            controller_for(scope, ctx.clone(), shutdown.clone(), scope_synced.clone());
        ctx.stores
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(reader);
        controllers.push(controller);
    }
    future::join_all(controllers).await;
}

fn controller_for(
    namespace: Option<String>,
    ctx: Arc<Context>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
    synced: Arc<dyn Fn() + Send + Sync>,
) -> (Store<MeetingBot>, impl Future<Output = ()>) {
    let (bots, secrets): (Api<MeetingBot>, Api<PartialObjectMeta<Secret>>) =
        match namespace.as_deref() {
            Some(ns) => (
                Api::namespaced(ctx.kube.clone(), ns),
                Api::namespaced(ctx.kube.clone(), ns),
            ),
            None => (Api::all(ctx.kube.clone()), Api::all(ctx.kube.clone())),
        };
    let mut bot_watch = watcher::Config::default().any_semantic();
    if let Some(selector) = &ctx.settings.label_selector {
        bot_watch = bot_watch.labels(selector);
    }
    let (reader, writer) = reflector::store();
    let mut listed = false;
    let bot_events = watcher(bots, bot_watch)
        .default_backoff()
        .inspect_ok(move |event| {
            if !listed && matches!(event, watcher::Event::InitDone) {
                listed = true;
                synced();
            }
        })
        .reflect(writer)
        .applied_objects()
        // The operator's own status writes need no reconcile.
        .predicate_filter(changes_that_matter, Default::default());
    // Secrets: metadata only, no cache; a change triggers the MeetingBots that
    // reference the Secret, and voids their remembered failures only when the
    // Secret's data changed (a touch or a relist must not reset backoff).
    let digest_ctx = ctx.clone();
    let digest_lookup = reader.clone();
    let secret_events = watcher(secrets, watcher::Config::default().any_semantic())
        .default_backoff()
        .touched_objects()
        .and_then(move |secret| {
            let ctx = digest_ctx.clone();
            let lookup = digest_lookup.clone();
            async move {
                ctx.forget_failures_if_data_changed(&lookup, &secret).await;
                Ok(secret)
            }
        });
    let lookup = reader.clone();
    let referencing = move |secret: PartialObjectMeta<Secret>| {
        let namespace = secret.namespace().unwrap_or_default();
        let name = secret.name_any();
        let refs: Vec<ObjectRef<MeetingBot>> = lookup
            .state()
            .into_iter()
            .filter(|bot| {
                bot.namespace().as_deref() == Some(namespace.as_str())
                    && bot.references_secret(&name)
            })
            .map(|bot| ObjectRef::from_obj(&*bot))
            .collect();
        refs
    };
    let concurrency = ctx.settings.concurrency.max(1);
    let controller = Controller::for_stream(bot_events, reader.clone())
        .with_config(ControllerConfig::default().concurrency(concurrency))
        .watches_stream(secret_events, referencing)
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(error) = result {
                warn!(%error, "reconcile failed");
            }
        });
    (reader, controller)
}

/// Hashes what should trigger a reconcile: spec, annotations, finalizers and deletion.
fn changes_that_matter(bot: &MeetingBot) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    bot.metadata.generation.hash(&mut hasher);
    bot.metadata.annotations.hash(&mut hasher);
    bot.metadata.finalizers.hash(&mut hasher);
    bot.metadata.deletion_timestamp.is_some().hash(&mut hasher);
    Some(hasher.finish())
}

fn error_policy(_bot: Arc<MeetingBot>, _error: &Error, _ctx: Arc<Context>) -> Action {
    let jitter = rand::rng().random_range(0..2000);
    Action::requeue(Duration::from_millis(3000 + jitter))
}

async fn reconcile(bot: Arc<MeetingBot>, ctx: Arc<Context>) -> Result<Action> {
    let span = info_span!(
        "reconcile",
        namespace = bot.namespace().unwrap_or_default(),
        name = bot.name_any(),
        generation = bot.metadata.generation.unwrap_or_default(),
    );
    let started = Instant::now();
    let result = Reconciler::new(&bot, &ctx)?.run().instrument(span).await;
    let outcome = if result.is_ok() {
        ReconcileResult::Ok
    } else {
        ReconcileResult::Error
    };
    ctx.metrics.reconciled(outcome, started.elapsed());
    result
}

/// What one step of a reconcile led to.
#[allow(
    clippy::large_enum_variant,
    reason = "one short-lived value per step; boxing buys nothing"
)]
enum Step {
    /// Plan again with this object (and what the step learned).
    Continue(MeetingBot, Option<Learned>),
    /// End the reconcile.
    Stop(Action),
}

struct Reconciler<'a> {
    ctx: &'a Context,
    api: Api<MeetingBot>,
    namespace: String,
    bot: MeetingBot,
}

impl<'a> Reconciler<'a> {
    fn new(bot: &MeetingBot, ctx: &'a Context) -> Result<Self> {
        let namespace = bot.namespace().ok_or(Error::MissingNamespace)?;
        Ok(Reconciler {
            ctx,
            api: Api::namespaced(ctx.kube.clone(), &namespace),
            namespace,
            bot: bot.clone(),
        })
    }

    async fn run(mut self) -> Result<Action> {
        let mut learned = None;
        for _ in 0..MAX_STEPS {
            let memo = self.ctx.memo(&self.bot.uid().unwrap_or_default());
            let plan = decide(&Facts {
                bot: &self.bot,
                memo: &memo,
                now: Timestamp::now(),
                retry_unknown_joins: self.ctx.settings.retry_unknown_joins,
                last: learned.as_ref(),
                session_poll: self.ctx.settings.session_poll,
                session_checked_at: memo.session_checked_at.unwrap_or(self.ctx.started_at),
            });
            let step = match plan {
                Plan::AddFinalizer => self.add_finalizer().await?,
                Plan::CheckSession { session_id } => self.check_session(&session_id).await?,
                Plan::Join(attempt) => self.join(attempt).await?,
                Plan::Leave { bot, purpose } => self.leave(bot, purpose).await?,
                Plan::Forget { bot } => {
                    info!(
                        meeting_bot_id = bot.meeting_bot_id,
                        "forgetting the bot without leave, as annotated"
                    );
                    Step::Continue(
                        self.patch_annotations(forgotten_annotations(), None)
                            .await?,
                        None,
                    )
                }
                Plan::ClearUnsentJoin => {
                    info!("clearing the record of a join that was never sent");
                    self.patch_versioned(json!({
                        "metadata": { "annotations": { annotation::JOIN_IN_FLIGHT: null } }
                    }))
                    .await?
                }
                Plan::Adopt(bot) => Step::Continue(
                    self.patch_annotations(joined_annotations(&bot), None)
                        .await?,
                    None,
                ),
                Plan::RemoveFinalizer { unknown_join } => {
                    if unknown_join {
                        self.publish(
                            EventType::Warning,
                            event::JOIN_OUTCOME_UNKNOWN,
                            "deleted while a join's outcome was unknown: if a bot joined, it stays until the session ends",
                        )
                        .await;
                    }
                    self.remove_finalizer().await?
                }
                Plan::Settle(settle) => Step::Stop(self.settle(settle).await?),
            };
            match step {
                Step::Continue(bot, new_learned) => {
                    self.bot = bot;
                    learned = new_learned;
                }
                Step::Stop(action) => return Ok(action),
            }
        }
        warn!("reconcile did not settle in {MAX_STEPS} steps; trying again shortly");
        Ok(Action::requeue(Duration::from_secs(1)))
    }

    async fn add_finalizer(&self) -> Result<Step> {
        let mut finalizers = self.bot.finalizers().to_vec();
        finalizers.push(FINALIZER.to_owned());
        self.patch_versioned(json!({ "metadata": { "finalizers": finalizers } }))
            .await
    }

    async fn remove_finalizer(&self) -> Result<Step> {
        let finalizers: Vec<&String> = self
            .bot
            .finalizers()
            .iter()
            .filter(|f| *f != FINALIZER)
            .collect();
        match self
            .patch_versioned(json!({ "metadata": { "finalizers": finalizers } }))
            .await?
        {
            Step::Continue(..) => {
                self.ctx.forget(&self.bot);
                Ok(Step::Stop(Action::await_change()))
            }
            stop => Ok(stop),
        }
    }

    /// A metadata merge patch that applies only to the version of the object
    /// this reconcile has seen: on a conflict, the reconcile starts over.
    async fn patch_versioned(&self, mut patch: serde_json::Value) -> Result<Step> {
        patch["metadata"]["resourceVersion"] = json!(self.bot.resource_version());
        match self
            .api
            .patch(
                &self.bot.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            Ok(bot) => Ok(Step::Continue(bot, None)),
            Err(kube::Error::Api(status)) if status.code == 409 => {
                info!("the object changed meanwhile; starting over");
                Ok(Step::Stop(Action::requeue(CONFLICT_RETRY)))
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Sets or (with `None`) removes annotations, optionally version-checked.
    async fn patch_annotations(
        &self,
        annotations: impl IntoIterator<Item = (&'static str, Option<String>)>,
        resource_version: Option<String>,
    ) -> Result<MeetingBot> {
        let annotations: serde_json::Map<String, serde_json::Value> = annotations
            .into_iter()
            .map(|(k, v)| (k.to_owned(), json!(v)))
            .collect();
        let mut patch = json!({ "metadata": { "annotations": annotations } });
        if let Some(version) = resource_version {
            patch["metadata"]["resourceVersion"] = json!(version);
        }
        Ok(self
            .api
            .patch(
                &self.bot.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await?)
    }

    async fn check_session(&self, session_id: &str) -> Result<Step> {
        let api_key = match self.api_key(false).await? {
            Ok(key) => key,
            Err(problem) => return Ok(self.learned(Learned::SecretMissing(problem))),
        };
        let started = Instant::now();
        let outcome = self.ctx.vendor.session_status(&api_key, session_id).await;
        let status = match &outcome {
            SessionOutcome::Status(_) => Some(200),
            SessionOutcome::Failed(failure) => failure.status,
        };
        self.ctx
            .metrics
            .called(Endpoint::Session, status, started.elapsed());
        self.ctx.session_checked(&self.bot);
        if let SessionOutcome::Failed(failure) = &outcome {
            info!(failure = failure.describe(), "reading the session failed");
            self.ctx
                .record_failure(&self.bot, Call::Session, failure.clone());
        }
        Ok(self.learned(Learned::Session(outcome)))
    }

    async fn join(&self, attempt: JoinAttempt) -> Result<Step> {
        let spec = &self.bot.spec;
        let token_ref = SecretKeyRef {
            namespace: self.namespace.clone(),
            name: spec.broadcast_token_secret_ref.name.clone(),
            key: spec.broadcast_token_secret_ref.key.clone(),
        };
        let broadcast_token = match self.ctx.secrets.read(&token_ref).await? {
            Ok(token) => token,
            Err(problem) => return Ok(self.learned(Learned::SecretMissing(problem))),
        };
        let api_key = match self.api_key(false).await? {
            Ok(key) => key,
            Err(problem) => return Ok(self.learned(Learned::SecretMissing(problem))),
        };
        let meeting_url = match self.meeting_url().await? {
            Ok(url) => url,
            Err(problem) => return Ok(self.learned(Learned::SecretMissing(problem))),
        };
        let request = JoinRequest {
            meeting_url,
            livekit_url: spec.livekit_url.clone(),
            broadcast_token,
            bot_name: spec.bot_name.clone(),
        };

        // Record the attempt before the call, checked against the version this
        // reconcile saw: a stale cache or a second replica gets a conflict here
        // instead of joining a second time.
        let in_flight = serde_json::to_string(&attempt).expect("a join attempt serializes");
        let bot = match self
            .patch_annotations(
                [(annotation::JOIN_IN_FLIGHT, Some(in_flight))],
                self.bot.resource_version(),
            )
            .await
        {
            Ok(bot) => bot,
            Err(Error::Kube(kube::Error::Api(status))) if status.code == 409 => {
                info!("the object changed before the join; starting over");
                return Ok(Step::Stop(Action::requeue(CONFLICT_RETRY)));
            }
            Err(error) => {
                // The record may have landed with its answer lost; the join
                // was not sent, which only this process knows.
                self.ctx.join_not_sent(&self.bot, attempt.started_at);
                return Err(error);
            }
        };

        let started = Instant::now();
        let outcome = self
            .ctx
            .vendor
            .join(&api_key, &attempt.session_id, &request)
            .await;
        let status = match &outcome {
            JoinOutcome::Joined(_) => Some(200),
            JoinOutcome::NotJoined(failure) | JoinOutcome::Unknown(failure) => failure.status,
        };
        self.ctx
            .metrics
            .called(Endpoint::Join, status, started.elapsed());
        match outcome {
            JoinOutcome::Joined(joined) => {
                let recorded = RecordedBot {
                    meeting_bot_id: joined.meeting_bot_id.clone(),
                    session_id: attempt.session_id.clone(),
                    joined_spec: Some(spec.join_fingerprint()),
                };
                info!(meeting_bot_id = recorded.meeting_bot_id, "joined");
                let bot = self.persist_joined(&recorded).await?;
                self.ctx.forget_failures(&bot);
                if let Some(target) = &spec.write_connection_secret_to_ref {
                    self.write_connection_secret(&target.name, &recorded, &joined.websocket_url)
                        .await;
                }
                self.publish(
                    EventType::Normal,
                    event::JOINED,
                    &format!(
                        "the avatar joined the meeting as {}",
                        recorded.meeting_bot_id
                    ),
                )
                .await;
                Ok(Step::Continue(
                    bot,
                    Some(Learned::Joined(JustJoined {
                        websocket_url: joined.websocket_url,
                        joined_at: Timestamp::now(),
                        platform: Platform::from_meeting_url(&request.meeting_url).ok(),
                    })),
                ))
            }
            JoinOutcome::NotJoined(failure) => {
                info!(
                    failure = failure.describe(),
                    "join refused; no bot was created"
                );
                let bot = self
                    .patch_annotations([(annotation::JOIN_IN_FLIGHT, None)], None)
                    .await?;
                self.ctx.record_failure(&bot, Call::Join, failure);
                Ok(Step::Continue(bot, None))
            }
            JoinOutcome::Unknown(failure) => {
                warn!(
                    failure = failure.describe(),
                    "join outcome unknown; a bot may exist"
                );
                if !self.ctx.settings.retry_unknown_joins {
                    // The in-flight record stays: it is what stops a second join.
                    return Ok(Step::Continue(bot, None));
                }
                let bot = self
                    .patch_annotations([(annotation::JOIN_IN_FLIGHT, None)], None)
                    .await?;
                self.ctx.record_failure(&bot, Call::Join, failure);
                Ok(Step::Continue(bot, None))
            }
        }
    }

    /// Writes the bot's connection details into the Secret the spec names
    /// (see `connection_secret`: created, or updated only when this MeetingBot
    /// controls it). A failure is reported, not retried: the bot is in the
    /// meeting either way.
    async fn write_connection_secret(
        &self,
        name: &str,
        recorded: &RecordedBot,
        websocket_url: &lemonslice::WebsocketUrl,
    ) {
        let data = [
            ("websocketUrl".to_owned(), websocket_url.expose().to_owned()),
            ("meetingBotId".to_owned(), recorded.meeting_bot_id.clone()),
        ];
        let secrets: Api<Secret> = Api::namespaced(self.ctx.kube.clone(), &self.namespace);
        let written =
            connection_secret::write(&secrets, &self.bot, MANAGER, name, data.into()).await;
        if !written.ok() {
            warn!(
                secret = name,
                reason = written.reason(),
                message = written.message(),
                "connection Secret not written"
            );
            self.publish(EventType::Warning, written.reason(), &written.message())
                .await;
        }
        self.ctx
            .memos()
            .entry(self.bot.uid().unwrap_or_default())
            .or_default()
            .connection_secret = Some(written);
    }

    /// Writes the id of a bot that just joined. Losing it would leave a bot
    /// nobody can remove, so this retries for a while and logs the id if it
    /// still fails.
    async fn persist_joined(&self, recorded: &RecordedBot) -> Result<MeetingBot> {
        let deadline = Instant::now() + PERSIST_DEADLINE;
        let mut delay = Duration::from_millis(100);
        loop {
            match self
                .patch_annotations(joined_annotations(recorded), None)
                .await
            {
                Ok(bot) => return Ok(bot),
                Err(error) if Instant::now() < deadline => {
                    warn!(%error, meeting_bot_id = recorded.meeting_bot_id, "could not record the bot id yet; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Err(error) => {
                    warn!(
                        meeting_bot_id = recorded.meeting_bot_id,
                        session_id = recorded.session_id,
                        "could not record the bot id; write it into the annotation {} by hand",
                        annotation::MEETING_BOT_ID
                    );
                    return Err(error);
                }
            }
        }
    }

    async fn leave(&self, recorded: RecordedBot, purpose: LeavePurpose) -> Result<Step> {
        let api_key = match self.api_key(true).await? {
            Ok(key) => key,
            Err(problem) => return Ok(self.learned(Learned::SecretMissing(problem))),
        };
        if purpose == LeavePurpose::Rejoin {
            self.publish(
                EventType::Normal,
                event::REJOINING,
                &format!(
                    "the spec changed: bot {} leaves, then a new one joins",
                    recorded.meeting_bot_id
                ),
            )
            .await;
        }
        let started = Instant::now();
        let outcome = self
            .ctx
            .vendor
            .leave(&api_key, &recorded.session_id, &recorded.meeting_bot_id)
            .await;
        let status = match &outcome {
            LeaveOutcome::Left => Some(200),
            LeaveOutcome::Retryable(failure) | LeaveOutcome::Refused(failure) => failure.status,
        };
        self.ctx
            .metrics
            .called(Endpoint::Leave, status, started.elapsed());
        match outcome {
            LeaveOutcome::Left => {
                info!(meeting_bot_id = recorded.meeting_bot_id, "left");
                self.ctx.forget_failures(&self.bot);
                self.publish(
                    EventType::Normal,
                    event::LEFT,
                    &format!("bot {} left the meeting", recorded.meeting_bot_id),
                )
                .await;
                match purpose {
                    LeavePurpose::Delete => self.remove_finalizer().await,
                    LeavePurpose::Rejoin | LeavePurpose::Suspend | LeavePurpose::Complete => {
                        Ok(Step::Continue(
                            self.patch_annotations(forgotten_annotations(), None)
                                .await?,
                            Some(Learned::Left(purpose)),
                        ))
                    }
                }
            }
            LeaveOutcome::Retryable(failure) | LeaveOutcome::Refused(failure) => {
                warn!(failure = failure.describe(), "leave failed");
                self.ctx.record_failure(&self.bot, Call::Leave, failure);
                Ok(Step::Continue(self.bot.clone(), None))
            }
        }
    }

    /// The meeting URL: the spec's, or the one in the Secret it names, checked
    /// against the same platform rules as the spec's.
    async fn meeting_url(&self) -> Result<Result<String, SecretProblem>> {
        let spec = &self.bot.spec;
        let Some(reference) = &spec.meeting_url_secret_ref else {
            return Ok(Ok(spec.meeting_url.clone().unwrap_or_default()));
        };
        let at = SecretKeyRef {
            namespace: self.namespace.clone(),
            name: reference.name.clone(),
            key: reference.key.clone(),
        };
        Ok(self.ctx.secrets.read(&at).await?.and_then(|url| {
            let url = url.expose().trim().to_owned();
            match Platform::from_meeting_url(&url) {
                Ok(_) => Ok(url),
                Err(invalid) => Err(SecretProblem::InvalidMeetingUrl {
                    secret: at.name,
                    key: at.key,
                    problem: invalid.to_string(),
                }),
            }
        }))
    }

    /// The API key for this bot: its own Secret's, or the operator's.
    async fn api_key(&self, for_leave: bool) -> Result<Result<SecretString, SecretProblem>> {
        let Some(reference) = &self.bot.spec.api_key_secret_ref else {
            return Ok(Ok(self.ctx.operator_key.current().await?));
        };
        let at = SecretKeyRef {
            namespace: self.namespace.clone(),
            name: reference.name.clone(),
            key: reference.key.clone(),
        };
        if for_leave {
            self.ctx.secrets.read_api_key_for_leave(&at).await
        } else {
            self.ctx.secrets.read_api_key(&at).await
        }
    }

    /// Writes the settled status when it differs from what is there, then
    /// publishes the state's Event when the state is new, and says when to look again.
    async fn settle(&self, settle: Settle) -> Result<Action> {
        let status = status::build(
            &self.bot,
            &settle,
            Timestamp::now(),
            self.ctx.settings.redact_websocket_token,
        );
        let status = connection_secret::with_condition(
            status,
            &self.bot,
            self.ctx
                .memo(&self.bot.uid().unwrap_or_default())
                .connection_secret
                .as_ref(),
            Timestamp::now(),
        );
        if self.bot.status.as_ref() != Some(&status) {
            // Checked against the version this reconcile saw: a reconcile that
            // started from a stale cache must not overwrite a newer status (and
            // with it the websocket URL, which nothing else records). A join
            // made in this reconcile is news that must land whatever changed.
            let mut patch = json!({
                "apiVersion": "liveai.lemonslice.com/v1alpha1",
                "kind": "MeetingBot",
                "status": status,
            });
            if settle.joined.is_none() {
                patch["metadata"] = json!({ "resourceVersion": self.bot.resource_version() });
            }
            let written = self
                .api
                .patch_status(
                    &self.bot.name_any(),
                    &PatchParams::apply(MANAGER).force(),
                    &Patch::Apply(&patch),
                )
                .await;
            match written {
                Err(kube::Error::Api(status)) if status.code == 409 => {
                    info!("the object changed meanwhile; starting over");
                    return Ok(Action::requeue(CONFLICT_RETRY));
                }
                written => written?,
            };
        }
        // Only once the status holds the new state: a reconcile from a stale
        // cache, refused above, must not announce a state that is not there.
        let previous_reason = status::ready_reason(self.bot.status.as_ref());
        if previous_reason != Some(settle.reason)
            && let Some(notice) = settle.event
        {
            let (type_, reason) = match notice {
                Notice::Normal(reason) => (EventType::Normal, reason),
                Notice::Warning(reason) => (EventType::Warning, reason),
            };
            self.publish(type_, reason, &settle.message).await;
        }
        Ok(settle
            .requeue
            .map_or_else(Action::await_change, Action::requeue))
    }

    async fn publish(&self, type_: EventType, reason: &str, note: &str) {
        let event = Event {
            type_,
            reason: reason.to_owned(),
            note: Some(note.to_owned()),
            action: "Reconcile".into(),
            secondary: None,
        };
        if let Err(error) = self
            .ctx
            .recorder
            .publish(&event, &self.bot.object_ref(&()))
            .await
        {
            warn!(%error, reason, "could not publish an Event");
        }
    }

    fn learned(&self, learned: Learned) -> Step {
        Step::Continue(self.bot.clone(), Some(learned))
    }
}
