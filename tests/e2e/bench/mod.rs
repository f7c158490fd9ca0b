//! `make bench`: how fast N MeetingBots converge and at what cost, as ratios
//! against what the API server alone allows, measured in the same run.
//!
//! The baseline is a minimal writer in this process that makes, with the
//! operator's concurrency, only the API-server writes a bot needs (finalizer,
//! then a Ready status) and no vendor call. Then the operator does the real
//! thing against the fake, whose join and leave take L each.

use crate::support::*;
use futures::{StreamExt, TryStreamExt, stream};
use jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use meetingbot_operator::api::MeetingBot;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

const CONCURRENCY: usize = 16;
/// How many creates the bench keeps in flight: faster than any GitOps sync.
const CREATE_PARALLELISM: usize = 64;
/// Longest a phase (all Ready, all gone) may take before the bench gives up.
const PHASE_DEADLINE: Duration = Duration::from_secs(600);

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What a watch of the namespace saw: when (seconds since the phase began)
/// each bot first showed Ready, and which bots exist.
#[derive(Default)]
struct Timeline {
    ready: HashMap<String, f64>,
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
    deadline: Duration,
    done: impl Fn(&Timeline) -> bool,
    timeline: &mut Timeline,
) {
    let mut events = std::pin::pin!(watcher(bots, watcher::Config::default()).default_backoff());
    let until = start + deadline;
    while !done(timeline) {
        let event = tokio::time::timeout_at(until.into(), events.next())
            .await
            .expect("the bench converges before its deadline")
            .expect("the watch goes on")
            .expect("the watch works");
        let at = start.elapsed().as_secs_f64();
        match event {
            watcher::Event::Init => {
                timeline.present.clear();
                timeline.listed = false;
            }
            watcher::Event::InitDone => timeline.listed = true,
            watcher::Event::Apply(bot) | watcher::Event::InitApply(bot) => {
                if condition(&bot, "Ready").is_some_and(|c| c.status == "True") {
                    timeline.ready.entry(bot.name_any()).or_insert(at);
                }
                timeline.present.insert(bot.name_any());
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

/// Creates N bots and follows them until all are Ready: the seconds it took,
/// when each turned Ready (sorted), and when each create returned.
async fn until_all_ready(
    client: &Client,
    ns: &str,
    n: u64,
) -> (f64, Vec<f64>, HashMap<String, Timestamp>) {
    let bots: Api<MeetingBot> = Api::namespaced(client.clone(), ns);
    let start = Instant::now();
    let mut timeline = Timeline::default();
    let (created, ()) = tokio::join!(
        create_all(client, ns, n),
        follow(
            bots,
            start,
            PHASE_DEADLINE,
            |t| t.ready.len() as u64 == n,
            &mut timeline
        )
    );
    let mut curve: Vec<f64> = timeline.ready.into_values().collect();
    curve.sort_by(f64::total_cmp);
    (start.elapsed().as_secs_f64(), curve, created)
}

/// Deletes all N bots and follows them until all are gone: the seconds it took.
async fn until_all_gone(client: &Client, ns: &str) -> f64 {
    let bots: Api<MeetingBot> = Api::namespaced(client.clone(), ns);
    let start = Instant::now();
    bots.delete_collection(&DeleteParams::default(), &Default::default())
        .await
        .expect("MeetingBots delete");
    let mut timeline = Timeline::default();
    follow(
        bots,
        start,
        PHASE_DEADLINE,
        Timeline::all_gone,
        &mut timeline,
    )
    .await;
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
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by make bench"]
async fn bench() {
    let n = env_or("BENCH_N", 1000);
    let latency_ms = env_or("BENCH_LATENCY_MS", 50);
    let client = client().await;

    let base_ns = namespace(&client, "bench-baseline").await;
    let writer = tokio::spawn(minimal_writer(Api::namespaced(client.clone(), &base_ns)));
    let (base_ready_secs, base_curve, _) = until_all_ready(&client, &base_ns, n).await;
    let base_gone_secs = until_all_gone(&client, &base_ns).await;
    writer.abort();
    println!("baseline: {n} Ready in {base_ready_secs:.2} s, gone in {base_gone_secs:.2} s");

    let ns = namespace(&client, "bench").await;
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
    let writes_before = meetingbot_writes(&client).await;

    // Ready, with what it cost.
    let (ready_secs, ready_curve, created) = until_all_ready(&client, &ns, n).await;
    let writes_to_ready = meetingbot_writes(&client).await - writes_before;
    let joins = admin.joins().await.unwrap();
    let mut latencies: Vec<f64> = joins
        .iter()
        .filter_map(|join| {
            let name = format!("bot-{}", join.session_id.rsplit('-').next()?);
            let joined = Timestamp::from_millisecond(join.joined_at.timestamp_millis()).ok()?;
            Some(joined.duration_since(created[&name]).as_secs_f64())
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    let (peak_rss, _, cpu_to_ready) = process_usage(operator.pid());

    // At rest, then restarted: nothing to do, so nothing done.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, rest_rss, _) = process_usage(operator.pid());
    operator.signal(SIGTERM);
    let mut operator = operator;
    operator.wait_exit(Duration::from_secs(30)).await;
    let calls_before_restart = admin.calls().await.unwrap();
    let writes_before_restart = meetingbot_writes(&client).await;
    let restarted_at = Instant::now();
    let operator = Operator::start(&options).await;
    let readyz_secs = restarted_at.elapsed().as_secs_f64();
    // The restart cost is what happens in this window: a measurement, not a wait for a condition.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let restart_calls = admin.calls().await.unwrap();
    let restart_vendor_calls = ["join", "leave", "session"]
        .iter()
        .map(|e| restart_calls.total(e) - calls_before_restart.total(e))
        .sum::<u64>();
    let restart_writes = meetingbot_writes(&client).await - writes_before_restart;

    // Gone.
    let gone_secs = until_all_gone(&client, &ns).await;
    let (peak_rss_all, _, cpu_all) = process_usage(operator.pid());
    let calls = admin.calls().await.unwrap();
    let leaves = admin.leaves().await.unwrap();

    let ideal = (n as f64 * latency_ms as f64 / 1000.0 / CONCURRENCY as f64).max(base_ready_secs);
    let results = json!({
        "machine": machine(),
        "n": n, "latency_ms": latency_ms, "concurrency": CONCURRENCY,
        "baseline": { "ready_secs": base_ready_secs, "gone_secs": base_gone_secs },
        "operator": {
            "ready_secs": ready_secs, "gone_secs": gone_secs,
            "ready_vs_baseline": ready_secs / base_ready_secs,
            "ready_vs_ideal": ready_secs / ideal,
            "gone_vs_baseline": gone_secs / base_gone_secs,
            "joins_per_bot": calls.total("join") as f64 / n as f64,
            "leaves_per_bot": calls.total("leave") as f64 / n as f64,
            "session_reads_per_bot": calls.total("session") as f64 / n as f64,
            "writes_per_bot_to_ready": writes_to_ready as f64 / n as f64,
            "create_to_join_p50_secs": percentile(&latencies, 0.5),
            "create_to_join_p99_secs": percentile(&latencies, 0.99),
            "peak_rss_mib_to_ready": peak_rss as f64 / 1048576.0,
            "peak_rss_mib": peak_rss_all as f64 / 1048576.0,
            "rss_at_rest_mib": rest_rss as f64 / 1048576.0,
            "cpu_secs_to_ready": cpu_to_ready,
            "cpu_secs_restarted_run": cpu_all,
            "restart_vendor_calls": restart_vendor_calls,
            "restart_writes": restart_writes,
            "restart_readyz_secs": readyz_secs,
        },
    });
    let out = repo_root().join("target/bench");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(
        out.join("results.json"),
        serde_json::to_string_pretty(&results).unwrap(),
    )
    .unwrap();
    plot(
        &out.join("ready.png"),
        &[
            (&base_curve, [110, 110, 110]),
            (&ready_curve, [220, 120, 0]),
        ],
        n,
    );
    println!("{}", table(&results));

    // The hard invariants; timings are reported against their targets above.
    let mut joined_sessions: Vec<&str> = joins.iter().map(|j| j.session_id.as_str()).collect();
    joined_sessions.sort();
    joined_sessions.dedup();
    assert_eq!(
        (joins.len() as u64, joined_sessions.len() as u64),
        (n, n),
        "exactly one join per bot"
    );
    assert_eq!(leaves.len() as u64, n, "exactly one leave per bot");
    assert_eq!(
        (restart_vendor_calls, restart_writes),
        (0, 0),
        "a restart costs nothing"
    );
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

/// The Markdown table the README keeps, each figure with its target.
fn table(results: &serde_json::Value) -> String {
    let op = &results["operator"];
    let f = |key: &str| op[key].as_f64().unwrap();
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    let rows = [
        (
            "time to all Ready / baseline",
            format!("{:.2}", f("ready_vs_baseline")),
            "≤ 1.5".to_owned(),
            verdict(f("ready_vs_baseline") <= 1.5),
        ),
        (
            "time to all Ready / ideal",
            format!("{:.2}", f("ready_vs_ideal")),
            "".into(),
            "",
        ),
        (
            "time to all gone / baseline",
            format!("{:.2}", f("gone_vs_baseline")),
            "".into(),
            "",
        ),
        (
            "creation → join p50 / p99",
            format!(
                "{:.3} s / {:.3} s",
                f("create_to_join_p50_secs"),
                f("create_to_join_p99_secs")
            ),
            "p99 < 1 s".into(),
            verdict(f("create_to_join_p99_secs") < 1.0),
        ),
        (
            "joins / leaves / session reads per bot",
            format!(
                "{} / {} / {}",
                f("joins_per_bot"),
                f("leaves_per_bot"),
                f("session_reads_per_bot")
            ),
            "1 / 1".into(),
            verdict(f("joins_per_bot") == 1.0 && f("leaves_per_bot") == 1.0),
        ),
        (
            "MeetingBot writes per bot, to Ready",
            format!("{:.2}", f("writes_per_bot_to_ready")),
            "".into(),
            "",
        ),
        (
            "peak RSS",
            format!("{:.1} MiB", f("peak_rss_mib")),
            "< 64 MiB".into(),
            verdict(f("peak_rss_mib") < 64.0),
        ),
        (
            "RSS at rest, all joined",
            format!("{:.1} MiB", f("rss_at_rest_mib")),
            "".into(),
            "",
        ),
        (
            "CPU to all Ready",
            format!("{:.2} s", f("cpu_secs_to_ready")),
            "".into(),
            "",
        ),
        (
            "restart: vendor calls / writes in 10 s",
            format!("{} / {}", f("restart_vendor_calls"), f("restart_writes")),
            "0 / 0".into(),
            verdict(f("restart_vendor_calls") == 0.0 && f("restart_writes") == 0.0),
        ),
        (
            "restart: until /readyz",
            format!("{:.2} s", f("restart_readyz_secs")),
            "".into(),
            "",
        ),
    ];
    let mut out = format!(
        "N = {}, L = {} ms, concurrency {}; {}\nbaseline: all Ready in {:.2} s, all gone in {:.2} s; operator: {:.2} s and {:.2} s\n\n| figure | measured | target | |\n|---|---|---|---|\n",
        results["n"],
        results["latency_ms"],
        results["concurrency"],
        results["machine"].as_str().unwrap(),
        results["baseline"]["ready_secs"].as_f64().unwrap(),
        results["baseline"]["gone_secs"].as_f64().unwrap(),
        f("ready_secs"),
        f("gone_secs"),
    );
    for (figure, measured, target, verdict) in rows {
        out.push_str(&format!(
            "| {figure} | {measured} | {target} | {verdict} |\n"
        ));
    }
    out
}

/// Ready count over time, one line per run, on a white 800×400 canvas.
fn plot(path: &Path, runs: &[(&Vec<f64>, [u8; 3])], n: u64) {
    let (width, height) = (800usize, 400usize);
    let mut pixels = vec![255u8; width * height * 3];
    let longest = runs
        .iter()
        .filter_map(|(curve, _)| curve.last())
        .fold(0.0_f64, |a, b| a.max(*b))
        .max(0.001);
    for (curve, color) in runs {
        for (count, seconds) in curve.iter().enumerate() {
            let x = ((seconds / longest) * (width - 1) as f64) as usize;
            let y = height - 1 - (count + 1) * (height - 1) / n as usize;
            for dy in 0..3 {
                let at = ((y.saturating_sub(dy)) * width + x) * 3;
                pixels[at..at + 3].copy_from_slice(color);
            }
        }
    }
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut encoder = png::Encoder::new(file, width as u32, height as u32);
    encoder.set_color(png::ColorType::Rgb);
    encoder
        .write_header()
        .unwrap()
        .write_image_data(&pixels)
        .unwrap();
}
