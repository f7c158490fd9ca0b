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

/// Deletes a joined MeetingBot while its leaves meet `faults`, answers that
/// prove nothing of the bot. After two of them the MeetingBot still waits,
/// its bot in the meeting and its Ready message holding `shown`; once
/// leaves get through, the bot leaves, and only then the MeetingBot goes.
async fn deletion_outlasts_leaves_that_prove_nothing(prefix: &str, faults: Faults, shown: &str) {
    let scene = Scene::start(prefix).await;
    let session = format!("session-{prefix}");
    scene.create("standup", spec(&session)).await;
    scene.wait_joined("standup").await;

    scene.admin.set_faults(&faults).await.unwrap();
    scene.delete("standup").await;
    poll("two leaves", Duration::from_secs(30), || async {
        match scene.requests_to("leave").await.len() {
            2.. => Ok(()),
            n => Err(format!("{n} leaves")),
        }
    })
    .await;
    let waiting = scene.bot("standup").await;
    assert!(
        waiting.has_finalizer(),
        "the MeetingBot waits for its bot to leave"
    );
    let leaving = waiting.condition("Ready").unwrap();
    assert!(leaving.message.contains(shown), "{}", leaving.message);
    assert_eq!(scene.live_bots(&session).await.len(), 1);

    scene.admin.set_faults(&Faults::default()).await.unwrap();
    scene.wait_gone("standup").await;
    assert!(scene.live_bots(&session).await.is_empty());
    assert_eq!(scene.admin.leaves().await.unwrap().len(), 1);
}

#[tokio::test]
async fn seconds_of_leave_404s_never_let_go_of_a_bot_still_in_its_meeting() {
    // LemonSlice (or a proxy in front of it) answers leave 404 for a
    // moment, while the session list still answers for the key.
    deletion_outlasts_leaves_that_prove_nothing("leave-404", failing("leave", 404), "404").await;
}

#[tokio::test]
async fn a_proxys_own_200_page_for_a_leave_never_lets_go_of_the_bot() {
    // A proxy in front of LemonSlice answers leaves with its own 200 page
    // (maintenance, a sign-in): the vendor never saw them.
    let page = Faults {
        proxy_page_rate: 1.0,
        endpoints: vec!["leave".into()],
        ..Faults::default()
    };
    deletion_outlasts_leaves_that_prove_nothing(
        "leave-page",
        page,
        r#"does not say "status": "left""#,
    )
    .await;
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
