//! The plugin speaks kubectl (issue 30): `-o json|yaml|wide|name`, `-l` and
//! `--all`, `--as`, completion through `kubectl __complete`, kubectl's AGE,
//! and `version`/`check` against an operator that runs and one that stopped.

use super::{Run, mbot, phase};
use crate::runtime::{replica, wait_leading};
use crate::scene::{Scene, Waits};
use crate::support::*;
use meetingbot_operator::api::{MeetingBot, Phase};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(20);

fn labelled(name: &str, team: &str, session: &str) -> MeetingBot {
    let mut bot = MeetingBot::new(name, spec(session));
    bot.metadata.labels = Some([("team".to_owned(), team.to_owned())].into());
    bot
}

/// (namespace, name) of each item of a kubectl List.
fn names(list: &Value) -> BTreeSet<(String, String)> {
    list["items"]
        .as_array()
        .expect("a List's items")
        .iter()
        .map(|item| {
            let meta = &item["metadata"];
            (
                meta["namespace"].as_str().unwrap_or_default().to_owned(),
                meta["name"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The AGE cell of `name`'s row in a table with a header.
fn age_in(table: &str, name: &str) -> Option<String> {
    let mut lines = table.lines();
    let header = lines.next()?;
    let column = header.find("AGE")?;
    let row = lines.find(|l| l.split_whitespace().next() == Some(name))?;
    row.get(column..)?
        .split_whitespace()
        .next()
        .map(str::to_owned)
}

fn ok(run: &Run) {
    assert_eq!(run.code, Some(0), "{run:?}");
}

#[tokio::test]
async fn list_status_and_selection_speak_kubectl() {
    let scene = Scene::start("plugin-kubectl").await;
    let ns = scene.ns.clone();
    for (name, team) in [("a1", "a"), ("a2", "a"), ("b1", "b")] {
        scene
            .create_object(&labelled(name, team, &format!("session-{name}")))
            .await;
    }
    for name in ["a1", "a2", "b1"] {
        scene.wait_joined(name).await;
    }

    // -A -o json: kubectl's List, the same objects `kubectl get` lists (other
    // tests create and delete theirs meanwhile: the two are taken until equal).
    poll(
        "list -A -o json to list what kubectl get lists",
        SETTLE,
        || async {
            let run = mbot(&ns, &["list", "-A", "-o", "json"]).await;
            let ours: Value =
                serde_json::from_str(&run.stdout).map_err(|e| format!("{e}: {run:?}"))?;
            let theirs: Value =
                serde_json::from_str(&kubectl(&["get", "mbot", "-A", "-o", "json"]))
                    .map_err(|e| e.to_string())?;
            let (ours_names, theirs_names) = (names(&ours), names(&theirs));
            match run.code == Some(0) && ours["kind"] == "List" && ours_names == theirs_names {
                true => Ok(()),
                false => Err(format!("{ours_names:?} against {theirs_names:?}: {run:?}")),
            }
        },
    )
    .await;
    let mine = |run: &Run| -> BTreeSet<String> {
        let list: Value = serde_json::from_str(&run.stdout).unwrap();
        names(&list).into_iter().map(|(_, name)| name).collect()
    };
    let run = mbot(&ns, &["list", "-o", "json"]).await;
    ok(&run);
    assert_eq!(mine(&run), ["a1", "a2", "b1"].map(String::from).into());

    // -l filters; -o name and -o yaml.
    let run = mbot(&ns, &["list", "-l", "team=a", "-o", "name"]).await;
    ok(&run);
    assert_eq!(
        run.stdout, "meetingbot.liveai.lemonslice.com/a1\nmeetingbot.liveai.lemonslice.com/a2\n",
        "{run:?}"
    );
    let run = mbot(&ns, &["list", "-l", "team=b", "-o", "yaml"]).await;
    ok(&run);
    let list: Value = serde_saphyr::from_str(&run.stdout).expect("YAML");
    assert_eq!(list["apiVersion"], "v1");
    assert_eq!(names(&list).len(), 1, "{run:?}");
    let run = mbot(&ns, &["list", "-l", "team=nobody"]).await;
    ok(&run);
    assert!(
        run.stdout.is_empty() && run.stderr.contains("No MeetingBots"),
        "{run:?}"
    );
    let run = mbot(&ns, &["list", "-o", "wide"]).await;
    ok(&run);
    let header = run.stdout.lines().next().unwrap_or_default();
    for column in ["NAME", "AGE", "ATTENTION", "REASON", "SESSION", "JOINED"] {
        assert!(header.contains(column), "{column} in {run:?}");
    }
    assert!(run.stdout.contains("session-a1"), "{run:?}");

    // kubectl get and kubectl mbot list print the same AGE (read between two
    // kubectl reads: a second may tick over between them).
    poll("the same AGE as kubectl get", SETTLE, || async {
        let before = kubectl(&["get", "mbot", "-n", &ns]);
        let run = mbot(&ns, &["list"]).await;
        let after = kubectl(&["get", "mbot", "-n", &ns]);
        let ages = (
            age_in(&before, "a1"),
            age_in(&run.stdout, "a1"),
            age_in(&after, "a1"),
        );
        match (&ages.0, &ages.1, &ages.2) {
            (Some(b), Some(m), Some(a)) if m == b || m == a => Ok(()),
            _ => Err(format!("{ages:?}\n{before}\n{run:?}\n{after}")),
        }
    })
    .await;

    // suspend -l: exactly those, one line each, and the operator shows them Suspended.
    let run = mbot(&ns, &["suspend", "-l", "team=a"]).await;
    ok(&run);
    assert_eq!(
        run.stdout
            .lines()
            .filter(|l| l.contains("✔ suspended"))
            .count(),
        2,
        "{run:?}"
    );
    for name in ["a1", "a2"] {
        scene
            .wait_bot(name, "phase Suspended", |bot| {
                (phase(bot) == Some(Phase::Suspended)).then_some(())
            })
            .await;
    }
    let b1 = scene.bot("b1").await;
    assert!(!b1.spec.suspend);
    assert_eq!(phase(&b1), Some(Phase::Joined));

    // status -o yaml: a mapping, with the record.
    let run = mbot(&ns, &["status", "b1", "-o", "yaml"]).await;
    ok(&run);
    let status: Value = serde_saphyr::from_str(&run.stdout).expect("YAML");
    assert!(status.is_object(), "{run:?}");
    assert_eq!(status["phase"], "Joined", "{run:?}");
    assert_eq!(
        status["record"]["botId"].as_str(),
        b1.status.as_ref().unwrap().meeting_bot_id.as_deref(),
        "{run:?}"
    );
    let run = mbot(&ns, &["status", "a1", "-o", "json"]).await;
    ok(&run);
    let status: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(status["suspend"], true, "{run:?}");

    // --all: every one, each said.
    let run = mbot(&ns, &["resume", "--all"]).await;
    ok(&run);
    assert_eq!(
        run.stdout
            .lines()
            .filter(|l| l.contains("✔ resumed"))
            .count(),
        2,
        "{run:?}"
    );
    assert!(
        run.stdout.contains("b1 is already not suspended"),
        "{run:?}"
    );
    for name in ["a1", "a2"] {
        scene.wait_joined(name).await;
    }
    let run = mbot(&ns, &["reconcile", "-l", "team=b", "--timeout", "30s"]).await;
    ok(&run);
    assert!(
        run.stdout.contains(&format!("✔ reconciled {ns}/b1")),
        "{run:?}"
    );

    // --as: the API server answers as that identity, and refuses it.
    let run = mbot(&ns, &["list", "--as=system:serviceaccount:ns:nobody"]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr.contains("Forbidden") && run.stderr.contains("system:serviceaccount:ns:nobody"),
        "{run:?}"
    );

    // --request-timeout bounds a whole request: a TLS handshake takes longer than 1ms.
    let run = mbot(&ns, &["list", "--request-timeout=1ms"]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("--request-timeout"), "{run:?}");
    let run = mbot(&ns, &["list", "--request-timeout=30"]).await;
    ok(&run);

    // Completion through kubectl: names of the namespace, namespaces, verbs.
    let complete = |args: &[&str]| {
        let plugin = Path::new(env!("CARGO_BIN_EXE_kubectl-mbot"));
        let path = format!(
            "{}:{}",
            plugin.parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let output = std::process::Command::new("kubectl")
            .args(["__complete", "mbot"])
            .args(args)
            .env("PATH", path)
            .output()
            .expect("kubectl runs");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let offered = complete(&["status", "-n", &ns, ""]);
    let lines: Vec<&str> = offered.lines().collect();
    for name in ["a1", "a2", "b1"] {
        assert!(lines.contains(&name), "{name} in {offered}");
    }
    assert_eq!(lines.last(), Some(&":4"), "{offered}");
    let offered = complete(&["suspend", "-n", &ns, "b"]);
    assert!(
        offered.lines().any(|l| l == "b1") && !offered.contains("a1"),
        "{offered}"
    );
    let offered = complete(&["status", "-n", &ns[..3]]);
    assert!(offered.lines().any(|l| l == ns), "{offered}");
    let offered = complete(&["re"]);
    assert!(
        offered.lines().any(|l| l == "resume") && offered.lines().any(|l| l == "reconcile"),
        "{offered}"
    );
}

#[tokio::test]
async fn check_names_the_leader_and_reports_a_stale_renewal() {
    let mut scene = Scene::builder("plugin-check")
        .without_operator()
        .start()
        .await;
    let ns = scene.ns.clone();
    let options = replica(&scene, "mbot-check-leader");
    scene.run_operator(&options).await;
    wait_leading(&scene, scene.operator()).await;
    let place = ["--operator-namespace", ns.as_str()];

    let run = mbot(&ns, &[&["check"][..], &place].concat()).await;
    ok(&run);
    for fact in [
        "✔ CRD meetingbots.liveai.lemonslice.com Established",
        "held by mbot-check-leader",
        "✔ you may create and patch MeetingBots",
    ] {
        assert!(run.stdout.contains(fact), "{fact:?} in {run:?}");
    }
    assert!(!run.stdout.contains('✗'), "{run:?}");

    let run = mbot(&ns, &[&["version"][..], &place].concat()).await;
    ok(&run);
    assert!(
        run.stdout.contains("Client Version: ")
            && run.stdout.contains("Server Version: v1.")
            && run.stdout.contains("Operator Leader: mbot-check-leader"),
        "{run:?}"
    );

    // A tenant without rights: each fact it may not read is a ✗ that names it.
    let nobody = [
        &["check", "--as=system:serviceaccount:ns:nobody"][..],
        &place,
    ]
    .concat();
    let run = mbot(&ns, &nobody).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stdout
            .contains("✗ you may not create or patch MeetingBots")
            && run.stdout.contains("Forbidden")
            && run.stdout.contains("system:serviceaccount:ns:nobody"),
        "{run:?}"
    );

    // The CRD is installed: --pre finds it compatible (and the admin may install).
    let run = mbot(&ns, &["check", "--pre"]).await;
    ok(&run);
    assert!(run.stdout.contains("already installed"), "{run:?}");

    // SIGKILLed: nobody renews the Lease, and check says so once it is stale.
    scene.kill_operator().await;
    let run = poll("check to report the stale renewal", SETTLE, || async {
        let run = mbot(&ns, &[&["check"][..], &place].concat()).await;
        match run.code == Some(1) && run.stdout.contains("stale") {
            true => Ok(run),
            false => Err(format!("{run:?}")),
        }
    })
    .await;
    assert!(run.stdout.contains("✗ Lease"), "{run:?}");
    assert!(run.stderr.contains("checks failed"), "{run:?}");
}

#[tokio::test]
async fn check_prints_the_vendor_line_while_the_operator_waits_for_lemonslice() {
    let scene = Scene::builder("plugin-vendor")
        .without_operator()
        .start()
        .await;
    let ns = scene.ns.clone();
    // LemonSlice no longer takes the operator's key: the replica waits, and says so on its Lease.
    scene
        .admin
        .set_api_keys(&["another-key-7f3a1b"])
        .await
        .unwrap();
    let _waiting = scene.spawn_operator(&replica(&scene, "mbot-check-waiting"));
    let place = ["--operator-namespace", ns.as_str()];
    let check = [&["check"][..], &place].concat();
    let run = poll("check to print the vendor line", SETTLE, || async {
        let run = mbot(&ns, &check).await;
        match run.code == Some(1) && run.stdout.contains("✗ the operator waits for LemonSlice") {
            true => Ok(run),
            false => Err(format!("{run:?}")),
        }
    })
    .await;
    assert!(
        run.stdout.contains("replica mbot-check-waiting")
            && run.stdout.contains("operator's API key"),
        "{run:?}"
    );
    assert!(
        !run.stdout.contains(API_KEY),
        "no key in the output: {run:?}"
    );

    // The key accepted again: the replica acts, leads, and every check passes.
    scene.admin.set_api_keys(&[API_KEY]).await.unwrap();
    let run = poll("check to pass", Duration::from_secs(30), || async {
        let run = mbot(&ns, &check).await;
        match run.code == Some(0) {
            true => Ok(run),
            false => Err(format!("{run:?}")),
        }
    })
    .await;
    assert!(
        run.stdout
            .contains("✔ replica mbot-check-waiting: LemonSlice accepts")
            && run.stdout.contains("held by mbot-check-waiting"),
        "{run:?}"
    );
}

/// A control plane of its own, with no CRD (the shared one's CRD serves every
/// other test): `check --pre` passes, and `check` fails saying to install it.
#[tokio::test]
async fn check_before_install_on_a_cluster_without_the_crd() {
    let dir = tempfile::tempdir().unwrap();
    let script = |name: &str| repo_root().join("tests/cluster").join(name);
    let up = std::process::Command::new(script("up.sh"))
        .env("CLUSTER_DIR", dir.path())
        .output()
        .expect("up.sh runs");
    assert!(up.status.success(), "{up:?}");
    let kubeconfig = dir.path().join("kubeconfig");
    let plugin = env!("CARGO_BIN_EXE_kubectl-mbot");
    let check = |args: &[&str]| {
        std::process::Command::new(plugin)
            .args(args)
            .args([
                "--kubeconfig",
                kubeconfig.to_str().unwrap(),
                "-n",
                "default",
            ])
            .output()
            .expect("the plugin runs")
    };
    let pre = check(&["check", "--pre"]);
    let installed = check(&["check"]);
    let down = std::process::Command::new(script("down.sh"))
        .env("CLUSTER_DIR", dir.path())
        .output()
        .expect("down.sh runs");
    assert!(down.status.success(), "{down:?}");

    let stdout = String::from_utf8_lossy(&pre.stdout);
    assert_eq!(pre.status.code(), Some(0), "{pre:?}");
    assert!(stdout.contains("is not installed yet"), "{stdout}");
    let stdout = String::from_utf8_lossy(&installed.stdout);
    assert_eq!(installed.status.code(), Some(1), "{installed:?}");
    assert!(
        stdout.contains("✗ CRD") && stdout.contains("is not installed"),
        "{stdout}"
    );
}
