//! `make bench`: how fast N MeetingBots converge and at what cost, as ratios
//! against what the API server alone allows, measured in the same run;
//! `make bench-scaling` (BENCH_SCALING=1): the same for N = 100, 1000, 5000
//! and 10 000, one after the other, with a table and a plot against N;
//! `make bench-rest` (BENCH_REST=1): a fleet at rest (see `rest`).
//!
//! The baseline is a minimal writer in this process that makes, with the
//! operator's concurrency, only the API-server writes a bot needs (finalizer,
//! then a Ready status) and no vendor call. The same writer then makes objects
//! as large as the operator's (the second baseline, for the figures that the
//! API server's work per object holds). Then the operator does the real
//! thing against the fake, whose join and leave take L each.

mod converge;
mod measure;
mod padded;
mod plot;
mod rest;
mod rotate;
mod table;

use converge::{
    BaselineObjects, GoneRun, ReadyRun, baseline_writer, until_all_gone, until_all_ready,
};
use measure::{
    meetingbot_writes, namespaces_being_deleted, order_correlation, percentile, process_usage,
    until_quiet,
};

use crate::support::*;
use jiff::Timestamp;
use kube::{Api, Client};
use serde_json::{Value, json};
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

/// The fake LemonSlice whose join and leave take `latency_ms` each.
async fn vendor(latency_ms: u64) -> fake_lemonslice::FakeServer {
    let fake = fake().await;
    fake.admin()
        .set_faults(&fake_lemonslice::Faults {
            latency_ms,
            endpoints: vec!["join".into(), "leave".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    fake
}

/// One run at N: the two baselines, then the operator (Ready, at rest,
/// restarted, gone). Returns the figures and the two Ready curves.
async fn run(client: &Client, n: u64, latency_ms: u64) -> (Value, Vec<f64>, Vec<f64>) {
    let being_deleted = namespaces_being_deleted(client).await;
    if being_deleted > 0 {
        println!(
            "warning: {being_deleted} namespace(s) are being deleted on this control plane and \
             share its API server with the run; for figures that compare, start from a fresh \
             one (make cluster-down)"
        );
    }
    let (base, base_gone) = baseline(client, n, BaselineObjects::Minimal).await;
    let (sized, sized_gone) = baseline(client, n, BaselineObjects::OperatorSized).await;

    let ns = namespace(client, "bench").await;
    let fake = vendor(latency_ms).await;
    let admin = fake.admin();
    let mut options = OperatorOptions::new(&ns, &fake);
    options
        .extra_args
        .push(format!("--concurrency={CONCURRENCY}"));
    // The benchmark measures the operator, not the process-wide vendor bound.
    options
        .extra_args
        .push("--vendor-calls-per-second=100000".into());
    // Nor the session polls of joined bots (`bench-rest` measures those):
    // without the bound, at N = 5000 they would read 170 sessions a second
    // through the late joins and the deletion, where the default bound lets
    // polls read 10.
    options.extra_args.push("--session-poll-interval=1h".into());
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
            Some((name, join.joined_at))
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
    // One broadcast token rotated, among N joined MeetingBots.
    let rotation_cpu_ms = rotate::cpu_ms_per_rotation(client, &ns, "bot-0", restarted.pid()).await;

    // Gone.
    let writes_before_gone = meetingbot_writes(client).await;
    let gone = until_all_gone(client, &ns).await;
    let writes_to_gone = meetingbot_writes(client).await - writes_before_gone;
    let (restart_peak_rss, _, cpu_restarted) = process_usage(restarted.pid());
    let conflicts_gone = restarted.log_text().matches(CONFLICT_LINE).count();
    let calls = admin.calls().await.unwrap();
    let leaves = admin.leaves().await.unwrap();
    let mut left: Vec<f64> = leaves
        .iter()
        .map(|leave| leave.left_at.duration_since(gone.started).as_secs_f64())
        .collect();
    left.sort_by(f64::total_cmp);

    let per_bot = |x: f64| x / n as f64;
    let mib = |bytes: u64| bytes as f64 / 1048576.0;
    let ideal = (n as f64 * latency_ms as f64 / 1000.0 / CONCURRENCY as f64).max(base.secs);
    let mut joined_sessions: Vec<&str> = joins.iter().map(|j| j.session_id.as_str()).collect();
    joined_sessions.sort();
    joined_sessions.dedup();
    let mut results = json!({
        "machine": machine(),
        "n": n, "latency_ms": latency_ms, "concurrency": CONCURRENCY,
        "baseline": {
            "ready_secs": base.secs, "gone_secs": base_gone.secs,
            "deletion": deletion_pace(&base_gone, None),
            "create_to_ready_p50_secs": percentile(&base.create_to_ready, 0.5),
            "create_to_ready_p99_secs": percentile(&base.create_to_ready, 0.99),
            "writes_per_bot_to_ready": base.writes_to_ready,
        },
        "operator": {
            "ready_secs": ready.secs, "gone_secs": gone.secs,
            "ready_vs_baseline": ready.secs / base.secs,
            "ready_vs_ideal": ready.secs / ideal,
            "gone_vs_baseline": gone.secs / base_gone.secs,
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
    // Past what one `json!` expands.
    results["operator"]["cpu_ms_per_secret_rotation"] = json!(rotation_cpu_ms);
    results["operator"]["deletion"] = deletion_pace(&gone, Some(&left));
    results["operator"]["ready_vs_operator_sized_baseline"] = json!(ready.secs / sized.secs);
    results["operator"]["gone_vs_operator_sized_baseline"] = json!(gone.secs / sized_gone.secs);
    results["operator_sized_baseline"] = json!({
        "ready_secs": sized.secs, "gone_secs": sized_gone.secs,
        "deletion": deletion_pace(&sized_gone, None),
    });
    results["namespaces_being_deleted_at_start"] = json!(being_deleted);
    drop(restarted);
    (results, base.curve, ready.curve)
}

/// The baseline writer's run at N with these objects: until all Ready, and
/// until all gone.
async fn baseline(client: &Client, n: u64, objects: BaselineObjects) -> (ReadyRun, GoneRun) {
    let name = match objects {
        BaselineObjects::Minimal => "bench-baseline",
        BaselineObjects::OperatorSized => "bench-baseline-sized",
    };
    let ns = namespace(client, name).await;
    let writer = tokio::spawn(baseline_writer(
        Api::namespaced(client.clone(), &ns),
        objects,
    ));
    let ready = until_all_ready(client, &ns, n).await;
    let gone = until_all_gone(client, &ns).await;
    writer.abort();
    println!(
        "N = {n}: {name} Ready in {:.2} s, gone in {:.2} s",
        ready.secs, gone.secs
    );
    (ready, gone)
}

/// Where a deletion's time went: seconds from the deletecollection until the
/// API server had marked half and all of the bots, until half and all of
/// their leaves were done (the fake's record), and until half and all were
/// gone; the CPU each process used and the requests the API server answered
/// meanwhile.
fn deletion_pace(gone: &GoneRun, left: Option<&[f64]>) -> Value {
    let half_and_all = |curve: &[f64]| json!([percentile(curve, 0.5), percentile(curve, 1.0)]);
    json!({
        "marked_secs": half_and_all(&gone.marked),
        "left_secs": left.map(half_and_all),
        "gone_secs": half_and_all(&gone.gone),
        "cpu_secs": gone.cpu_secs,
        "requests": gone.requests,
    })
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
    if std::env::var("BENCH_REST").is_ok_and(|v| v == "1") {
        return rest::rest().await;
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

/// N = 100, 1000, 5000, 10 000 (or BENCH_SCALING_NS, comma-separated), each
/// with its baseline: a JSON of all runs, a Markdown table and a plot against N.
async fn scaling() {
    let ns: Vec<u64> = std::env::var("BENCH_SCALING_NS")
        .unwrap_or_else(|_| "100,1000,5000,10000".into())
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
