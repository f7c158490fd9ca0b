//! The shared kube-apiserver restarted while MeetingBots join.

use super::create_bots;
use super::harness::{Scenario, conclude};
use crate::scene::Scene;
use crate::support::*;

#[tokio::test]
#[ignore = "run by make chaos (restarts the shared kube-apiserver)"]
async fn a_restarted_api_server() {
    let bots = 100;
    let scene = Scene::start("chaos-apiserver").await;
    let ns = &scene.ns;
    create_bots(&scene.client, ns, 0..bots / 2).await;

    // Async, so that the fake in this process keeps answering meanwhile.
    let restart =
        tokio::process::Command::new(repo_root().join("tests/cluster/restart-apiserver.sh"))
            .status()
            .await
            .expect("the restart script runs");
    assert!(restart.success(), "kube-apiserver restarted");
    // New MeetingBots after the restart join with no restart of the operator.
    let client = client().await;
    create_bots(&client, ns, bots / 2..bots).await;
    conclude(
        Scenario::new("restarted API server", bots, ns),
        &client,
        &scene.admin,
        || vec![scene.operator().log_text()],
        |_| "1 kube-apiserver restart".into(),
    )
    .await;
}
