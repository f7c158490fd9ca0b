//! The watches: MeetingBots (see `watched`, and `cached` for the form kube's
//! cache keeps them in) and the Secrets they reference;
//! readiness once every watch has listed; the reconcile entry point.

use super::context::Context;
use super::metrics::ReconcileResult;
use super::report::{error_policy, report_invalid};
use super::schedule::{Admitted, Cached, Lane, Triggers, Turn, Watched};
use super::steps::{Reconciler, hand_over_strays, take_out_after_deletion};
use crate::Result;
use futures::channel::mpsc;
use futures::{StreamExt, TryStreamExt, future, stream};
use k8s_openapi::api::core::v1::Secret;
use kube::api::PartialObjectMeta;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use parking_lot::Mutex;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use tracing::{Instrument, info_span, warn};

/// MeetingBots per page of a (re)list. A page's body is held whole while it
/// is decoded, and a tenant may pad each object with up to about 256 KiB of
/// annotations: 10 bound a page to about 2.5 MiB (kube's default of 500, to
/// 128 MiB). Measured by `make bench` (bench::padded, release build, 200
/// bots padded with 200 KiB each, with `memory`'s allocator threshold): peak
/// RSS 28.2 MiB at 20 a page, 21.6 MiB at 10, against 17.8 MiB unpadded.
/// Lists with any resourceVersion come from the API server's cache, so the
/// extra pages are cheap (restart until /readyz at N = 1000: 0.21 s).
const LIST_PAGE: u32 = 10;

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
    let (listed, all_listed) = tokio::sync::watch::channel(false);
    let scope_synced: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
        if unsynced.fetch_sub(1, Ordering::AcqRel) == 1
            && let Some(on_synced) = on_synced.lock().take()
        {
            listed.send_replace(true);
            on_synced();
        }
    });
    // Reconciles called from the waiting room go to the controller of their scope.
    let (callers, called): (Vec<_>, Vec<_>) = scopes
        .iter()
        .map(|scope| {
            let (caller, called) = mpsc::unbounded();
            ((scope.clone(), caller), called)
        })
        .unzip();
    let stores = ctx.clone();
    let dispatcher = tokio::spawn(ctx.waiting.clone().dispatch(
        move |key| latest_by_key(&stores, key).is_some(),
        move |key| {
            let scope = callers
                .iter()
                .find(|(scope, _)| scope.is_none() || scope.as_deref() == key.namespace.as_deref());
            if let Some((_, caller)) = scope {
                // Unbounded: fails only when that controller has stopped.
                let _ = caller.unbounded_send(key);
            }
        },
    ));
    let controllers = scopes.into_iter().zip(called).map(|(scope, called)| {
        controller_for(
            scope,
            ctx.clone(),
            called,
            shutdown.clone(),
            scope_synced.clone(),
        )
    });
    let sweep = tokio::spawn(hand_over_strays(ctx.clone(), all_listed));
    future::join_all(controllers).await;
    dispatcher.abort();
    sweep.abort();
    ctx.events.flush().await;
}

