//! Session awareness: the operator joins only an active session, and says so
//! when the session has ended.

use crate::scene::{Scene, SceneBuilder, Waits, failing, proxy_503_after_join};
use crate::support::*;
use fake_lemonslice::Faults;
use jiff::Timestamp;
use meetingbot_operator::api::{MeetingBot, Phase, annotation};
use std::time::Duration;

const POLL_SECS: u64 = 2;

fn polling_often(prefix: &str) -> SceneBuilder {
    Scene::builder(prefix)
        .arg(format!("--session-poll-interval={POLL_SECS}s"))
        .deadline(Duration::from_secs(10))
}

/// A scene whose MeetingBot `name` is made for a session the fake reports as `status`.
async fn for_session(name: &str, session: &str, status: &str) -> Scene {
    let scene = polling_often(name).session(session, status).start().await;
    scene.create(name, spec(session)).await;
    scene
}

/// Ends `session` at the fake, and waits for MeetingBot `name` to say so:
/// within the poll interval with its jitter (at most 1.2 times), plus a few seconds.
async fn end_session(scene: &Scene, session: &str, name: &str) -> MeetingBot {
    scene
        .admin
        .set_session_status(session, "COMPLETED")
        .await
        .unwrap();
    let within = Duration::from_secs(POLL_SECS * 12 / 10 + 5);
    scene
        .within(within)
        .wait_stalled(name, "SessionCompleted")
        .await
}

fn phase(bot: &MeetingBot) -> Option<Phase> {
    bot.status.as_ref().and_then(|status| status.phase)
}

#[tokio::test]
async fn a_queued_session_is_joined_once_it_is_active() {
    let scene = for_session("early", "session-queued", "QUEUED").await;
    let waiting = scene.wait_reconciling("early", "SessionQueued").await;
    assert_eq!(phase(&waiting), Some(Phase::WaitingForSession));
    // The join's record claimed it before the read; no join was sent, so the
    // record went again, and status names the install.
    assert!(
        waiting.annotation(annotation::JOIN_IN_FLIGHT).is_none(),
        "no join in flight while QUEUED: {:?}",
        waiting.metadata.annotations
    );
    assert!(
        waiting
            .status
            .as_ref()
            .and_then(|s| s.install.as_deref())
            .is_some(),
        "status names the install that read the session"
    );
    // Wait for a second read of the queued session, so that "no join" means something.
    poll("a second session read", Duration::from_secs(10), || async {
        match scene.calls().await.total("session") {
            2.. => Ok(()),
            n => Err(format!("{n} session reads")),
        }
    })
    .await;
    assert_eq!(scene.calls().await.total("join"), 0, "no join while QUEUED");

    scene
        .admin
        .set_session_status("session-queued", "ACTIVE")
        .await
        .unwrap();
    scene.wait_joined("early").await;
    assert_eq!(scene.live_bots("session-queued").await.len(), 1);
}

#[tokio::test]
async fn an_ended_session_shows_and_deletion_still_calls_leave() {
    let scene = polling_often("ended").start().await;

    scene.create("brief", spec("session-ends")).await;
    let joined = scene
        .within(Duration::from_secs(5))
        .wait_joined("brief")
        .await;
    let bot_id = joined.status.unwrap().meeting_bot_id.unwrap();

    let ended = end_session(&scene, "session-ends", "brief").await;
    let status = ended.status.unwrap();
    assert_eq!(status.phase, Some(Phase::SessionEnded));
    assert_eq!(
        status.meeting_bot_id.as_deref(),
        Some(bot_id.as_str()),
        "the bot id stays on record"
    );
    let ready = status.condition("Ready").unwrap();
    assert_eq!(ready.status, "False");
    scene.wait_event("brief", "SessionEnded").await;

    scene.delete("brief").await;
    scene.wait_gone("brief").await;
    // Leave is called anyway: a 404 there is fine, a bot left behind is not.
    let leaves: Vec<_> = scene
        .requests_to("leave")
        .await
        .into_iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(leaves, ["404"], "one leave, answered 404");
}

#[tokio::test]
async fn a_failed_session_is_never_joined() {
    let scene = for_session("late", "session-failed", "FAILED").await;
    let stalled = scene.wait_stalled("late", "SessionFailed").await;
    assert_eq!(phase(&stalled), Some(Phase::SessionEnded));
    assert_eq!(scene.calls().await.total("join"), 0);
}

/// The session reads of `session` answered `status`, oldest first.
async fn reads_answered(scene: &Scene, status: &str) -> Vec<Timestamp> {
    let reads = scene.requests_to("session").await;
    reads
        .iter()
        .filter(|r| r.status == status)
        .map(|r| r.at)
        .collect()
}

