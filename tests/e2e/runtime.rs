//! The operator as a service: leader election between two replicas, metrics,
//! health, and refusing bad configuration at start.

use crate::scene::{Scene, Waits, sample};
use crate::slow_link::SlowLink;
use crate::support::*;
use fake_lemonslice::Faults;
use k8s_openapi::api::coordination::v1::Lease;
use kube::{Api, ResourceExt};
use meetingbot_operator::api::{ApiKeySecretRef, MeetingBot, reason};
use std::collections::BTreeSet;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const LEASE_DURATION_SECS: u64 = 6;
const LEADER: &str = "meetingbot_operator_leader";

/// The scene's operator options, as replica `identity` under leader election.
pub fn replica(scene: &Scene, identity: &str) -> OperatorOptions {
    let mut options = scene.options();
    options.extra_args = vec![
        "--leader-election=true".into(),
        format!("--lease-namespace={}", scene.ns),
        format!("--lease-duration={LEASE_DURATION_SECS}s"),
        format!("--identity={identity}"),
    ];
    options
}

/// A sample's value; 0 for a series not exported yet.
fn value(metrics: &str, series: &str) -> f64 {
    sample(metrics, series).unwrap_or(0.0)
}

async fn metrics(operator: &Operator) -> String {
    let (status, body) = operator.get("/metrics").await.expect("metrics answer");
    assert_eq!(status, 200);
    body
}

pub async fn leads(operator: &Operator) -> bool {
    value(&metrics(operator).await, LEADER) == 1.0
}

/// Waits until `operator` holds the Lease.
pub async fn wait_leading(scene: &Scene, operator: &Operator) {
    scene.wait_metric(operator, LEADER, |v| v == 1.0).await;
}

const JOINS_2XX: &str =
    "meetingbot_operator_lemonslice_calls_total{endpoint=\"Join\",class=\"2xx\"}";

#[tokio::test]
async fn only_the_leader_reconciles_and_a_standby_takes_over() {
    let scene = Scene::builder("leader").without_operator().start().await;
    let first = scene.start_operator(&replica(&scene, "first")).await;
    wait_leading(&scene, &first).await;
    let second = scene.start_operator(&replica(&scene, "second")).await;
    assert!(!leads(&second).await);

    scene.create("one", spec("session-leader-1")).await;
    scene.wait_joined("one").await;
    assert_eq!(value(&metrics(&first).await, JOINS_2XX), 1.0);
    assert_eq!(
        value(&metrics(&second).await, JOINS_2XX),
        0.0,
        "the standby makes no vendor call"
    );

    // SIGKILL: the Lease is not released; the standby waits for it to expire.
    first.kill().await;
    let killed_at = Instant::now();
    scene.create("two", spec("session-leader-2")).await;
    let deadline = Duration::from_secs(LEASE_DURATION_SECS + 5);
    scene.within(deadline).wait_joined("two").await;
    assert!(killed_at.elapsed() <= deadline);
    assert!(leads(&second).await);

    // SIGTERM: the leader releases the Lease and the standby takes over at once.
    let third = scene.start_operator(&replica(&scene, "third")).await;
    let mut second = second;
    second.signal(SIGTERM);
    assert_eq!(
        second.wait_exit(Duration::from_secs(30)).await,
        Some(0),
        "a clean exit"
    );
    let released_at = Instant::now();
    scene.create("three", spec("session-leader-3")).await;
    let at_once = Duration::from_secs(5);
    scene.within(at_once).wait_joined("three").await;
    assert!(released_at.elapsed() <= at_once);
    assert!(leads(&third).await);
    for session in ["session-leader-1", "session-leader-2", "session-leader-3"] {
        assert_eq!(scene.live_bots(session).await.len(), 1, "{session}");
        // Through every change of leader, never a second bot even for a moment.
        let peak = scene.admin.peak_live(session).await.unwrap();
        assert_eq!(peak, 1, "{session}: most bots live at once");
    }
    // The last leader lets every bot go, even those its predecessors joined.
    for (name, session) in [
        ("one", "session-leader-1"),
        ("two", "session-leader-2"),
        ("three", "session-leader-3"),
    ] {
        scene.delete(name).await;
        scene.wait_gone(name).await;
        assert!(scene.live_bots(session).await.is_empty(), "{session}");
    }
}

