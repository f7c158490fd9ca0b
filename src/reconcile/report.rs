//! Saying on the object itself what went wrong: a MeetingBot the operator
//! cannot decode, and a reconcile that failed (which is also retried).

use super::context::Context;
use super::watched::{Watched, invalid_message};
use crate::api::condition::{READY, RECONCILING, STALLED};
use crate::api::{MeetingBot, Phase, event, reason};
use crate::{Error, Result};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, Resource};
use rand::Rng;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tracing::warn;

/// A reconcile that failed is tried again after an exponential backoff per
/// object, and its error is reported on the object itself (see `report_error`).
pub(super) fn error_policy(watched: Arc<Watched>, error: &Error, ctx: Arc<Context>) -> Action {
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
pub(super) async fn report_invalid(
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
