//! `make bench`: how fast N MeetingBots converge and at what cost, as ratios
//! against what the API server alone allows, measured in the same run;
//! `make bench-scaling` (BENCH_SCALING=1): the same for N = 100, 1000 and
//! 5000, one after the other, with a table and a plot against N.
//!
//! The baseline is a minimal writer in this process that makes, with the
//! operator's concurrency, only the API-server writes a bot needs (finalizer,
//! then a Ready status) and no vendor call. Then the operator does the real
//! thing against the fake, whose join and leave take L each.

mod plot;
mod table;

use crate::support::*;
use futures::{StreamExt, TryStreamExt, stream};
use jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use meetingbot_operator::api::MeetingBot;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

const CONCURRENCY: usize = 16;
/// How many creates the bench keeps in flight: faster than any GitOps sync.
const CREATE_PARALLELISM: usize = 64;
/// Longest a phase (all Ready, all gone) may take before the bench gives up.
const PHASE_DEADLINE: Duration = Duration::from_secs(900);
/// What the operator logs for each write refused by its resourceVersion precondition.
const CONFLICT_LINE: &str = "the object changed meanwhile; starting over";

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What a watch of the namespace saw: when each bot first showed Ready, how
/// many versions of it came before (its writes until Ready), which bots exist.
#[derive(Default)]
struct Timeline {
    ready: HashMap<String, Timestamp>,
    /// resourceVersions seen per bot until it was first Ready.
    versions: HashMap<String, HashSet<String>>,
    present: HashSet<String>,
    listed: bool,
}

impl Timeline {
    fn all_gone(&self) -> bool {
        self.listed && self.present.is_empty()
    }
}

/// Follows the namespace's MeetingBots, noting when each turns Ready and
/// when it is gone, until `done` holds.
async fn follow(
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
            .expect("the watch goes on")
            .expect("the watch works");
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
                if condition(&bot, "Ready").is_some_and(|c| c.status == "True") {
                    timeline
                        .ready
                        .entry(name.clone())
                        .or_insert_with(Timestamp::now);
                }
                timeline.present.insert(name);
            }
            watcher::Event::Delete(bot) => {
                timeline.present.remove(&bot.name_any());
            }
        }
    }
}

