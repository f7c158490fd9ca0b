//! Packaging: the Helm chart, the manifests rendered from it, the image's
//! binary, each checked the way users meet them (the Argo CD health check:
//! gitops/). rbac.rs checks the chart's RBAC with a running operator, policy.rs
//! its admission policy that keeps the record the operator's alone.

mod chart;
mod policy;
mod rbac;
mod uninstall;

use crate::scene::Scene;
use crate::support::*;

const CHART: &str = "charts/meetingbot-operator";

/// Installs the chart as `release` into `namespace`, with `values` and an
/// API key that no test uses.
fn helm_install(release: &str, namespace: &str, values: &[&str]) {
    let mut args = vec![
        "install",
        release,
        CHART,
        "--namespace",
        namespace,
        "--set",
        "apiKey.value=unused-in-this-test",
    ];
    for value in values {
        args.extend(["--set", value]);
    }
    succeed("helm", &args, "");
}

/// Uninstalls `release`. No kubelet here runs the uninstall guard's Job
/// (`uninstall` tests the check it runs).
fn helm_uninstall(release: &str, namespace: &str) {
    succeed(
        "helm",
        &["uninstall", release, "--namespace", namespace, "--no-hooks"],
        "",
    );
}

fn helm_template(namespace: &str, values: &[&str]) -> String {
    let mut args = vec![
        "template",
        "meetingbot-operator",
        CHART,
        "--namespace",
        namespace,
    ];
    for value in values {
        args.extend(["--set", value]);
    }
    succeed("helm", &args, "")
}

#[test]
fn helm_lint_passes_and_unknown_values_are_refused() {
    succeed("helm", &["lint", "--strict", CHART], "");
    let every_option = [
        "apiKey.value=inline-key",
        "metrics.serviceMonitor.enabled=true",
        "podDisruptionBudget.enabled=true",
        "networkPolicy.enabled=true",
        "connectionSecrets.enabled=true",
        "replicaCount=2",
    ];
    let mut args = vec!["lint", "--strict", CHART];
    for value in &every_option {
        args.extend(["--set", value]);
    }
    succeed("helm", &args, "");

    let refused = run("helm", &["template", CHART, "--set", "replicas=2"], "");
    assert!(!refused.status.success());
    let error = String::from_utf8_lossy(&refused.stderr);
    assert!(
        error.contains("replicas"),
        "the error names the key: {error}"
    );
}

#[test]
fn the_chart_refuses_two_replicas_without_leader_election_and_outwaits_the_drain() {
    let refused = run(
        "helm",
        &[
            "template",
            CHART,
            "--set",
            "replicaCount=2",
            "--set",
            "leaderElection.enabled=false",
        ],
        "",
    );
    assert!(
        !refused.status.success(),
        "two active reconcilers are refused"
    );
    let error = String::from_utf8_lossy(&refused.stderr);
    assert!(error.contains("leaderElection.enabled"), "{error}");

    // One value sets the pod's grace period and the operator's drain, and the
    // pod outlives the drain, max(shutdown timeout, call timeout + 5 s), the
    // call timeout at the binary's default (`meetingbot-operator run --help`).
    let help = succeed(
        env!("CARGO_BIN_EXE_meetingbot-operator"),
        &["run", "--help"],
        "",
    );
    let call_timeout: u64 = {
        let line = help
            .split("--call-timeout")
            .nth(1)
            .expect("the flag is documented");
        let default = line.split("[default: ").nth(1).expect("a default");
        default.split('s').next().unwrap().parse().unwrap()
    };
    for (values, expected) in [(&[][..], 45), (&["shutdownGracePeriod=90"][..], 90)] {
        let rendered = helm_template("meetingbot-system", values);
        let grace: u64 = rendered
            .lines()
            .find_map(|line| line.trim().strip_prefix("terminationGracePeriodSeconds: "))
            .expect("a grace period")
            .parse()
            .unwrap();
        let shutdown: u64 = rendered
            .split("name: SHUTDOWN_TIMEOUT")
            .nth(1)
            .and_then(|rest| rest.split("value: \"").nth(1))
            .and_then(|value| value.split('s').next())
            .expect("the operator's shutdown timeout is set")
            .parse()
            .unwrap();
        let drain = shutdown.max(call_timeout + 5);
        assert_eq!(grace, expected);
        assert!(
            grace >= drain + 10,
            "grace period {grace} s, drain {drain} s"
        );
    }
    let short = run(
        "helm",
        &["template", CHART, "--set", "shutdownGracePeriod=30"],
        "",
    );
    let error = String::from_utf8_lossy(&short.stderr);
    assert!(
        !short.status.success() && error.contains("shutdownGracePeriod 30 is too short"),
        "{error}"
    );
}

