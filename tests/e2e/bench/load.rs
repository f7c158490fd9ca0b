//! The load: N MeetingBots created at once, watched until all are Ready and
//! then until all are gone, and the baseline writer that stands in for the
//! operator when only the API server's share of the work is measured.

use crate::support::{BROADCAST_TOKEN, condition, put_secret, spec};
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt, stream};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use meetingbot_operator::api::MeetingBot;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// Creates kept in flight: more than any GitOps sync sends, so that the API
/// server, not the bench, sets the pace.
pub const CREATES_IN_FLIGHT: usize = 64;
/// Longest a phase (all Ready, all gone) may take before the bench gives up.
const PHASE_DEADLINE: Duration = Duration::from_secs(600);

/// One create.
pub struct Created {
    pub name: String,
    /// The session the bot joins: its own.
    pub session_id: String,
    pub sent: DateTime<Utc>,
    pub returned: DateTime<Utc>,
    /// When the create returned, in seconds since the first create.
    pub returned_secs: f64,
}

/// The Ready phase, times in seconds since the first create.
pub struct ReadyPhase {
    /// When each bot turned Ready, sorted.
    pub ready_at_secs: Vec<f64>,
    /// For each bot, from its create's return until it showed Ready, sorted.
    pub create_to_ready_secs: Vec<f64>,
    pub created: Vec<Created>,
}

/// Creates N MeetingBots, each with its own token Secret, and waits until
/// all are Ready.
pub async fn create_until_all_ready(client: &Client, ns: &str, n: u64) -> ReadyPhase {
    let bots: Api<MeetingBot> = Api::namespaced(client.clone(), ns);
    let start = Instant::now();
    let mut ready = HashMap::new();
    let ((), created) = tokio::join!(
        watch_until(bots, start, |event, at| {
            if let watcher::Event::Apply(bot) | watcher::Event::InitApply(bot) = event
                && condition(&bot, "Ready").is_some_and(|c| c.status == "True")
            {
                ready.entry(bot.name_any()).or_insert(at);
            }
            ready.len() as u64 == n
        }),
        create_all(client, ns, n, start),
    );
    let mut create_to_ready_secs: Vec<f64> = created
        .iter()
        .map(|c| ready[&c.name] - c.returned_secs)
        .collect();
    let mut ready_at_secs: Vec<f64> = ready.into_values().collect();
    ready_at_secs.sort_by(f64::total_cmp);
    create_to_ready_secs.sort_by(f64::total_cmp);
    ReadyPhase {
        ready_at_secs,
        create_to_ready_secs,
        created,
    }
}

/// Deletes every MeetingBot of the namespace in one request and waits until
/// all are gone: the seconds it took.
pub async fn delete_until_all_gone(client: &Client, ns: &str) -> f64 {
    let bots: Api<MeetingBot> = Api::namespaced(client.clone(), ns);
    let start = Instant::now();
    bots.delete_collection(&DeleteParams::default(), &Default::default())
        .await
        .expect("the MeetingBots delete");
    let mut present = HashSet::new();
    let mut listed = false;
    watch_until(bots, start, |event, _| {
        match event {
            watcher::Event::Init => {
                present.clear();
                listed = false;
            }
            watcher::Event::InitApply(bot) | watcher::Event::Apply(bot) => {
                present.insert(bot.name_any());
            }
            watcher::Event::Delete(bot) => {
                present.remove(&bot.name_any());
            }
            watcher::Event::InitDone => listed = true,
        }
        listed && present.is_empty()
    })
    .await;
    start.elapsed().as_secs_f64()
}

/// Hands each watch event, with its time in seconds since `start`, to
/// `observe` until it answers true.
async fn watch_until(
    bots: Api<MeetingBot>,
    start: Instant,
    mut observe: impl FnMut(watcher::Event<MeetingBot>, f64) -> bool,
) {
    let mut events = std::pin::pin!(watcher(bots, watcher::Config::default()).default_backoff());
    let deadline = start + PHASE_DEADLINE;
    loop {
        let event = tokio::time::timeout_at(deadline.into(), events.next())
            .await
            .unwrap_or_else(|_| panic!("the phase ends within {PHASE_DEADLINE:?}"))
            .expect("the watch goes on")
            .expect("the watch works");
        if observe(event, start.elapsed().as_secs_f64()) {
            return;
        }
    }
}

/// Creates bot-0 … bot-(N-1), each with its own token Secret, as fast as the
/// API server takes them.
async fn create_all(client: &Client, ns: &str, n: u64, start: Instant) -> Vec<Created> {
    let bots: Api<MeetingBot> = Api::namespaced(client.clone(), ns);
    stream::iter(0..n)
        .map(|i| {
            let bots = bots.clone();
            async move {
                let name = format!("bot-{i}");
                put_secret(client, ns, &name, "token", BROADCAST_TOKEN).await;
                let session_id = format!("{ns}-{i}");
                let mut spec = spec(&session_id);
                spec.broadcast_token_secret_ref.name = name.clone();
                let sent = Utc::now();
                bots.create(&PostParams::default(), &MeetingBot::new(&name, spec))
                    .await
                    .expect("the MeetingBot is created");
                Created {
                    name,
                    session_id,
                    sent,
                    returned: Utc::now(),
                    returned_secs: start.elapsed().as_secs_f64(),
                }
            }
        })
        .buffer_unordered(CREATES_IN_FLIGHT)
        .collect()
        .await
}

/// The baseline: what the operator's writes would cost if a bot needed
/// nothing else. With `concurrency` bots at a time, it adds a finalizer to
/// each new bot and then writes a Ready status through the status
/// subresource; it takes the finalizer off each deleted one. No vendor call.
pub async fn baseline_writer(bots: Api<MeetingBot>, concurrency: usize) {
    watcher(bots.clone(), watcher::Config::default())
        .default_backoff()
        .applied_objects()
        .try_for_each_concurrent(concurrency, |bot| {
            let bots = bots.clone();
            async move {
                if bot.metadata.deletion_timestamp.is_some() {
                    release(&bots, &bot).await;
                } else if bot.finalizers().is_empty() {
                    make_ready(&bots, &bot).await;
                }
                Ok(())
            }
        })
        .await
        .expect("the baseline's watch works");
}

const BASELINE_FINALIZER: &str = "bench.liveai.lemonslice.com/baseline";

async fn make_ready(bots: &Api<MeetingBot>, bot: &MeetingBot) {
    let name = bot.name_any();
    let finalizer = json!({"metadata": {"finalizers": [BASELINE_FINALIZER]}});
    bots.patch(&name, &PatchParams::default(), &Patch::Merge(finalizer))
        .await
        .expect("the finalizer is added");
    let ready = json!({"status": {
        "observedGeneration": bot.metadata.generation,
        "conditions": [{
            "type": "Ready", "status": "True", "reason": "Baseline", "message": "",
            "lastTransitionTime": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }],
    }});
    bots.patch_status(&name, &PatchParams::default(), &Patch::Merge(ready))
        .await
        .expect("the status is written");
}

async fn release(bots: &Api<MeetingBot>, bot: &MeetingBot) {
    let no_finalizer = json!({"metadata": {"finalizers": null}});
    // The bot is gone already when an earlier event of its deletion released it.
    let _ = bots
        .patch(
            &bot.name_any(),
            &PatchParams::default(),
            &Patch::Merge(no_finalizer),
        )
        .await;
}
