//! Edits of a joined MeetingBot that the operator could not act on: the API
//! server refuses them, naming the field, and the record stays whole.

use crate::scene::{Scene, Waits};
use crate::support::*;
use kube::api::{Patch, PatchParams};
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
