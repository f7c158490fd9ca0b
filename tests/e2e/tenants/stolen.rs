//! A tenant who writes another tenant's bot id into its own MeetingBot's
//! annotations, stamped with its own UID (and the operator's finalizer),
//! and then suspends or deletes it:
//! the operator's API key must not take the other tenant's avatar out.

use crate::scene::{Scene, Waits};
use crate::support::*;
use kube::ResourceExt;
use meetingbot_operator::api::{FINALIZER, annotation};
use serde_json::json;

#[tokio::test]
async fn a_tenant_cannot_make_the_operator_remove_another_tenants_avatar() {
    let scene = Scene::start("stolen").await;
    scene.create("victim", spec("session-victim")).await;
    let victim = scene.wait_joined("victim").await;
    let victim_status = victim.status.clone().unwrap();
    let victim_bot = victim_status.meeting_bot_id.clone().unwrap();

    let mut idle = spec("session-tenant");
    idle.suspend = true;
    let tenant = scene.create("tenant", idle).await;
    let joined_at = victim_status.joined_at.clone().unwrap().0.to_string();
    scene
        .merge(
            "tenant",
            json!({ "metadata": { "finalizers": [FINALIZER], "annotations": {
                annotation::RECORD: json!({
                    "meetingBotId": victim_bot,
                    "sessionId": "session-victim",
                    "uid": tenant.uid().unwrap(),
                    "joinedAt": joined_at,
                }).to_string(),
            }}}),
        )
        .await;
    let stalled = scene.wait_stalled("tenant", "AdoptionConflict").await;
    let message = &stalled.condition("Stalled").unwrap().message;
    assert!(
        !message.contains("victim") && !message.contains(&victim.uid().unwrap()),
        "the other object is not named: {message}"
    );

    // Deleting it holds until the tenant lets it go without leave.
    scene.delete("tenant").await;
    scene.reconcile("tenant").await;
    scene
        .annotate("tenant", annotation::SKIP_LEAVE, "true")
        .await;
    scene.wait_gone("tenant").await;

    assert_eq!(scene.calls().await.total("leave"), 0, "no leave was called");
    assert_eq!(scene.live_bots("session-victim").await.len(), 1);
    let still = scene.reconcile("victim").await;
    assert_eq!(
        still.status.unwrap().meeting_bot_id.as_deref(),
        Some(victim_bot.as_str())
    );
}
