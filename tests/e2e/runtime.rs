//! The operator as a service: leader election between two replicas, metrics,
//! health, and refusing bad configuration at start.

use crate::support::*;
use kube::Api;
use kube::api::DeleteParams;
use meetingbot_operator::api::MeetingBot;
use std::process::Command;
use std::time::{Duration, Instant};

const LEASE_DURATION_SECS: u64 = 6;

pub fn replica(ns: &str, fake: &fake_lemonslice::FakeServer, identity: &str) -> OperatorOptions {
    let mut options = OperatorOptions::new(ns, fake);
    options.extra_args = vec![
        "--leader-election=true".into(),
        format!("--lease-namespace={ns}"),
        format!("--lease-duration={LEASE_DURATION_SECS}s"),
        format!("--identity={identity}"),
    ];
    options
}

/// The value of one sample in Prometheus text, e.g. `metric{label="x"}`.
fn sample(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

async fn metrics(operator: &Operator) -> String {
    let (status, body) = operator.get("/metrics").await.expect("metrics answer");
    assert_eq!(status, 200);
    body
}

pub async fn leads(operator: &Operator) -> bool {
    sample(&metrics(operator).await, "meetingbot_operator_leader") == 1.0
}

const JOINS_2XX: &str =
    "meetingbot_operator_lemonslice_calls_total{endpoint=\"Join\",class=\"2xx\"}";

#[tokio::test]
async fn only_the_leader_reconciles_and_a_standby_takes_over() {
    let (client, ns, fake) = prepared("leader").await;
    let first = Operator::start(&replica(&ns, &fake, "first")).await;
    wait_until("first to lead", Duration::from_secs(20), || async {
        leads(&first).await.then_some(())
    })
    .await;
    let second = Operator::start(&replica(&ns, &fake, "second")).await;
    assert!(!leads(&second).await);

    create_bot(&client, &ns, "one", spec("session-leader-1")).await;
    wait_for_condition(
        &client,
        &ns,
        "one",
        "Ready",
        Some("Joined"),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(sample(&metrics(&first).await, JOINS_2XX), 1.0);
    assert_eq!(
        sample(&metrics(&second).await, JOINS_2XX),
        0.0,
        "the standby makes no vendor call"
    );

    // SIGKILL: the Lease is not released; the standby waits for it to expire.
    first.kill().await;
    let killed_at = Instant::now();
    create_bot(&client, &ns, "two", spec("session-leader-2")).await;
    let deadline = Duration::from_secs(LEASE_DURATION_SECS + 5);
    wait_for_condition(&client, &ns, "two", "Ready", Some("Joined"), deadline).await;
    assert!(killed_at.elapsed() <= deadline);
    assert!(leads(&second).await);

    // SIGTERM: the leader releases the Lease and the standby takes over at once.
    let third = Operator::start(&replica(&ns, &fake, "third")).await;
    let mut second = second;
    second.signal(SIGTERM);
    assert_eq!(
        second.wait_exit(Duration::from_secs(30)).await,
        Some(0),
        "a clean exit"
    );
    let released_at = Instant::now();
    create_bot(&client, &ns, "three", spec("session-leader-3")).await;
    wait_for_condition(
        &client,
        &ns,
        "three",
        "Ready",
        Some("Joined"),
        Duration::from_secs(5),
    )
    .await;
    assert!(released_at.elapsed() <= Duration::from_secs(5));
    assert!(leads(&third).await);
    for session in ["session-leader-1", "session-leader-2", "session-leader-3"] {
        assert_eq!(
            live_bots(&fake.admin(), session).await.len(),
            1,
            "{session}"
        );
    }
}

#[tokio::test]
async fn metrics_parse_and_move_with_meeting_bots() {
    let (client, ns, fake) = prepared("metrics").await;
    let operator = Operator::start(&OperatorOptions::new(&ns, &fake)).await;

    create_bot(&client, &ns, "counted", spec("session-metrics")).await;
    wait_for_condition(
        &client,
        &ns,
        "counted",
        "Ready",
        Some("Joined"),
        Duration::from_secs(10),
    )
    .await;
    let joined = metrics(&operator).await;
    assert_exposition_format(&joined);
    assert_eq!(sample(&joined, JOINS_2XX), 1.0);
    assert_eq!(
        sample(&joined, "meetingbot_operator_meetingbots{phase=\"Joined\"}"),
        1.0
    );
    assert!(
        sample(
            &joined,
            "meetingbot_operator_meetingbot_reconciles_total{result=\"Ok\"}"
        ) >= 1.0
    );

    let bots: Api<MeetingBot> = Api::namespaced(client.clone(), &ns);
    bots.delete("counted", &DeleteParams::default())
        .await
        .unwrap();
    wait_for_gone(&client, &ns, "counted", Duration::from_secs(10)).await;
    let left = wait_until(
        "the leave to be counted",
        Duration::from_secs(10),
        || async {
            let body = metrics(&operator).await;
            (sample(
                &body,
                "meetingbot_operator_lemonslice_calls_total{endpoint=\"Leave\",class=\"2xx\"}",
            ) == 1.0)
                .then_some(body)
        },
    )
    .await;
    assert_eq!(
        sample(&left, "meetingbot_operator_meetingbots{phase=\"Joined\"}"),
        0.0
    );
    for line in left.lines().filter(|l| !l.starts_with('#')) {
        assert!(
            !line.contains(&ns) && !line.contains("counted"),
            "no object names in labels: {line}"
        );
    }
}

/// Checks the OpenMetrics text format line by line.
fn assert_exposition_format(body: &str) {
    assert_eq!(body.lines().last(), Some("# EOF"), "ends with # EOF");
    for line in body.lines() {
        if line.starts_with('#') {
            let kind = line.split_whitespace().nth(1).unwrap_or_default();
            assert!(["HELP", "TYPE", "UNIT", "EOF"].contains(&kind), "{line}");
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("a sample line: {line}"));
        assert!(value.parse::<f64>().is_ok(), "a numeric value: {line}");
        let name = series.split('{').next().unwrap();
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "a metric name: {line}"
        );
        if let Some(labels) = series.split_once('{').map(|(_, rest)| rest) {
            assert!(labels.ends_with('}'), "closed labels: {line}");
        }
    }
}

#[tokio::test]
async fn readyz_waits_for_the_watches_to_sync() {
    let client = client().await;
    let ns = namespace(&client, "readyz").await;
    let fake = fake().await;
    // An API server that accepts connections and never answers: no watch can list.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let kubeconfig = repo_root().join(format!("target/e2e-logs/silent-{ns}.kubeconfig"));
    let admin = std::fs::read_to_string(repo_root().join("target/cluster/kubeconfig")).unwrap();
    let server_line = admin
        .lines()
        .find(|l| l.trim_start().starts_with("server:"))
        .unwrap();
    let silent_config = admin.replace(
        server_line,
        &format!("    server: https://{}", silent.local_addr().unwrap()),
    );
    std::fs::write(&kubeconfig, silent_config).unwrap();

    let mut options = OperatorOptions::new(&ns, &fake);
    options.kubeconfig = Some(kubeconfig);
    let unsynced = Operator::spawn(&options);
    let (status, _) = wait_until("the health server", Duration::from_secs(20), || {
        unsynced.get("/healthz")
    })
    .await;
    assert_eq!(status, 200, "the process serves");
    assert_eq!(
        unsynced.get("/readyz").await.unwrap().0,
        503,
        "not ready before the first sync"
    );
    drop(silent);

    let synced = Operator::start(&OperatorOptions::new(&ns, &fake)).await;
    assert_eq!(
        synced.get("/readyz").await.unwrap().0,
        200,
        "ready after it"
    );
}

fn run_operator(args: &[&str], api_key: Option<&str>) -> (Option<i32>, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_meetingbot-operator"));
    command
        .args(args)
        .env_remove("LEMONSLICE_API_KEY")
        .env("KUBECONFIG", "/nonexistent");
    if let Some(key) = api_key {
        command.env("LEMONSLICE_API_KEY", key);
    }
    let output = command.output().expect("the binary runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn bad_configuration_is_refused_at_start() {
    let (code, stderr) = run_operator(&["run", "--leader-election=false"], None);
    assert_ne!(code, Some(0));
    assert!(
        stderr.contains("LEMONSLICE_API_KEY") && stderr.contains("--api-key-file"),
        "{stderr}"
    );

    let (code, stderr) = run_operator(&["run", "--concurrency", "lots"], Some("k"));
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--concurrency"), "{stderr}");

    let (code, stderr) = run_operator(&["run", "--call-timeout", "10"], Some("k"));
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("--call-timeout") && stderr.contains("1h30m"),
        "a duration needs a unit, as in spec.maxDuration: {stderr}"
    );

    let (code, stderr) = run_operator(&["run", "--lemonslice-url", "ftp://x"], Some("k"));
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--lemonslice-url"), "{stderr}");

    let (code, stdout_ok) = run_operator(&["--version"], None);
    assert_eq!(code, Some(0), "{stdout_ok}");
}
