//! The `kubectl mbot` plugin end to end: the real kubectl finds the plugin on
//! PATH and runs it against MeetingBots in the states each command is for;
//! what the operator then does (the fake's records, status) is the check.

use crate::support::*;
use fake_lemonslice::Faults;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use meetingbot_operator::api::{MeetingBot, Phase, annotation};
use serde_json::json;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(20);

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

fn bots(client: &kube::Client, ns: &str) -> Api<MeetingBot> {
    Api::namespaced(client.clone(), ns)
}

fn phase(bot: &MeetingBot) -> Option<Phase> {
    bot.status.as_ref()?.phase
}

/// Waits until the operator shows the bot Stalled with JoinOutcomeUnknown.
async fn wait_unknown(client: &kube::Client, ns: &str, name: &str) -> MeetingBot {
    wait_for_condition(
        client,
        ns,
        name,
        "Stalled",
        Some("JoinOutcomeUnknown"),
        SETTLE,
    )
    .await
}

#[tokio::test]
async fn suspend_takes_the_avatar_out_and_resume_brings_it_back() {
    let (client, ns, fake) = prepared("plugin-suspend").await;
    let _operator = Operator::start(&OperatorOptions::new(&ns, &fake)).await;
    create_bot(&client, &ns, "standup", spec("session-suspend")).await;
    let joined = wait_for_condition(&client, &ns, "standup", "Ready", Some("Joined"), SETTLE).await;
    let first = joined.status.unwrap().meeting_bot_id.unwrap();

    let run = mbot(&ns, &["suspend", "standup"]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    wait_until("the bot to be Suspended", SETTLE, || async {
        let bot = bots(&client, &ns).get("standup").await.ok()?;
        (phase(&bot) == Some(Phase::Suspended)).then_some(())
    })
    .await;
    let leaves = fake.admin().leaves().await.unwrap();
    assert!(
        leaves.iter().any(|l| l.meeting_bot_id == first),
        "the bot left: {leaves:?}"
    );
    assert!(live_bots(&fake.admin(), "session-suspend").await.is_empty());

    let run = mbot(&ns, &["resume", "standup"]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let rejoined =
        wait_for_condition(&client, &ns, "standup", "Ready", Some("Joined"), SETTLE).await;
    let live = live_bots(&fake.admin(), "session-suspend").await;
    assert_eq!(live.len(), 1, "one avatar again: {live:?}");
    assert_eq!(
        rejoined.status.unwrap().meeting_bot_id.as_ref(),
        Some(&live[0].meeting_bot_id)
    );
    assert_ne!(live[0].meeting_bot_id, first, "a new join");
}

#[tokio::test]
async fn reconcile_returns_once_the_operator_has_echoed_the_request() {
    let (client, ns, fake) = prepared("plugin-reconcile").await;
    create_bot(&client, &ns, "standup", spec("session-reconcile")).await;

    // No operator yet: nobody echoes, and the command says so when its time is up.
    let run = mbot(&ns, &["reconcile", "standup", "--timeout", "2s"]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("did not handle"), "{run:?}");

    let _operator = Operator::start(&OperatorOptions::new(&ns, &fake)).await;
    wait_for_condition(&client, &ns, "standup", "Ready", Some("Joined"), SETTLE).await;
    let run = mbot(&ns, &["reconcile", "standup", "--timeout", "30s"]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.contains("phase Joined"), "{run:?}");
    let bot = bots(&client, &ns).get("standup").await.unwrap();
    let requested = bot.annotations()[annotation::RECONCILE_REQUESTED_AT].clone();
    assert_eq!(
        bot.status.unwrap().last_handled_reconcile_at,
        Some(requested),
        "the command returned after the echo of its own value"
    );
}

#[tokio::test]
async fn retry_join_needs_a_yes_and_then_allows_exactly_one_join() {
    let (client, ns, fake) = prepared("plugin-retry").await;
    fake.admin()
        .set_faults(&Faults {
            error_rate: 1.0,
            error_statuses: vec![502],
            endpoints: vec!["join".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    let _operator = Operator::start(&OperatorOptions::new(&ns, &fake)).await;
    create_bot(&client, &ns, "unsure", spec("session-retry")).await;
    wait_unknown(&client, &ns, "unsure").await;
    fake.admin().set_faults(&Faults::default()).await.unwrap();

    let run = mbot(&ns, &["retry-join", "unsure"]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr.contains("SECOND AVATAR") && run.stderr.contains("--yes"),
        "{run:?}"
    );
    let bot = bots(&client, &ns).get("unsure").await.unwrap();
    assert!(
        !bot.annotations().contains_key(annotation::RETRY_JOIN),
        "nothing written without confirmation"
    );
    assert_eq!(fake.admin().calls().await.unwrap().total("join"), 1);

    let run = mbot(&ns, &["retry-join", "unsure", "--yes"]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    wait_for_condition(&client, &ns, "unsure", "Ready", Some("Joined"), SETTLE).await;
    assert_eq!(
        fake.admin().calls().await.unwrap().total("join"),
        2,
        "exactly one new join"
    );
    assert_eq!(live_bots(&fake.admin(), "session-retry").await.len(), 1);

    // Joined now: nothing left to retry, and the command refuses.
    let run = mbot(&ns, &["retry-join", "unsure", "--yes"]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("nothing to retry"), "{run:?}");
}

#[tokio::test]
async fn adopt_records_the_bot_of_an_unknown_join_and_deletion_makes_it_leave() {
    let (client, ns, fake) = prepared("plugin-adopt").await;
    let _operator = Operator::start(&OperatorOptions::new(&ns, &fake)).await;
    create_bot(&client, &ns, "fine", spec("session-fine")).await;
    wait_for_condition(&client, &ns, "fine", "Ready", Some("Joined"), SETTLE).await;
    // The fake makes the bot, then drops the connection: nobody learns its id.
    fake.admin()
        .set_faults(&Faults {
            drop_join_rate: 1.0,
            endpoints: vec!["join".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    create_bot(&client, &ns, "unsure", spec("session-adopt")).await;
    wait_unknown(&client, &ns, "unsure").await;
    fake.admin().set_faults(&Faults::default()).await.unwrap();
    let live = live_bots(&fake.admin(), "session-adopt").await;
    assert_eq!(live.len(), 1, "{live:?}");
    let real_id = live[0].meeting_bot_id.clone();

    // What a person sees: the stuck bot first, and the commands that get it going.
    let run = mbot(&ns, &["list"]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines[1].contains("unsure") && lines[1].contains("Stalled: JoinOutcomeUnknown"),
        "{run:?}"
    );
    assert!(lines[2].contains("fine"), "{run:?}");
    // The operator's Warning Event may land a moment after the condition.
    let run = wait_until("status to show the Warning Event", SETTLE, || async {
        let run = mbot(&ns, &["status", "unsure"]).await;
        let event = run
            .stdout
            .lines()
            .any(|l| l.contains("Warning") && l.contains("JoinOutcomeUnknown"));
        (run.code == Some(0) && event).then_some(run)
    })
    .await;
    for wanted in [
        "Phase:        Failed",
        "Platform:     GoogleMeet",
        "Bot ID:       unknown: a join under session session-adopt",
        "Stalled",
        "Needs you:",
        &format!("kubectl mbot adopt unsure -n {ns} --bot-id <ID>"),
        &format!("kubectl mbot retry-join unsure -n {ns}"),
    ] {
        assert!(run.stdout.contains(wanted), "{wanted:?} in {run:?}");
    }

    let run = mbot(&ns, &["adopt", "unsure", "--bot-id", &real_id]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let adopted = wait_for_condition(&client, &ns, "unsure", "Ready", Some("Joined"), SETTLE).await;
    assert_eq!(
        adopted.status.as_ref().unwrap().meeting_bot_id.as_deref(),
        Some(real_id.as_str())
    );
    assert_eq!(
        adopted.annotations().get(annotation::RECORD_UID),
        adopted.metadata.uid.as_ref(),
        "the record is this object's own"
    );
    assert_eq!(
        fake.admin().calls().await.unwrap().total("join"),
        2,
        "no new join"
    );
    let run = mbot(&ns, &["status", "unsure"]).await;
    assert!(
        run.stdout.contains(&format!("Bot ID:       {real_id}"))
            && !run.stdout.contains("Needs you"),
        "{run:?}"
    );

    bots(&client, &ns)
        .delete("unsure", &DeleteParams::default())
        .await
        .unwrap();
    wait_for_gone(&client, &ns, "unsure", SETTLE).await;
    let leaves = fake.admin().leaves().await.unwrap();
    assert!(
        leaves.iter().any(|l| l.meeting_bot_id == real_id),
        "the adopted bot left: {leaves:?}"
    );
    assert!(live_bots(&fake.admin(), "session-adopt").await.is_empty());
}

#[tokio::test]
async fn adopt_refuses_over_a_live_different_bot() {
    let (client, ns, fake) = prepared("plugin-refuse").await;
    let _operator = Operator::start(&OperatorOptions::new(&ns, &fake)).await;
    create_bot(&client, &ns, "standup", spec("session-refuse")).await;
    wait_for_condition(&client, &ns, "standup", "Ready", Some("Joined"), SETTLE).await;
    // Both copies of the record written (the annotations follow Ready).
    let joined = wait_until("the record in the annotations", SETTLE, || async {
        let bot = bots(&client, &ns).get("standup").await.ok()?;
        bot.annotations()
            .contains_key(annotation::RECORD_UID)
            .then_some(bot)
    })
    .await;
    let live_id = joined.status.clone().unwrap().meeting_bot_id.unwrap();

    let run = mbot(&ns, &["adopt", "standup", "--bot-id", "meeting-bot-other"]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr
            .contains(&format!("already records bot {live_id}"))
            && run.stderr.contains("Nothing was written"),
        "{run:?}"
    );
    let after = bots(&client, &ns).get("standup").await.unwrap();
    assert_eq!(
        after.resource_version(),
        joined.resource_version(),
        "nothing changed"
    );
    assert_eq!(
        after.annotations().get(annotation::MEETING_BOT_ID),
        Some(&live_id)
    );

    // The same id again: nothing to do, and no write either.
    let run = mbot(&ns, &["adopt", "standup", "--bot-id", &live_id]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.contains("nothing to do"), "{run:?}");
    let after = bots(&client, &ns).get("standup").await.unwrap();
    assert_eq!(after.resource_version(), joined.resource_version());
    let live = live_bots(&fake.admin(), "session-refuse").await;
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].meeting_bot_id, live_id);
}

/// A foreign record (a copy's): the plugin writes the annotations that take it
/// over or drop it. No operator runs here: on this branch it does not yet act
/// on them, so the check is the write itself, and the refusals.
#[tokio::test]
async fn a_foreign_record_is_adopted_or_discarded_by_annotation() {
    let (client, ns, _fake) = prepared("plugin-foreign").await;
    create_bot(&client, &ns, "copy", spec("session-foreign")).await;
    bots(&client, &ns)
        .patch(
            "copy",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {
                annotation::RECORD_UID: "uid-of-the-original",
                annotation::MEETING_BOT_ID: "meeting-bot-original",
            }}})),
        )
        .await
        .unwrap();
    create_bot(&client, &ns, "own", spec("session-own")).await;

    let run = mbot(&ns, &["status", "copy"]).await;
    assert!(
        run.stdout.contains("uid-of-the-original")
            && run.stdout.contains(&format!(
                "kubectl mbot adopt copy -n {ns} --bot-id meeting-bot-original"
            ))
            && run
                .stdout
                .contains(&format!("kubectl mbot discard-record copy -n {ns}")),
        "{run:?}"
    );
    let run = mbot(&ns, &["list"]).await;
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines[1].contains("copy") && lines[1].contains("ForeignRecord"),
        "{run:?}"
    );

    let run = mbot(&ns, &["adopt", "copy", "--bot-id", "meeting-bot-wrong"]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("meeting-bot-original"), "{run:?}");
    let bot = bots(&client, &ns).get("copy").await.unwrap();
    assert!(!bot.annotations().contains_key(annotation::ADOPT_RECORD));

    let run = mbot(&ns, &["adopt", "copy", "--bot-id", "meeting-bot-original"]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let bot = bots(&client, &ns).get("copy").await.unwrap();
    assert_eq!(
        bot.annotations()
            .get(annotation::ADOPT_RECORD)
            .map(String::as_str),
        Some("uid-of-the-original")
    );

    let run = mbot(&ns, &["discard-record", "copy"]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let bot = bots(&client, &ns).get("copy").await.unwrap();
    assert_eq!(
        bot.annotations()
            .get(annotation::DISCARD_RECORD)
            .map(String::as_str),
        Some("uid-of-the-original")
    );

    let run = mbot(&ns, &["discard-record", "own"]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("nothing to discard"), "{run:?}");
    let own = bots(&client, &ns).get("own").await.unwrap();
    assert!(!own.annotations().contains_key(annotation::DISCARD_RECORD));

    let run = mbot(&ns, &["status", "missing"]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("not found") && run.stderr.contains("kubectl mbot list"));
}

#[tokio::test]
async fn a_refused_leave_is_listed_first_and_its_printed_way_out_works() {
    let (client, ns, fake) = prepared("plugin-leave").await;
    let _operator = Operator::start(&OperatorOptions::new(&ns, &fake)).await;
    create_bot(&client, &ns, "a-fine", spec("session-leave-fine")).await;
    create_bot(&client, &ns, "refused", spec("session-leave")).await;
    for name in ["a-fine", "refused"] {
        wait_for_condition(&client, &ns, name, "Ready", Some("Joined"), SETTLE).await;
    }
    fake.admin()
        .set_faults(&Faults {
            error_rate: 1.0,
            error_statuses: vec![401],
            endpoints: vec!["leave".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    bots(&client, &ns)
        .delete("refused", &DeleteParams::default())
        .await
        .unwrap();
    wait_for_condition(
        &client,
        &ns,
        "refused",
        "Stalled",
        Some("LeaveFailed"),
        SETTLE,
    )
    .await;

    let run = mbot(&ns, &["list"]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines[1].contains("refused")
            && lines[1].contains("Deleting for")
            && lines[1].contains("LeaveFailed"),
        "the stuck deletion comes first: {run:?}"
    );
    assert!(lines[2].contains("a-fine"), "{run:?}");

    let run = mbot(&ns, &["status", "refused"]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        run.stdout.contains("Deleting:") && run.stdout.contains("Needs you:"),
        "{run:?}"
    );
    let way_out = run
        .stdout
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("kubectl annotate"))
        .unwrap_or_else(|| panic!("a command to let it go: {run:?}"))
        .to_owned();
    let output = tokio::process::Command::new("sh")
        .args(["-c", &way_out])
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{way_out}: {output:?}");
    wait_for_gone(&client, &ns, "refused", SETTLE).await;
    assert_eq!(
        live_bots(&fake.admin(), "session-leave").await.len(),
        1,
        "let go without leave: the avatar stays until its session ends"
    );
}
