//! Session awareness: the operator joins only an active session, and says so
//! when the session has ended.

use crate::support::*;
use kube::Api;
use kube::api::DeleteParams;
use meetingbot_operator::api::{MeetingBot, Phase};
use std::time::Duration;

const POLL_SECS: u64 = 2;

fn polling_often(ns: &str, fake: &fake_lemonslice::FakeServer) -> OperatorOptions {
    let mut options = OperatorOptions::new(ns, fake);
    options
        .extra_args
        .push(format!("--session-poll-interval={POLL_SECS}s"));
    options
}

fn phase(bot: &MeetingBot) -> Option<Phase> {
    bot.status.as_ref().and_then(|status| status.phase)
}

#[tokio::test]
async fn a_queued_session_is_joined_once_it_is_active() {
    let client = client().await;
    let ns = namespace(&client, "queued").await;
    let fake = fake().await;
    let admin = fake.admin();
    admin
        .set_session_status("session-queued", "QUEUED")
        .await
        .unwrap();
    put_secret(&client, &ns, "token", "token", BROADCAST_TOKEN).await;
    let _operator = Operator::start(&polling_often(&ns, &fake)).await;

    create_bot(&client, &ns, "early", spec("session-queued")).await;
    let waiting = wait_for_condition(
        &client,
        &ns,
        "early",
        "Reconciling",
        Some("SessionQueued"),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(phase(&waiting), Some(Phase::WaitingForSession));
    // Wait for a second read of the queued session, so that "no join" means something.
    wait_until("a second session read", Duration::from_secs(10), || async {
        (admin.calls().await.ok()?.total("session") >= 2).then_some(())
    })
    .await;
    assert_eq!(
        admin.calls().await.unwrap().total("join"),
        0,
        "no join while QUEUED"
    );

    admin
        .set_session_status("session-queued", "ACTIVE")
        .await
        .unwrap();
    wait_for_condition(
        &client,
        &ns,
        "early",
        "Ready",
        Some("Joined"),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(live_bots(&admin, "session-queued").await.len(), 1);
}

#[tokio::test]
async fn an_ended_session_shows_and_deletion_still_calls_leave() {
    let (client, ns, fake) = prepared("ended").await;
    let admin = fake.admin();
    let _operator = Operator::start(&polling_often(&ns, &fake)).await;

    create_bot(&client, &ns, "brief", spec("session-ends")).await;
    let joined = wait_for_condition(
        &client,
        &ns,
        "brief",
        "Ready",
        Some("Joined"),
        Duration::from_secs(5),
    )
    .await;
    let bot_id = joined.status.unwrap().meeting_bot_id.unwrap();

    admin
        .set_session_status("session-ends", "COMPLETED")
        .await
        .unwrap();
    // The poll interval with its jitter (at most 1.2 times), plus a few seconds.
    let within = Duration::from_secs(POLL_SECS * 12 / 10 + 5);
    let ended = wait_for_condition(
        &client,
        &ns,
        "brief",
        "Stalled",
        Some("SessionCompleted"),
        within,
    )
    .await;
    let status = ended.status.unwrap();
    assert_eq!(status.phase, Some(Phase::SessionEnded));
    assert_eq!(
        status.meeting_bot_id.as_deref(),
        Some(bot_id.as_str()),
        "the bot id stays on record"
    );
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(ready.status, "False");
    let events = kubectl(&["get", "events", "-n", &ns, "-o", "yaml"]);
    assert!(events.contains("SessionEnded"), "a Normal event: {events}");

    let bots: Api<MeetingBot> = Api::namespaced(client.clone(), &ns);
    bots.delete("brief", &DeleteParams::default())
        .await
        .unwrap();
    wait_for_gone(&client, &ns, "brief", Duration::from_secs(10)).await;
    // Leave is called anyway: a 404 there is fine, a bot left behind is not.
    let leaves: Vec<_> = admin
        .requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.endpoint == "leave")
        .map(|r| r.status)
        .collect();
    assert_eq!(leaves, ["404"], "one leave, answered 404");
}

#[tokio::test]
async fn a_failed_session_is_never_joined() {
    let client = client().await;
    let ns = namespace(&client, "failed").await;
    let fake = fake().await;
    let admin = fake.admin();
    admin
        .set_session_status("session-failed", "FAILED")
        .await
        .unwrap();
    put_secret(&client, &ns, "token", "token", BROADCAST_TOKEN).await;
    let _operator = Operator::start(&polling_often(&ns, &fake)).await;

    create_bot(&client, &ns, "late", spec("session-failed")).await;
    let stalled = wait_for_condition(
        &client,
        &ns,
        "late",
        "Stalled",
        Some("SessionFailed"),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(phase(&stalled), Some(Phase::SessionEnded));
    assert_eq!(admin.calls().await.unwrap().total("join"), 0);
}