/// Creates N Secrets and MeetingBots, as fast as the API server takes them;
/// returns when each create of a MeetingBot returned.
async fn create_all(client: &Client, ns: &str, n: u64) -> HashMap<String, Timestamp> {
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

/// The baseline writer: finalizer, then Ready status, for each new bot; the
/// finalizer off for each deleted one. No vendor call.
async fn minimal_writer(bots: Api<MeetingBot>) {
    watcher(bots.clone(), watcher::Config::default())
        .default_backoff()
        .applied_objects()
        .try_for_each_concurrent(CONCURRENCY, |bot| {
            let bots = bots.clone();
            async move {
                let name = bot.name_any();
                let merge = |patch| Patch::Merge(patch);
                if bot.metadata.deletion_timestamp.is_some() {
                    let _ = bots
                        .patch(
                            &name,
                            &PatchParams::default(),
                            &merge(json!({"metadata": {"finalizers": null}})),
                        )
                        .await;
                } else if bot.finalizers().is_empty() {
                    bots.patch(
                        &name,
                        &PatchParams::default(),
                        &merge(json!({"metadata": {"finalizers": ["bench/baseline"]}})),
                    )
                    .await
                    .expect("the finalizer patches");
                    let ready = json!({"status": {"observedGeneration": 1, "conditions": [{
                        "type": "Ready", "status": "True", "reason": "Baseline", "message": "",
                        "lastTransitionTime": Timestamp::now().to_string(),
                    }]}});
                    bots.patch_status(&name, &PatchParams::default(), &merge(ready))
                        .await
                        .expect("the status patches");
                }
                Ok(())
            }
        })
        .await
        .expect("the baseline watch works");
}

/// What creating N bots until all were Ready showed.
struct ReadyRun {
    secs: f64,
    /// Seconds from the first create until each bot was Ready, sorted.
    curve: Vec<f64>,
    /// When each create returned.
    created: HashMap<String, Timestamp>,
    /// Seconds from each bot's create until it was Ready, sorted.
    create_to_ready: Vec<f64>,
    /// MeetingBot writes per bot until it was Ready, from the versions the watch saw.
    writes_to_ready: f64,
}

/// Creates N bots and follows them until all are Ready.
async fn until_all_ready(client: &Client, ns: &str, n: u64) -> ReadyRun {
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

/// Deletes all N bots and follows them until all are gone: the seconds it took.
async fn until_all_gone(client: &Client, ns: &str) -> f64 {
    let bots: Api<MeetingBot> = Api::namespaced(client.clone(), ns);
    let start = Instant::now();
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
    let mut timeline = Timeline::default();
    follow(bots, start, Timeline::all_gone, &mut timeline).await;
    start.elapsed().as_secs_f64()
}

/// Writes to MeetingBots (not reads, not the bench's creates and deletes),
/// from the API server's own counters.
async fn meetingbot_writes(client: &Client) -> u64 {
    let request = http::Request::get("/metrics").body(Vec::new()).unwrap();
    let metrics = client
        .request_text(request)
        .await
        .expect("the API server serves /metrics");
    metrics
        .lines()
        .filter(|line| {
            line.starts_with("apiserver_request_total{")
                && line.contains("resource=\"meetingbots\"")
        })
        .filter(|line| {
            ["PATCH", "PUT", "APPLY"]
                .iter()
                .any(|verb| line.contains(&format!("verb=\"{verb}\"")))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Waits until the operator writes no more (two seconds without a MeetingBot
/// write, at most a minute): the bookkeeping after Ready is done.
async fn until_quiet(client: &Client) -> u64 {
    let until = Instant::now() + Duration::from_secs(60);
    let mut last = meetingbot_writes(client).await;
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = meetingbot_writes(client).await;
        if now == last || Instant::now() >= until {
            return now;
        }
        last = now;
    }
}

/// Peak RSS, current RSS (bytes) and CPU seconds of a process, from /proc.
fn process_usage(pid: i32) -> (u64, u64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib = |field: &str| -> u64 {
        let line = status.lines().find(|l| l.starts_with(field)).unwrap();
        line.split_whitespace()
            .nth(1)
            .unwrap()
            .parse::<u64>()
            .unwrap()
            * 1024
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    (kib("VmHWM:"), kib("VmRSS:"), ticks / 100.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Spearman's rank correlation of creation order and join order: 1 when
/// bots join exactly in the order they were created.
fn order_correlation(created: &HashMap<String, Timestamp>, joined: &[(String, Timestamp)]) -> f64 {
    let rank = |mut items: Vec<(&String, Timestamp)>| -> HashMap<String, f64> {
        items.sort_by_key(|(name, at)| (*at, (*name).clone()));
        items
            .into_iter()
            .enumerate()
            .map(|(i, (name, _))| (name.clone(), i as f64))
            .collect()
    };
    let by_create = rank(created.iter().map(|(n, t)| (n, *t)).collect());
    let by_join = rank(joined.iter().map(|(n, t)| (n, *t)).collect());
    let n = by_join.len() as f64;
    if n < 2.0 {
        return 1.0;
    }
    // Ranks of the bots that joined, among themselves.
    let mut pairs: Vec<(f64, f64)> = by_join
        .iter()
        .filter_map(|(name, j)| Some((*by_create.get(name)?, *j)))
        .collect();
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let d2: f64 = pairs
        .iter()
        .enumerate()
        .map(|(i, (_, j))| (i as f64 - j).powi(2))
        .sum();
    1.0 - 6.0 * d2 / (n * (n * n - 1.0))
}

/// One run at N: the baseline, then the operator (Ready, at rest, restarted,
/// gone). Returns the figures and the two Ready curves.
async fn run(client: &Client, n: u64, latency_ms: u64) -> (Value, Vec<f64>, Vec<f64>) {
    let base_ns = namespace(client, "bench-baseline").await;
    let writer = tokio::spawn(minimal_writer(Api::namespaced(client.clone(), &base_ns)));
    let base = until_all_ready(client, &base_ns, n).await;
    let base_gone_secs = until_all_gone(client, &base_ns).await;
    writer.abort();
    println!(
        "N = {n}: baseline Ready in {:.2} s, gone in {base_gone_secs:.2} s",
        base.secs
    );

    let ns = namespace(client, "bench").await;
    let fake = fake().await;
    let admin = fake.admin();
    admin
        .set_faults(&fake_lemonslice::Faults {
            latency_ms,
            endpoints: vec!["join".into(), "leave".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    let mut options = OperatorOptions::new(&ns, &fake);
    options
        .extra_args
        .push(format!("--concurrency={CONCURRENCY}"));
    // The benchmark measures the operator, not the process-wide vendor bound.
    options
        .extra_args
        .push("--vendor-calls-per-second=100000".into());
    options
        .extra_args
        .retain(|arg| !arg.starts_with("--log-level"));
    let operator = Operator::start(&options).await;
    operator.wait_ready().await;
    let (_, start_rss, _) = process_usage(operator.pid());
    let writes_before = meetingbot_writes(client).await;

    // Ready, with what it cost.
    let ready = until_all_ready(client, &ns, n).await;
    let writes_at_ready = meetingbot_writes(client).await - writes_before;
    let (peak_rss_to_ready, _, cpu_to_ready) = process_usage(operator.pid());
    let joins = admin.joins().await.unwrap();
    let joined: Vec<(String, Timestamp)> = joins
        .iter()
        .filter_map(|join| {
            let name = format!("bot-{}", join.session_id.rsplit('-').next()?);
            let at = Timestamp::from_millisecond(join.joined_at.timestamp_millis()).ok()?;
            Some((name, at))
        })
        .collect();
    let mut latencies: Vec<f64> = joined
        .iter()
        .map(|(name, at)| at.duration_since(ready.created[name]).as_secs_f64())
        .collect();
    latencies.sort_by(f64::total_cmp);
    let order = order_correlation(&ready.created, &joined);

    // At rest: the bookkeeping after Ready (the record's annotation copy) done.
    let writes_at_rest = until_quiet(client).await - writes_before;
    // VmHWM now: the peak until rest, bookkeeping after Ready included.
    let (peak_rss, rest_rss, cpu_at_rest) = process_usage(operator.pid());
    let conflicts_to_rest = operator.log_text().matches(CONFLICT_LINE).count();

    // Restarted with all joined: nothing to do, so nothing done.
    operator.signal(SIGTERM);
    let mut operator = operator;
    operator.wait_exit(Duration::from_secs(30)).await;
    let calls_before_restart = admin.calls().await.unwrap();
    let writes_before_restart = meetingbot_writes(client).await;
    let restarted_at = Instant::now();
    let restarted = Operator::start(&options).await;
    restarted.wait_ready().await;
    let readyz_secs = restarted_at.elapsed().as_secs_f64();
    // The restart cost is what happens in this window: a measurement, not a wait for a condition.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let restart_calls = admin.calls().await.unwrap();
    let restart_vendor_calls = ["join", "leave", "session"]
        .iter()
        .map(|e| restart_calls.total(e) - calls_before_restart.total(e))
        .sum::<u64>();
    let restart_writes = meetingbot_writes(client).await - writes_before_restart;
    let (_, restart_rss, _) = process_usage(restarted.pid());

    // Gone.
    let writes_before_gone = meetingbot_writes(client).await;
    let gone_secs = until_all_gone(client, &ns).await;
    let writes_to_gone = meetingbot_writes(client).await - writes_before_gone;
    let (restart_peak_rss, _, cpu_restarted) = process_usage(restarted.pid());
    let conflicts_gone = restarted.log_text().matches(CONFLICT_LINE).count();
    let calls = admin.calls().await.unwrap();
    let leaves = admin.leaves().await.unwrap();

    let per_bot = |x: f64| x / n as f64;
    let mib = |bytes: u64| bytes as f64 / 1048576.0;
    let ideal = (n as f64 * latency_ms as f64 / 1000.0 / CONCURRENCY as f64).max(base.secs);
    let mut joined_sessions: Vec<&str> = joins.iter().map(|j| j.session_id.as_str()).collect();
    joined_sessions.sort();
    joined_sessions.dedup();
    let results = json!({
        "machine": machine(),
        "n": n, "latency_ms": latency_ms, "concurrency": CONCURRENCY,
        "baseline": {
            "ready_secs": base.secs, "gone_secs": base_gone_secs,
            "create_to_ready_p50_secs": percentile(&base.create_to_ready, 0.5),
            "create_to_ready_p99_secs": percentile(&base.create_to_ready, 0.99),
            "writes_per_bot_to_ready": base.writes_to_ready,
        },
        "operator": {
            "ready_secs": ready.secs, "gone_secs": gone_secs,
            "ready_vs_baseline": ready.secs / base.secs,
            "ready_vs_ideal": ready.secs / ideal,
            "gone_vs_baseline": gone_secs / base_gone_secs,
            "joins": joins.len(), "distinct_joined_sessions": joined_sessions.len(),
            "leaves": leaves.len(),
            "joins_per_bot": per_bot(calls.total("join") as f64),
            "leaves_per_bot": per_bot(calls.total("leave") as f64),
            "session_reads_per_bot": per_bot(calls.total("session") as f64),
            "vendor_calls_per_bot": per_bot(
                ["join", "leave", "session"].iter().map(|e| calls.total(e)).sum::<u64>() as f64
            ),
            "writes_per_bot_to_ready": ready.writes_to_ready,
            "writes_per_bot_at_all_ready": per_bot(writes_at_ready as f64),
            "writes_per_join": per_bot(writes_at_rest as f64),
            "writes_per_bot_to_gone": per_bot(writes_to_gone as f64),
            "conflicts_to_rest": conflicts_to_rest,
            "conflicts_to_gone": conflicts_gone,
            "create_to_join_p50_secs": percentile(&latencies, 0.5),
            "create_to_join_p99_secs": percentile(&latencies, 0.99),
            "create_to_ready_p99_secs": percentile(&ready.create_to_ready, 0.99),
            "join_order_correlation": order,
            "rss_at_start_mib": mib(start_rss),
            "peak_rss_mib_to_ready": mib(peak_rss_to_ready),
            "peak_rss_mib": mib(peak_rss),
            "rss_at_rest_mib": mib(rest_rss),
            "restarted_rss_mib": mib(restart_rss),
            "restarted_peak_rss_mib": mib(restart_peak_rss),
            "cpu_secs_to_ready": cpu_to_ready,
            "cpu_secs_to_rest": cpu_at_rest,
            "cpu_ms_per_bot": per_bot(cpu_at_rest * 1000.0),
            "cpu_secs_restarted_run": cpu_restarted,
            "restart_vendor_calls": restart_vendor_calls,
            "restart_writes": restart_writes,
            "restart_readyz_secs": readyz_secs,
        },
    });
    drop(restarted);
    (results, base.curve, ready.curve)
}

/// The hard invariants; timings are reported against their targets.
fn check(results: &Value) {
    let op = &results["operator"];
    let n = results["n"].as_u64().unwrap();
    assert_eq!(
        (
            op["joins"].as_u64(),
            op["distinct_joined_sessions"].as_u64()
        ),
        (Some(n), Some(n)),
        "exactly one join per bot"
    );
    assert_eq!(op["leaves"].as_u64(), Some(n), "exactly one leave per bot");
    assert_eq!(
        (
            op["restart_vendor_calls"].as_u64(),
            op["restart_writes"].as_u64()
        ),
        (Some(0), Some(0)),
        "a restart costs nothing"
    );
}

fn out_dir() -> std::path::PathBuf {
    let out = repo_root().join("target/bench");
    std::fs::create_dir_all(&out).unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by make bench"]
async fn bench() {
    if std::env::var("BENCH_SCALING").is_ok_and(|v| v == "1") {
        return scaling().await;
    }
    let n = env_or("BENCH_N", 1000);
    let latency_ms = env_or("BENCH_LATENCY_MS", 50);
    let client = client().await;
    let (results, base_curve, ready_curve) = run(&client, n, latency_ms).await;
    let out = out_dir();
    std::fs::write(
        out.join("results.json"),
        serde_json::to_string_pretty(&results).unwrap(),
    )
    .unwrap();
    plot::ready_over_time(&out.join("ready.png"), n, &base_curve, &ready_curve);
    println!("{}", table::single(&results));
    check(&results);
}

/// N = 100, 1000, 5000 (or BENCH_SCALING_NS, comma-separated), each with its
/// baseline: a JSON of all runs, a Markdown table and a plot against N.
async fn scaling() {
    let ns: Vec<u64> = std::env::var("BENCH_SCALING_NS")
        .unwrap_or_else(|_| "100,1000,5000".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    let latency_ms = env_or("BENCH_LATENCY_MS", 50);
    let client = client().await;
    let out = out_dir();
    let mut runs = Vec::new();
    for n in ns {
        let (results, base_curve, ready_curve) = run(&client, n, latency_ms).await;
        plot::ready_over_time(
            &out.join(format!("ready-{n}.png")),
            n,
            &base_curve,
            &ready_curve,
        );
        println!("{}", table::single(&results));
        check(&results);
        runs.push(results);
        // Written after each N, so that a later failure keeps the earlier figures.
        std::fs::write(
            out.join("scaling.json"),
            serde_json::to_string_pretty(&runs).unwrap(),
        )
        .unwrap();
    }
    let markdown = table::scaling(&runs);
    std::fs::write(out.join("scaling.md"), &markdown).unwrap();
    plot::scaling(&out.join("scaling.png"), &runs);
    println!("{markdown}");
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|m| m.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1048576.0;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores, {model}, {mem_gib:.0} GiB")
}
