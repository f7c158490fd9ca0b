//! Beyond join and leave: scheduled joins, maximum duration, suspend, a meeting
//! URL kept in a Secret, the connection Secret, and reconcile requests.

use crate::support::*;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use meetingbot_operator::api::{
    ConnectionSecretRef, MeetingBot, MeetingUrlSecretRef, Phase, Platform, annotation,
};
use serde_json::json;
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(20);

async fn patch_spec(client: &kube::Client, ns: &str, name: &str, spec: serde_json::Value) {
    Api::<MeetingBot>::namespaced(client.clone(), ns)
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": spec })),
        )
        .await
        .expect("the spec patches");
}

fn phase(bot: &MeetingBot) -> Option<Phase> {
    bot.status.as_ref().and_then(|status| status.phase)
}

#[tokio::test]
async fn a_scheduled_join_waits_for_join_at() {
    let (client, ns, fake) = prepared("scheduled").await;
    let _operator = Operator::start(&OperatorOptions::new(&ns, &fake)).await;

    // Whole seconds: the API server keeps timestamps to the second.
    let join_at = jiff::Timestamp::from_second(jiff::Timestamp::now().as_second() + 5).unwrap();
    let mut spec = spec("session-scheduled");
    spec.join_at = Some(Time(join_at));
    create_bot(&client, &ns, "later", spec).await;
    let scheduled = wait_for_condition(
        &client,
        &ns,
        "later",
        "Reconciling",
        Some("Scheduled"),
        SETTLE,
    )
    .await;
    assert_eq!(phase(&scheduled), Some(Phase::Scheduled));
    let message = &condition(&scheduled, "Ready").unwrap().message;
    assert!(message.contains(&join_at.to_string()), "{message}");
    assert_eq!(fake.admin().calls().await.unwrap().total("join"), 0);

    wait_for_condition(&client, &ns, "later", "Ready", Some("Joined"), SETTLE).await;
    let joins = fake.admin().joins().await.unwrap();
    assert_eq!(joins.len(), 1);
    let joined_at =
        jiff::Timestamp::from_millisecond(joins[0].joined_at.timestamp_millis()).unwrap();
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
    let (client, ns, fake) = prepared("maxduration").await;
    let _operator = Operator::start(&OperatorOptions::new(&ns, &fake)).await;

    let mut spec = spec("session-brief");
    spec.max_duration = Some("3s".into());
    create_bot(&client, &ns, "brief", spec).await;
    wait_for_condition(&client, &ns, "brief", "Ready", Some("Joined"), SETTLE).await;
    let done = wait_for_condition(&client, &ns, "brief", "Ready", Some("Completed"), SETTLE).await;
    assert_eq!(phase(&done), Some(Phase::Completed));
    assert!(
        live_bots(&fake.admin(), "session-brief").await.is_empty(),
        "the bot left"
    );
    assert_eq!(fake.admin().leaves().await.unwrap().len(), 1);

    // A reconcile after completion, proven by the echo, makes no new join.
    let bots: Api<MeetingBot> = Api::namespaced(client.clone(), &ns);
    bots.patch(
        "brief",
        &PatchParams::default(),
        &Patch::Merge(
            json!({"metadata": {"annotations": {annotation::RECONCILE_REQUESTED_AT: "now-1"}}}),
        ),
    )
    .await
    .unwrap();
    wait_until("the reconcile request to be handled", SETTLE, || async {
        let bot = bots.get("brief").await.ok()?;
        (bot.status?.last_handled_reconcile_at.as_deref() == Some("now-1")).then_some(())
    })
    .await;
    assert_eq!(
        fake.admin().calls().await.unwrap().total("join"),
        1,
        "no rejoin"
    );
    assert_eq!(
        phase(&bots.get("brief").await.unwrap()),
        Some(Phase::Completed)
    );
}

#[tokio::test]
async fn suspend_leaves_and_resume_joins_with_one_bot_at_a_time() {
    let (client, ns, fake) = prepared("suspend").await;
    let admin = fake.admin();
    let _operator = Operator::start(&OperatorOptions::new(&ns, &fake)).await;

    create_bot(&client, &ns, "pausable", spec("session-pause")).await;
    wait_for_condition(&client, &ns, "pausable", "Ready", Some("Joined"), SETTLE).await;

    patch_spec(&client, &ns, "pausable", json!({"suspend": true})).await;
    let suspended =
        wait_for_condition(&client, &ns, "pausable", "Ready", Some("Suspended"), SETTLE).await;
    assert_eq!(phase(&suspended), Some(Phase::Suspended));
    assert!(live_bots(&admin, "session-pause").await.is_empty());

    patch_spec(&client, &ns, "pausable", json!({"suspend": false})).await;
    let resumed =
        wait_for_condition(&client, &ns, "pausable", "Ready", Some("Joined"), SETTLE).await;
    let live = live_bots(&admin, "session-pause").await;
    assert_eq!(live.len(), 1);
    assert_eq!(
        resumed.status.unwrap().meeting_bot_id.as_deref(),
        Some(live[0].meeting_bot_id.as_str())
    );
    // The leave of the first bot came before the second join.
    let requests = admin.requests().await.unwrap();
    let order: Vec<&str> = requests
        .iter()
        .filter(|r| r.endpoint != "session")
        .map(|r| r.endpoint.as_str())
        .collect();
    assert_eq!(order, ["join", "leave", "join"]);
}

