//! The vendor refuses or fails: a join whose outcome is unknown, a rate
//! limit with Retry-After, and an API key it does not accept.

use crate::scene::{Scene, Waits, failing};
use crate::support::*;
use fake_lemonslice::Faults;
use meetingbot_operator::api::{ApiKeySecretRef, MeetingBot, Phase, annotation};

/// A scene whose MeetingBot `unsure` is Stalled with JoinOutcomeUnknown:
/// the vendor answered its join 502, so nobody knows whether a bot joined.
/// The vendor is healthy again when this returns.
pub async fn unknown_outcome(prefix: &str, session: &str) -> (Scene, MeetingBot) {
    let scene = Scene::builder(prefix)
        .faults(failing("join", 502))
        .start()
        .await;
    scene.create("unsure", spec(session)).await;
    let bot = scene.wait_stalled("unsure", "JoinOutcomeUnknown").await;
    scene.admin.set_faults(&Faults::default()).await.unwrap();
    (scene, bot)
}

#[tokio::test]
async fn an_unknown_join_outcome_never_joins_twice_until_asked() {
    let (scene, bot) = unknown_outcome("unknown", "session-unknown").await;
    let message = &bot.condition("Stalled").unwrap().message;
    assert!(
        message.contains("kubectl mbot adopt unsure --bot-id")
            && message.contains(annotation::RETRY_JOIN),
        "{message}"
    );
    // A reconcile with the vendor healthy again, proven by its echo: it must still not join.
    let reconciled = scene.reconcile("unsure").await;
    assert_eq!(
        reconciled.condition("Stalled").map(|c| c.reason.as_str()),
        Some("JoinOutcomeUnknown")
    );
    assert_eq!(scene.calls().await.total("join"), 1, "no second join");

    scene.annotate("unsure", annotation::RETRY_JOIN, "1").await;
    scene.wait_joined("unsure").await;
    assert_eq!(
        scene.calls().await.total("join"),
        2,
        "exactly one more join"
    );
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let scene = Scene::builder("ratelimit")
        .faults(Faults {
            retry_after_secs: Some(2),
            ..failing("join", 429)
        })
        .start()
        .await;
    scene.create("patient", spec("session-429")).await;
    scene.wait_reconciling("patient", "RateLimited").await;
    scene.admin.set_faults(&Faults::default()).await.unwrap();
    scene.wait_joined("patient").await;

    let joins = scene.requests_to("join").await;
    assert!(joins.len() >= 2, "{joins:?}");
    for pair in joins.windows(2) {
        let gap = pair[1].at.duration_since(pair[0].at);
        assert!(
            gap >= jiff::SignedDuration::from_secs(2),
            "a retry came {gap} after a 429 with Retry-After: 2"
        );
    }
}

#[tokio::test]
async fn unauthorized_stalls_until_the_api_key_secret_is_fixed() {
    let scene = Scene::start("unauthorized").await;
    scene
        .put_secret("lemonslice", "apiKey", "wrong-key-123456")
        .await;

    let mut spec = spec("session-401");
    spec.api_key_secret_ref = Some(ApiKeySecretRef {
        name: "lemonslice".into(),
        key: "apiKey".into(),
    });
    scene.create("locked-out", spec).await;
    let bot = scene.wait_stalled("locked-out", "Unauthorized").await;
    assert_eq!(bot.status.unwrap().phase, Some(Phase::Failed));

    scene.put_secret("lemonslice", "apiKey", API_KEY).await;
    scene.wait_joined("locked-out").await;
    assert_eq!(scene.live_bots("session-401").await.len(), 1);
}
