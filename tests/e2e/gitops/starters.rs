//! The GitOps starters in docs/: Flux's HelmRelease (with the CRD upgrade
//! policy) and Kustomization (after the operator), and Argo CD's Application.
//! They parse, say what the README promises, and their values pass the chart's
//! schema.

use super::CHART;
use crate::support::*;
use serde_json::Value;

fn documents(path: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(repo_root().join(path)).unwrap();
    text.split("\n---\n")
        .map(|doc| serde_saphyr::from_str(doc).unwrap_or_else(|e| panic!("{path}: {e}")))
        .collect()
}

fn find<'d>(docs: &'d [Value], kind: &str) -> &'d Value {
    docs.iter()
        .find(|doc| doc["kind"] == kind)
        .unwrap_or_else(|| panic!("a {kind}"))
}

/// `helm template` of the chart with `values` (as JSON, which is YAML) succeeds.
fn chart_accepts(values: &Value) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("values.yaml");
    std::fs::write(&file, values.to_string()).unwrap();
    succeed(
        "helm",
        &[
            "template",
            "meetingbot-operator",
            CHART,
            "--values",
            file.to_str().unwrap(),
        ],
        "",
    );
}

#[test]
fn the_flux_starters_upgrade_the_crd_and_wait_for_the_operator() {
    let release_docs = documents("docs/flux/helmrelease.yaml");
    let release = find(&release_docs, "HelmRelease");
    assert_eq!(release["apiVersion"], "helm.toolkit.fluxcd.io/v2");
    assert_eq!(release["spec"]["install"]["crds"], "CreateReplace");
    assert_eq!(release["spec"]["upgrade"]["crds"], "CreateReplace");
    let source = find(&release_docs, "OCIRepository");
    assert_eq!(
        release["spec"]["chartRef"]["name"],
        source["metadata"]["name"]
    );
    chart_accepts(&release["spec"]["values"]);

    let bots = documents("docs/flux/kustomization.yaml");
    let bots = find(&bots, "Kustomization");
    assert_eq!(bots["apiVersion"], "kustomize.toolkit.fluxcd.io/v1");
    assert_eq!(
        bots["spec"]["dependsOn"][0]["name"],
        release["metadata"]["name"]
    );
    assert_eq!(bots["spec"]["wait"], true);
}

#[test]
fn the_argocd_application_installs_the_chart() {
    let docs = documents("docs/argocd/application.yaml");
    let application = find(&docs, "Application");
    assert_eq!(application["apiVersion"], "argoproj.io/v1alpha1");
    let source = &application["spec"]["source"];
    assert_eq!(source["chart"], "meetingbot-operator");
    let options: Vec<&str> = application["spec"]["syncPolicy"]["syncOptions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(options.contains(&"ServerSideApply=true"), "{options:?}");
    chart_accepts(&source["helm"]["valuesObject"]);
}
