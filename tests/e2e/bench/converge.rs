//! Creating N MeetingBots and following them, by a watch, until all are
//! Ready and until all are gone; and the baseline's minimal writer.

use super::measure::{cpu_by_process, growth, requests_by_kind};
use super::{CONCURRENCY, CREATE_PARALLELISM, PHASE_DEADLINE};
use crate::support::*;
use futures::{StreamExt, future, stream};
use jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use meetingbot_operator::api::{MeetingBot, annotation};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

/// What a watch of the namespace saw: when each bot first showed Ready, how
/// many versions of it came before (its writes until Ready), which bots exist.
#[derive(Default)]
pub(super) struct Timeline {
    ready: HashMap<String, Timestamp>,
    /// resourceVersions seen per bot until it was first Ready.
    versions: HashMap<String, HashSet<String>>,
    present: HashSet<String>,
    listed: bool,
    /// When the watch first showed each bot marked for deletion.
    marked: HashMap<String, Timestamp>,
    /// When the watch showed each bot gone.
    gone: Vec<Timestamp>,
}

impl Timeline {
    fn all_gone(&self) -> bool {
        self.listed && self.present.is_empty()
    }
}

/// Follows the namespace's MeetingBots, noting when each turns Ready and
/// when it is gone, until `done` holds.
pub(super) async fn follow(
    bots: Api<MeetingBot>,
    start: Instant,
    done: impl Fn(&Timeline) -> bool,
    timeline: &mut Timeline,
) {
    let mut events = std::pin::pin!(watcher(bots, watcher::Config::default()).default_backoff());
    let until = start + PHASE_DEADLINE;
    while !done(timeline) {
        let event = tokio::time::timeout_at(until.into(), events.next())
            .await
            .expect("the bench converges before its deadline")
            .expect("the watch goes on");
        // The watcher lists again after an error (a 410 on a young API
        // server's watch cache, say): its Init starts the timeline's listing over.
        let Ok(event) = event else { continue };
        match event {
            watcher::Event::Init => {
                timeline.present.clear();
                timeline.listed = false;
            }
            watcher::Event::InitDone => timeline.listed = true,
            watcher::Event::Apply(bot) | watcher::Event::InitApply(bot) => {
                let name = bot.name_any();
                if !timeline.ready.contains_key(&name) {
                    timeline
                        .versions
                        .entry(name.clone())
                        .or_default()
                        .insert(bot.resource_version().unwrap_or_default());
                }
                if bot.metadata.deletion_timestamp.is_some() {
                    timeline
                        .marked
                        .entry(name.clone())
                        .or_insert_with(Timestamp::now);
                }
                if bot.condition("Ready").is_some_and(|c| c.status == "True") {
                    timeline
                        .ready
                        .entry(name.clone())
                        .or_insert_with(Timestamp::now);
                }
                timeline.present.insert(name);
            }
            watcher::Event::Delete(bot) => {
                timeline.present.remove(&bot.name_any());
                timeline.gone.push(Timestamp::now());
            }
        }
    }
}

/// Creates N Secrets and MeetingBots, as fast as the API server takes them;
/// returns when each create of a MeetingBot returned.
pub(super) async fn create_all(client: &Client, ns: &str, n: u64) -> HashMap<String, Timestamp> {
    let bots: Api<MeetingBot> = Api::namespaced(client.clone(), ns);
    stream::iter(0..n)
        .map(|i| {
            let bots = bots.clone();
            async move {
                let name = format!("bot-{i}");
                put_secret(client, ns, &name, "token", BROADCAST_TOKEN).await;
                let mut spec = spec(&format!("{ns}-{i}"));
                spec.broadcast_token_secret_ref.name = name.clone();
                bots.create(&PostParams::default(), &MeetingBot::new(&name, spec))
                    .await
                    .expect("the MeetingBot is created");
                (name, Timestamp::now())
            }
        })
        .buffer_unordered(CREATE_PARALLELISM)
        .collect()
        .await
}

