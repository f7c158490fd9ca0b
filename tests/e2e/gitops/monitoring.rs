//! The chart's alert rules and dashboard: they lint and pass the restricted
//! dry run, promtool checks the rules and their unit tests, and every metric
//! they use is one the operator really exports, moving with the objects.

use super::{CHART, HOLD, release};
use crate::scene::{Scene, Waits, sample};
use crate::support::*;
use meetingbot_operator::api::{ApiKeySecretRef, MeetingBot};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

const RELEASE_NS: &str = "meetingbot-system";

fn helm_template(values: &[&str], show_only: Option<&str>) -> String {
    let mut args = vec![
        "template",
        "meetingbot-operator",
        CHART,
        "--namespace",
        RELEASE_NS,
    ];
    for value in values {
        args.extend(["--set", value]);
    }
    if let Some(template) = show_only {
        args.extend(["--show-only", template]);
    }
    succeed("helm", &args, "")
}

const MONITORING: [&str; 2] = [
    "metrics.prometheusRule.enabled=true",
    "metrics.dashboard.enabled=true",
];

/// The rendered PrometheusRule's rule groups, as a Prometheus rules file.
fn rules_file() -> String {
    let rendered = helm_template(&MONITORING, Some("templates/prometheusrule.yaml"));
    let rule: Value = serde_saphyr::from_str(&rendered).unwrap();
    assert_eq!(rule["kind"].as_str(), Some("PrometheusRule"));
    // JSON is YAML: promtool reads it as a rules file.
    serde_json::to_string_pretty(&rule["spec"]).unwrap()
}

fn dashboard_json() -> Value {
    let rendered = helm_template(&MONITORING, Some("templates/dashboard.yaml"));
    let config_map: Value = serde_saphyr::from_str(&rendered).unwrap();
    assert_eq!(
        config_map["metadata"]["labels"]["grafana_dashboard"].as_str(),
        Some("1"),
        "the Grafana sidecar's label"
    );
    let text = config_map["data"]["meetingbot-operator.json"]
        .as_str()
        .expect("the dashboard's JSON");
    serde_json::from_str(text).expect("the dashboard is JSON")
}

#[test]
fn the_chart_with_alerts_and_dashboard_lints_strictly() {
    let mut args = vec!["lint", "--strict", CHART];
    for value in MONITORING {
        args.extend(["--set", value]);
    }
    succeed("helm", &args, "");
    let off = helm_template(&[], None);
    assert!(!off.contains("kind: PrometheusRule"), "off by default");
    assert!(!off.contains("grafana_dashboard"), "off by default");
    let refused = run(
        "helm",
        &[
            "template",
            CHART,
            "--set",
            "metrics.prometheusRule.stuckDeletionSeconds=soon",
        ],
        "",
    );
    assert!(
        !refused.status.success(),
        "the schema checks the new values"
    );
}

#[tokio::test]
async fn the_chart_with_alerts_and_dashboard_passes_the_restricted_dry_run() {
    let scene = Scene::builder("monitoring")
        .bare()
        .restricted()
        .start()
        .await;
    let ns = &scene.ns;
    // The Prometheus Operator is not installed here: a stand-in CRD of the same
    // name lets the API server accept (and name-check) the PrometheusRule.
    let stand_in = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": { "name": "prometheusrules.monitoring.coreos.com" },
        "spec": {
            "group": "monitoring.coreos.com", "scope": "Namespaced",
            "names": { "kind": "PrometheusRule", "listKind": "PrometheusRuleList",
                       "plural": "prometheusrules", "singular": "prometheusrule" },
            "versions": [{ "name": "v1", "served": true, "storage": true,
                "schema": { "openAPIV3Schema": { "type": "object",
                    "x-kubernetes-preserve-unknown-fields": true } } }],
        },
    });
    succeed(
        "kubectl",
        &[
            "apply",
            "--server-side",
            "--field-manager=e2e-tests",
            "-f",
            "-",
        ],
        &stand_in.to_string(),
    );
    succeed(
        "kubectl",
        &[
            "wait",
            "--for=condition=Established",
            "--timeout=30s",
            "crd/prometheusrules.monitoring.coreos.com",
        ],
        "",
    );
    let mut args = vec!["template", "meetingbot-operator", CHART, "--namespace", &ns];
    for value in MONITORING {
        args.extend(["--set", value]);
    }
    let manifests = succeed("helm", &args, "");
    let applied = scene.dry_run_apply(&manifests);
    for created in [
        "deployment.apps/meetingbot-operator created (server dry run)",
        "prometheusrule.monitoring.coreos.com/meetingbot-operator created (server dry run)",
        "configmap/meetingbot-operator-dashboard created (server dry run)",
    ] {
        assert!(applied.contains(created), "{created}: {applied}");
    }
}

