//! Answers that are not what they seem: a front proxy's 503 after the vendor
//! made the bot, a redirect to another host, and join answers that carry an
//! id without a usable websocket URL, or in a body over the read limit. Each
//! must end with exactly one avatar, and that avatar named somewhere a person
//! (or the operator) can take it out from.

use crate::scene::{Scene, Waits, proxy_503_after_join};
use crate::support::*;
use fake_lemonslice::{Faults, WebsocketUrlAnswer};
use meetingbot_operator::api::{ConnectionSecretRef, MeetingBot};
use std::time::Duration;

/// Waits until `name` is Ready or Stalled, whichever comes: the two ways a
/// join's story ends, so that a test can say which one it expected.
async fn wait_settled(scene: &Scene, name: &str) -> MeetingBot {
    scene
        .wait_bot(name, "Ready=True or Stalled=True", |bot| {
            let settled = ["Ready", "Stalled"]
                .iter()
                .any(|type_| bot.condition(type_).is_some_and(|c| c.status == "True"));
            settled.then(|| bot.clone())
        })
        .await
}

fn ready_reason(bot: &MeetingBot) -> (String, String) {
    let ready = bot.condition("Ready").expect("a Ready condition");
    (ready.status.clone(), ready.reason.clone())
}

#[tokio::test]
async fn a_proxy_503_after_the_vendor_made_the_bot_never_joins_a_second_avatar() {
    // The vendor makes the bot; the proxy in front of it answers 503 in plain text.
    let scene = Scene::builder("proxy-reset")
        .faults(proxy_503_after_join())
        .start()
        .await;
    scene.create("behind-proxy", spec("session-proxy")).await;
    // A second avatar ends the wait as surely as the stall: the avatars are
    // what the user pays for.
    let bots = scene.bots();
    let bot = poll(
        "Stalled=True (JoinOutcomeUnknown), or a second avatar",
        Duration::from_secs(30),
        || async {
            let bot = bots.get("behind-proxy").await.map_err(|e| e.to_string())?;
            let avatars = scene.live_bots("session-proxy").await.len();
            let stalled = bot
                .condition("Stalled")
                .is_some_and(|c| c.status == "True" && c.reason == "JoinOutcomeUnknown");
            if stalled || avatars > 1 {
                Ok(bot)
            } else {
                Err(format!(
                    "{avatars} avatar(s), Ready: {:?}",
                    bot.condition("Ready")
                ))
            }
        },
    )
    .await;
    let live = scene.live_bots("session-proxy").await;
    assert_eq!(live.len(), 1, "exactly one avatar: {live:?}");
    let message = &bot.condition("Stalled").unwrap().message;
    assert!(message.contains("503"), "{message}");

    // The vendor is healthy again, and a reconcile (proven by its echo) still
    // does not join on its own: the bot the proxy hid may be in the meeting.
    scene.admin.set_faults(&Faults::default()).await.unwrap();
    scene.reconcile("behind-proxy").await;
    assert_eq!(scene.calls().await.total("join"), 1, "no second join");
    assert_eq!(scene.live_bots("session-proxy").await.len(), 1);
}

#[tokio::test]
async fn a_vendor_503_in_its_own_words_is_still_retried() {
    // `{"detail": ...}` from LemonSlice itself: a refusal, no bot; retried.
    let scene = Scene::builder("vendor-503")
        .faults(crate::scene::failing("join", 503))
        .start()
        .await;
    scene.create("refused", spec("session-vendor-503")).await;
    scene.wait_reconciling("refused", "VendorUnavailable").await;
    scene.admin.set_faults(&Faults::default()).await.unwrap();
    scene.wait_joined("refused").await;
    assert_eq!(scene.live_bots("session-vendor-503").await.len(), 1);
}

#[tokio::test]
async fn a_redirect_to_another_host_is_not_followed() {
    // Another host that accepts the same key: where a followed redirect
    // would carry the key and the join body.
    let elsewhere = fake().await;
    let port = elsewhere.url().rsplit(':').next().unwrap().to_owned();
    let location = format!(
        "http://localhost:{port}/liveai/sessions/session-redirect/join-meeting?sig=location-secret"
    );
    let scene = Scene::builder("redirect")
        .faults(Faults {
            redirect_to: Some(location),
            endpoints: vec!["join".into()],
            ..Faults::default()
        })
        .start()
        .await;
    scene.create("redirected", spec("session-redirect")).await;
    let bot = wait_settled(&scene, "redirected").await;

    let carried = elsewhere.admin().requests().await.unwrap();
    assert!(
        carried.is_empty(),
        "the redirect carried the key and the join to another host: {carried:?}"
    );
    assert!(elsewhere.admin().bots().await.unwrap().is_empty());
    assert!(scene.live_bots("session-redirect").await.is_empty());
    // A redirect is no refusal in LemonSlice's words: the outcome is unknown,
    // and the message names the host it pointed at, not its query.
    let stalled = bot.condition("Stalled").expect("Stalled");
    assert_eq!(stalled.reason, "JoinOutcomeUnknown");
    assert!(
        stalled.message.contains(&format!("localhost:{port}")),
        "{}",
        stalled.message
    );
    assert!(
        !stalled.message.contains("location-secret"),
        "{}",
        stalled.message
    );
    assert_eq!(scene.calls().await.total("join"), 1);
}