/// What the baseline's objects carry once Ready.
#[derive(Clone, Copy)]
pub(super) enum BaselineObjects {
    /// A finalizer and one condition: the least a controller writes.
    Minimal,
    /// What the operator's joined MeetingBot carries: the record in an
    /// annotation and in status, the bot's fields, a field manager of its own
    /// for the writes (so as many managed-field entries). It tells how much
    /// of the operator's time is the API server's work for objects that size.
    OperatorSized,
}

/// The baseline writer: finalizer, then Ready status, for each new bot; the
/// finalizer off for each deleted one. No vendor call.
pub(super) async fn baseline_writer(bots: Api<MeetingBot>, objects: BaselineObjects) {
    let params = match objects {
        BaselineObjects::Minimal => PatchParams::default(),
        BaselineObjects::OperatorSized => PatchParams {
            field_manager: Some("bench-baseline".into()),
            ..PatchParams::default()
        },
    };
    watcher(bots.clone(), watcher::Config::default())
        .default_backoff()
        .applied_objects()
        // The watcher lists again after an error (a 410 on a young API
        // server's watch cache, say), as the operator's does.
        .filter_map(|bot| future::ready(bot.ok()))
        .for_each_concurrent(CONCURRENCY, |bot| {
            let bots = bots.clone();
            let params = params.clone();
            async move {
                let name = bot.name_any();
                let merge = |patch| Patch::Merge(patch);
                if bot.metadata.deletion_timestamp.is_some() {
                    let _ = bots
                        .patch(
                            &name,
                            &params,
                            &merge(json!({"metadata": {"finalizers": null}})),
                        )
                        .await;
                } else if bot.finalizers().is_empty() {
                    let (metadata, status) = baseline_writes(&bot, objects);
                    bots.patch(&name, &params, &merge(metadata))
                        .await
                        .expect("the finalizer patches");
                    bots.patch_status(&name, &params, &merge(status))
                        .await
                        .expect("the status patches");
                }
            }
        })
        .await;
}

/// The baseline's two writes for a new bot: its metadata, then its status.
fn baseline_writes(bot: &MeetingBot, objects: BaselineObjects) -> (Value, Value) {
    // To the second, as the operator writes its times.
    let now = Timestamp::from_second(Timestamp::now().as_second())
        .expect("now is a valid time")
        .to_string();
    let finalizers = json!(["bench/baseline"]);
    let BaselineObjects::OperatorSized = objects else {
        return (
            json!({"metadata": {"finalizers": finalizers}}),
            json!({"status": {"observedGeneration": 1, "conditions": [{
                "type": "Ready", "status": "True", "reason": "Baseline", "message": "",
                "lastTransitionTime": now,
            }]}}),
        );
    };
    // A bot id and URL as long as the fake's; the rest as the operator writes them.
    let session = &bot.spec.session_id;
    let (bot_id, spec_fingerprint) = ("meeting-bot-0123456789ab", "7c9b7d1c8adb95a6");
    let uid = bot.uid().unwrap_or_default();
    let record = json!({
        "meetingBotId": bot_id, "sessionId": session, "joinedSpec": spec_fingerprint,
        "joinedAt": now, "uid": uid, "apiKey": {}, "install": "default",
    });
    let metadata = json!({"metadata": {
        "finalizers": finalizers,
        "annotations": { annotation::RECORD: record.to_string() },
    }});
    let status = json!({"status": {
        "observedGeneration": 1,
        "conditions": [{
            "type": "Ready", "status": "True", "reason": "Joined",
            "message": format!("the avatar is in the meeting as {bot_id}"),
            "observedGeneration": 1, "lastTransitionTime": now,
        }],
        "install": "default", "joinedApiKey": {}, "joinedAt": now,
        "joinedSpec": spec_fingerprint, "meetingBotId": bot_id, "phase": "Joined",
        "platform": "GoogleMeet", "recordUid": uid, "sessionId": session,
        "websocketUrl": format!("wss://127.0.0.1:45991/agent-audio/{session}?[redacted]"),
    }});
    (metadata, status)
}