#[test]
fn promtool_checks_the_rules_and_their_unit_tests_pass() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_file();
    std::fs::write(dir.path().join("rules.yaml"), &rules).unwrap();
    let tests =
        std::fs::read_to_string(repo_root().join("tests/monitoring/rules.test.yaml")).unwrap();
    std::fs::write(dir.path().join("rules.test.yaml"), &tests).unwrap();
    let in_dir = |args: &[&str]| {
        let output = Command::new("promtool")
            .args(args)
            .current_dir(dir.path())
            .output()
            .expect("promtool runs (make test puts it on PATH)");
        assert!(
            output.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    };
    in_dir(&["check", "rules", "rules.yaml"]);
    in_dir(&["test", "rules", "rules.test.yaml"]);

    // Every alert is unit-tested, both firing and quiet.
    let groups: Value = serde_saphyr::from_str(&rules).unwrap();
    let alerts: Vec<&str> = groups["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|rule| rule["alert"].as_str())
        .collect();
    assert_eq!(alerts.len(), 6, "{alerts:?}");
    let unit: Value = serde_saphyr::from_str(&tests).unwrap();
    for alert in alerts {
        let cases: Vec<&Value> = unit["tests"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|test| test["alert_rule_test"].as_array().unwrap())
            .filter(|case| case["alertname"].as_str() == Some(alert))
            .collect();
        let fires = |case: &&Value| {
            case["exp_alerts"]
                .as_array()
                .is_some_and(|alerts| !alerts.is_empty())
        };
        assert!(cases.iter().any(fires), "{alert} has a firing case");
        assert!(
            cases.iter().any(|case| !fires(case)),
            "{alert} has a quiet case"
        );
    }
}

/// The series names the exposition offers, from its `# TYPE` lines: a counter
/// `x` is sampled as `x_total`, a histogram as `x_bucket`, `x_sum` and `x_count`.
fn exported_series(exposition: &str) -> BTreeSet<String> {
    let mut series = BTreeSet::new();
    for line in exposition.lines() {
        let Some(declared) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let (name, kind) = declared.split_once(' ').unwrap();
        let suffixes: &[&str] = match kind {
            "counter" => &["_total"],
            "histogram" => &["_bucket", "_sum", "_count"],
            _ => &[""],
        };
        series.extend(suffixes.iter().map(|suffix| format!("{name}{suffix}")));
    }
    series
}

/// Names in `text` that look like the operator's metrics.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("meetingbot_operator_") {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

/// Metric families appear in the exposition once they have a sample, so the
/// operator is first put to work: one MeetingBot joins (vendor calls,
/// reconciles, phases) and one stalls (stalled reasons).
#[tokio::test]
async fn every_metric_the_rules_and_dashboard_use_is_exported() {
    let scene = Scene::start("metric-names").await;
    scene.create("joins", spec("session-metric-names")).await;
    stalled_bot(&scene, "refused").await;
    scene.wait_joined("joins").await;

    let rules = metric_names(&rules_file());
    let dashboard_text = dashboard_json().to_string();
    let dashboard = metric_names(&dashboard_text);
    assert!(rules.len() >= 5, "{rules:?}");
    assert!(dashboard.len() >= 7, "{dashboard:?}");
    let used: BTreeSet<&String> = rules.iter().chain(&dashboard).collect();

    let exposition = poll(
        "every used metric exported",
        Duration::from_secs(20),
        || async {
            let (status, body) = scene.operator().get("/metrics").await.ok_or("no answer")?;
            let exported = exported_series(&body);
            let unknown: Vec<&&String> = used
                .iter()
                .filter(|name| !exported.contains(**name))
                .collect();
            match (status, unknown.is_empty()) {
                (200, true) => Ok(body),
                _ => Err(format!("status {status}, not exported: {unknown:?}")),
            }
        },
    )
    .await;
    // And the check can fail: a name the operator does not export is not found.
    let exported = exported_series(&exposition);
    assert!(exported.contains("meetingbot_operator_meetingbot_reconciles_total"));
    assert!(!exported.contains("meetingbot_operator_meetingbot_reconciles"));

    // What SREs look for first: the build, and the process' memory, CPU and files.
    for series in [
        "meetingbot_operator_build_info",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        assert!(exported.contains(series), "{series} in {exposition}");
    }
    let build = exposition
        .lines()
        .find(|line| line.starts_with("meetingbot_operator_build_info{"))
        .expect("a build_info sample");
    assert!(
        build.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION")))
            && build.contains("git_sha=\"")
            && build.ends_with(" 1"),
        "{build}"
    );
    let rss = sample(&exposition, "process_resident_memory_bytes").unwrap();
    assert!(rss > 1e6, "{rss}");

    // promtool lints the real exposition, in the classic text format it reads
    // (Prometheus itself asks for OpenMetrics first).
    let (status, content_type, classic) = scene
        .operator()
        .get_accepting("/metrics", "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
        .await
        .expect("an answer");
    assert_eq!(status, 200);
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let linted = run("promtool", &["check", "metrics"], &classic);
    assert!(
        linted.status.success(),
        "promtool check metrics: {}{}\n{classic}",
        String::from_utf8_lossy(&linted.stdout),
        String::from_utf8_lossy(&linted.stderr)
    );
}

/// GitHub's anchor of a Markdown heading: lower case, only letters, digits,
/// `-` and `_` kept, spaces made `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

#[test]
fn every_alert_has_a_runbook_url_to_a_readme_heading() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let anchors: BTreeSet<String> = readme
        .lines()
        .filter_map(|line| line.strip_prefix('#'))
        .map(|heading| anchor(heading.trim_start_matches('#')))
        .collect();
    assert!(anchors.contains("troubleshooting"), "{anchors:?}");
    let groups: Value = serde_saphyr::from_str(&rules_file()).unwrap();
    let alerts: Vec<&Value> = groups["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|rule| rule["alert"].is_string())
        .collect();
    assert_eq!(alerts.len(), 6);
    for alert in alerts {
        let url = alert["annotations"]["runbook_url"]
            .as_str()
            .unwrap_or_else(|| panic!("{} has a runbook_url", alert["alert"]));
        let (page, fragment) = url.split_once('#').expect("the URL names an anchor");
        assert!(page.ends_with("/README.md"), "{url}");
        assert!(
            anchors.contains(fragment),
            "{url}: no README heading has the anchor {fragment}"
        );
    }
    assert_eq!(
        anchor("Stalled on LeaveFailed, a MeetingBot that will not go away"),
        "stalled-on-leavefailed-a-meetingbot-that-will-not-go-away"
    );
}

/// A MeetingBot whose API key LemonSlice refuses: it stalls (Unauthorized).
async fn stalled_bot(scene: &Scene, name: &str) {
    scene
        .put_secret("lemonslice", "apiKey", "wrong-key-123456")
        .await;
    let mut refused = spec(&format!("session-{name}"));
    refused.api_key_secret_ref = Some(ApiKeySecretRef {
        name: "lemonslice".into(),
        key: "apiKey".into(),
    });
    scene.create(name, refused).await;
    scene.wait_stalled(name, "Unauthorized").await;
}

/// Waits until the operator publishes a stalled MeetingBot and a pending
/// deletion in the new gauges, which the alerts read.
#[tokio::test]
async fn the_stalled_and_deletion_gauges_follow_the_objects() {
    let scene = Scene::start("gauges").await;
    let operator = scene.operator();
    let mut held = MeetingBot::new("held", spec("session-gauges-held"));
    held.metadata.finalizers = Some(vec![HOLD.into()]);
    scene.create_object(&held).await;
    stalled_bot(&scene, "refused").await;
    let stalled_series = "meetingbot_operator_meetingbots_stalled{reason=\"Unauthorized\"}";
    scene
        .wait_metric(operator, stalled_series, |n| n == 1.0)
        .await;
    let oldest = "meetingbot_operator_meetingbots_oldest_deletion_seconds";
    let (_, body) = operator.get("/metrics").await.unwrap();
    assert_eq!(sample(&body, oldest), Some(0.0), "nothing is being deleted");

    // The operator adds its own finalizer; ours holds the object after its leave.
    scene.delete("held").await;
    scene.wait_metric(operator, oldest, |age| age >= 1.0).await;
    release(&scene, "held").await;
    scene.wait_gone("held").await;
    scene.wait_metric(operator, oldest, |age| age == 0.0).await;
}
