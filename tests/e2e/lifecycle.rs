//! Beyond join and leave: scheduled joins, maximum duration, suspend, a meeting
//! URL kept in a Secret, the connection Secret, and reconcile requests.

use crate::scene::{Scene, Waits};
use crate::support::*;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::api::PostParams;
use meetingbot_operator::api::{
    ConnectionSecretRef, MeetingBot, MeetingUrlSecretRef, Phase, Platform,
};
use serde_json::json;

fn phase(bot: &MeetingBot) -> Option<Phase> {
    bot.status.as_ref().and_then(|status| status.phase)
}

#[tokio::test]
async fn a_scheduled_join_waits_for_join_at() {
    let scene = Scene::start("scheduled").await;

    // Whole seconds: the API server keeps timestamps to the second.
    let join_at = jiff::Timestamp::from_second(jiff::Timestamp::now().as_second() + 5).unwrap();
    let mut spec = spec("session-scheduled");
    spec.join_at = Some(Time(join_at));
    scene.create("later", spec).await;
    let scheduled = scene.wait_reconciling("later", "Scheduled").await;
    assert_eq!(phase(&scheduled), Some(Phase::Scheduled));
    let message = &scheduled.condition("Ready").unwrap().message;
    assert!(message.contains(&join_at.to_string()), "{message}");
    assert_eq!(scene.calls().await.total("join"), 0);

    scene.wait_joined("later").await;
    let joins = scene.admin.joins().await.unwrap();
    assert_eq!(joins.len(), 1);
    let joined_at = joins[0].joined_at;
    assert!(
        joined_at >= join_at,
        "joined at {joined_at}, before {join_at}"
    );
    assert!(
        joined_at.duration_since(join_at) < jiff::SignedDuration::from_secs(3),
        "joined at {joined_at}, long after {join_at}"
    );
}

#[tokio::test]
async fn max_duration_leaves_and_never_rejoins() {
    let scene = Scene::start("maxduration").await;

    let mut spec = spec("session-brief");
    spec.max_duration = Some("3s".into());
    scene.create("brief", spec).await;
    scene.wait_joined("brief").await;
    let done = scene
        .wait_condition("brief", "Ready", "True", "Completed")
        .await;
    assert_eq!(phase(&done), Some(Phase::Completed));
    assert!(
        scene.live_bots("session-brief").await.is_empty(),
        "the bot left"
    );
    assert_eq!(scene.admin.leaves().await.unwrap().len(), 1);

    // A reconcile after completion, proven by the echo, makes no new join.
    let reconciled = scene.reconcile("brief").await;
    assert_eq!(scene.calls().await.total("join"), 1, "no rejoin");
    assert_eq!(phase(&reconciled), Some(Phase::Completed));
}

#[tokio::test]
async fn suspend_leaves_and_resume_joins_with_one_bot_at_a_time() {
    let scene = Scene::start("suspend").await;

    scene.create("pausable", spec("session-pause")).await;
    scene.wait_joined("pausable").await;

    scene.patch_spec("pausable", json!({"suspend": true})).await;
    let suspended = scene
        .wait_condition("pausable", "Ready", "True", "Suspended")
        .await;
    assert_eq!(phase(&suspended), Some(Phase::Suspended));
    assert!(scene.live_bots("session-pause").await.is_empty());

    scene
        .patch_spec("pausable", json!({"suspend": false}))
        .await;
    let resumed = scene.wait_joined("pausable").await;
    let live = scene.live_bots("session-pause").await;
    assert_eq!(live.len(), 1);
    assert_eq!(
        resumed.status.unwrap().meeting_bot_id.as_deref(),
        Some(live[0].meeting_bot_id.as_str())
    );
    // The leave of the first bot came before the second join.
    let requests = scene.admin.requests().await.unwrap();
    let order: Vec<&str> = requests
        .iter()
        .filter(|r| r.endpoint != "session")
        .map(|r| r.endpoint.as_str())
        .collect();
    assert_eq!(order, ["join", "leave", "join"]);
    assert_eq!(
        scene.admin.peak_live("session-pause").await.unwrap(),
        1,
        "one bot at a time"
    );
}

