//! Objects this install acts on that its watch no longer shows though they
//! exist: relabelled out of its label selector. They are let go (the rules
//! are `decide::install::hand_over`), so that the install whose scope now
//! holds them takes over; until then they say so. Found two ways: at once,
//! when the watch reports one gone (`gone`), and by a sweep of the objects
//! stamped with this install, which also finds those a restart missed.

use super::Reconciler;
use crate::api::MeetingBot;
use crate::reconcile::context::Context;
use crate::reconcile::schedule::{Lane, Watched};
use kube::api::ListParams;
use kube::{Api, ResourceExt};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{info, warn};

/// How often the objects stamped with this install are held against its watch.
const SWEEP: Duration = Duration::from_secs(30);

/// Once every watch has listed (before, every object looks absent), and then
/// every [`SWEEP`] while this replica leads: hands over each object stamped
/// with this install that its watch does not hold. Only with a label
/// selector: without one, every object of the watched namespaces is in scope.
pub async fn hand_over_strays(ctx: Arc<Context>, mut listed: watch::Receiver<bool>) {
    if ctx.settings.label_selector.is_none() || listed.wait_for(|listed| *listed).await.is_err() {
        return;
    }
    let stamped = ListParams::default().fields(&format!("status.install={}", ctx.settings.install));
    let mut tick = tokio::time::interval(SWEEP);
    loop {
        tick.tick().await;
        if !ctx.gate.is_open() {
            continue;
        }
        for api in ctx.bot_apis() {
            let strays = match api.list(&stamped).await {
                Ok(list) => list.items,
                Err(error) => {
                    warn!(%error, "could not list the MeetingBots stamped with this install");
                    continue;
                }
            };
            for stray in strays {
                if let Watched::Valid(bot) = stray
                    && !ctx.watches(&bot)
                {
                    hand_over(ctx.clone(), bot).await;
                }
            }
        }
    }
}

/// Lets `bot` go, once no reconcile works on it (a join in flight is
/// recorded first), as it is then, if it is still this install's and still
/// out of the watch.
pub(super) async fn hand_over(ctx: Arc<Context>, bot: MeetingBot) {
    let uid = bot.uid().unwrap_or_default();
    // The turn first, as a reconcile takes them: neither waits for the other's.
    let turn = ctx.waiting.turn(Lane::Path).await;
    let _working = ctx.when_idle_work_on(&uid).await;
    let api: Api<MeetingBot> =
        Api::namespaced(ctx.kube.clone(), &bot.namespace().unwrap_or_default());
    let now = match api.get_opt(&bot.name_any()).await {
        Ok(Some(now)) => now,
        Ok(None) => return,
        Err(error) => {
            warn!(%error, "could not read a MeetingBot that left this install's scope; trying again later");
            return;
        }
    };
    let ours = now.acting_install().as_deref() == Some(ctx.settings.install.as_str());
    if now.uid().as_deref() != Some(uid.as_str()) || !ours || ctx.watches(&now) {
        return;
    }
    info!(
        namespace = now.namespace().unwrap_or_default(),
        name = now.name_any(),
        "a MeetingBot left this install's scope (its labels no longer match the label selector): \
         handing it over"
    );
    let Ok(mut reconciler) = Reconciler::new(&now, &ctx, &turn) else {
        return;
    };
    reconciler.in_scope = false;
    if let Err(error) = reconciler.run().await {
        warn!(%error, name = now.name_any(), "handing over a MeetingBot failed; trying again later");
    }
}
