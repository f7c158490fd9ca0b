//! Saying on the object itself what went wrong: a MeetingBot the operator
//! cannot decode, and a reconcile that failed (which is also retried).

use super::cluster::as_operator;
use super::context::{Context, jitter};
use super::decide::memo::backoff;
use super::schedule::{Cached, invalid_message};
use crate::api::condition::{READY, RECONCILING, STALLED};
use crate::api::{MeetingBot, MeetingBotStatus, Phase, event, reason};
use crate::{Error, Result};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta, Time};
use kube::api::Patch;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, Resource};
use serde_json::json;
use std::sync::Arc;
use tracing::{info, warn};

/// A reconcile that failed is tried again after an exponential backoff per
/// object, and its error is reported on the object itself (see `report_error`).
pub(super) fn error_policy(cached: Arc<Cached>, error: &Error, ctx: Arc<Context>) -> Action {
    // Gone meanwhile: nothing to try again, and nothing to remember of it.
    if !ctx.watches(&*cached) {
        return Action::await_change();
    }
    let uid = cached.meta().uid.clone().unwrap_or_default();
    let (failures, report) = ctx.reconcile_failed(&uid, error.reason());
    // The same backoff as a failing vendor call's: 1 s, 2 s, 4 s, … up to 5 min.
    let delay = backoff(failures, jitter());
    if report {
        let message = format!(
            "{}: {error}; retrying in {}s",
            error.reason(),
            delay.as_secs()
        );
        tokio::spawn(report_error(ctx, cached, error.reason(), message));
    }
    Action::requeue(delay)
}

/// Says on the MeetingBot why its reconcile failed: a Warning Event whose
/// reason is the error's category, and Ready=False/Reconciling with the
/// message. Best effort: the write that failed may be this one too.
async fn report_error(ctx: Arc<Context>, cached: Arc<Cached>, reason: &str, message: String) {
    let metadata = cached.meta();
    let (Some(namespace), Some(name)) = (&metadata.namespace, &metadata.name) else {
        return;
    };
    let api: Api<MeetingBot> = Api::namespaced(ctx.kube.clone(), namespace);
    // Merged into the conditions as the watch last delivered them, so that
    // the others (ConnectionSecretReady) stay as they are.
    let current = cached.bot().and_then(|bot| bot.status).unwrap_or_default();
    // Fenced by the version the failed reconcile started from: a newer good
    // write (a later reconcile's) is never overwritten by this report.
    let patch = json!({
        "metadata": { "resourceVersion": metadata.resource_version },
        "status": {
            "conditions": not_ready(current, RECONCILING, reason, &message, metadata.generation),
        },
    });
    match api
        .patch_status(name, &as_operator(), &Patch::Merge(&patch))
        .await
    {
        Err(error) if crate::is_conflict(&error) => {
            info!("a failed reconcile is not reported: the object changed since");
        }
        Err(error) => warn!(%error, "could not report a failed reconcile in status"),
        Ok(_) => {}
    }
    ctx.events
        .publish(
            EventType::Warning,
            reason,
            &message,
            &cached.object_ref(&()),
        )
        .await;
}

/// `status`'s conditions with Ready=False and `abnormal` (Reconciling or
/// Stalled) True, both with `reason` and `message`, and the other abnormal
/// one gone: for an object that could not be reconciled the usual way.
fn not_ready(
    mut status: MeetingBotStatus,
    abnormal: &str,
    reason: &str,
    message: &str,
    generation: Option<i64>,
) -> Vec<Condition> {
    let condition = |type_: &str, status: &str| Condition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: reason.to_owned(),
        message: message.to_owned(),
        observed_generation: generation,
        last_transition_time: Time(Timestamp::now()),
    };
    status.set_condition(condition(READY, "False"));
    for type_ in [RECONCILING, STALLED] {
        if type_ == abnormal {
            status.set_condition(condition(type_, "True"));
        } else {
            status.remove_condition(type_);
        }
    }
    status.conditions
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
        "conditions": not_ready(
            MeetingBotStatus::default(),
            STALLED,
            reason::INVALID_SPEC,
            &message,
            metadata.generation,
        ),
    }});
    api.patch_status(&name, &as_operator(), &Patch::Merge(&patch))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::condition::CONNECTION_SECRET_READY;

    #[test]
    fn a_failed_reconcile_report_keeps_the_other_conditions() {
        let at = Time(Timestamp::UNIX_EPOCH);
        let kept = |type_: &str, status: &str| Condition {
            type_: type_.into(),
            status: status.into(),
            reason: "Before".into(),
            message: String::new(),
            observed_generation: Some(1),
            last_transition_time: at.clone(),
        };
        let status = MeetingBotStatus {
            conditions: vec![
                kept(READY, "False"),
                kept(STALLED, "True"),
                kept(CONNECTION_SECRET_READY, "True"),
            ],
            ..MeetingBotStatus::default()
        };
        let conditions = not_ready(status, RECONCILING, "KubernetesError", "m", Some(2));
        let types: Vec<_> = conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, [READY, CONNECTION_SECRET_READY, RECONCILING]);
        let ready = &conditions[0];
        assert_eq!(
            (ready.reason.as_str(), &ready.last_transition_time),
            ("KubernetesError", &at),
            "Ready stayed False: its transition time stays"
        );
        assert_eq!(conditions[1], kept(CONNECTION_SECRET_READY, "True"));
    }
}
