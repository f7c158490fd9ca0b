//! Hostile input: Secret data that is not UTF-8, a 1 MiB token, a Secret
//! deleted mid-join, and a vendor that echoes every field of a join whose
//! meeting URL carries a password. Each ends in a clear status, and no
//! secret shows in logs, Events or status.

use super::checks::{delete_all, secrets_found};
use super::harness::append_row;
use super::{bot_spec, session_of};
use crate::support::*;
use fake_lemonslice::Faults;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use meetingbot_operator::api::{MeetingBot, MeetingUrlSecretRef};
use serde_json::json;
use std::collections::HashSet;
use std::time::Duration;

#[tokio::test]
async fn hostile_secrets_end_in_a_clear_status() {
    let client = client().await;
    let ns = namespace(&client, "chaos-hostile").await;
    let fake = fake().await;
    let operator = Operator::start(&OperatorOptions::new(&ns, &fake)).await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);

    // Secret data that is not UTF-8.
    let binary = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "binary"}, "data": {"token": "//79/A=="}});
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(binary).unwrap(),
        )
        .await
        .unwrap();
    let mut spec = bot_spec(&ns, 0);
    spec.broadcast_token_secret_ref.name = "binary".into();
    create_bot(&client, &ns, "binary", spec).await;
    let pending = wait_for_condition(
        &client,
        &ns,
        "binary",
        "Reconciling",
        Some("SecretKeyNotFound"),
        Duration::from_secs(20),
    )
    .await;
    assert!(
        condition(&pending, "Ready")
            .unwrap()
            .message
            .contains("binary")
    );

    // A 1 MiB broadcast token: sent as is, or refused with a clear status.
    // Just under the 1 MiB the API server allows a Secret.
    let huge = "t".repeat((1 << 20) - 1024);
    put_secret(&client, &ns, "huge", "token", &huge).await;
    let mut spec = bot_spec(&ns, 1);
    spec.broadcast_token_secret_ref.name = "huge".into();
    create_bot(&client, &ns, "huge", spec).await;
    let bots: Api<MeetingBot> = Api::namespaced(client.clone(), &ns);
    wait_until(
        "the huge-token MeetingBot to settle",
        Duration::from_secs(30),
        || async {
            let bot = bots.get("huge").await.ok()?;
            ["Ready", "Stalled", "Reconciling"]
                .iter()
                .any(|t| {
                    condition(&bot, t).is_some_and(|c| c.status == "True" && !c.reason.is_empty())
                })
                .then_some(())
        },
    )
    .await;

    // The token's Secret deleted right after the MeetingBot appears.
    put_secret(&client, &ns, "fleeting", "token", BROADCAST_TOKEN).await;
    let mut spec = bot_spec(&ns, 2);
    spec.broadcast_token_secret_ref.name = "fleeting".into();
    create_bot(&client, &ns, "fleeting", spec).await;
    secrets
        .delete("fleeting", &DeleteParams::default())
        .await
        .unwrap();
    wait_until(
        "the fleeting MeetingBot to be Joined or Pending",
        Duration::from_secs(20),
        || async {
            let bot = bots.get("fleeting").await.ok()?;
            let ready = condition(&bot, "Ready")?;
            (ready.reason == "Joined" || ready.reason == "SecretNotFound").then_some(())
        },
    )
    .await;
    assert!(
        fake.admin()
            .bots()
            .await
            .unwrap()
            .iter()
            .filter(|b| b.session_id == session_of(&ns, 2))
            .count()
            <= 1
    );
    // A Zoom URL with its password in a Secret, and a vendor that echoes
    // every request field (and the key) in FastAPI 422 bodies for it.
    let password = "hostilePwd7x3";
    let zoom = format!("https://us02web.zoom.us/j/81234567890?pwd={password}");
    put_secret(&client, &ns, "zoom-url", "meetingUrl", &zoom).await;
    fake.admin()
        .set_faults(&Faults {
            echo_rate: 1.0,
            sessions: vec![session_of(&ns, 3)],
            ..Default::default()
        })
        .await
        .unwrap();
    let mut spec = bot_spec(&ns, 3);
    spec.meeting_url = None;
    spec.meeting_url_secret_ref = Some(MeetingUrlSecretRef {
        name: "zoom-url".into(),
        key: "meetingUrl".into(),
    });
    create_bot(&client, &ns, "echoed", spec).await;
    wait_until(
        "the echoed MeetingBot to say why",
        Duration::from_secs(30),
        || async {
            let bot = bots.get("echoed").await.ok()?;
            ["Stalled", "Reconciling"]
                .iter()
                .any(|t| condition(&bot, t).is_some_and(|c| c.status == "True"))
                .then_some(())
        },
    )
    .await;

    let searched = [API_KEY, BROADCAST_TOKEN, &huge[..64], password, &zoom];
    let found = secrets_found(&client, &ns, &[operator.log_text()], &searched).await;
    let (left_behind, unknown) = delete_all(&client, &ns, &fake.admin(), HashSet::new()).await;
    let found = found + secrets_found(&client, &ns, &[operator.log_text()], &searched).await;
    let line = format!(
        "| hostile input | 5, and 10 000 fuzz cases | non-UTF-8 Secret, 1 MiB token, Secret deleted \
         mid-join, a vendor echoing every field of a join with a Zoom password URL; {} secrets searched \
         (key, token, meeting URL, its password) | 0 | {left_behind} | {unknown} | {found} |",
        searched.len()
    );
    append_row(&line);
    assert_eq!(found, 0, "no secret in logs, Events or status");
}
