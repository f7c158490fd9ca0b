//! The operator's process under churn: SIGKILLed at random moments, a
//! leader killed among two replicas, and rolling updates (SIGTERM, the new
//! replica first).

use super::harness::{Disrupted, Scenario, alongside_churn};
use super::scene_with;
use crate::scene::Scene;
use crate::support::*;
use fake_lemonslice::Faults;
use rand::Rng;
use std::time::Duration;

/// A replica under leader election, with a short (4 s) Lease in the test's namespace.
fn leader_elected(scene: &Scene, identity: &str) -> OperatorOptions {
    let mut options = scene.options();
    options.extra_args = vec![
        "--leader-election=true".into(),
        format!("--lease-namespace={}", scene.ns),
        "--lease-duration=4s".into(),
        format!("--identity={identity}"),
    ];
    options
}

async fn killed_operator(bots: usize, kills: usize) {
    // Slow joins, so that kills land while calls are in flight.
    let scene = scene_with(
        "chaos-kill",
        Faults {
            latency_ms: 150,
            jitter_ms: 150,
            ..Default::default()
        },
    )
    .await;
    let options = scene.options();
    let killer = async {
        let mut stopped = Vec::new();
        let mut operator = scene.start_operator(&options).await;
        for _ in 0..kills {
            // The random moment is the point of this scenario.
            let moment = Duration::from_millis(rand::rng().random_range(100..1500));
            tokio::time::sleep(moment).await;
            stopped.push(operator.log_text());
            operator.kill().await;
            operator = scene.start_operator(&options).await;
        }
        Disrupted {
            injected: format!("{kills} SIGKILLs"),
            running: vec![operator],
            stopped,
        }
    };
    let scenario = Scenario::new("killed operator", bots, &scene.ns);
    alongside_churn(scenario, &scene.client, &scene.admin, killer).await;
}

#[tokio::test]
async fn killed_operator_small() {
    killed_operator(12, 3).await;
}

#[tokio::test]
#[ignore = "run by make chaos"]
async fn killed_operator_full() {
    killed_operator(200, 30).await;
}

#[tokio::test]
#[ignore = "run by make chaos (two replicas, leader killed under churn)"]
async fn leader_failover_under_churn() {
    let bots = 200;
    let kills = 10;
    let scene = scene_with(
        "chaos-leader",
        Faults {
            latency_ms: 100,
            jitter_ms: 100,
            ..Default::default()
        },
    )
    .await;
    let replica = |identity: usize| leader_elected(&scene, &format!("replica-{identity}"));
    let failover = async {
        let mut stopped = Vec::new();
        let mut replicas = vec![
            scene.start_operator(&replica(0)).await,
            scene.start_operator(&replica(1)).await,
        ];
        for kill in 0..kills {
            tokio::time::sleep(Duration::from_millis(rand::rng().random_range(500..3000))).await;
            // Kill whichever leads (or a standby: the invariants hold either way).
            let victim = replicas.remove(rand::rng().random_range(0..replicas.len()));
            stopped.push(victim.log_text());
            victim.kill().await;
            replicas.push(scene.start_operator(&replica(kill + 2)).await);
        }
        Disrupted {
            injected: format!("{kills} replica SIGKILLs, 2 replicas"),
            running: replicas,
            stopped,
        }
    };
    let scenario = Scenario::new("leader failover", bots, &scene.ns);
    alongside_churn(scenario, &scene.client, &scene.admin, failover).await;
}

/// Rolling updates of the operator under churn, with slow vendor calls: the
/// new replica starts first, then the old one gets SIGTERM (as a Deployment's
/// rolling update does). A graceful stop must leave no outcome unknown.
async fn rolling_updates(bots: usize, updates: usize) {
    let scene = scene_with(
        "chaos-rolling",
        Faults {
            latency_ms: 500,
            jitter_ms: 1000,
            endpoints: vec!["join".into(), "leave".into()],
            ..Default::default()
        },
    )
    .await;
    let replica = |identity: usize| leader_elected(&scene, &format!("pod-{identity}"));
    let rolling = async {
        let mut stopped = Vec::new();
        let mut current = scene.start_operator(&replica(0)).await;
        for update in 0..updates {
            // The random moment is the point of this scenario.
            tokio::time::sleep(Duration::from_millis(rand::rng().random_range(500..2500))).await;
            let next = scene.start_operator(&replica(update + 1)).await;
            current.signal(SIGTERM);
            let code = current.wait_exit(Duration::from_secs(90)).await;
            stopped.push(current.log_text());
            assert_eq!(code, Some(0), "a rolled-out replica exits cleanly");
            current = next;
        }
        Disrupted {
            injected: format!("{updates} rolling updates (SIGTERM, new replica first)"),
            running: vec![current],
            stopped,
        }
    };
    let scenario = Scenario::new("rolling updates", bots, &scene.ns);
    let unknown = alongside_churn(scenario, &scene.client, &scene.admin, rolling).await;
    assert_eq!(
        unknown, 0,
        "a graceful stop never leaves a join's outcome unknown"
    );
}

#[tokio::test]
async fn rolling_updates_small() {
    rolling_updates(12, 2).await;
}

#[tokio::test]
#[ignore = "run by make chaos"]
async fn rolling_updates_full() {
    rolling_updates(100, 10).await;
}
