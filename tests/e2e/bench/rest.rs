//! `make bench-rest` (BENCH_REST=1): a fleet at rest. N MeetingBots joined
//! and polled at the default vendor bound, then a few new ones, one at a
//! time: how long each waits to join while the polls go on, and what the
//! operator costs at rest.
//!
//! The fleet is joined by an operator without a vendor bound (the bench
//! measures the fleet at rest, not how long the bound takes to fill it),
//! which is then restarted with the defaults (a restart with all joined costs
//! nothing, see `make bench`).

use super::converge::{until_all_gone, until_all_ready};
use super::measure::{percentile, process_usage};
use super::{CONCURRENCY, env_or, machine, out_dir, vendor};
use crate::support::*;
use jiff::Timestamp;
use kube::api::PostParams;
use kube::{Api, Client};
use meetingbot_operator::api::MeetingBot;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// How long one new MeetingBot may take to be Ready before the bench gives up.
const NEWCOMER_DEADLINE: Duration = Duration::from_secs(120);

pub(super) async fn rest() {
    let n = env_or("BENCH_REST_N", 10_000);
    let newcomers = env_or("BENCH_REST_NEW", 20);
    let poll_secs = env_or("BENCH_REST_POLL_SECS", 30);
    let window_secs = env_or("BENCH_REST_WINDOW_SECS", 60);
    let latency_ms = env_or("BENCH_LATENCY_MS", 50);
    let client = client().await;
    let ns = namespace(&client, "bench-rest").await;
    let fake = vendor(latency_ms).await;
    let admin = fake.admin();
    let mut options = OperatorOptions::new(&ns, &fake);
    options
        .extra_args
        .retain(|arg| !arg.starts_with("--log-level"));
    options
        .extra_args
        .push(format!("--concurrency={CONCURRENCY}"));
    let unbounded = with_args(&options, &["--vendor-calls-per-second=100000"]);

    let filler = Operator::start(&unbounded).await;
    let filled = until_all_ready(&client, &ns, n).await;
    println!("N = {n}: all joined in {:.1} s", filled.secs);
    stop(filler).await;

    // At rest: the default vendor bound, polls every `poll_secs`.
    let at_rest = with_args(
        &options,
        &[&format!("--session-poll-interval={poll_secs}s")],
    );
    let operator = Operator::start(&at_rest).await;
    // Sessions count as read at start: all are due after the interval (+20 %).
    tokio::time::sleep(Duration::from_secs(poll_secs * 6 / 5)).await;
    let (_, _, cpu_before) = process_usage(operator.pid());
    let reads_before = admin.calls().await.unwrap().total("session");
    let window_start = Instant::now();
    // A measurement window, not a wait for a condition.
    tokio::time::sleep(Duration::from_secs(window_secs)).await;
    let window = window_start.elapsed().as_secs_f64();
    let (peak_rss, rest_rss, cpu_after) = process_usage(operator.pid());
    let reads = admin.calls().await.unwrap().total("session") - reads_before;
    let cpu_at_rest = cpu_after - cpu_before;

    // New MeetingBots, one at a time, while the polls go on.
    let (mut to_join, mut to_ready) = (Vec::new(), Vec::new());
    for i in 0..newcomers {
        let (join, ready) = newcomer(&client, &ns, i, &admin).await;
        to_join.push(join);
        to_ready.push(ready);
    }
    to_join.sort_by(f64::total_cmp);
    to_ready.sort_by(f64::total_cmp);
    let (_, newcomers_rss, _) = process_usage(operator.pid());
    stop(operator).await;

    // Gone, without the bound (a deletion's pace is `make bench`'s).
    let cleaner = Operator::start(&unbounded).await;
    let gone_secs = until_all_gone(&client, &ns).await.secs;
    drop(cleaner);

    let mib = |bytes: u64| bytes as f64 / 1048576.0;
    let thousands = n as f64 / 1000.0;
    let results = json!({
        "machine": machine(),
        "n": n, "latency_ms": latency_ms, "concurrency": CONCURRENCY,
        "session_poll_secs": poll_secs, "window_secs": window,
        "vendor_calls_per_second": "default",
        "all_joined_secs": filled.secs,
        "session_reads_per_sec": reads as f64 / window,
        "session_reads_wanted_per_sec": n as f64 / poll_secs as f64,
        "cpu_secs_in_window": cpu_at_rest,
        "cpu_ms_per_sec_per_1000_bots": cpu_at_rest * 1000.0 / window / thousands,
        "rss_at_rest_mib": mib(rest_rss),
        "rss_at_rest_kib_per_bot": rest_rss as f64 / 1024.0 / n as f64,
        "peak_rss_mib": mib(peak_rss),
        "rss_after_newcomers_mib": mib(newcomers_rss),
        "newcomers": newcomers,
        "newcomer_create_to_join_p50_secs": percentile(&to_join, 0.5),
        "newcomer_create_to_join_p99_secs": percentile(&to_join, 0.99),
        "newcomer_create_to_ready_p50_secs": percentile(&to_ready, 0.5),
        "newcomer_create_to_ready_p99_secs": percentile(&to_ready, 0.99),
        "all_gone_secs": gone_secs,
    });
    std::fs::write(
        out_dir().join("rest.json"),
        serde_json::to_string_pretty(&results).unwrap(),
    )
    .unwrap();
    println!("{}", table(&results));
}

