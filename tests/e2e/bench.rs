//! `make bench` (issue 9): how fast N MeetingBots converge and at what cost,
//! as ratios against what the API server alone allows, measured in the same
//! run because these machines are noisy.
//!
//! First the baseline: a minimal writer in this process makes, with the
//! operator's concurrency, only the API-server writes a bot needs (finalizer,
//! Ready status) and no vendor call. Then the operator does the real thing
//! against the fake, whose join and leave each take L. Both runs create N
//! MeetingBots with their Secrets as fast as the API server takes them, wait
//! until all are Ready, delete them and wait until all are gone. The operator
//! is also restarted with all bots joined, which must cost nothing.
//!
//! `BENCH_N` (default 1000) and `BENCH_LATENCY_MS` (default 50) set N and L.
//! Results go to `target/bench/` (results.json, ready.png) and a Markdown
//! table to stdout; see docs/benchmark.md.

mod load;
mod plot;
mod probe;
mod report;

use crate::support::{
    Operator, OperatorOptions, SIGTERM, client, delete_namespace, fake, namespace, repo_root,
};
use fake_lemonslice::{Admin, Faults};
use kube::{Api, Client};
use probe::{Foreign, Writes};
use report::{
    Latency, OperatorCosts, Process, Restart, Results, Run, Settings, VendorCalls, all_calls,
};
use std::future::Future;
use std::time::{Duration, Instant};

/// The operator's default, passed explicitly so that the baseline's matches it.
const CONCURRENCY: usize = 16;
/// How long a restarted operator is watched for vendor calls and writes.
const RESTART_WINDOW: Duration = Duration::from_secs(10);
/// Restarts tried for a window in which no other client changed a MeetingBot.
const RESTART_ATTEMPTS: u32 = 3;
/// How long the operator is left alone, all bots Ready, before its RSS at rest is read.
const SETTLE: Duration = Duration::from_secs(5);
/// Longest a (re)started operator may take to answer /readyz with 200.
const READY_DEADLINE: Duration = Duration::from_secs(30);
/// Longest the namespace controller may take to empty a namespace (its Secrets).
const NAMESPACE_DEADLINE: Duration = Duration::from_secs(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by make bench"]
async fn bench() {
    let settings = Settings {
        n: env_or("BENCH_N", 1000),
        latency_ms: env_or("BENCH_LATENCY_MS", 50),
        concurrency: CONCURRENCY,
    };
    let client = client().await;
    let baseline_ns = namespace(&client, "bench-baseline").await;
    let operator_ns = namespace(&client, "bench-operator").await;
    let foreign = Foreign::watch(&client, &[&baseline_ns, &operator_ns]);

    let baseline = baseline_run(&client, &baseline_ns, settings.n).await;
    delete_namespace(&client, &baseline_ns, NAMESPACE_DEADLINE).await;
    println!(
        "baseline: all Ready in {:.2} s, all gone in {:.2} s",
        baseline.ready_secs, baseline.gone_secs
    );
    let (operator, costs) = operator_run(&client, &operator_ns, &settings, &foreign).await;
    delete_namespace(&client, &operator_ns, NAMESPACE_DEADLINE).await;

    let results = Results::new(settings, baseline, operator, costs, foreign.changes());
    results.save(&repo_root().join("target/bench"));
    println!("\n{}", results.table());
    results.assert_invariants();
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).map_or(default, |value| {
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a whole number"))
    })
}

/// Runs `phase` and counts the MeetingBot writes the API server handled meanwhile.
async fn counting_writes<T>(client: &Client, phase: impl Future<Output = T>) -> (T, Writes) {
    let before = Writes::read(client).await;
    let value = phase.await;
    (value, Writes::read(client).await.since(&before))
}

async fn baseline_run(client: &Client, ns: &str, n: u64) -> Run {
    let bots = Api::namespaced(client.clone(), ns);
    let writer = tokio::spawn(load::baseline_writer(bots, CONCURRENCY));
    let (ready, to_ready) =
        counting_writes(client, load::create_until_all_ready(client, ns, n)).await;
    let (gone_secs, to_gone) =
        counting_writes(client, load::delete_until_all_gone(client, ns)).await;
    writer.abort();
    Run::new(&ready, gone_secs, to_ready, to_gone)
}

