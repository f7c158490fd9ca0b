//! What GitOps and monitoring users see, judged by their tools' own code:
//! Argo CD's health assessment (argocd-health, built from the argo-cd Go
//! module) and kstatus (built from sigs.k8s.io/cli-utils, what Flux's `wait`
//! uses) on real MeetingBots in every phase, against the table in the README;
//! and the chart's alert rules and dashboard, checked by promtool and against
//! the metrics the operator really exports. `make test` builds the checkers
//! (tests/cluster/gitops-tools.sh) and puts them on PATH.

//!
//! `argocd_cm` is the shipped ConfigMap as Argo CD reads it, and the
//! uninstall command; `monitoring` the alert rules and the dashboard.

mod argocd_cm;
mod monitoring;
mod starters;

use crate::scene::Scene;
use crate::support::*;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use meetingbot_operator::api::MeetingBot;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

const CHART: &str = "charts/meetingbot-operator";
const ARGOCD_CM: &str = "docs/argocd/argocd-cm.yaml";
const HEALTH_KEY: &str = "resource.customizations.health.liveai.lemonslice.com_MeetingBot";
/// The finalizer that holds a deleted MeetingBot here, in place of the operator's.
const HOLD: &str = "e2e.liveai.lemonslice.com/hold";

/// One JSON verdict per line, by object name.
fn verdicts(output: &str) -> BTreeMap<String, Value> {
    output
        .lines()
        .map(|line| {
            let verdict: Value = serde_json::from_str(line).expect("a JSON verdict");
            (verdict["name"].as_str().unwrap().to_owned(), verdict)
        })
        .collect()
}

/// A row of the README's health table.
#[derive(Debug, PartialEq)]
struct Row {
    state: String,
    argocd: String,
    argocd_3_5: String,
    kstatus: String,
}

/// The table under "### GitOps" in README.md whose header starts `| state | Argo CD health |`.
fn readme_table() -> Vec<Row> {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let section = readme
        .split_once("### GitOps")
        .expect("README has a GitOps section")
        .1;
    let mut lines = section
        .lines()
        .skip_while(|line| !line.starts_with("| state | Argo CD health |"));
    let header = lines
        .next()
        .expect("the health table is in the GitOps section");
    assert_eq!(header.matches('|').count(), 5, "{header}");
    lines
        .skip(1)
        .take_while(|line| line.starts_with('|'))
        .map(|line| {
            let cells: Vec<String> = line
                .trim_matches('|')
                .split('|')
                .map(|cell| cell.trim().trim_matches('`').to_owned())
                .collect();
            assert_eq!(cells.len(), 4, "{line}");
            Row {
                state: cells[0].clone(),
                argocd: cells[1].clone(),
                argocd_3_5: cells[2].clone(),
                kstatus: cells[3].clone(),
            }
        })
        .collect()
}

fn condition(type_: &str, status: bool, reason: &str, generation: i64) -> Value {
    json!({
        "type": type_,
        "status": if status { "True" } else { "False" },
        "reason": reason,
        "message": format!("{reason}: written by the test"),
        "observedGeneration": generation,
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    })
}

/// A status as the operator writes it: phase, observedGeneration, Ready, and
/// Reconciling or Stalled while true.
fn status(phase: &str, generation: i64, health: &str, reason: &str) -> Value {
    let mut conditions = vec![condition("Ready", health == "Ready", reason, generation)];
    if health != "Ready" {
        conditions.push(condition(health, true, reason, generation));
    }
    json!({ "phase": phase, "observedGeneration": generation, "conditions": conditions })
}

