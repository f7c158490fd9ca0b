//! The watches: MeetingBots, decoded one by one so that one undecodable
//! object cannot stop the others, and the Secrets they reference; readiness
//! once every watch has listed; the reconcile entry point.

use super::context::Context;
use super::lanes::{Lane, Turn};
use super::metrics::ReconcileResult;
use super::steps::Reconciler;
use crate::api::condition::{READY, RECONCILING, STALLED};
use crate::api::{MeetingBot, Phase, event, reason};
use crate::{Error, Result};
use futures::{StreamExt, TryStreamExt, future};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{ObjectReference, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{PartialObjectMeta, Patch, PatchParams};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::EventType;
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use rand::Rng;
use serde::Deserialize;
use serde_json::json;
use std::borrow::Cow;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::{Instrument, info_span, warn};

/// `kubectl apply`'s copy of the whole manifest, kept by client-side apply
/// (and by GitOps tools that use it).
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Removes what is read by nobody here and is a large part of every object,
/// to keep it out of the cache: managedFields and `kubectl apply`'s copy of
/// the manifest. No write sends a whole object back.
pub(super) fn drop_unread(metadata: &mut ObjectMeta) {
    metadata.managed_fields = None;
    if let Some(annotations) = &mut metadata.annotations {
        annotations.remove(LAST_APPLIED);
    }
}

/// A MeetingBot as the watch delivers it: decoded, or why it could not be.
/// Decoding each object on its own keeps one that slipped past admission (or
/// was written under an older schema) from failing the whole list.
#[derive(Clone, Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "nearly every object is valid: boxing would cost each one an allocation"
)]
pub enum Watched {
    Valid(MeetingBot),
    Invalid {
        metadata: ObjectMeta,
        /// The field that failed, and why.
        problem: String,
        /// Whether status already reports this problem.
        reported: bool,
    },
}

impl<'de> Deserialize<'de> for Watched {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        let problem = match serde_path_to_error::deserialize::<_, MeetingBot>(&value) {
            Ok(mut bot) => {
                drop_unread(&mut bot.metadata);
                return Ok(Watched::Valid(bot));
            }
            Err(error) => format!("{}: {}", error.path(), error.inner()),
        };
        let metadata = value.get("metadata").cloned().unwrap_or_default();
        let mut metadata = ObjectMeta::deserialize(metadata).map_err(serde::de::Error::custom)?;
        drop_unread(&mut metadata);
        let reported = value["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| {
                c["type"] == STALLED && c["message"].as_str() == Some(&invalid_message(&problem))
            });
        Ok(Watched::Invalid {
            metadata,
            problem,
            reported,
        })
    }
}

impl Resource for Watched {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(dt: &()) -> Cow<'_, str> {
        MeetingBot::kind(dt)
    }
    fn group(dt: &()) -> Cow<'_, str> {
        MeetingBot::group(dt)
    }
    fn version(dt: &()) -> Cow<'_, str> {
        MeetingBot::version(dt)
    }
    fn plural(dt: &()) -> Cow<'_, str> {
        MeetingBot::plural(dt)
    }
    fn meta(&self) -> &ObjectMeta {
        match self {
            Watched::Valid(bot) => &bot.metadata,
            Watched::Invalid { metadata, .. } => metadata,
        }
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        match self {
            Watched::Valid(bot) => &mut bot.metadata,
            Watched::Invalid { metadata, .. } => metadata,
        }
    }
}

fn invalid_message(problem: &str) -> String {
    format!(
        "the operator cannot read this MeetingBot ({problem}); nothing is joined or left for it until \
         the field is fixed. To delete it meanwhile without leave, remove its finalizer by hand"
    )
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
    let controllers = scopes
        .into_iter()
        .map(|scope| controller_for(scope, ctx.clone(), shutdown.clone(), scope_synced.clone()));
    future::join_all(controllers).await;
}