async fn operator_run(
    client: &Client,
    ns: &str,
    settings: &Settings,
    foreign: &Foreign,
) -> (Run, OperatorCosts) {
    let fake = fake().await;
    let admin = fake.admin();
    admin
        .set_faults(&Faults {
            latency_ms: settings.latency_ms,
            endpoints: vec!["join".into(), "leave".into()],
            ..Faults::default()
        })
        .await
        .expect("the fake takes the latency");
    let options = OperatorOptions {
        namespace: ns.into(),
        lemonslice_url: fake.url(),
        extra_args: vec![
            format!("--concurrency={CONCURRENCY}"),
            "--leader-election=false".into(),
            // Production's level: debug logs would cost CPU the figures should not include.
            "--log-level=info".into(),
        ],
        kubeconfig: None,
    };
    let mut operator = Tracked::start(&options).await;

    let (ready, to_ready) =
        counting_writes(client, load::create_until_all_ready(client, ns, settings.n)).await;
    let calls_to_ready = admin.calls().await.expect("the fake answers");
    let cpu_secs_to_ready = operator.usage().cpu_secs;
    let requests = admin.requests().await.expect("the fake answers");
    let create_to_join = Latency::new(&ready.created, &requests);
    tokio::time::sleep(SETTLE).await;
    let rss_at_rest_mib = operator.usage().rss_mib;

    let restart = restart_window(&mut operator, &options, client, &admin, foreign).await;

    let cpu_before_delete = operator.usage().cpu_secs;
    let (gone_secs, to_gone) =
        counting_writes(client, load::delete_until_all_gone(client, ns)).await;
    let cpu_secs_to_gone = operator.usage().cpu_secs - cpu_before_delete;

    let vendor_calls = VendorCalls::new(
        &calls_to_ready,
        &admin.calls().await.expect("the fake answers"),
        &admin.joins().await.expect("the fake answers"),
        &admin.leaves().await.expect("the fake answers"),
    );
    let costs = OperatorCosts {
        vendor_calls,
        create_to_join,
        process: Process {
            peak_rss_mib: operator.peak_rss_mib,
            rss_at_rest_mib,
            cpu_secs_to_ready,
            cpu_secs_to_gone,
        },
        restart,
    };
    (Run::new(&ready, gone_secs, to_ready, to_gone), costs)
}

/// Restarts the operator, all bots joined, and counts its vendor calls and
/// the MeetingBot writes in the window after: both must be 0. The write
/// counters are cluster-wide, so a window in which another client changed a
/// MeetingBot proves nothing and is measured again after another restart.
async fn restart_window(
    operator: &mut Tracked,
    options: &OperatorOptions,
    client: &Client,
    admin: &Admin,
    foreign: &Foreign,
) -> Restart {
    for attempt in 1..=RESTART_ATTEMPTS {
        operator.stop().await;
        let calls_before = all_calls(&admin.calls().await.expect("the fake answers"));
        let writes_before = Writes::read(client).await;
        let foreign_before = foreign.changes();
        let started = Instant::now();
        operator.spawn(options);
        let readyz_secs = operator.until_ready(started).await;
        tokio::time::sleep_until((started + RESTART_WINDOW).into()).await;
        let calls = all_calls(&admin.calls().await.expect("the fake answers")) - calls_before;
        let writes = Writes::read(client).await.since(&writes_before);
        if foreign.changes() == foreign_before {
            return Restart {
                window_secs: RESTART_WINDOW.as_secs(),
                readyz_secs,
                vendor_calls: calls,
                writes,
                attempts: attempt,
            };
        }
        println!("another client changed MeetingBots during the restart window: restarting again");
    }
    panic!(
        "other clients changed MeetingBots in each of {RESTART_ATTEMPTS} restart windows: run the bench on a quieter cluster"
    );
}

/// The operator process, across restarts, with the highest peak RSS of all
/// its processes.
struct Tracked {
    process: Operator,
    peak_rss_mib: f64,
}

impl Tracked {
    async fn start(options: &OperatorOptions) -> Tracked {
        let operator = Tracked {
            process: Operator::spawn(options),
            peak_rss_mib: 0.0,
        };
        operator.until_ready(Instant::now()).await;
        operator
    }

    /// The running process's figures, noting its peak RSS.
    fn usage(&mut self) -> probe::Usage {
        let usage = probe::usage(self.process.pid());
        self.peak_rss_mib = self.peak_rss_mib.max(usage.peak_rss_mib);
        usage
    }

    /// Stops the process as Kubernetes would, with SIGTERM.
    async fn stop(&mut self) {
        // Its peak RSS is gone with it: read it first.
        self.usage();
        self.process.signal(SIGTERM);
        self.process.wait_exit(READY_DEADLINE).await;
    }

    fn spawn(&mut self, options: &OperatorOptions) {
        self.process = Operator::spawn(options);
    }

    /// Seconds from `since` until /readyz answers 200, polled often enough
    /// for a figure in tenths of a second.
    async fn until_ready(&self, since: Instant) -> f64 {
        loop {
            if let Some((200, _)) = self.process.get("/readyz").await {
                return since.elapsed().as_secs_f64();
            }
            assert!(
                since.elapsed() < READY_DEADLINE,
                "the operator is ready within {READY_DEADLINE:?}; its log: {}",
                self.process.log.display()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