#[tokio::test]
async fn a_leader_behind_a_slow_api_server_keeps_its_lease() {
    let scene = Scene::builder("slow-leader")
        .without_operator()
        .start()
        .await;
    // Each answer 400 ms late: longer than the leader's 250 ms look at its renew deadline.
    let link = SlowLink::start(api_server_address(), Duration::from_millis(400)).await;
    let dir = tempfile::tempdir().unwrap();
    let mut options = replica(&scene, "slow");
    options.kubeconfig = Some(link.kubeconfig(dir.path()));
    let leader = scene.start_operator(&options).await;
    wait_leading(&scene, &leader).await;

    // Three renewals after the first: each comes due a third of the Lease's duration after the last.
    let leases: Api<Lease> = Api::namespaced(scene.client.clone(), &scene.ns);
    let renewals = Mutex::new(BTreeSet::new());
    let lease = poll(
        "three renewals of the Lease by the slow leader",
        Duration::from_secs(LEASE_DURATION_SECS * 4),
        || {
            let (leases, renewals) = (&leases, &renewals);
            async move {
                let lease = leases
                    .get("meetingbot-operator")
                    .await
                    .map_err(|e| e.to_string())?;
                let spec = lease.spec.clone().unwrap_or_default();
                if spec.holder_identity.as_deref() != Some("slow") {
                    return Err(format!("held by {:?}", spec.holder_identity));
                }
                let mut renewals = renewals.lock().unwrap();
                renewals.extend(spec.renew_time.map(|time| time.0));
                match renewals.len() {
                    4.. => Ok(lease),
                    seen => Err(format!("{seen} renew times seen")),
                }
            }
        },
    )
    .await;
    assert_eq!(
        lease.spec.unwrap().lease_transitions,
        Some(1),
        "the Lease never changed hands"
    );
    assert!(leads(&leader).await, "still leading, and running");

    scene
        .create("behind-slow-link", spec("session-slow-leader"))
        .await;
    scene.wait_joined("behind-slow-link").await;
}

#[tokio::test]
async fn a_shutdown_publishes_the_joined_events_still_waiting() {
    // Joins of 100 ms each: a burst keeps the path busy, and Joined Events wait for it.
    let scene = Scene::builder("flush")
        .faults(Faults {
            latency_ms: 100,
            endpoints: vec!["join".into()],
            ..Faults::default()
        })
        .without_operator()
        .start()
        .await;
    let mut operator = scene.start_operator(&scene.options()).await;
    for i in 0..30 {
        scene
            .create(&format!("bot-{i}"), spec(&format!("session-flush-{i}")))
            .await;
    }
    poll("a few joins", Duration::from_secs(30), || async {
        match scene.calls().await.count("join", "200") {
            3.. => Ok(()),
            joins => Err(format!("{joins} joins")),
        }
    })
    .await;
    operator.signal(SIGTERM);
    assert_eq!(operator.wait_exit(Duration::from_secs(60)).await, Some(0));

    let events = scene.events().await;
    let bots = scene.bots().list(&Default::default()).await.unwrap().items;
    let joined: Vec<_> = bots
        .iter()
        .filter_map(|bot| Some((bot.name_any(), bot.status.as_ref()?.meeting_bot_id.clone()?)))
        .collect();
    assert!(!joined.is_empty());
    for (name, bot_id) in &joined {
        assert!(
            events
                .iter()
                .any(|event| event.reason.as_deref() == Some("Joined")
                    && event.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
                    && event
                        .note
                        .as_deref()
                        .is_some_and(|note| note.contains(bot_id.as_str()))),
            "{name}, joined as {bot_id}, has its Joined Event"
        );
    }
}

