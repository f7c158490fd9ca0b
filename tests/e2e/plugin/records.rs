//! The plugin's commands for bot records: adopt the bot of an unknown join,
//! refuse to adopt over a live one, take over or drop a foreign record, and
//! let go of a MeetingBot whose leave is refused.

use super::mbot;
use crate::scene::{Scene, Waits, failing};
use crate::support::*;
use fake_lemonslice::Faults;
use kube::ResourceExt;
use meetingbot_operator::api::annotation;
use serde_json::json;
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(20);

#[tokio::test]
async fn adopt_records_the_bot_of_an_unknown_join_and_deletion_makes_it_leave() {
    let scene = Scene::start("plugin-adopt").await;
    scene.create("fine", spec("session-fine")).await;
    scene.wait_joined("fine").await;
    // The fake makes the bot, then drops the connection: nobody learns its id.
    scene
        .admin
        .set_faults(&Faults {
            drop_join_rate: 1.0,
            endpoints: vec!["join".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    scene.create("unsure", spec("session-adopt")).await;
    scene.wait_stalled("unsure", "JoinOutcomeUnknown").await;
    scene.admin.set_faults(&Faults::default()).await.unwrap();
    let live = scene.live_bots("session-adopt").await;
    assert_eq!(live.len(), 1, "{live:?}");
    let real_id = live[0].meeting_bot_id.clone();

    // What a person sees: the stuck bot first, and the commands that get it going.
    let run = mbot(&scene.ns, &["list"]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines[1].contains("unsure") && lines[1].contains("Stalled: JoinOutcomeUnknown"),
        "{run:?}"
    );
    assert!(lines[2].contains("fine"), "{run:?}");
    // The operator's Warning Event may land a moment after the condition.
    let ns = &scene.ns;
    let run = poll("status to show the Warning Event", SETTLE, || async {
        let run = mbot(&scene.ns, &["status", "unsure"]).await;
        let event = run
            .stdout
            .lines()
            .any(|l| l.contains("Warning") && l.contains("JoinOutcomeUnknown"));
        match run.code == Some(0) && event {
            true => Ok(run),
            false => Err(format!("{run:?}")),
        }
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

    let run = mbot(&scene.ns, &["adopt", "unsure", "--bot-id", &real_id]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let adopted = scene.wait_joined("unsure").await;
    assert_eq!(
        adopted.status.as_ref().unwrap().meeting_bot_id.as_deref(),
        Some(real_id.as_str())
    );
    assert_eq!(
        adopted.status.as_ref().unwrap().record_uid,
        adopted.metadata.uid,
        "the record is this object's own"
    );
    assert_eq!(scene.calls().await.total("join"), 2, "no new join");
    let run = mbot(&scene.ns, &["status", "unsure"]).await;
    assert!(
        run.stdout.contains(&format!("Bot ID:       {real_id}"))
            && !run.stdout.contains("Needs you"),
        "{run:?}"
    );

    scene.delete("unsure").await;
    scene.wait_gone("unsure").await;
    let leaves = scene.admin.leaves().await.unwrap();
    assert!(
        leaves.iter().any(|l| l.meeting_bot_id == real_id),
        "the adopted bot left: {leaves:?}"
    );
    assert!(scene.live_bots("session-adopt").await.is_empty());
}

#[tokio::test]
async fn adopt_refuses_over_a_live_different_bot() {
    let scene = Scene::start("plugin-refuse").await;
    scene.create("standup", spec("session-refuse")).await;
    scene.wait_joined("standup").await;
    // Both copies of the record written (the annotations follow Ready).
    let joined = scene
        .wait_bot("standup", "the record in the annotations", |bot| {
            bot.annotations()
                .contains_key(annotation::RECORD)
                .then(|| bot.clone())
        })
        .await;
    let live_id = joined.status.clone().unwrap().meeting_bot_id.unwrap();

    let run = mbot(
        &scene.ns,
        &["adopt", "standup", "--bot-id", "meeting-bot-other"],
    )
    .await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr
            .contains(&format!("already records bot {live_id}"))
            && run.stderr.contains("Nothing was written"),
        "{run:?}"
    );
    let after = scene.bot("standup").await;
    assert_eq!(
        after.resource_version(),
        joined.resource_version(),
        "nothing changed"
    );
    assert_eq!(annotated_bot_id(&after).as_ref(), Some(&live_id));

    // The same id again: nothing to do, and no write either.
    let run = mbot(&scene.ns, &["adopt", "standup", "--bot-id", &live_id]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.contains("nothing to do"), "{run:?}");
    let after = scene.bot("standup").await;
    assert_eq!(after.resource_version(), joined.resource_version());
    let live = scene.live_bots("session-refuse").await;
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].meeting_bot_id, live_id);
}

/// A foreign record (a copy's): the plugin writes the annotations that take it
/// over or drop it. No operator runs here: on this branch it does not yet act
/// on them, so the check is the write itself, and the refusals.
#[tokio::test]
async fn a_foreign_record_is_adopted_or_discarded_by_annotation() {
    let scene = Scene::builder("plugin-foreign").bare().start().await;
    let ns = &scene.ns;
    scene.create("copy", spec("session-foreign")).await;
    scene
        .merge(
            "copy",
            json!({"metadata": {"annotations": {
                annotation::RECORD: json!({
                    "meetingBotId": "meeting-bot-original",
                    "sessionId": "session-foreign",
                    "uid": "uid-of-the-original",
                }).to_string(),
            }}}),
        )
        .await;
    scene.create("own", spec("session-own")).await;

    let run = mbot(&scene.ns, &["status", "copy"]).await;
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
    let run = mbot(&scene.ns, &["list"]).await;
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines[1].contains("copy") && lines[1].contains("ForeignRecord"),
        "{run:?}"
    );

    let run = mbot(
        &scene.ns,
        &["adopt", "copy", "--bot-id", "meeting-bot-wrong"],
    )
    .await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("meeting-bot-original"), "{run:?}");
    let bot = scene.bot("copy").await;
    assert!(!bot.annotations().contains_key(annotation::ADOPT_RECORD));

    let run = mbot(
        &scene.ns,
        &["adopt", "copy", "--bot-id", "meeting-bot-original"],
    )
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let bot = scene.bot("copy").await;
    assert_eq!(
        bot.annotations()
            .get(annotation::ADOPT_RECORD)
            .map(String::as_str),
        Some("uid-of-the-original")
    );

    let run = mbot(&scene.ns, &["discard-record", "copy"]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let bot = scene.bot("copy").await;
    assert_eq!(
        bot.annotations()
            .get(annotation::DISCARD_RECORD)
            .map(String::as_str),
        Some("uid-of-the-original")
    );

    let run = mbot(&scene.ns, &["discard-record", "own"]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("nothing to discard"), "{run:?}");
    let own = scene.bot("own").await;
    assert!(!own.annotations().contains_key(annotation::DISCARD_RECORD));

    let run = mbot(&scene.ns, &["status", "missing"]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("not found") && run.stderr.contains("kubectl mbot list"));
}

#[tokio::test]
async fn a_refused_leave_is_listed_first_and_its_printed_way_out_works() {
    let scene = Scene::start("plugin-leave").await;
    scene.create("a-fine", spec("session-leave-fine")).await;
    scene.create("refused", spec("session-leave")).await;
    for name in ["a-fine", "refused"] {
        scene.wait_joined(name).await;
    }
    scene
        .admin
        .set_faults(&failing("leave", 401))
        .await
        .unwrap();
    scene.delete("refused").await;
    scene.wait_stalled("refused", "LeaveFailed").await;

    let run = mbot(&scene.ns, &["list"]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines[1].contains("refused")
            && lines[1].contains("Deleting for")
            && lines[1].contains("LeaveFailed"),
        "the stuck deletion comes first: {run:?}"
    );
    assert!(lines[2].contains("a-fine"), "{run:?}");

    let run = mbot(&scene.ns, &["status", "refused"]).await;
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
    scene.wait_gone("refused").await;
    assert_eq!(
        scene.live_bots("session-leave").await.len(),
        1,
        "let go without leave: the avatar stays until its session ends"
    );

    // The vendor answers leaves again: the other MeetingBot's deletion leaves.
    scene.admin.set_faults(&Faults::default()).await.unwrap();
    scene.delete("a-fine").await;
    scene.wait_gone("a-fine").await;
    assert!(scene.live_bots("session-leave-fine").await.is_empty());
}
