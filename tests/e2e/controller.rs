//! The controller end to end: a MeetingBot on the real API server, the
//! operator as a process, and the fake LemonSlice.

use crate::support::*;
use fake_lemonslice::{FakeServer, Faults};
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use meetingbot_operator::api::{ApiKeySecretRef, DeletionPolicy, MeetingBot, Phase, annotation};
use serde_json::json;
use std::time::Duration;

const READY_WITHIN: Duration = Duration::from_secs(5);
const SETTLE: Duration = Duration::from_secs(20);

fn bots(client: &kube::Client, ns: &str) -> Api<MeetingBot> {
    Api::namespaced(client.clone(), ns)
}

async fn annotate(client: &kube::Client, ns: &str, name: &str, key: &str, value: &str) {
    bots(client, ns)
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {key: value}}})),
        )
        .await
        .expect("annotation patches");
}

#[tokio::test]
async fn a_meeting_bot_joins_and_leaves_on_deletion() {
    let (client, ns, fake) = prepared("join").await;
    let operator = Operator::start(&OperatorOptions::new(&ns, &fake)).await;

    create_bot(&client, &ns, "standup", spec("session-join")).await;
    let bot = wait_for_condition(
        &client,
        &ns,
        "standup",
        "Ready",
        Some("Joined"),
        READY_WITHIN,
    )
    .await;

    let live = live_bots(&fake.admin(), "session-join").await;
    assert_eq!(live.len(), 1, "exactly one live bot: {live:?}");
    let status = bot.status.clone().unwrap();
    assert_eq!(status.phase, Some(Phase::Joined));
    assert_eq!(
        status.meeting_bot_id.as_deref(),
        Some(live[0].meeting_bot_id.as_str())
    );
    assert_eq!(status.session_id.as_deref(), Some("session-join"));
    assert_eq!(
        status.platform,
        Some(meetingbot_operator::api::Platform::GoogleMeet)
    );
    assert!(status.joined_at.is_some());
    assert_eq!(status.observed_generation, bot.metadata.generation);
    let joins = fake.admin().joins().await.unwrap();
    let websocket = status.websocket_url.unwrap();
    assert!(
        websocket.contains("/agent-audio/session-join?token="),
        "{websocket}"
    );
    assert_eq!(live[0].meeting_url, "https://meet.google.com/abc-defg-hij");
    assert_eq!(live[0].bot_name.as_deref(), Some("LemonSlice Avatar"));
    assert_eq!(joins.len(), 1);
    // The second copy of the record follows Ready, off the path to it.
    let api = bots(&client, &ns);
    wait_until(
        "the bot id kept in an annotation too",
        Duration::from_secs(10),
        || async {
            let bot = api.get("standup").await.ok()?;
            (bot.annotations().get(annotation::MEETING_BOT_ID) == Some(&live[0].meeting_bot_id))
                .then_some(())
        },
    )
    .await;

    let waited = std::process::Command::new("kubectl")
        .args([
            "wait",
            "--for=condition=Ready",
            "--timeout=10s",
            "-n",
            &ns,
            "mbot/standup",
        ])
        .output()
        .expect("kubectl runs");
    assert!(
        waited.status.success(),
        "{}",
        String::from_utf8_lossy(&waited.stderr)
    );

    bots(&client, &ns)
        .delete("standup", &DeleteParams::default())
        .await
        .unwrap();
    wait_for_gone(&client, &ns, "standup", SETTLE).await;
    assert!(
        live_bots(&fake.admin(), "session-join").await.is_empty(),
        "the bot left"
    );
    let leaves = fake.admin().leaves().await.unwrap();
    assert_eq!(leaves.len(), 1);
    assert_eq!(leaves[0].meeting_bot_id, live[0].meeting_bot_id);

    // No secret in the operator's logs or in the Events it published.
    let websocket_token = websocket.split("token=").nth(1).unwrap();
    let events = kubectl(&["get", "events", "-n", &ns, "-o", "yaml"]);
    assert!(
        events.contains("Joined") && events.contains("Left"),
        "{events}"
    );
    let log = operator.log_text();
    for secret in [API_KEY, BROADCAST_TOKEN, websocket_token] {
        assert!(!log.contains(secret), "the operator logged a secret");
        assert!(!events.contains(secret), "an Event carries a secret");
    }
}

