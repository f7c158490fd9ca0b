//! The `kubectl mbot` plugin end to end: the real kubectl finds the plugin on
//! PATH and runs it against MeetingBots in the states each command is for;
//! what the operator then does (the fake's records, status) is the check.
//! `records` holds the commands that take over or let go of a bot record.

mod kubectl;
mod records;

use crate::controller::vendor::unknown_outcome;
use crate::scene::{Scene, Waits};
use crate::support::*;
use kube::ResourceExt;
use meetingbot_operator::api::{MeetingBot, Phase, annotation};
use std::path::Path;
use std::process::Stdio;

/// What one `kubectl mbot ...` run gave.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `kubectl mbot ARGS -n NS` with the plugin's folder first on PATH and
/// no terminal on standard input.
async fn mbot(ns: &str, args: &[&str]) -> Run {
    let plugin = Path::new(env!("CARGO_BIN_EXE_kubectl-mbot"));
    let path = format!(
        "{}:{}",
        plugin.parent().expect("the plugin's folder").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = tokio::process::Command::new("kubectl")
        .arg("mbot")
        .args(args)
        .args(["-n", ns])
        .env("PATH", path)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("kubectl runs (with-cluster.sh puts it on PATH)");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn phase(bot: &MeetingBot) -> Option<Phase> {
    bot.status.as_ref()?.phase
}

#[tokio::test]
async fn suspend_takes_the_avatar_out_and_resume_brings_it_back() {
    let scene = Scene::start("plugin-suspend").await;
    scene.create("standup", spec("session-suspend")).await;
    let joined = scene.wait_joined("standup").await;
    let first = joined.status.unwrap().meeting_bot_id.unwrap();

    let run = mbot(&scene.ns, &["suspend", "standup"]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    scene
        .wait_bot("standup", "phase Suspended", |bot| {
            (phase(bot) == Some(Phase::Suspended)).then_some(())
        })
        .await;
    let leaves = scene.admin.leaves().await.unwrap();
    assert!(
        leaves.iter().any(|l| l.meeting_bot_id == first),
        "the bot left: {leaves:?}"
    );
    assert!(scene.live_bots("session-suspend").await.is_empty());

    let run = mbot(&scene.ns, &["resume", "standup"]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let rejoined = scene.wait_joined("standup").await;
    let live = scene.live_bots("session-suspend").await;
    assert_eq!(live.len(), 1, "one avatar again: {live:?}");
    assert_eq!(
        rejoined.status.unwrap().meeting_bot_id.as_ref(),
        Some(&live[0].meeting_bot_id)
    );
    assert_ne!(live[0].meeting_bot_id, first, "a new join");
}

#[tokio::test]
async fn reconcile_returns_once_the_operator_has_echoed_the_request() {
    let mut scene = Scene::builder("plugin-reconcile")
        .without_operator()
        .start()
        .await;
    scene.create("standup", spec("session-reconcile")).await;

    // No operator yet: nobody echoes, and the command says so when its time is up.
    let run = mbot(&scene.ns, &["reconcile", "standup", "--timeout", "2s"]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("did not handle"), "{run:?}");

    scene.run_operator(&scene.options()).await;
    scene.wait_joined("standup").await;
    let run = mbot(&scene.ns, &["reconcile", "standup", "--timeout", "30s"]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.contains("phase Joined"), "{run:?}");
    let bot = scene.bot("standup").await;
    let requested = bot.annotations()[annotation::RECONCILE_REQUESTED_AT].clone();
    assert_eq!(
        bot.status.unwrap().last_handled_reconcile_at,
        Some(requested),
        "the command returned after the echo of its own value"
    );
}

#[tokio::test]
async fn retry_join_needs_a_yes_and_then_allows_exactly_one_join() {
    let (scene, _) = unknown_outcome("plugin-retry", "session-retry").await;

    let run = mbot(&scene.ns, &["retry-join", "unsure"]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr.contains("SECOND AVATAR") && run.stderr.contains("--yes"),
        "{run:?}"
    );
    let bot = scene.bot("unsure").await;
    assert!(
        !bot.annotations().contains_key(annotation::RETRY_JOIN),
        "nothing written without confirmation"
    );
    assert_eq!(scene.calls().await.total("join"), 1);

    let run = mbot(&scene.ns, &["retry-join", "unsure", "--yes"]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    scene.wait_joined("unsure").await;
    assert_eq!(scene.calls().await.total("join"), 2, "exactly one new join");
    assert_eq!(scene.live_bots("session-retry").await.len(), 1);

    // Joined now: nothing left to retry, and the command refuses.
    let run = mbot(&scene.ns, &["retry-join", "unsure", "--yes"]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("nothing to retry"), "{run:?}");
}
