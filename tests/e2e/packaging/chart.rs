//! The chart explains itself: its metadata (Artifact Hub's annotations), its
//! README's values table, the descriptions of its schema, the usual knobs
//! (name overrides, image digest, extra arguments and environment), the
//! ClusterRoles aggregated to view, edit and admin, and NOTES.txt's warnings.

use super::{CHART, helm_template};
use crate::support::*;
use serde_json::Value;

/// Every object of a rendered chart.
fn objects(rendered: &str) -> Vec<Value> {
    rendered
        .split("\n---")
        .filter(|doc| doc.lines().any(|line| line.starts_with("kind: ")))
        .map(|doc| serde_saphyr::from_str(doc).unwrap())
        .collect()
}

fn find<'o>(objects: &'o [Value], kind: &str, name: &str) -> &'o Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{kind} {name} rendered"))
}

#[test]
fn the_values_table_and_schema_descriptions_follow_values_yaml() {
    succeed("python3", &["hack/chart-docs.py", "--check"], "");
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join(CHART).join("values.schema.json")).unwrap(),
    )
    .unwrap();
    fn walk(node: &Value, path: &str, keys: &mut usize) {
        for (key, child) in node["properties"].as_object().into_iter().flatten() {
            let path = format!("{path}{key}");
            assert!(
                child["description"].as_str().is_some_and(|d| !d.is_empty()),
                "values.schema.json: {path} has a description"
            );
            *keys += 1;
            walk(child, &format!("{path}."), keys);
        }
    }
    let mut keys = 0;
    walk(&schema, "", &mut keys);
    assert!(keys > 50, "{keys} keys");
}

#[test]
fn chart_yaml_carries_artifact_hub_metadata() {
    let chart: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(repo_root().join(CHART).join("Chart.yaml")).unwrap(),
    )
    .unwrap();
    for key in ["sources", "maintainers", "icon", "home"] {
        assert!(!chart[key].is_null(), "Chart.yaml has {key}");
    }
    let annotations = &chart["annotations"];
    let yaml_list = |key: &str| -> Vec<Value> {
        let text = annotations[key]
            .as_str()
            .unwrap_or_else(|| panic!("annotation {key}"));
        serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("{key}: {e}"))
    };
    for key in ["links", "images", "crds", "crdsExamples", "changes"] {
        assert!(
            !yaml_list(&format!("artifacthub.io/{key}")).is_empty(),
            "{key}"
        );
    }
    assert_eq!(annotations["artifacthub.io/operator"], "true");
    assert_eq!(annotations["artifacthub.io/license"], "Apache-2.0");
    assert!(annotations["artifacthub.io/operatorCapabilities"].is_string());
    // The image and the CRD it names are the chart's own.
    let app_version = chart["appVersion"].as_str().unwrap();
    let values = std::fs::read_to_string(repo_root().join(CHART).join("values.yaml")).unwrap();
    let repository = values
        .lines()
        .find_map(|line| line.trim().strip_prefix("repository: "))
        .unwrap();
    assert_eq!(
        yaml_list("artifacthub.io/images")[0]["image"],
        format!("{repository}:{app_version}").as_str()
    );
    let crd: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(repo_root().join("crds/meetingbot.yaml")).unwrap(),
    )
    .unwrap();
    let listed = &yaml_list("artifacthub.io/crds")[0];
    assert_eq!(listed["name"], crd["metadata"]["name"]);
    assert_eq!(listed["kind"], crd["spec"]["names"]["kind"]);
    assert_eq!(listed["version"], crd["spec"]["versions"][0]["name"]);
    let example = &yaml_list("artifacthub.io/crdsExamples")[0];
    assert_eq!(example["kind"], "MeetingBot");
    // The example is a valid MeetingBot.
    serde_json::from_value::<meetingbot_operator::api::MeetingBot>(example.clone()).unwrap();
}

#[test]
fn the_chart_aggregates_meetingbots_to_view_edit_and_admin() {
    let rendered = objects(&helm_template("meetingbot-system", &[]));
    let view = find(&rendered, "ClusterRole", "meetingbot-operator-view");
    let edit = find(&rendered, "ClusterRole", "meetingbot-operator-edit");
    let labels = |role: &Value| -> Vec<String> {
        role["metadata"]["labels"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, value)| value.as_str() == Some("true"))
            .filter_map(|(key, _)| key.strip_prefix("rbac.authorization.k8s.io/aggregate-to-"))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(labels(view), ["admin", "edit", "view"]);
    assert_eq!(labels(edit), ["admin", "edit"]);
    let rule = |role: &Value| role["rules"][0].clone();
    assert_eq!(
        rule(view)["verbs"],
        serde_json::json!(["get", "list", "watch"])
    );
    assert_eq!(
        rule(edit)["verbs"],
        serde_json::json!(["create", "update", "patch", "delete", "deletecollection"])
    );
    assert_eq!(rule(edit)["resources"], serde_json::json!(["meetingbots"]));

    let off = helm_template(
        "meetingbot-system",
        &["aggregateClusterRoles.enabled=false"],
    );
    assert!(!off.contains("aggregate-to-"), "{off}");
}

