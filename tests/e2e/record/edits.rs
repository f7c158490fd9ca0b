//! Edits of a joined MeetingBot that the operator could not act on: the API
//! server refuses them, naming the field, and the record stays whole; and a
//! skip-leave that lets go of one bot only.

use crate::scene::{Scene, Waits};
use crate::support::*;
use kube::api::{Patch, PatchParams};
use meetingbot_operator::api::annotation;
use serde_json::json;

#[tokio::test]
async fn an_edit_the_operator_would_refuse_is_refused_and_the_record_stays() {
    let scene = Scene::start("edits").await;
    scene.create("standup", spec("session-edits")).await;
    let joined = scene.wait_joined("standup").await;
    let before = joined.status.clone().unwrap();
    assert!(before.websocket_url.is_some());

    for (spec, field) in [
        (json!({ "maxDuration": "0s" }), "spec.maxDuration"),
        (json!({ "maxDuration": "500ms" }), "spec.maxDuration"),
        (
            json!({ "meetingUrl": "https://meet.google.com:65536/abc-defg-hij" }),
            "spec.meetingUrl",
        ),
    ] {
        let refused = scene
            .bots()
            .patch(
                "standup",
                &PatchParams::default(),
                &Patch::Merge(&json!({ "spec": spec })),
            )
            .await;
        match refused {
            Err(kube::Error::Api(status)) => assert!(
                status.message.contains(field),
                "the refusal of {spec} names {field}: {}",
                status.message
            ),
            Ok(_) => panic!("the API server must refuse {spec}: it admitted it"),
            Err(other) => panic!("the API server must refuse {spec}: {other}"),
        }
    }

    // The operator has acted since, and its record is as it was.
    let after = scene.reconcile("standup").await;
    let status = after.status.unwrap();
    assert_eq!(
        (
            &status.meeting_bot_id,
            &status.websocket_url,
            &status.joined_at
        ),
        (
            &before.meeting_bot_id,
            &before.websocket_url,
            &before.joined_at
        )
    );
    assert_eq!(scene.live_bots("session-edits").await.len(), 1);
}

/// Waits until `name` is Ready with a bot other than `old`, and returns its id.
pub(super) async fn wait_rejoined(scene: &Scene, name: &str, old: &str) -> String {
    poll(
        &format!("{name} Ready with a bot other than {old}"),
        std::time::Duration::from_secs(30),
        || async {
            let bot = scene.bot(name).await;
            let ready = bot.condition("Ready").is_some_and(|c| c.status == "True");
            match bot.status.and_then(|s| s.meeting_bot_id) {
                Some(id) if ready && id != old => Ok(id),
                other => Err(format!("{other:?}, ready {ready}")),
            }
        },
    )
    .await
}

#[tokio::test]
async fn a_skip_leave_used_on_a_rejoin_lets_go_of_that_bot_only() {
    let scene = Scene::start("skip").await;
    scene.create("standup", spec("session-skip")).await;
    let first = scene.wait_joined("standup").await;
    let first = first.status.unwrap().meeting_bot_id.unwrap();

    scene
        .annotate("standup", annotation::SKIP_LEAVE, "true")
        .await;
    scene
        .patch_spec("standup", json!({ "botName": "Second" }))
        .await;
    let second = wait_rejoined(&scene, "standup", &first).await;
    assert_eq!(scene.calls().await.total("leave"), 0, "let go as asked");
    let bot = scene.bot("standup").await;
    assert_eq!(
        bot.annotation(annotation::SKIP_LEAVE),
        None,
        "used up with the record it let go of"
    );

    scene
        .patch_spec("standup", json!({ "botName": "Third" }))
        .await;
    wait_rejoined(&scene, "standup", &second).await;
    let leaves = scene.admin.leaves().await.unwrap();
    assert_eq!(
        leaves
            .iter()
            .map(|l| l.meeting_bot_id.as_str())
            .collect::<Vec<_>>(),
        [second.as_str()],
        "the next rejoin leaves"
    );
}