#[tokio::test]
async fn a_secret_created_later_starts_the_join() {
    let client = client().await;
    let ns = namespace(&client, "late-secret").await;
    let fake = fake().await;
    let _operator = Operator::start(&OperatorOptions::new(&ns, &fake)).await;

    create_bot(&client, &ns, "waiting", spec("session-late")).await;
    let bot = wait_for_condition(
        &client,
        &ns,
        "waiting",
        "Reconciling",
        Some("SecretNotFound"),
        SETTLE,
    )
    .await;
    assert_eq!(bot.status.unwrap().phase, Some(Phase::Pending));
    assert_eq!(
        fake.admin().calls().await.unwrap().total("join"),
        0,
        "no vendor call without the token"
    );

    put_secret(&client, &ns, "token", "token", BROADCAST_TOKEN).await;
    wait_for_condition(&client, &ns, "waiting", "Ready", Some("Joined"), SETTLE).await;
    assert_eq!(live_bots(&fake.admin(), "session-late").await.len(), 1);
}

#[tokio::test]
async fn a_changed_meeting_url_moves_the_bot() {
    let (client, ns, fake) = prepared("move").await;
    let _operator = Operator::start(&OperatorOptions::new(&ns, &fake)).await;

    create_bot(&client, &ns, "mover", spec("session-move")).await;
    let before =
        wait_for_condition(&client, &ns, "mover", "Ready", Some("Joined"), READY_WITHIN).await;
    let old_id = before.status.unwrap().meeting_bot_id.unwrap();

    let new_url = "https://acme.zoom.us/j/85412345678?pwd=AbC123";
    bots(&client, &ns)
        .patch(
            "mover",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"meetingUrl": new_url}})),
        )
        .await
        .unwrap();
    let after = wait_until("the bot to move", SETTLE, || async {
        let bot = bots(&client, &ns).get("mover").await.ok()?;
        let status = bot.status.clone()?;
        let moved = status.meeting_bot_id.as_deref() != Some(old_id.as_str())
            && status.phase == Some(Phase::Joined)
            && status.observed_generation == bot.metadata.generation;
        moved.then_some(bot)
    })
    .await;
    let live = live_bots(&fake.admin(), "session-move").await;
    assert_eq!(live.len(), 1, "exactly one live bot: {live:?}");
    assert_eq!(live[0].meeting_url, new_url);
    assert_eq!(
        Some(&live[0].meeting_bot_id),
        after.status.unwrap().meeting_bot_id.as_ref()
    );
    let leaves = fake.admin().leaves().await.unwrap();
    assert_eq!(leaves.len(), 1);
    assert_eq!(leaves[0].meeting_bot_id, old_id, "the old bot left");
}

#[tokio::test]
async fn a_restarted_operator_leaves_joined_bots_alone() {
    let (client, ns, fake) = prepared("restart").await;
    let options = OperatorOptions::new(&ns, &fake);
    let operator = Operator::start(&options).await;
    for i in 0..20 {
        create_bot(
            &client,
            &ns,
            &format!("bot-{i}"),
            spec(&format!("session-restart-{i}")),
        )
        .await;
    }
    for i in 0..20 {
        wait_for_condition(
            &client,
            &ns,
            &format!("bot-{i}"),
            "Ready",
            Some("Joined"),
            SETTLE,
        )
        .await;
    }
    // Both copies of every record written (the annotations follow Ready).
    wait_until("every record in the annotations too", SETTLE, || async {
        let list = bots(&client, &ns).list(&Default::default()).await.ok()?;
        list.items
            .iter()
            .all(|bot| bot.annotations().contains_key(annotation::RECORD_UID))
            .then_some(())
    })
    .await;
    operator.kill().await;

    let versions = |list: Vec<MeetingBot>| -> Vec<(String, String)> {
        list.into_iter()
            .map(|bot| (bot.name_any(), bot.resource_version().unwrap()))
            .collect()
    };
    let before = versions(
        bots(&client, &ns)
            .list(&Default::default())
            .await
            .unwrap()
            .items,
    );
    let calls_before = fake.admin().calls().await.unwrap();

    let _operator = Operator::start(&options).await;
    // Absence can only be observed over a window: the one the issue names.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let after = versions(
        bots(&client, &ns)
            .list(&Default::default())
            .await
            .unwrap()
            .items,
    );
    assert_eq!(before, after, "no MeetingBot was written after the restart");
    assert_eq!(
        fake.admin().calls().await.unwrap(),
        calls_before,
        "no vendor call after the restart"
    );
}