/// What creating N bots until all were Ready showed.
pub(super) struct ReadyRun {
    pub(super) secs: f64,
    /// Seconds from the first create until each bot was Ready, sorted.
    pub(super) curve: Vec<f64>,
    /// When each create returned.
    pub(super) created: HashMap<String, Timestamp>,
    /// Seconds from each bot's create until it was Ready, sorted.
    pub(super) create_to_ready: Vec<f64>,
    /// MeetingBot writes per bot until it was Ready, from the versions the watch saw.
    pub(super) writes_to_ready: f64,
}

/// Creates N bots and follows them until all are Ready.
pub(super) async fn until_all_ready(client: &Client, ns: &str, n: u64) -> ReadyRun {
    let bots: Api<MeetingBot> = Api::namespaced(client.clone(), ns);
    let start = Instant::now();
    let start_at = Timestamp::now();
    let mut timeline = Timeline::default();
    let (created, ()) = tokio::join!(
        create_all(client, ns, n),
        follow(bots, start, |t| t.ready.len() as u64 == n, &mut timeline)
    );
    let secs = start.elapsed().as_secs_f64();
    let since = |from: Timestamp, to: Timestamp| to.duration_since(from).as_secs_f64();
    let mut curve: Vec<f64> = timeline
        .ready
        .values()
        .map(|at| since(start_at, *at))
        .collect();
    curve.sort_by(f64::total_cmp);
    let mut create_to_ready: Vec<f64> = timeline
        .ready
        .iter()
        .map(|(name, at)| since(created[name], *at))
        .collect();
    create_to_ready.sort_by(f64::total_cmp);
    // The first version seen is the create itself.
    let versions: usize = timeline.versions.values().map(|v| v.len() - 1).sum();
    ReadyRun {
        secs,
        curve,
        created,
        create_to_ready,
        writes_to_ready: versions as f64 / n as f64,
    }
}

/// What deleting all N bots showed.
pub(super) struct GoneRun {
    pub(super) secs: f64,
    /// When the deletecollection was sent.
    pub(super) started: Timestamp,
    /// Seconds from the deletecollection until the watch showed each bot
    /// marked for deletion, sorted: the API server's own pace.
    pub(super) marked: Vec<f64>,
    /// Seconds from the deletecollection until each bot was gone, sorted.
    pub(super) gone: Vec<f64>,
    /// CPU seconds each process on the machine used meanwhile.
    pub(super) cpu_secs: BTreeMap<&'static str, f64>,
    /// Requests the API server answered meanwhile, by verb and resource
    /// (the watches' own excluded).
    pub(super) requests: BTreeMap<String, f64>,
}

/// Deletes all N bots and follows them until all are gone.
pub(super) async fn until_all_gone(client: &Client, ns: &str) -> GoneRun {
    let bots: Api<MeetingBot> = Api::namespaced(client.clone(), ns);
    let requests_before = requests_by_kind(client).await;
    let cpu_before = cpu_by_process();
    let start = Instant::now();
    let started = Timestamp::now();
    let mut timeline = Timeline::default();
    // Following from before the deletecollection, so that no marking is missed.
    let follow = follow(bots.clone(), start, Timeline::all_gone, &mut timeline);
    let delete = async {
        // At N = 5000 one deletecollection can outlast the API server's request
        // timeout; it is idempotent, so it is sent again until it returns.
        let mut tries = 0;
        while let Err(error) = bots
            .delete_collection(&DeleteParams::default(), &Default::default())
            .await
        {
            tries += 1;
            assert!(tries < 10, "MeetingBots delete: {error}");
            println!("deletecollection: {error}; sending it again");
        }
    };
    tokio::join!(follow, delete);
    let secs = start.elapsed().as_secs_f64();
    let cpu_secs = growth(&cpu_before, cpu_by_process());
    let mut requests = growth(&requests_before, requests_by_kind(client).await);
    requests.retain(|kind, count| *count > 0.0 && !kind.starts_with("WATCH"));
    let since = |at: &Timestamp| at.duration_since(started).as_secs_f64();
    let mut marked: Vec<f64> = timeline.marked.values().map(since).collect();
    marked.sort_by(f64::total_cmp);
    let mut gone: Vec<f64> = timeline.gone.iter().map(since).collect();
    gone.sort_by(f64::total_cmp);
    GoneRun {
        secs,
        started,
        marked,
        gone,
        cpu_secs,
        requests,
    }
}
