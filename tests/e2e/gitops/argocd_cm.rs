//! The shipped argocd-cm: merged into Argo CD's own by server-side apply or
//! kustomize and read by its settings manager; the same health script in
//! every shipped file; and the README's uninstall command, run as written.

use super::{ARGOCD_CM, HEALTH_KEY, HOLD, every_state, release, status, verdicts};
use crate::scene::Scene;
use crate::support::*;
use kube::api::{Patch, PatchParams, PostParams};
use meetingbot_operator::api::MeetingBot;
use serde_json::{Value, json};

/// The shipped ConfigMap merges into an existing argocd-cm by server-side
/// apply, keeps the other settings, and a running Argo CD's settings manager
/// (reading the API server) finds the health check; without the part-of label
/// Argo CD would not read the ConfigMap at all.
#[tokio::test]
async fn the_shipped_config_map_merges_into_argocd_cm_and_is_read() {
    let (scene, names, objects) = every_state("gitops-cm").await;
    let joined = kubectl(&["get", "meetingbot", "joined", "-n", &scene.ns, "-o", "json"]);

    // Argo CD's own ConfigMap, as its install manifests create it.
    let existing = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {
            "name": "argocd-cm", "namespace": "argocd",
            "labels": { "app.kubernetes.io/name": "argocd-cm", "app.kubernetes.io/part-of": "argocd" },
        },
        "data": { "timeout.reconciliation": "180s" },
    });
    let namespace =
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "argocd"}});
    for object in [&namespace, &existing] {
        succeed(
            "kubectl",
            &[
                "apply",
                "--server-side",
                "--field-manager=argocd-install",
                "-f",
                "-",
            ],
            &object.to_string(),
        );
    }
    succeed(
        "kubectl",
        &[
            "apply",
            "--server-side",
            "--field-manager=meetingbot-health",
            "-f",
            ARGOCD_CM,
        ],
        "",
    );
    let merged: Value = serde_json::from_str(&kubectl(&[
        "get",
        "configmap",
        "argocd-cm",
        "-n",
        "argocd",
        "-o",
        "json",
    ]))
    .unwrap();
    assert_eq!(merged["data"]["timeout.reconciliation"], "180s", "{merged}");
    assert!(merged["data"][HEALTH_KEY].is_string(), "{merged}");

    let from_cluster = verdicts(&succeed(
        "argocd-health",
        &["--cluster", "--namespace", "argocd"],
        &objects,
    ));
    let from_file = verdicts(&succeed(
        "argocd-health",
        &["--argocd-cm", ARGOCD_CM],
        &objects,
    ));
    assert_eq!(from_cluster, from_file);
    assert_eq!(from_cluster.len(), names.len());

    // As a kustomize patch of Argo CD's own argocd-cm.
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::fs::read_to_string(repo_root().join(ARGOCD_CM)).unwrap();
    std::fs::write(dir.path().join("argocd-cm.yaml"), existing.to_string()).unwrap();
    std::fs::write(dir.path().join("patch.yaml"), &shipped).unwrap();
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        "resources: [argocd-cm.yaml]\npatches: [{path: patch.yaml}]\n",
    )
    .unwrap();
    let patched = succeed("kubectl", &["kustomize", dir.path().to_str().unwrap()], "");
    let patched_path = dir.path().join("patched.yaml");
    std::fs::write(&patched_path, &patched).unwrap();
    let kustomized: Value = serde_saphyr::from_str(&patched).unwrap();
    assert_eq!(
        kustomized["data"]["timeout.reconciliation"].as_str(),
        Some("180s")
    );
    let from_kustomize = verdicts(&succeed(
        "argocd-health",
        &["--argocd-cm", patched_path.to_str().unwrap()],
        &objects,
    ));
    assert_eq!(from_kustomize, from_file);

    // The same ConfigMap without the label: Argo CD finds no health check.
    let unlabelled = shipped.replace("app.kubernetes.io/part-of: argocd", "team: platform");
    assert_ne!(unlabelled, shipped);
    let path = dir.path().join("unlabelled.yaml");
    std::fs::write(&path, unlabelled).unwrap();
    let ignored = run(
        "argocd-health",
        &["--argocd-cm", path.to_str().unwrap()],
        &joined,
    );
    let stderr = String::from_utf8_lossy(&ignored.stderr);
    assert!(
        !ignored.status.success() && stderr.contains("configmap \"argocd-cm\" not found"),
        "Argo CD's settings manager does not read an unlabelled argocd-cm: {stderr}"
    );

    // A script that uses a library Argo CD does not open fails there, as Unknown.
    let with_format = shipped.replace(
        "hs.message = ready.message or \"\"",
        "hs.message = string.format(\"%s\", ready.message or \"\")",
    );
    assert_ne!(with_format, shipped);
    let path = dir.path().join("string-format.yaml");
    std::fs::write(&path, with_format).unwrap();
    let broken = verdicts(&succeed(
        "argocd-health",
        &["--argocd-cm", path.to_str().unwrap()],
        &joined,
    ));
    assert_eq!(
        broken["joined"]["argocd"]["status"], "Unknown",
        "{broken:?}"
    );

    release(&scene, "deleting").await;
}

/// The README's command that lists MeetingBots still holding the operator's
/// finalizer, run as written.
#[tokio::test]
async fn the_uninstall_command_lists_the_bots_holding_the_finalizer() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let command = readme
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("kubectl get meetingbots -A -o go-template='"))
        .expect("the README documents the command");
    let template = command
        .strip_prefix("kubectl get meetingbots -A -o go-template='")
        .and_then(|rest| rest.strip_suffix('\''))
        .expect("one quoted template");
    assert!(template.contains("liveai.lemonslice.com/leave"));

    let scene = Scene::builder("uninstall").bare().start().await;
    let ns = &scene.ns;
    let bots = scene.bots();
    let mut holding = MeetingBot::new("holding", spec("session-uninstall-1"));
    holding.metadata.finalizers = Some(vec!["liveai.lemonslice.com/leave".into()]);
    bots.create(&PostParams::default(), &holding).await.unwrap();
    bots.patch_status(
        "holding",
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": status("Leaving", 1, "Stalled", "LeaveFailed") })),
    )
    .await
    .unwrap();
    let mut other = MeetingBot::new("other", spec("session-uninstall-2"));
    other.metadata.finalizers = Some(vec![HOLD.into()]);
    bots.create(&PostParams::default(), &other).await.unwrap();
    scene.create("bare", spec("session-uninstall-3")).await;

    let listed = kubectl(&[
        "get",
        "meetingbots",
        "-A",
        "-o",
        &format!("go-template={template}"),
    ]);
    let ours: Vec<&str> = listed
        .lines()
        .filter(|line| line.starts_with(&format!("{ns}/")))
        .collect();
    assert_eq!(ours, [format!("{ns}/holding Leaving")], "{listed}");

    for name in ["holding", "other"] {
        release(&scene, name).await;
    }
}

#[test]
fn the_health_script_is_the_same_in_every_shipped_file() {
    let script = std::fs::read_to_string(repo_root().join("docs/argocd/health.lua")).unwrap();
    let config_map: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(repo_root().join(ARGOCD_CM)).unwrap())
            .unwrap();
    assert_eq!(
        config_map["data"][HEALTH_KEY].as_str(),
        Some(script.as_str())
    );
    assert_eq!(
        config_map["metadata"]["labels"]["app.kubernetes.io/part-of"].as_str(),
        Some("argocd")
    );
    let values: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(repo_root().join("docs/argocd/argocd-values.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        values["configs"]["cm"][HEALTH_KEY].as_str(),
        Some(script.as_str())
    );
}
