//! A vendor that fails: error answers (429 with Retry-After, 502, 503),
//! joins whose answer is lost, and latency on every call.

use super::create_bots;
use super::harness::{Scenario, conclude};
use crate::scene::Scene;
use fake_lemonslice::Faults;

async fn vendor_faults(bots: usize) {
    let scene = Scene::builder("chaos-faults")
        .faults(Faults {
            // 10 % 429, 10 % 503, 5 % 502: uniform draws from these five.
            error_rate: 0.25,
            error_statuses: vec![429, 503, 429, 503, 502],
            retry_after_secs: Some(1),
            drop_join_rate: 0.05,
            latency_ms: 20,
            ..Default::default()
        })
        .start()
        .await;

    create_bots(&scene.client, &scene.ns, 0..bots).await;
    conclude(
        Scenario::new("vendor faults", bots, &scene.ns),
        &scene.client,
        &scene.admin,
        || vec![scene.operator().log_text()],
        |calls| {
            let errors: u64 = ["429", "503", "502"]
                .iter()
                .flat_map(|status| ["join", "leave", "session"].map(|e| calls.count(e, status)))
                .sum();
            format!("{errors} error answers, 5 % of joins dropped")
        },
    )
    .await;
}

#[tokio::test]
async fn vendor_faults_small() {
    vendor_faults(20).await;
}

#[tokio::test]
#[ignore = "run by make chaos"]
async fn vendor_faults_full() {
    vendor_faults(200).await;
}
