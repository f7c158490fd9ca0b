//! `helm uninstall` cannot strand avatars: the check the chart's pre-delete
//! hook runs (`meetingbot-operator preflight-uninstall`), as a process
//! against the local control plane (no kubelet here runs the Job's pod; the
//! Job's manifest passes the restricted Pod Security level in
//! `the_rendered_chart_passes_the_restricted_pod_security_level`).

use crate::scene::{Scene, Waits};
use crate::support::*;

fn preflight(ns: &str, selector: Option<&str>) -> std::process::Output {
    preflight_as("default", ns, selector)
}

/// The check as the install `install` runs it.
fn preflight_as(install: &str, ns: &str, selector: Option<&str>) -> std::process::Output {
    let mut args = vec![
        "preflight-uninstall",
        "--install-id",
        install,
        "--namespaces",
        ns,
    ];
    if let Some(selector) = selector {
        args.extend(["--label-selector", selector]);
    }
    run(env!("CARGO_BIN_EXE_meetingbot-operator"), &args, "")
}

#[tokio::test]
async fn the_uninstall_guard_fails_while_meetingbots_hold_the_finalizer() {
    let scene = Scene::start("uninstall-guard").await;
    let ns = scene.ns.clone();
    scene.create("standup", spec("session-guard")).await;
    scene.wait_joined("standup").await;

    let blocked = preflight(&ns, None);
    let stderr = String::from_utf8_lossy(&blocked.stderr);
    assert_eq!(blocked.status.code(), Some(1), "{blocked:?}");
    assert!(
        stderr.contains(&format!("{ns}/standup")) && stderr.contains("--no-hooks"),
        "{stderr}"
    );
    // Out of a shard's selector, it is not this install's.
    let other_shard = preflight(&ns, Some("shard=b"));
    assert_eq!(other_shard.status.code(), Some(0), "{other_shard:?}");
    // Acted on by the scene's install (`default`), it is not another install's to wait for.
    let other_install = preflight_as("team-b/meetingbot", &ns, None);
    assert_eq!(other_install.status.code(), Some(0), "{other_install:?}");

    scene.delete("standup").await;
    scene.wait_gone("standup").await;
    let clear = preflight(&ns, None);
    assert_eq!(clear.status.code(), Some(0), "{clear:?}");
    assert!(scene.live_bots("session-guard").await.is_empty());
}