fn controller_for(
    namespace: Option<String>,
    ctx: Arc<Context>,
    called: mpsc::UnboundedReceiver<ObjectRef<Cached>>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
    synced: Arc<dyn Fn() + Send + Sync>,
) -> impl Future<Output = ()> {
    let (bots, secrets): (Api<Cached>, Api<PartialObjectMeta<Secret>>) = match namespace.as_deref()
    {
        Some(ns) => (
            Api::namespaced(ctx.kube.clone(), ns),
            Api::namespaced(ctx.kube.clone(), ns),
        ),
        None => (Api::all(ctx.kube.clone()), Api::all(ctx.kube.clone())),
    };
    let mut bot_watch = watcher::Config::default()
        .any_semantic()
        .page_size(LIST_PAGE);
    if let Some(selector) = &ctx.settings.label_selector {
        bot_watch = bot_watch.labels(selector);
    }
    let (reader, writer) = reflector::store();
    ctx.stores.lock().push(reader.clone());
    let mut listed = false;
    let mut triggers = Triggers::new(ctx.clone());
    let cache = reader.clone();
    let deletions = ctx.clone();
    let bot_events = watcher(bots, bot_watch)
        .default_backoff()
        .inspect_ok(move |event| {
            if matches!(event, watcher::Event::InitDone) && !listed {
                listed = true;
                synced();
            }
        })
        .reflect(writer)
        .inspect_ok(move |event| {
            // A bot whose object went without the operator: taken out all the same.
            if let watcher::Event::Delete(last) = event
                && let Some(last) = last.bot()
            {
                tokio::spawn(take_out_after_deletion(deletions.clone(), last));
            }
        })
        .map_ok(move |event| {
            let admitted: Box<dyn Iterator<Item = Cached> + Send> = match triggers.admit(event) {
                Admitted::Nothing => Box::new(std::iter::empty()),
                Admitted::Object(cached) => Box::new(std::iter::once(cached)),
                // Looked up one at a time: no second copy of a whole listing.
                Admitted::Listed(keys) => {
                    let cache = cache.clone();
                    Box::new(
                        keys.into_iter()
                            .filter_map(move |key| cache.get(&key))
                            .map(|cached| Cached::clone(&cached)),
                    )
                }
            };
            stream::iter(admitted.map(Ok))
        })
        .try_flatten();
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
    let index = ctx.clone();
    let referencing = move |secret: PartialObjectMeta<Secret>| {
        let namespace = secret.namespace().unwrap_or_default();
        index
            .secret_refs
            .referencing(&namespace, &secret.name_any())
    };
    // Unbounded here: `--concurrency` is enforced by the lanes, in order (see `lanes`).
    Controller::for_stream(bot_events, reader)
        .with_config(ControllerConfig::default().concurrency(0))
        .watches_stream(secret_events, referencing)
        .reconcile_on(called)
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(error) = result {
                warn!(%error, "reconcile failed");
            }
        })
}

/// Reconciles the object when it has a turn (see `lanes`); without one it
/// waits in line, and the waiting room calls it again.
async fn reconcile(cached: Arc<Cached>, ctx: Arc<Context>) -> Result<Action> {
    let watched = cached.watched();
    let lane = match &watched {
        Watched::Valid(bot) => ctx.own_writes.with_newest(bot, Lane::of),
        Watched::Invalid { .. } => Lane::Path,
    };
    let key = ObjectRef::from_obj(&*cached);
    let Some(turn) = ctx.waiting.enter(&key, lane) else {
        return Ok(Action::await_change());
    };
    // The wait may have been long: start from the cache as it is now.
    let Some(latest) = latest_by_key(&ctx, &key) else {
        return Ok(Action::await_change());
    };
    // Decoded again only when the cache holds a newer copy.
    let watched = if Arc::ptr_eq(&latest, &cached) {
        watched
    } else {
        latest.watched()
    };
    Box::pin(reconcile_now(watched, ctx, turn)).await
}

/// The object as the watch has it now; `None` when it is gone.
fn latest_by_key(ctx: &Context, key: &ObjectRef<Cached>) -> Option<Arc<Cached>> {
    ctx.stores.lock().iter().find_map(|store| store.get(key))
}

async fn reconcile_now(watched: Watched, ctx: Arc<Context>, turn: Turn) -> Result<Action> {
    let metadata = watched.meta();
    let span = info_span!(
        "reconcile",
        namespace = metadata.namespace.clone().unwrap_or_default(),
        name = metadata.name.clone().unwrap_or_default(),
        generation = metadata.generation.unwrap_or_default(),
    );
    let started = Instant::now();
    // Not beside a hand-over of the same object (see `handover`).
    let _working = ctx
        .when_idle_work_on(&metadata.uid.clone().unwrap_or_default())
        .await;
    let result = match &watched {
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
