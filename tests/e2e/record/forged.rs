//! A bot id written into a joined MeetingBot's record by someone other than
//! the operator (a hand edit kept in Git and re-applied by self-heal, or an
//! older operator's `meeting-bot-id` annotation): never believed, never left,
//! and the bot the operator joined is still the one deleting takes out.

use super::edits::wait_rejoined;
use crate::scene::{Scene, Waits};
use crate::support::*;
use kube::ResourceExt;
use meetingbot_operator::api::{LEGACY_RECORD_ANNOTATIONS, annotation};
use serde_json::json;

#[tokio::test]
async fn a_bot_id_written_into_the_record_by_another_writer_is_never_believed() {
    let scene = Scene::start("forged").await;
    scene.create("standup", spec("session-forged")).await;
    scene.wait_joined("standup").await;
    let joined = scene
        .wait_bot("standup", "the record in its annotation", |bot| {
            annotated_bot_id(bot).map(|_| bot.clone())
        })
        .await;
    let real = joined.status.clone().unwrap().meeting_bot_id.unwrap();

    // The id someone once wrote by hand, in the whole record (stamped with
    // this object's UID, joined later than status says) and in the older
    // operator's annotation, as a GitOps tool re-applies it.
    let forged = json!({
        "meetingBotId": "meeting-bot-forged",
        "sessionId": "session-forged",
        "uid": joined.uid().unwrap(),
        "joinedAt": jiff::Timestamp::now().to_string(),
    });
    scene
        .merge(
            "standup",
            json!({ "metadata": { "annotations": {
                annotation::RECORD: forged.to_string(),
                LEGACY_RECORD_ANNOTATIONS[0]: "meeting-bot-forged",
            }}}),
        )
        .await;
    let stalled = scene.wait_stalled("standup", "RecordConflict").await;
    let message = &stalled.condition("Stalled").unwrap().message;
    assert!(
        message.contains("meeting-bot-forged") && message.contains(&real),
        "the message names both bots: {message}"
    );
    let status = stalled.status.unwrap();
    assert_eq!(status.meeting_bot_id.as_deref(), Some(real.as_str()));
    assert!(status.websocket_url.is_some(), "the websocket URL stays");

    // The way out the message gives: remove the annotation; the operator
    // writes its record again from status.
    scene
        .merge(
            "standup",
            json!({ "metadata": { "annotations": {
                annotation::RECORD: null,
                LEGACY_RECORD_ANNOTATIONS[0]: null,
            }}}),
        )
        .await;
    scene
        .wait_bot("standup", "the real bot back in the record", |bot| {
            let ready = bot.condition("Ready").is_some_and(|c| c.status == "True");
            (ready && annotated_bot_id(bot).as_ref() == Some(&real)).then_some(())
        })
        .await;

    // A rejoin and a deletion leave the real bots only.
    scene
        .patch_spec("standup", json!({ "botName": "Second" }))
        .await;
    let second = wait_rejoined(&scene, "standup", &real).await;
    scene.delete("standup").await;
    scene.wait_gone("standup").await;
    let leaves: Vec<String> = scene
        .admin
        .leaves()
        .await
        .unwrap()
        .into_iter()
        .map(|leave| leave.meeting_bot_id)
        .collect();
    assert_eq!(leaves, [real, second]);
    assert!(scene.live_bots("session-forged").await.is_empty());
    assert_eq!(scene.calls().await.total("join"), 2);
}