/// Waits for a session read answered `status` after `after`, and returns when it came.
async fn wait_read(scene: &Scene, status: &str, after: Timestamp) -> Timestamp {
    poll(
        &format!("a session read answered {status}"),
        Duration::from_secs(60),
        || async {
            let reads = reads_answered(scene, status).await;
            reads
                .into_iter()
                .find(|at| *at > after)
                .ok_or_else(|| "none yet".to_owned())
        },
    )
    .await
}

#[tokio::test]
async fn blips_long_ago_and_a_single_404_never_end_a_joined_bot() {
    let scene = polling_often("blips").start().await;
    scene.create("blips", spec("session-blips")).await;
    scene.wait_joined("blips").await;
    let start = Timestamp::now();

    // The vendor is busy for a moment, then answers again.
    scene
        .admin
        .set_faults(&failing("session", 429))
        .await
        .unwrap();
    let first_blip = wait_read(&scene, "429", start).await;
    wait_read(&scene, "429", first_blip).await;
    scene.admin.set_faults(&Faults::default()).await.unwrap();
    let answered = wait_read(&scene, "200", first_blip).await;

    // A minute after the blips (the age a 404 needs to be believed), one 404.
    poll(
        "a minute since the first blip",
        Duration::from_secs(90),
        || async {
            let waited = Timestamp::now().duration_since(first_blip);
            (waited >= jiff::SignedDuration::from_secs(61))
                .then_some(())
                .ok_or(format!("{waited}"))
        },
    )
    .await;
    scene
        .admin
        .set_faults(&failing("session", 404))
        .await
        .unwrap();
    let not_found = wait_read(&scene, "404", answered).await;
    scene.admin.set_faults(&Faults::default()).await.unwrap();

    // The operator reads the session again: proof it acted on the 404.
    wait_read(&scene, "200", not_found).await;
    let bot = scene.bot("blips").await;
    assert_eq!(phase(&bot), Some(Phase::Joined));
    let ended = scene
        .events()
        .await
        .into_iter()
        .any(|e| e.reason.as_deref() == Some("SessionEnded"));
    assert!(!ended, "no SessionEnded Event");
    assert_eq!(scene.live_bots("session-blips").await.len(), 1);
}

#[tokio::test]
async fn a_join_whose_outcome_was_lost_stops_blocking_once_its_session_ended() {
    // The vendor makes the bot; a proxy in front of it answers 503, which
    // proves nothing: the join's outcome is unknown, with an avatar in the meeting.
    let scene = polling_often("unknown-ends")
        .faults(proxy_503_after_join())
        .start()
        .await;
    scene.create("lost", spec("session-lost")).await;
    let stalled = scene.wait_stalled("lost", "JoinOutcomeUnknown").await;
    assert_eq!(scene.live_bots("session-lost").await.len(), 1);

    // Its session is read now and then, and while it is ACTIVE nothing changes.
    let since = Timestamp::now();
    let first = wait_read(&scene, "200", since).await;
    wait_read(&scene, "200", first).await;
    let still = scene.bot("lost").await;
    assert_eq!(
        still.condition("Stalled").map(|c| c.reason.as_str()),
        Some("JoinOutcomeUnknown")
    );
    assert_eq!(still.metadata.annotations, stalled.metadata.annotations);
    assert_eq!(scene.calls().await.total("join"), 1, "no second join");

    // The session ends, taking the avatar with it: the join's record goes,
    // and the MeetingBot says its session is over.
    let ended = end_session(&scene, "session-lost", "lost").await;
    assert_eq!(phase(&ended), Some(Phase::SessionEnded));
    assert!(
        ended.annotation(annotation::JOIN_IN_FLIGHT).is_none(),
        "the join's record is cleared: {:?}",
        ended.metadata.annotations
    );
    scene.wait_event("lost", "UnknownJoinEnded").await;

    // A live session in the spec is joined, once.
    scene.admin.set_faults(&Faults::default()).await.unwrap();
    scene
        .patch_spec("lost", serde_json::json!({ "sessionId": "session-next" }))
        .await;
    let joined = scene.wait_joined("lost").await;
    assert_eq!(scene.calls().await.total("join"), 2);
    let live = scene.live_bots("session-next").await;
    assert_eq!(live.len(), 1, "one avatar: {live:?}");
    assert_eq!(
        joined.status.unwrap().meeting_bot_id.as_deref(),
        Some(live[0].meeting_bot_id.as_str())
    );
}