#[tokio::test]
async fn metrics_parse_and_move_with_meeting_bots() {
    let scene = Scene::start("metrics").await;
    let operator = scene.operator();

    scene.create("counted", spec("session-metrics")).await;
    scene.wait_joined("counted").await;
    let joined = metrics(operator).await;
    assert_exposition_format(&joined);
    assert_eq!(value(&joined, JOINS_2XX), 1.0);
    assert_eq!(
        value(&joined, "meetingbot_operator_meetingbots{phase=\"Joined\"}"),
        1.0
    );
    assert!(
        value(
            &joined,
            "meetingbot_operator_meetingbot_reconciles_total{result=\"Ok\"}"
        ) >= 1.0
    );

    scene.delete("counted").await;
    scene.wait_gone("counted").await;
    let leaves = "meetingbot_operator_lemonslice_calls_total{endpoint=\"Leave\",class=\"2xx\"}";
    let left = scene.wait_metric(operator, leaves, |v| v == 1.0).await;
    assert_eq!(
        value(&left, "meetingbot_operator_meetingbots{phase=\"Joined\"}"),
        0.0
    );
    for line in left.lines().filter(|l| !l.starts_with('#')) {
        assert!(
            !line.contains(&scene.ns) && !line.contains("counted"),
            "no object names in labels: {line}"
        );
    }
}

/// What the operator keeps of each MeetingBot beside the watch's cache (see
/// `meetingbot_operator_kept_entries`) goes with it: nothing grows with
/// MeetingBots that came and went.
#[tokio::test]
async fn what_the_operator_keeps_of_meeting_bots_goes_with_them() {
    let scene = Scene::start("kept").await;
    let operator = scene.operator();
    let kept = |index: &str| format!("meetingbot_operator_kept_entries{{index=\"{index}\"}}");

    scene.create("plain", spec("session-kept-1")).await;
    scene.put_secret("account", "apiKey", API_KEY).await;
    let mut own_key = MeetingBot::new("own-key", spec("session-kept-2"));
    own_key.spec.api_key_secret_ref = Some(ApiKeySecretRef {
        name: "account".into(),
        key: "apiKey".into(),
    });
    scene.create_object(&own_key).await;
    let mut without_token = spec("session-kept-3");
    without_token.broadcast_token_secret_ref.name = "missing".into();
    scene.create("without-token", without_token).await;
    scene.wait_joined("plain").await;
    scene.wait_joined("own-key").await;
    scene
        .wait_reconciling("without-token", reason::SECRET_NOT_FOUND)
        .await;
    scene
        .wait_metric(operator, &kept("secret_refs"), |n| n == 3.0)
        .await;
    scene
        .wait_metric(operator, &kept("bot_ids"), |n| n == 2.0)
        .await;
    scene
        .wait_metric(operator, &kept("api_keys"), |n| n == 1.0)
        .await;

    for name in ["plain", "own-key", "without-token"] {
        scene.delete(name).await;
    }
    for name in ["plain", "own-key", "without-token"] {
        scene.wait_gone(name).await;
    }
    let indexes = [
        "memos",
        "own_writes",
        "bot_ids",
        "secret_refs",
        "secret_digests",
        "api_keys",
    ];
    for index in indexes {
        scene
            .wait_metric(operator, &kept(index), |n| n == 0.0)
            .await;
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
    let scene = Scene::builder("readyz").without_operator().start().await;
    // An API server that accepts connections and never answers: no watch can list.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = format!("https://{}", silent.local_addr().unwrap());
    let mut options = scene.options();
    options.kubeconfig = Some(kubeconfig_for_server(&server, dir.path()));
    let unsynced = scene.spawn_operator(&options);
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

    let synced = scene.start_operator(&scene.options()).await;
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

    // A shard without an identity of its own would take other shards' MeetingBots for its own.
    let (code, stderr) = run_operator(&["run", "--label-selector", "shard=a"], Some("k"));
    assert_ne!(code, Some(0));
    assert!(stderr.contains("--install-id"), "{stderr}");

    let (code, stdout_ok) = run_operator(&["--version"], None);
    assert_eq!(code, Some(0), "{stdout_ok}");
}