fn controller_for(
    namespace: Option<String>,
    ctx: Arc<Context>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
    synced: Arc<dyn Fn() + Send + Sync>,
) -> impl Future<Output = ()> {
    let (bots, secrets): (Api<Watched>, Api<PartialObjectMeta<Secret>>) = match namespace.as_deref()
    {
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
    ctx.stores
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(reader.clone());
    let mut listed = false;
    let gone_ctx = ctx.clone();
    let bot_events = watcher(bots, bot_watch)
        .default_backoff()
        .inspect_ok(move |event| match event {
            watcher::Event::InitDone if !listed => {
                listed = true;
                synced();
            }
            // What was remembered of an object goes with it.
            watcher::Event::Delete(gone) => gone_ctx.forget(&gone.uid().unwrap_or_default()),
            watcher::Event::Apply(seen) | watcher::Event::InitApply(seen) => {
                gone_ctx.own_writes.observed(seen)
            }
            _ => {}
        })
        .reflect(writer)
        .applied_objects()
        // The operator's own status writes need no reconcile, but for the record's copy.
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
        let refs: Vec<ObjectRef<Watched>> = lookup
            .state()
            .into_iter()
            .filter_map(|watched| match &*watched {
                Watched::Valid(bot)
                    if bot.namespace().as_deref() == Some(namespace.as_str())
                        && bot.references_secret(&name) =>
                {
                    Some(ObjectRef::from_obj(&*watched))
                }
                _ => None,
            })
            .collect();
        refs
    };
    // Unbounded here: `--concurrency` is enforced by the lanes, in order (see `lanes`).
    Controller::for_stream(bot_events, reader)
        .with_config(ControllerConfig::default().concurrency(0))
        .watches_stream(secret_events, referencing)
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(error) = result {
                warn!(%error, "reconcile failed");
            }
        })
}

/// Hashes what should trigger a reconcile: spec, annotations, finalizers,
/// deletion, and the record's copy in status (written first after a join;
/// the annotations follow from the reconcile it triggers).
fn changes_that_matter(watched: &Watched) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let metadata = watched.meta();
    metadata.generation.hash(&mut hasher);
    metadata.annotations.hash(&mut hasher);
    metadata.finalizers.hash(&mut hasher);
    metadata.deletion_timestamp.is_some().hash(&mut hasher);
    match watched {
        Watched::Valid(bot) => {
            let status = bot.status.as_ref();
            status.map(|s| &s.meeting_bot_id).hash(&mut hasher);
            status.map(|s| &s.record_uid).hash(&mut hasher);
        }
        Watched::Invalid { problem, .. } => problem.hash(&mut hasher),
    }
    Some(hasher.finish())
}

/// A reconcile that failed is tried again after an exponential backoff per
/// object, and its error is reported on the object itself (see `report_error`).
fn error_policy(watched: Arc<Watched>, error: &Error, ctx: Arc<Context>) -> Action {
    let uid = watched.meta().uid.clone().unwrap_or_default();
    let (failures, report) = ctx.reconcile_failed(&uid, error.reason());
    let jitter = rand::rng().random_range(0.8..1.2);
    let delay = ERROR_BACKOFF_BASE
        .saturating_mul(1 << failures.saturating_sub(1).min(12))
        .min(ERROR_BACKOFF_CAP)
        .mul_f64(jitter);
    if report {
        let message = format!(
            "{}: {error}; retrying in {}s",
            error.reason(),
            delay.as_secs()
        );
        tokio::spawn(report_error(ctx, watched, error.reason(), message));
    }
    Action::requeue(delay)
}

/// First retry after a failed reconcile; doubles each time up to the cap.
const ERROR_BACKOFF_BASE: Duration = Duration::from_secs(1);
const ERROR_BACKOFF_CAP: Duration = Duration::from_secs(5 * 60);

/// Says on the MeetingBot why its reconcile failed: a Warning Event whose
/// reason is the error's category, and Ready=False/Reconciling with the
/// message. Best effort: the write that failed may be this one too.
async fn report_error(ctx: Arc<Context>, watched: Arc<Watched>, reason: &str, message: String) {
    let metadata = watched.meta();
    let (Some(namespace), Some(name)) = (&metadata.namespace, &metadata.name) else {
        return;
    };
    let api: Api<MeetingBot> = Api::namespaced(ctx.kube.clone(), namespace);
    let patch = json!({ "status": {
        "conditions": not_ready(RECONCILING, reason, &message, metadata.generation),
    }});
    if let Err(error) = api
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        warn!(%error, "could not report a failed reconcile in status");
    }
    ctx.events
        .publish(
            EventType::Warning,
            reason,
            &message,
            &watched.object_ref(&()),
        )
        .await;
}