fn with_args(options: &OperatorOptions, args: &[&str]) -> OperatorOptions {
    let mut options = options.clone();
    options
        .extra_args
        .extend(args.iter().map(|a| a.to_string()));
    options
}

async fn stop(mut operator: Operator) {
    operator.signal(SIGTERM);
    operator.wait_exit(Duration::from_secs(30)).await;
}

/// Creates new MeetingBot `i` and waits until it is Ready: the seconds from
/// its create to its join (the fake's record) and to Ready.
async fn newcomer(client: &Client, ns: &str, i: u64, admin: &fake_lemonslice::Admin) -> (f64, f64) {
    let name = format!("new-{i}");
    let session = format!("{ns}-new-{i}");
    put_secret(client, ns, &name, "token", BROADCAST_TOKEN).await;
    let mut spec = spec(&session);
    spec.broadcast_token_secret_ref.name = name.clone();
    let bots: Api<MeetingBot> = Api::namespaced(client.clone(), ns);
    bots.create(&PostParams::default(), &MeetingBot::new(&name, spec))
        .await
        .expect("the MeetingBot is created");
    let created = Timestamp::now();
    wait_until("a new MeetingBot to be Ready", NEWCOMER_DEADLINE, || {
        let bots = bots.clone();
        let name = name.clone();
        async move {
            let bot = bots.get(&name).await.ok()?;
            bot.condition("Ready")
                .is_some_and(|c| c.status == "True")
                .then_some(())
        }
    })
    .await;
    let ready = Timestamp::now().duration_since(created).as_secs_f64();
    let joins = admin.joins().await.unwrap();
    let joined = joins
        .iter()
        .find(|join| join.session_id == session)
        .expect("the new MeetingBot joined");
    let join = joined.joined_at.duration_since(created).as_secs_f64();
    (join, ready)
}

/// The figures as a Markdown table.
fn table(results: &Value) -> String {
    let f = |key: &str| results[key].as_f64().unwrap_or(f64::NAN);
    let rows = [
        (
            "MeetingBots joined and polled".to_owned(),
            format!(
                "{} (every {} s; joined in {:.1} s)",
                results["n"],
                results["session_poll_secs"],
                f("all_joined_secs")
            ),
        ),
        (
            "session reads per second: made / wanted".into(),
            format!(
                "{:.1} / {:.1}",
                f("session_reads_per_sec"),
                f("session_reads_wanted_per_sec")
            ),
        ),
        (
            format!(
                "new MeetingBot, creation → join p50 / p99 (of {})",
                results["newcomers"]
            ),
            format!(
                "{:.3} s / {:.3} s",
                f("newcomer_create_to_join_p50_secs"),
                f("newcomer_create_to_join_p99_secs")
            ),
        ),
        (
            "new MeetingBot, creation → Ready p50 / p99 (polled every 100 ms)".into(),
            format!(
                "{:.3} s / {:.3} s",
                f("newcomer_create_to_ready_p50_secs"),
                f("newcomer_create_to_ready_p99_secs")
            ),
        ),
        (
            "CPU at rest per 1000 MeetingBots".into(),
            format!(
                "{:.1} ms per second ({:.2} s in {:.0} s)",
                f("cpu_ms_per_sec_per_1000_bots"),
                f("cpu_secs_in_window"),
                f("window_secs")
            ),
        ),
        (
            "RSS at rest / peak".into(),
            format!(
                "{:.1} MiB ({:.1} KiB per MeetingBot, the process's own included) / {:.1} MiB",
                f("rss_at_rest_mib"),
                f("rss_at_rest_kib_per_bot"),
                f("peak_rss_mib")
            ),
        ),
        (
            "all gone, without the vendor bound".into(),
            format!("{:.1} s", f("all_gone_secs")),
        ),
    ];
    let mut out = format!(
        "\nA fleet at rest: {}, L = {} ms, concurrency {}, default vendor bound\n\n| | |\n|---|---|\n",
        results["machine"].as_str().unwrap_or_default(),
        results["latency_ms"],
        results["concurrency"]
    );
    for (name, value) in rows {
        out.push_str(&format!("| {name} | {value} |\n"));
    }
    out
}