/// The status a case writes: phase, the true condition among Ready,
/// Reconciling and Stalled, and its reason.
type Written = (&'static str, &'static str, &'static str);

/// The MeetingBots of the table, one per state, each with a status written as
/// the operator would for it (no operator watches their namespace).
async fn bots_in_every_state(scene: &Scene) -> BTreeMap<&'static str, String> {
    let bots = scene.bots();
    let mut names = BTreeMap::new();
    let cases: [(&str, &str, Option<Written>); 9] = [
        ("no status yet", "no-status", None),
        (
            "spec not yet observed",
            "not-observed",
            Some(("Joined", "Ready", "Joined")),
        ),
        ("Joined", "joined", Some(("Joined", "Ready", "Joined"))),
        (
            "Reconciling",
            "reconciling",
            Some(("Joining", "Reconciling", "Joining")),
        ),
        (
            "Stalled",
            "stalled",
            Some(("Failed", "Stalled", "JoinOutcomeUnknown")),
        ),
        (
            "Suspended",
            "suspended",
            Some(("Suspended", "Ready", "Suspended")),
        ),
        (
            "Completed",
            "completed",
            Some(("Completed", "Ready", "Completed")),
        ),
        (
            "SessionEnded",
            "session-ended",
            Some(("SessionEnded", "Stalled", "SessionCompleted")),
        ),
        (
            "deleting, LeaveFailed",
            "deleting",
            Some(("Leaving", "Stalled", "LeaveFailed")),
        ),
    ];
    for (state, name, written) in cases {
        let mut bot = MeetingBot::new(name, spec(&format!("session-gitops-{name}")));
        if name == "deleting" {
            bot.metadata.finalizers = Some(vec![HOLD.into()]);
        }
        let created = bots.create(&PostParams::default(), &bot).await.unwrap();
        let mut generation = created.metadata.generation.unwrap();
        let mut observed = generation;
        if name == "not-observed" {
            let changed = bots
                .patch(
                    name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({ "spec": { "botName": "Renamed Avatar" } })),
                )
                .await
                .unwrap();
            generation = changed.metadata.generation.unwrap();
            assert!(generation > observed, "a spec change bumps the generation");
        }
        if name == "deleting" {
            bots.delete(name, &DeleteParams::default()).await.unwrap();
            // Marking it deleted bumps the generation; the operator observes that too.
            let deleting = bots.get(name).await.unwrap();
            assert!(deleting.metadata.deletion_timestamp.is_some());
            observed = deleting.metadata.generation.unwrap();
        }
        if let Some((phase, health, reason)) = written {
            let status = status(phase, observed, health, reason);
            bots.patch_status(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({ "status": status })),
            )
            .await
            .unwrap();
        }
        names.insert(state, name.to_owned());
    }
    names
}

/// Lets go of a MeetingBot held by [`HOLD`] (or any finalizer).
async fn release(scene: &Scene, name: &str) {
    scene
        .merge(name, json!({ "metadata": { "finalizers": null } }))
        .await;
}

/// A scene (with no operator) holding [`bots_in_every_state`], their names by
/// state, and their JSON as `kubectl get -o json` gives it.
async fn every_state(prefix: &str) -> (Scene, BTreeMap<&'static str, String>, String) {
    let scene = Scene::builder(prefix).bare().start().await;
    let names = bots_in_every_state(&scene).await;
    let objects = kubectl(&["get", "meetingbots", "-n", &scene.ns, "-o", "json"]);
    (scene, names, objects)
}

#[tokio::test]
async fn argocd_and_kstatus_judge_every_phase_as_the_readme_says() {
    let (scene, names, objects) = every_state("gitops").await;

    let argocd = verdicts(&succeed(
        "argocd-health",
        &["--argocd-cm", ARGOCD_CM],
        &objects,
    ));
    let kstatus = verdicts(&succeed("kstatus", &[], &objects));

    let table = readme_table();
    let states: BTreeSet<&str> = table.iter().map(|row| row.state.as_str()).collect();
    let tested: BTreeSet<&str> = names.keys().copied().collect();
    assert_eq!(
        states, tested,
        "the README's table lists exactly the tested states"
    );
    let mut mismatches = Vec::new();
    for row in &table {
        let name = &names[row.state.as_str()];
        let got = Row {
            state: row.state.clone(),
            argocd: argocd[name]["script"]["status"]
                .as_str()
                .unwrap_or("none")
                .into(),
            argocd_3_5: argocd[name]["argocd"]["status"].as_str().unwrap().into(),
            kstatus: kstatus[name]["status"].as_str().unwrap().into(),
        };
        if &got != row {
            mismatches.push(format!(
                "README: {row:?}\n   got: {got:?}\n argocd: {}\n kstatus: {}",
                argocd[name], kstatus[name]
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));

    // The script runs in Argo CD's restricted VM without error, explains
    // Degraded, and keeps its answer for deletions from Argo CD 3.6 on.
    for (name, verdict) in &argocd {
        assert_eq!(verdict.get("scriptError"), None, "{name}: {verdict}");
    }
    let stalled = &argocd["stalled"]["argocd"]["message"];
    assert!(
        stalled
            .as_str()
            .unwrap()
            .starts_with("JoinOutcomeUnknown: "),
        "{stalled}"
    );
    let deleting = &argocd["deleting"]["script"];
    assert_eq!(
        deleting["deletionMessage"], deleting["message"],
        "{deleting}"
    );
    assert!(
        deleting["message"]
            .as_str()
            .unwrap()
            .starts_with("LeaveFailed: "),
        "{deleting}"
    );
    assert!(
        argocd["reconciling"]["script"]
            .get("deletionMessage")
            .is_none()
    );

    release(&scene, "deleting").await;
}