/// A namespace with the token Secret, a fake that answers every join with
/// `status` (and `Retry-After`), and the operator.
async fn failing_joins(
    prefix: &str,
    status: u16,
    retry_after_secs: Option<u64>,
) -> (kube::Client, String, FakeServer, Operator) {
    let client = client().await;
    let ns = namespace(&client, prefix).await;
    let fake = fake().await;
    put_secret(&client, &ns, "token", "token", BROADCAST_TOKEN).await;
    fake.admin()
        .set_faults(&Faults {
            error_rate: 1.0,
            error_statuses: vec![status],
            retry_after_secs,
            endpoints: vec!["join".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    let operator = Operator::start(&OperatorOptions::new(&ns, &fake)).await;
    (client, ns, fake, operator)
}

#[tokio::test]
async fn an_unknown_join_outcome_never_joins_twice_until_asked() {
    let (client, ns, fake, _operator) = failing_joins("unknown", 502, None).await;

    create_bot(&client, &ns, "unsure", spec("session-unknown")).await;
    let bot = wait_for_condition(
        &client,
        &ns,
        "unsure",
        "Stalled",
        Some("JoinOutcomeUnknown"),
        SETTLE,
    )
    .await;
    let message = &condition(&bot, "Stalled").unwrap().message;
    assert!(
        message.contains(annotation::MEETING_BOT_ID) && message.contains(annotation::RETRY_JOIN),
        "{message}"
    );
    fake.admin().set_faults(&Faults::default()).await.unwrap();
    // Nudge the operator with an unrelated change; it must still not join.
    annotate(&client, &ns, "unsure", "example.com/touched", "1").await;
    wait_until("the touch to be seen", SETTLE, || async {
        let bot = bots(&client, &ns).get("unsure").await.ok()?;
        let ready = condition(&bot, "Ready")?;
        (ready.reason == "JoinOutcomeUnknown").then_some(())
    })
    .await;
    assert_eq!(
        fake.admin().calls().await.unwrap().total("join"),
        1,
        "no second join"
    );

    annotate(&client, &ns, "unsure", annotation::RETRY_JOIN, "1").await;
    wait_for_condition(&client, &ns, "unsure", "Ready", Some("Joined"), SETTLE).await;
    assert_eq!(
        fake.admin().calls().await.unwrap().total("join"),
        2,
        "exactly one more join"
    );
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let (client, ns, fake, _operator) = failing_joins("ratelimit", 429, Some(2)).await;
    create_bot(&client, &ns, "patient", spec("session-429")).await;
    wait_for_condition(
        &client,
        &ns,
        "patient",
        "Reconciling",
        Some("RateLimited"),
        SETTLE,
    )
    .await;
    fake.admin().set_faults(&Faults::default()).await.unwrap();
    wait_for_condition(&client, &ns, "patient", "Ready", Some("Joined"), SETTLE).await;

    let joins: Vec<_> = fake
        .admin()
        .requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.endpoint == "join")
        .collect();
    assert!(joins.len() >= 2, "{joins:?}");
    for pair in joins.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap >= chrono::Duration::seconds(2),
            "a retry came {gap} after a 429 with Retry-After: 2"
        );
    }
}

#[tokio::test]
async fn unauthorized_stalls_until_the_api_key_secret_is_fixed() {
    let (client, ns, fake) = prepared("unauthorized").await;
    put_secret(&client, &ns, "lemonslice", "apiKey", "wrong-key-123456").await;
    let _operator = Operator::start(&OperatorOptions::new(&ns, &fake)).await;

    let mut spec = spec("session-401");
    spec.api_key_secret_ref = Some(ApiKeySecretRef {
        name: "lemonslice".into(),
        key: "apiKey".into(),
    });
    create_bot(&client, &ns, "locked-out", spec).await;
    let bot = wait_for_condition(
        &client,
        &ns,
        "locked-out",
        "Stalled",
        Some("Unauthorized"),
        SETTLE,
    )
    .await;
    assert_eq!(bot.status.unwrap().phase, Some(Phase::Failed));

    put_secret(&client, &ns, "lemonslice", "apiKey", API_KEY).await;
    wait_for_condition(&client, &ns, "locked-out", "Ready", Some("Joined"), SETTLE).await;
    assert_eq!(live_bots(&fake.admin(), "session-401").await.len(), 1);
}