#[tokio::test]
async fn a_meeting_url_in_a_secret_is_read_and_checked() {
    let scene = Scene::start("url-secret").await;
    let zoom = "https://us05web.zoom.us/j/85412345678?pwd=S3cretPass";
    scene.put_secret("meeting", "meetingUrl", zoom).await;
    scene
        .put_secret("bad-meeting", "meetingUrl", "https://zoom.us.evil.com/j/1")
        .await;

    let from_secret = |secret: &str| {
        let mut spec = spec(&format!("session-{secret}"));
        spec.meeting_url = None;
        spec.meeting_url_secret_ref = Some(MeetingUrlSecretRef {
            name: secret.into(),
            key: "meetingUrl".into(),
        });
        spec
    };
    scene.create("hidden", from_secret("meeting")).await;
    let joined = scene.wait_joined("hidden").await;
    let live = scene.live_bots("session-meeting").await;
    assert_eq!(live[0].meeting_url, zoom);
    assert_eq!(
        joined.status.as_ref().unwrap().platform,
        Some(Platform::Zoom)
    );
    let shown = serde_json::to_string(&joined).unwrap();
    assert!(
        !shown.contains("S3cretPass"),
        "the password stays out of the object"
    );

    scene.create("refused", from_secret("bad-meeting")).await;
    let refused = scene.wait_stalled("refused", "InvalidMeetingUrl").await;
    let message = &refused.condition("Stalled").unwrap().message;
    assert!(
        message.contains("bad-meeting") && message.contains("zoom.us.evil.com"),
        "{message}"
    );
    assert!(scene.live_bots("session-bad-meeting").await.is_empty());
    assert!(
        !scene.operator().log_text().contains("S3cretPass"),
        "the password stays out of the logs"
    );

    let mut both = from_secret("meeting");
    both.meeting_url = Some("https://meet.google.com/abc-defg-hij".into());
    let error = scene
        .bots()
        .create(&PostParams::default(), &MeetingBot::new("both", both))
        .await
        .expect_err("both forms at once are refused");
    assert!(
        error
            .to_string()
            .contains("exactly one of spec.meetingUrl and spec.meetingUrlSecretRef"),
        "{error}"
    );
}

#[tokio::test]
async fn the_connection_secret_is_written_owned_and_collected() {
    // The operator's default keeps the websocket URL's token out of status.
    let scene = Scene::builder("connection").start().await;

    let mut spec = spec("session-connection");
    spec.write_connection_secret_to_ref = Some(ConnectionSecretRef {
        name: "agent-connection".into(),
    });
    scene.create("connected", spec).await;
    scene.wait_joined("connected").await;
    // The Secret follows Ready; its condition says when the agent may mount it.
    let bot = scene
        .wait_condition(
            "connected",
            "ConnectionSecretReady",
            "True",
            "ConnectionSecretWritten",
        )
        .await;
    let status = bot.status.clone().unwrap();
    let shown = status.websocket_url.unwrap();
    assert!(!shown.contains("token="), "status keeps no token: {shown}");

    let secret = scene
        .secrets()
        .get("agent-connection")
        .await
        .expect("the connection Secret exists");
    let data = secret.data.clone().unwrap();
    let text = |key: &str| String::from_utf8(data[key].0.clone()).unwrap();
    let live = scene.live_bots("session-connection").await;
    assert_eq!(text("meetingBotId"), live[0].meeting_bot_id);
    assert!(
        text("websocketUrl").contains("token="),
        "the agent gets the full URL"
    );
    assert!(text("websocketUrl").starts_with(shown.split('?').next().unwrap()));
    // Nor does the token reach the log or an Event.
    let websocket_url = text("websocketUrl");
    let token = websocket_url.split("token=").nth(1).unwrap();
    let events = kubectl(&["get", "events", "-n", &scene.ns, "-o", "yaml"]);
    assert!(!scene.operator().log_text().contains(token));
    assert!(!events.contains(token));
    let owner = &secret.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("MeetingBot", bot.uid().unwrap().as_str())
    );

    scene.delete("connected").await;
    scene.wait_gone("connected").await;
    scene.wait_secret_gone("agent-connection").await;
}
