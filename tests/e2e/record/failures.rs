//! Failures around the record: seconds of 404s for the session or for
//! leave, a proxy's own success page for a leave, and an operator started
//! with a wrong base URL.

use crate::scene::{Scene, Waits, failing};
use crate::support::*;
use fake_lemonslice::Faults;
use meetingbot_operator::api::Phase;
use std::time::Duration;

#[tokio::test]
async fn seconds_of_session_404s_keep_the_bot_and_deletion_still_leaves() {
    let scene = Scene::builder("notfound")
        .arg("--session-poll-interval=1s")
        .start()
        .await;
    scene.create("standup", spec("session-404")).await;
    scene.wait_joined("standup").await;

    scene
        .admin
        .set_faults(&failing("session", 404))
        .await
        .unwrap();
    poll(
        "three session reads answered 404",
        std::time::Duration::from_secs(30),
        || async {
            let reads = scene.requests_to("session").await;
            let answered_404 = reads.iter().filter(|r| r.status == "404").count();
            match answered_404 {
                3.. => Ok(()),
                n => Err(format!("{n} answered 404")),
            }
        },
    )
    .await;
    scene.admin.set_faults(&Faults::default()).await.unwrap();

    // The fake answered the last 404 before the operator could act on it:
    // the operator's next read of the session, which only the reconcile
    // that handled that 404 plans (one at a time per MeetingBot), is the
    // proof that it has acted, and an ended session would have none.
    poll(
        "a session read after the last 404",
        std::time::Duration::from_secs(30),
        || async {
            let reads: Vec<_> = scene
                .requests_to("session")
                .await
                .into_iter()
                .filter(|r| r.session_id == "session-404")
                .map(|r| r.status)
                .collect();
            match reads.iter().rposition(|status| status == "404") {
                Some(last) if reads[last + 1..].iter().any(|status| status == "200") => Ok(()),
                _ => Err(format!("reads answered {reads:?}")),
            }
        },
    )
    .await;
    let bot = scene.bot("standup").await;
    assert_eq!(bot.status.unwrap().phase, Some(Phase::Joined));
    let events = kubectl(&["get", "events", "-n", &scene.ns, "-o", "json"]);
    assert!(!events.contains("SessionEnded"), "{events}");

    scene.delete("standup").await;
    scene.wait_gone("standup").await;
    assert_eq!(scene.calls().await.total("leave"), 1);
    assert!(scene.live_bots("session-404").await.is_empty());
}

#[tokio::test]
async fn seconds_of_leave_404s_never_let_go_of_a_bot_still_in_its_meeting() {
    let scene = Scene::start("leave-404").await;
    scene.create("standup", spec("session-leave-404")).await;
    scene.wait_joined("standup").await;

    // LemonSlice (or a proxy in front of it) answers leave 404 for a
    // moment, while the session list still answers for the key.
    scene
        .admin
        .set_faults(&failing("leave", 404))
        .await
        .unwrap();
    scene.delete("standup").await;
    poll(
        "two leaves answered 404",
        Duration::from_secs(30),
        || async {
            let answered = scene.requests_to("leave").await;
            match answered.iter().filter(|r| r.status == "404").count() {
                2.. => Ok(()),
                n => Err(format!("{n} answered 404")),
            }
        },
    )
    .await;
    let waiting = scene.bot("standup").await;
    assert!(
        waiting.has_finalizer(),
        "the MeetingBot waits for its bot to leave"
    );
    let leaving = waiting.condition("Ready").unwrap();
    assert!(leaving.message.contains("404"), "{}", leaving.message);
    assert_eq!(scene.live_bots("session-leave-404").await.len(), 1);

    // LemonSlice knows the bot again: it leaves, and only then the MeetingBot goes.
    scene.admin.set_faults(&Faults::default()).await.unwrap();
    scene.wait_gone("standup").await;
    assert!(scene.live_bots("session-leave-404").await.is_empty());
    let answered: Vec<String> = scene
        .requests_to("leave")
        .await
        .into_iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(
        answered.last().map(String::as_str),
        Some("200"),
        "{answered:?}"
    );
}

#[tokio::test]
async fn a_proxys_own_200_page_for_a_leave_never_lets_go_of_the_bot() {
    let scene = Scene::start("leave-page").await;
    scene.create("standup", spec("session-leave-page")).await;
    scene.wait_joined("standup").await;

    // A proxy in front of LemonSlice answers leaves with its own 200 page
    // (maintenance, a sign-in): the vendor never saw them.
    scene
        .admin
        .set_faults(&Faults {
            proxy_page_rate: 1.0,
            endpoints: vec!["leave".into()],
            ..Faults::default()
        })
        .await
        .unwrap();
    scene.delete("standup").await;
    poll(
        "two leaves answered by the proxy's page",
        Duration::from_secs(30),
        || async {
            match scene.requests_to("leave").await.len() {
                2.. => Ok(()),
                n => Err(format!("{n} leaves")),
            }
        },
    )
    .await;
    let waiting = scene.bot("standup").await;
    assert!(
        waiting.has_finalizer(),
        "the MeetingBot waits for its bot to leave"
    );
    let leaving = waiting.condition("Ready").unwrap();
    assert!(
        leaving.message.contains(r#"does not say "status": "left""#),
        "{}",
        leaving.message
    );
    assert_eq!(scene.live_bots("session-leave-page").await.len(), 1);

    // The proxy lets calls through again: the bot leaves, then the MeetingBot goes.
    scene.admin.set_faults(&Faults::default()).await.unwrap();
    scene.wait_gone("standup").await;
    assert!(scene.live_bots("session-leave-page").await.is_empty());
    assert_eq!(scene.admin.leaves().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_wrong_base_url_keeps_the_operator_unready_and_every_finalizer_in_place() {
    let mut scene = Scene::start("wrongurl").await;
    scene.create("standup", spec("session-wrong-url")).await;
    scene.wait_joined("standup").await;
    scene.kill_operator().await;

    let mut options = scene.options();
    options.lemonslice_url = format!("{}/not-the-api", scene.fake.url());
    let wrong = scene.spawn_operator(&options);
    scene.delete("standup").await;
    poll(
        "two failed checks in the log",
        std::time::Duration::from_secs(30),
        || async {
            match wrong.log_text().matches("check --lemonslice-url").count() {
                2.. => Ok(()),
                n => Err(format!("{n} failed checks")),
            }
        },
    )
    .await;
    let (status, body) = wrong.get("/readyz").await.expect("readyz answers");
    assert_eq!(status, 503, "{body}");
    let still = scene.bot("standup").await;
    assert!(still.has_finalizer() && still.metadata.deletion_timestamp.is_some());
    assert_eq!(scene.calls().await.total("leave"), 0);
    assert_eq!(scene.live_bots("session-wrong-url").await.len(), 1);

    wrong.kill().await;
    scene.restart_operator().await;
    scene.wait_gone("standup").await;
    assert!(scene.live_bots("session-wrong-url").await.is_empty());
}
