//! The controller end to end: a MeetingBot on the real API server, the
//! operator as a process, and the fake LemonSlice. `restarts` is the operator
//! stopped and started again; `vendor` the vendor's refusals and failures.

mod answers;
mod restarts;
pub mod vendor;

use crate::scene::{Scene, Waits};
use crate::support::*;
use meetingbot_operator::api::{DeletionPolicy, Phase, Platform};
use serde_json::json;
use std::time::Duration;

const READY_WITHIN: Duration = Duration::from_secs(5);

#[tokio::test]
async fn a_meeting_bot_joins_and_leaves_on_deletion() {
    // With the websocket URL in status as LemonSlice returned it (the default
    // keeps its token out), so that the token can be looked for below.
    let scene = Scene::builder("join")
        .arg("--redact-websocket-token=false")
        .start()
        .await;

    scene.create("standup", spec("session-join")).await;
    let bot = scene.within(READY_WITHIN).wait_joined("standup").await;

    let live = scene.live_bots("session-join").await;
    assert_eq!(live.len(), 1, "exactly one live bot: {live:?}");
    let status = bot.status.clone().unwrap();
    assert_eq!(status.phase, Some(Phase::Joined));
    assert_eq!(
        status.meeting_bot_id.as_deref(),
        Some(live[0].meeting_bot_id.as_str())
    );
    assert_eq!(status.session_id.as_deref(), Some("session-join"));
    assert_eq!(status.platform, Some(Platform::GoogleMeet));
    assert!(status.joined_at.is_some());
    assert_eq!(status.observed_generation, bot.metadata.generation);
    let joins = scene.admin.joins().await.unwrap();
    let websocket = status.websocket_url.unwrap();
    assert!(
        websocket.contains("/agent-audio/session-join?token="),
        "{websocket}"
    );
    assert_eq!(live[0].meeting_url, "https://meet.google.com/abc-defg-hij");
    assert_eq!(live[0].bot_name.as_deref(), Some("LemonSlice Avatar"));
    assert_eq!(joins.len(), 1);
    // The second copy of the record follows Ready, off the path to it.
    let id = &live[0].meeting_bot_id;
    let recorded = scene
        .wait_bot("standup", "the bot id kept in an annotation too", |bot| {
            (annotated_bot_id(bot).as_ref() == Some(id)).then(|| bot.clone())
        })
        .await;
    // What `kubectl get -o yaml --show-managed-fields` and server-side apply
    // conflicts show: whoever manages status, the finalizer and the record.
    let managers_of = |touches: &dyn Fn(&serde_json::Value) -> bool| -> Vec<Option<String>> {
        let entries = recorded.metadata.managed_fields.iter().flatten();
        entries
            .filter(|entry| entry.fields_v1.as_ref().is_some_and(|f| touches(&f.0)))
            .map(|entry| entry.manager.clone())
            .collect()
    };
    let operator = vec![Some("meetingbot-operator".to_owned())];
    assert_eq!(managers_of(&|f| f.get("f:status").is_some()), operator);
    assert_eq!(
        managers_of(&|f| f["f:metadata"].get("f:finalizers").is_some()),
        operator
    );
    assert_eq!(
        managers_of(&|f| f["f:metadata"]["f:annotations"]
            .get("f:liveai.lemonslice.com/record")
            .is_some()),
        operator
    );

    // What a user runs: kubectl wait on the Ready condition.
    kubectl(&[
        "wait",
        "--for=condition=Ready",
        "--timeout=10s",
        "-n",
        &scene.ns,
        "mbot/standup",
    ]);

    scene.delete("standup").await;
    scene.wait_gone("standup").await;
    assert!(
        scene.live_bots("session-join").await.is_empty(),
        "the bot left"
    );
    let leaves = scene.admin.leaves().await.unwrap();
    assert_eq!(leaves.len(), 1);
    assert_eq!(&leaves[0].meeting_bot_id, id);

    // No secret in the operator's logs or in the Events it published.
    let websocket_token = websocket.split("token=").nth(1).unwrap();
    // Both Events are published off the path to Ready and to gone.
    let events = poll("the Joined and Left Events", READY_WITHIN, || async {
        let events = kubectl(&["get", "events", "-n", &scene.ns, "-o", "yaml"]);
        if events.contains("Joined") && events.contains("Left") {
            Ok(events)
        } else {
            Err(events)
        }
    })
    .await;
    let log = scene.operator().log_text();
    for secret in [API_KEY, BROADCAST_TOKEN, websocket_token] {
        assert!(!log.contains(secret), "the operator logged a secret");
        assert!(!events.contains(secret), "an Event carries a secret");
    }
}

#[tokio::test]
async fn a_secret_created_later_starts_the_join() {
    let scene = Scene::builder("late-secret").without_token().start().await;

    scene.create("waiting", spec("session-late")).await;
    let bot = scene.wait_reconciling("waiting", "SecretNotFound").await;
    assert_eq!(bot.status.unwrap().phase, Some(Phase::Pending));
    assert_eq!(
        scene.calls().await.total("join"),
        0,
        "no vendor call without the token"
    );

    scene.put_secret("token", "token", BROADCAST_TOKEN).await;
    scene.wait_joined("waiting").await;
    assert_eq!(scene.live_bots("session-late").await.len(), 1);
}

#[tokio::test]
async fn a_changed_meeting_url_moves_the_bot() {
    let scene = Scene::start("move").await;

    scene.create("mover", spec("session-move")).await;
    let before = scene.within(READY_WITHIN).wait_joined("mover").await;
    let old_id = before.status.unwrap().meeting_bot_id.unwrap();

    let new_url = "https://acme.zoom.us/j/85412345678?pwd=AbC123";
    scene
        .patch_spec("mover", json!({"meetingUrl": new_url}))
        .await;
    let after = scene
        .wait_bot(
            "mover",
            "a new bot id, Joined, at the new generation",
            |bot| {
                let status = bot.status.as_ref()?;
                let moved = status.meeting_bot_id.as_deref() != Some(old_id.as_str())
                    && status.phase == Some(Phase::Joined)
                    && status.observed_generation == bot.metadata.generation;
                moved.then(|| bot.clone())
            },
        )
        .await;
    let live = scene.live_bots("session-move").await;
    assert_eq!(live.len(), 1, "exactly one live bot: {live:?}");
    assert_eq!(live[0].meeting_url, new_url);
    assert_eq!(
        Some(&live[0].meeting_bot_id),
        after.status.unwrap().meeting_bot_id.as_ref()
    );
    let leaves = scene.admin.leaves().await.unwrap();
    assert_eq!(leaves.len(), 1);
    assert_eq!(leaves[0].meeting_bot_id, old_id, "the old bot left");
    assert_eq!(
        scene.admin.peak_live("session-move").await.unwrap(),
        1,
        "the old bot left before the new one joined"
    );
}

#[tokio::test]
async fn orphan_lets_go_without_leave() {
    let scene = Scene::start("orphan").await;
    let mut spec = spec("session-orphan");
    spec.deletion_policy = DeletionPolicy::Orphan;
    scene.create("orphan", spec).await;
    scene.within(READY_WITHIN).wait_joined("orphan").await;
    scene.delete("orphan").await;
    scene.wait_gone("orphan").await;
    assert_eq!(scene.calls().await.total("leave"), 0, "no leave call");
    assert_eq!(
        scene.live_bots("session-orphan").await.len(),
        1,
        "the bot stays"
    );
}