#[test]
fn the_chart_honours_name_overrides_image_digest_and_extras() {
    let digest = format!("sha256:{}", "ab".repeat(32));
    let rendered = helm_template(
        "meetingbot-system",
        &[
            "fullnameOverride=mbot",
            "nameOverride=bots",
            &format!("image.digest={digest}"),
            "extraArgs={--call-timeout=20s}",
            "extraEnv[0].name=HTTPS_PROXY",
            "extraEnv[0].value=http://proxy:3128",
        ],
    );
    let objects = objects(&rendered);
    for object in &objects {
        let name = object["metadata"]["name"].as_str().unwrap();
        let kind = object["kind"].as_str().unwrap();
        assert!(
            name.starts_with("mbot") || kind == "Secret",
            "{kind} {name} follows fullnameOverride"
        );
        let expected = if kind == "Pod" { "bots-test" } else { "bots" };
        assert_eq!(
            object["metadata"]["labels"]["app.kubernetes.io/name"], expected,
            "{kind} {name}"
        );
    }
    let deployment = find(&objects, "Deployment", "mbot");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["image"],
        format!("lemonslice/meetingbot-operator@{digest}").as_str()
    );
    assert_eq!(
        container["args"],
        serde_json::json!(["run", "--call-timeout=20s"])
    );
    let env = container["env"].as_array().unwrap();
    assert!(
        env.iter()
            .any(|e| e["name"] == "HTTPS_PROXY" && e["value"] == "http://proxy:3128"),
        "{env:?}"
    );
    let refused = run(
        "helm",
        &["template", CHART, "--set", "image.digest=latest"],
        "",
    );
    assert!(!refused.status.success(), "a digest is sha256:<64 hex>");
}

#[test]
fn notes_say_the_next_steps_and_warn_of_risky_values() {
    let notes = |values: &[&str]| {
        let mut args = vec![
            "install",
            "meetingbot-operator",
            CHART,
            "--dry-run=client",
            "--namespace",
            "meetingbot-system",
        ];
        for value in values {
            args.extend(["--set", value]);
        }
        succeed("helm", &args, "")
    };
    let default = notes(&[]);
    for step in [
        "kubectl wait deployment/meetingbot-operator",
        "kubectl wait mbot/NAME --for=condition=Ready",
        "kubectl krew install",
        "kubectl apply --server-side -f meetingbot-operator.crds.yaml",
        "WARNING: watchNamespaces is empty",
        "status.websocketUrl shows no token",
    ] {
        assert!(default.contains(step), "{step} in {default}");
    }
    for warning in [
        "WARNING: retryUnknownJoins",
        "WARNING: redactWebsocketToken",
    ] {
        assert!(!default.contains(warning), "{default}");
    }
    let risky = notes(&[
        "retryUnknownJoins=true",
        "watchNamespaces={team}",
        "redactWebsocketToken=false",
    ]);
    for warning in [
        "WARNING: retryUnknownJoins is true",
        "WARNING: redactWebsocketToken is false",
    ] {
        assert!(risky.contains(warning), "{warning} in {risky}");
    }
    assert!(!risky.contains("WARNING: watchNamespaces"), "{risky}");
    assert!(!risky.contains("shows no token"), "{risky}");
}

#[test]
fn helm_test_runs_the_check_subcommand_against_the_metrics_service() {
    let rendered = objects(&helm_template("meetingbot-system", &[]));
    let pod = find(&rendered, "Pod", "meetingbot-operator-test");
    assert_eq!(pod["metadata"]["annotations"]["helm.sh/hook"], "test");
    let container = &pod["spec"]["containers"][0];
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(args[0], "check");
    let service = find(&rendered, "Service", "meetingbot-operator-metrics");
    let port = service["spec"]["ports"][0]["port"].as_i64().unwrap();
    assert!(
        args.contains(
            &format!("--url=http://meetingbot-operator-metrics.meetingbot-system.svc:{port}")
                .as_str()
        ),
        "{args:?}"
    );
    let off = helm_template("meetingbot-system", &["helmTest.enabled=false"]);
    assert!(!off.contains("helm.sh/hook: test"), "{off}");
    // deploy/ is no Helm release: it has no test Pod.
    let deploy = std::fs::read_to_string(repo_root().join("deploy/operator.yaml")).unwrap();
    assert!(!deploy.contains("helm.sh/hook"), "deploy/operator.yaml");
}

/// The subcommand of the test Pod, as a process against a running operator
/// (no kubelet here runs the Pod itself; the restricted dry run checks it).
#[tokio::test]
async fn the_check_subcommand_passes_on_a_ready_operator_and_fails_elsewhere() {
    let scene = crate::scene::Scene::start("check").await;
    let url = scene.operator().metrics_url.clone();
    let binary = env!("CARGO_BIN_EXE_meetingbot-operator");
    let passed = tokio::task::spawn_blocking(move || {
        run(binary, &["check", "--url", &url, "--timeout", "60s"], "")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&passed.stdout);
    assert!(
        passed.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&passed.stderr)
    );
    assert!(
        stdout.contains("meetingbot_operator_build_info{"),
        "{stdout}"
    );

    let failed = tokio::task::spawn_blocking(move || {
        run(
            binary,
            &["check", "--url", "http://127.0.0.1:9", "--timeout", "1s"],
            "",
        )
    })
    .await
    .unwrap();
    assert!(!failed.status.success(), "nothing listens on port 9");
    assert!(
        String::from_utf8_lossy(&failed.stderr).contains("is not ready"),
        "{}",
        String::from_utf8_lossy(&failed.stderr)
    );
}