/// The install identities the rendered operator and uninstall hook run with.
fn install_ids(rendered: &str) -> Vec<&str> {
    rendered
        .split("name: INSTALL_ID")
        .skip(1)
        .filter_map(|rest| rest.split("value: \"").nth(1)?.split('"').next())
        .collect()
}

#[test]
fn each_release_is_an_install_of_its_own() {
    // Two releases named alike in two namespaces are still two installs.
    for ns in ["team-a", "team-b"] {
        let rendered = helm_template(ns, &[]);
        let expected = format!("{ns}/meetingbot-operator");
        assert_eq!(
            install_ids(&rendered),
            [expected.as_str(); 2],
            "operator and hook"
        );
    }
    let named = helm_template("team-a", &["installId=staging"]);
    assert_eq!(install_ids(&named), ["staging"; 2]);
    let refused = run(
        "helm",
        &["template", CHART, "--set", "installId=two words"],
        "",
    );
    let error = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && error.contains("installId"),
        "{error}"
    );
}

#[tokio::test]
async fn the_rendered_chart_passes_the_restricted_pod_security_level() {
    let scene = Scene::builder("restricted")
        .bare()
        .restricted()
        .start()
        .await;
    let ns = &scene.ns;
    for values in [
        &[][..],
        &[
            "apiKey.value=inline-key",
            "networkPolicy.enabled=true",
            "podDisruptionBudget.enabled=true",
            // The record policy's rule for named groups compiles on the API server.
            "recordProtection.adoptAndSkipLeaveGroups={platform-admins,oncall}",
        ],
    ] {
        let manifests = helm_template(ns, values);
        let applied = scene.dry_run_apply(&manifests);
        assert!(
            applied.contains("deployment.apps/meetingbot-operator created (server dry run)"),
            "{applied}"
        );
    }
}

#[test]
fn deploy_and_the_chart_crd_match_their_sources() {
    let crd = std::fs::read(repo_root().join("crds/meetingbot.yaml")).unwrap();
    let chart_crd = std::fs::read(repo_root().join(CHART).join("crds/meetingbot.yaml")).unwrap();
    assert!(
        crd == chart_crd,
        "charts/meetingbot-operator/crds/ is a byte copy of crds/meetingbot.yaml"
    );

    let rendered = tempfile::tempdir().unwrap();
    succeed(
        "hack/render-deploy.sh",
        &[rendered.path().to_str().unwrap()],
        "",
    );
    let committed = repo_root().join("deploy");
    for entry in std::fs::read_dir(rendered.path()).unwrap() {
        let name = entry.unwrap().file_name();
        let fresh = std::fs::read(rendered.path().join(&name)).unwrap();
        let kept = std::fs::read(committed.join(&name)).unwrap_or_default();
        assert!(
            fresh == kept,
            "deploy/{} drifted from the chart: run hack/render-deploy.sh",
            name.to_string_lossy()
        );
    }
}

#[test]
fn the_kustomize_base_builds_what_install_yaml_holds() {
    let built = succeed("kubectl", &["kustomize", "deploy"], "");
    let kinds = |yaml: &str| {
        let mut kinds: Vec<String> = yaml
            .lines()
            .filter_map(|line| line.strip_prefix("kind: "))
            .map(str::to_owned)
            .collect();
        kinds.sort();
        kinds
    };
    let install = std::fs::read_to_string(repo_root().join("deploy/install.yaml")).unwrap();
    assert_eq!(kinds(&built), kinds(&install));
    assert!(built.contains("namespace: meetingbot-system"));
}