#[tokio::test]
async fn a_join_answer_without_a_websocket_url_records_the_bot() {
    let scene = Scene::builder("no-websocket")
        .faults(Faults {
            join_websocket_url: WebsocketUrlAnswer::Null,
            ..Faults::default()
        })
        .start()
        .await;
    let mut with_secret = spec("session-null-url");
    with_secret.write_connection_secret_to_ref = Some(ConnectionSecretRef {
        name: "agent-connection".into(),
    });
    scene.create("null-url", with_secret).await;
    let bot = wait_settled(&scene, "null-url").await;
    let live = scene.live_bots("session-null-url").await;
    assert_eq!(live.len(), 1, "exactly one avatar: {live:?}");
    assert_eq!(
        ready_reason(&bot),
        ("True".into(), "Joined".into()),
        "{:?}",
        bot.status
    );
    let status = bot.status.clone().unwrap();
    assert_eq!(
        status.meeting_bot_id.as_deref(),
        Some(live[0].meeting_bot_id.as_str())
    );
    assert_eq!(status.websocket_url, None);
    let message = &bot.condition("Ready").unwrap().message;
    assert!(message.contains("no websocket URL"), "{message}");
    // The record's copy in the annotations follows.
    scene
        .wait_bot("null-url", "the record annotation", |bot| {
            (annotated_bot_id(bot).as_ref() == Some(&live[0].meeting_bot_id)).then_some(())
        })
        .await;
    // No connection Secret with an empty URL; its condition says why.
    let bot = scene
        .wait_condition(
            "null-url",
            "ConnectionSecretReady",
            "False",
            "WebsocketUrlMissing",
        )
        .await;
    let condition = bot.condition("ConnectionSecretReady").unwrap();
    assert!(
        condition.message.contains("agent-connection"),
        "{}",
        condition.message
    );
    assert!(
        scene
            .secrets()
            .get_opt("agent-connection")
            .await
            .unwrap()
            .is_none()
    );

    // An empty URL is no URL either.
    scene
        .admin
        .set_faults(&Faults {
            join_websocket_url: WebsocketUrlAnswer::Empty,
            ..Faults::default()
        })
        .await
        .unwrap();
    scene.create("empty-url", spec("session-empty-url")).await;
    let bot = wait_settled(&scene, "empty-url").await;
    let live = scene.live_bots("session-empty-url").await;
    assert_eq!(live.len(), 1, "exactly one avatar: {live:?}");
    assert_eq!(ready_reason(&bot), ("True".into(), "Joined".into()));
    assert_eq!(
        bot.status.unwrap().meeting_bot_id.as_deref(),
        Some(live[0].meeting_bot_id.as_str())
    );

    // Both can be taken out again.
    scene.delete("null-url").await;
    scene.delete("empty-url").await;
    scene.wait_gone("null-url").await;
    scene.wait_gone("empty-url").await;
    assert!(scene.admin.bots().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_id_in_an_answer_over_the_read_limit_is_shown_and_logged() {
    let scene = Scene::builder("oversized")
        .faults(Faults {
            join_answer_padding: 70 * 1024,
            ..Faults::default()
        })
        .start()
        .await;
    scene.create("oversized", spec("session-oversized")).await;
    let bot = wait_settled(&scene, "oversized").await;
    let live = scene.live_bots("session-oversized").await;
    assert_eq!(live.len(), 1, "exactly one avatar: {live:?}");
    let id = &live[0].meeting_bot_id;
    let stalled = bot.condition("Stalled").expect("Stalled");
    assert_eq!(stalled.reason, "JoinOutcomeUnknown");
    assert!(
        stalled.message.contains(id.as_str()),
        "the stall names the bot id seen: {}",
        stalled.message
    );
    assert!(!stalled.message.contains("token="), "{}", stalled.message);
    let log = scene.operator().log_text();
    assert!(log.contains(id.as_str()), "the log names {id}");
    assert_eq!(scene.calls().await.total("join"), 1, "no second join");
}
