//! What rotating one broadcast-token Secret costs the operator among N
//! MeetingBots: the CPU of a run of rotations of the Secret that one
//! MeetingBot references, less that of as long a time at rest (measured
//! before and after the rotations, so that a process still settling, or a
//! timer of its own, weighs on both sides alike). Finding the MeetingBots of
//! a Secret is an index lookup, so the figure should not grow with N.

use super::measure::process_usage;
use crate::support::*;
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};
use std::time::{Duration, Instant};

/// Rotations per run, and the time between two: a measurement window, not
/// a wait. Enough that their CPU is many of the kernel's 10 ms ticks.
const ROTATIONS: u32 = 300;
const GAP: Duration = Duration::from_millis(10);
/// For the last rotation's reconcile to end within the window.
const SETTLE: Duration = Duration::from_secs(1);

/// The operator's CPU milliseconds per rotation of the Secret `secret`
/// (referenced by one MeetingBot of `ns`), net of its CPU at rest over as
/// long a time.
pub(super) async fn cpu_ms_per_rotation(client: &Client, ns: &str, secret: &str, pid: i32) -> f64 {
    let cpu = || process_usage(pid).2;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    assert!(
        secrets.get_opt(secret).await.unwrap().is_some(),
        "the rotated Secret exists"
    );
    // CPU seconds per second while nothing happens, over as long as the rotations take.
    let rest_rate = || async {
        let (started, started_cpu) = (Instant::now(), cpu());
        tokio::time::sleep(GAP * ROTATIONS + SETTLE).await;
        (cpu() - started_cpu) / started.elapsed().as_secs_f64()
    };
    let rest_before = rest_rate().await;

    let (started, started_cpu) = (Instant::now(), cpu());
    for i in 0..ROTATIONS {
        let token = format!("{BROADCAST_TOKEN}-rotated-{i}");
        put_secret(client, ns, secret, "token", &token).await;
        tokio::time::sleep(GAP).await;
    }
    tokio::time::sleep(SETTLE).await;
    let (rotations_secs, rotations_cpu) = (started.elapsed().as_secs_f64(), cpu() - started_cpu);

    let rest_rate = (rest_before + rest_rate().await) / 2.0;
    let net_cpu = rotations_cpu - rest_rate * rotations_secs;
    net_cpu.max(0.0) * 1000.0 / f64::from(ROTATIONS)
}