#[tokio::test]
async fn a_meeting_url_in_a_secret_is_read_and_checked() {
    let (client, ns, fake) = prepared("url-secret").await;
    let zoom = "https://us05web.zoom.us/j/85412345678?pwd=S3cretPass";
    put_secret(&client, &ns, "meeting", "meetingUrl", zoom).await;
    put_secret(
        &client,
        &ns,
        "bad-meeting",
        "meetingUrl",
        "https://zoom.us.evil.com/j/1",
    )
    .await;
    let operator = Operator::start(&OperatorOptions::new(&ns, &fake)).await;

    let from_secret = |secret: &str| {
        let mut spec = spec(&format!("session-{secret}"));
        spec.meeting_url = None;
        spec.meeting_url_secret_ref = Some(MeetingUrlSecretRef {
            name: secret.into(),
            key: "meetingUrl".into(),
        });
        spec
    };
    create_bot(&client, &ns, "hidden", from_secret("meeting")).await;
    let joined = wait_for_condition(&client, &ns, "hidden", "Ready", Some("Joined"), SETTLE).await;
    let live = live_bots(&fake.admin(), "session-meeting").await;
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

    create_bot(&client, &ns, "refused", from_secret("bad-meeting")).await;
    let refused = wait_for_condition(
        &client,
        &ns,
        "refused",
        "Stalled",
        Some("InvalidMeetingUrl"),
        SETTLE,
    )
    .await;
    let message = &condition(&refused, "Stalled").unwrap().message;
    assert!(
        message.contains("bad-meeting") && message.contains("zoom.us.evil.com"),
        "{message}"
    );
    assert!(
        live_bots(&fake.admin(), "session-bad-meeting")
            .await
            .is_empty()
    );
    assert!(
        !operator.log_text().contains("S3cretPass"),
        "the password stays out of the logs"
    );

    let mut both = from_secret("meeting");
    both.meeting_url = Some("https://meet.google.com/abc-defg-hij".into());
    let bots: Api<MeetingBot> = Api::namespaced(client.clone(), &ns);
    let error = bots
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
    let (client, ns, fake) = prepared("connection").await;
    let mut options = OperatorOptions::new(&ns, &fake);
    options.extra_args.push("--redact-websocket-token".into());
    let _operator = Operator::start(&options).await;

    let mut spec = spec("session-connection");
    spec.write_connection_secret_to_ref = Some(ConnectionSecretRef {
        name: "agent-connection".into(),
    });
    create_bot(&client, &ns, "connected", spec).await;
    wait_for_condition(&client, &ns, "connected", "Ready", Some("Joined"), SETTLE).await;
    // The Secret follows Ready; its condition says when the agent may mount it.
    let bot = wait_for_condition(
        &client,
        &ns,
        "connected",
        "ConnectionSecretReady",
        Some("ConnectionSecretWritten"),
        SETTLE,
    )
    .await;
    let status = bot.status.clone().unwrap();
    let shown = status.websocket_url.unwrap();
    assert!(!shown.contains("token="), "status keeps no token: {shown}");

    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let secret = secrets
        .get("agent-connection")
        .await
        .expect("the connection Secret exists");
    let data = secret.data.clone().unwrap();
    let text = |key: &str| String::from_utf8(data[key].0.clone()).unwrap();
    let live = live_bots(&fake.admin(), "session-connection").await;
    assert_eq!(text("meetingBotId"), live[0].meeting_bot_id);
    assert!(
        text("websocketUrl").contains("token="),
        "the agent gets the full URL"
    );
    assert!(text("websocketUrl").starts_with(shown.split('?').next().unwrap()));
    let owner = &secret.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("MeetingBot", bot.uid().unwrap().as_str())
    );

    Api::<MeetingBot>::namespaced(client.clone(), &ns)
        .delete("connected", &DeleteParams::default())
        .await
        .unwrap();
    wait_until("the connection Secret to be collected", SETTLE, || async {
        secrets
            .get_opt("agent-connection")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
}
