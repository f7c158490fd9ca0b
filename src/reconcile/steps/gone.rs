//! A MeetingBot the watch no longer shows: relabelled out of the label
//! selector (handed over, see `handover`), or deleted. Deleted while its
//! status recorded a bot, without this process letting it go: someone
//! removed the finalizer (a `kubectl replace` of a manifest drops it) and a
//! delete came before the operator put it back.
//! Kubernetes needs no finalizer to delete, but the bot is still in the
//! meeting: the operator takes it out all the same, with the key it joined with.

use super::Reconciler;
use crate::api::MeetingBot;
use crate::reconcile::cluster::current;
use crate::reconcile::context::Context;
use crate::reconcile::schedule::Lane;
use kube::{Api, ResourceExt};
use std::sync::Arc;
use tracing::warn;

/// Takes out the bot that `last`, the object as the watch last had it,
/// recorded as its own, unless this process let the object go itself or
/// another install acted on it (that one takes the bot out).
pub async fn take_out_after_deletion(ctx: Arc<Context>, last: MeetingBot) {
    let uid = last.uid().unwrap_or_default();
    if ctx.let_go_by_us(&uid) || last.acted_on_elsewhere(&ctx.settings.install) {
        return;
    }
    // A watch also reports an object gone when it leaves the watch's label
    // selector (relabelled to another shard): that one is handed over.
    let api: Api<MeetingBot> =
        Api::namespaced(ctx.kube.clone(), &last.namespace().unwrap_or_default());
    match current(&api, &last).await {
        Ok(Some(now)) => {
            super::handover::hand_over(ctx, now).await;
            return;
        }
        Ok(None) => {}
        Err(error) => {
            warn!(
                %error,
                name = last.name_any(),
                "a MeetingBot left the watch and the API server cannot say whether it was deleted: \
                 nothing is taken out (if the object is gone, its bot stays until its session ends)"
            );
            return;
        }
    }
    let Some(recorded) = last
        .record_copies()
        .in_status
        .filter(|recorded| recorded.uid.as_deref() == Some(uid.as_str()))
    else {
        return;
    };
    if !ctx.gate.is_open() {
        warn!(
            meeting_bot_id = recorded.meeting_bot_id,
            session_id = recorded.session_id,
            "a MeetingBot was deleted without its finalizer while this replica stops or no longer \
             leads: the new leader takes its bot out if its watch saw the deletion, else the bot \
             stays until its session ends"
        );
        return;
    }
    warn!(
        meeting_bot_id = recorded.meeting_bot_id,
        namespace = last.namespace().unwrap_or_default(),
        name = last.name_any(),
        "a MeetingBot was deleted without its finalizer (someone removed it): taking its bot out"
    );
    let turn = ctx.waiting.turn(Lane::Path).await;
    let Ok(reconciler) = Reconciler::new(&last, &ctx, &turn) else {
        return;
    };
    // A failed leave is logged with the bot's id (the only place left to find it).
    let _ = reconciler.take_out_unrecorded(&recorded).await;
    let key = recorded.api_key_secret_ref(&last.spec);
    if let Err(error) = reconciler.hold_api_key(key, false).await {
        warn!(%error, "could not release the API key Secret of a deleted MeetingBot");
    }
}