/// Waits for the object's turn (see `lanes`), then reconciles it. The
/// reconcile itself is boxed so that a waiting turn holds only its arguments.
async fn reconcile(watched: Arc<Watched>, ctx: Arc<Context>) -> Result<Action> {
    let lane = match &*watched {
        Watched::Valid(bot) => Lane::of(ctx.own_writes.newer_than(bot).as_ref().unwrap_or(bot)),
        Watched::Invalid { .. } => Lane::Path,
    };
    let turn = ctx.lanes.turn(lane).await;
    // The wait may have been long: start from the cache as it is now.
    let Some(watched) = latest(&ctx, &watched) else {
        return Ok(Action::await_change());
    };
    Box::pin(reconcile_now(watched, ctx, turn)).await
}

/// The object as the watch has it now; `None` when it is gone.
fn latest(ctx: &Context, watched: &Watched) -> Option<Arc<Watched>> {
    let key = ObjectRef::from_obj(watched);
    ctx.stores
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .find_map(|store| store.get(&key))
}

async fn reconcile_now(watched: Arc<Watched>, ctx: Arc<Context>, turn: Turn) -> Result<Action> {
    let metadata = watched.meta();
    let span = info_span!(
        "reconcile",
        namespace = metadata.namespace.clone().unwrap_or_default(),
        name = metadata.name.clone().unwrap_or_default(),
        generation = metadata.generation.unwrap_or_default(),
    );
    let started = Instant::now();
    let result = match &*watched {
        Watched::Valid(bot) => {
            Reconciler::new(bot, &ctx, &turn)?
                .run()
                .instrument(span)
                .await
        }
        Watched::Invalid {
            metadata,
            problem,
            reported,
        } => {
            report_invalid(&ctx, metadata, problem, *reported)
                .instrument(span)
                .await
        }
    };
    let outcome = if result.is_ok() {
        ctx.reconcile_succeeded(&metadata.uid.clone().unwrap_or_default());
        ReconcileResult::Ok
    } else {
        ReconcileResult::Error
    };
    ctx.metrics.reconciled(outcome, started.elapsed());
    result
}

/// Ready=False and `abnormal` (Reconciling or Stalled) True, both with
/// `reason` and `message`, as a status patch's conditions for an object that
/// could not be reconciled the usual way.
fn not_ready(
    abnormal: &str,
    reason: &str,
    message: &str,
    generation: Option<i64>,
) -> serde_json::Value {
    let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now());
    let condition = |type_: &str, status: &str| {
        json!({
            "type": type_, "status": status, "reason": reason, "message": message,
            "observedGeneration": generation, "lastTransitionTime": now,
        })
    };
    json!([condition(READY, "False"), condition(abnormal, "True")])
}

/// Says on the object itself why the operator cannot act on it.
async fn report_invalid(
    ctx: &Context,
    metadata: &ObjectMeta,
    problem: &str,
    reported: bool,
) -> Result<Action> {
    if reported {
        return Ok(Action::await_change());
    }
    warn!(problem, "cannot decode this MeetingBot");
    let namespace = metadata
        .namespace
        .as_deref()
        .ok_or(Error::MissingNamespace)?;
    let name = metadata.name.clone().unwrap_or_default();
    let api: Api<MeetingBot> = Api::namespaced(ctx.kube.clone(), namespace);
    let message = invalid_message(problem);
    let patch = json!({ "status": {
        "phase": Phase::Failed,
        "observedGeneration": metadata.generation,
        "conditions": not_ready(STALLED, reason::INVALID_SPEC, &message, metadata.generation),
    }});
    api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    let reference = ObjectReference {
        api_version: Some(MeetingBot::api_version(&()).into_owned()),
        kind: Some(MeetingBot::kind(&()).into_owned()),
        name: Some(name),
        namespace: Some(namespace.to_owned()),
        uid: metadata.uid.clone(),
        ..ObjectReference::default()
    };
    ctx.events
        .publish(
            EventType::Warning,
            event::INVALID_SPEC,
            &message,
            &reference,
        )
        .await;
    Ok(Action::await_change())
}