#[tokio::test]
async fn orphan_lets_go_without_leave() {
    let (client, ns, fake) = prepared("orphan").await;
    let _operator = Operator::start(&OperatorOptions::new(&ns, &fake)).await;
    let mut spec = spec("session-orphan");
    spec.deletion_policy = DeletionPolicy::Orphan;
    create_bot(&client, &ns, "orphan", spec).await;
    wait_for_condition(
        &client,
        &ns,
        "orphan",
        "Ready",
        Some("Joined"),
        READY_WITHIN,
    )
    .await;
    bots(&client, &ns)
        .delete("orphan", &DeleteParams::default())
        .await
        .unwrap();
    wait_for_gone(&client, &ns, "orphan", SETTLE).await;
    assert_eq!(
        fake.admin().calls().await.unwrap().total("leave"),
        0,
        "no leave call"
    );
    assert_eq!(
        live_bots(&fake.admin(), "session-orphan").await.len(),
        1,
        "the bot stays"
    );
}

#[tokio::test]
async fn deleting_the_namespace_makes_every_bot_leave_even_across_a_restart() {
    let (client, ns, fake) = prepared("nsdelete").await;
    put_secret(&client, &ns, "lemonslice", "apiKey", API_KEY).await;
    let operator = Operator::start(&OperatorOptions::new(&ns, &fake)).await;
    for i in 0..4 {
        let mut spec = spec(&format!("session-ns-{i}"));
        if i % 2 == 0 {
            spec.api_key_secret_ref = Some(ApiKeySecretRef {
                name: "lemonslice".into(),
                key: "apiKey".into(),
            });
        }
        create_bot(&client, &ns, &format!("bot-{i}"), spec).await;
    }
    for i in 0..4 {
        wait_for_condition(
            &client,
            &ns,
            &format!("bot-{i}"),
            "Ready",
            Some("Joined"),
            SETTLE,
        )
        .await;
    }
    // The key Secret is held for the joined bots that use it.
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), &ns);
    let held = secrets.get("lemonslice").await.unwrap();
    assert_eq!(held.finalizers().len(), 2, "{:?}", held.finalizers());
    // The operator restarts while the namespace goes: it keeps no key in memory.
    operator.kill().await;
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    namespaces
        .delete(&ns, &DeleteParams::default())
        .await
        .unwrap();
    let _restarted = Operator::start(&OperatorOptions::new(&ns, &fake)).await;
    wait_until(
        "the namespace to be gone",
        Duration::from_secs(90),
        || async { namespaces.get_opt(&ns).await.ok()?.is_none().then_some(()) },
    )
    .await;
    let live = fake.admin().bots().await.unwrap();
    assert!(live.is_empty(), "every bot left: {live:?}");
}

#[tokio::test]
async fn a_killed_operator_never_leaves_two_bots() {
    let (client, ns, fake) = prepared("sigkill").await;
    // The fake creates the bot, then holds the answer.
    fake.admin()
        .set_faults(&Faults {
            hang_rate: 1.0,
            hang_secs: 600,
            endpoints: vec!["join".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    let options = OperatorOptions::new(&ns, &fake);
    let operator = Operator::start(&options).await;
    create_bot(&client, &ns, "interrupted", spec("session-kill")).await;
    wait_until("the join to reach the fake", SETTLE, || async {
        (fake.admin().joins().await.ok()?.len() == 1).then_some(())
    })
    .await;
    operator.kill().await;
    fake.admin().set_faults(&Faults::default()).await.unwrap();

    let _operator = Operator::start(&options).await;
    let bot = wait_until("the MeetingBot to settle", SETTLE, || async {
        let bot = bots(&client, &ns).get("interrupted").await.ok()?;
        let settled = condition(&bot, "Ready").is_some_and(|c| c.status == "True")
            || condition(&bot, "Stalled").is_some_and(|c| c.reason == "JoinOutcomeUnknown");
        settled.then_some(bot)
    })
    .await;
    let live = live_bots(&fake.admin(), "session-kill").await;
    assert_eq!(live.len(), 1, "never two live bots: {live:?}");
    let status = bot.status.unwrap();
    if status.phase == Some(Phase::Joined) {
        assert_eq!(
            status.meeting_bot_id.as_ref(),
            Some(&live[0].meeting_bot_id)
        );
    }
    assert_eq!(
        fake.admin().joins().await.unwrap().len(),
        1,
        "no second join"
    );
}
