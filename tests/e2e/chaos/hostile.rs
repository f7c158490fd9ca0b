//! Hostile input: Secret data that is not UTF-8, a 1 MiB token, a Secret
//! deleted mid-join, and a vendor that echoes every field of a join whose
//! meeting URL carries a password. Each ends in a clear status, and no
//! secret shows in logs, Events or status.

use super::checks::{delete_all, secrets_found};
use super::harness::append_row;
use super::{bot_spec, session_of};
use crate::scene::{Scene, Waits};
use crate::support::*;
use fake_lemonslice::Faults;
use kube::api::{DeleteParams, PostParams};
use meetingbot_operator::api::MeetingUrlSecretRef;
use serde_json::json;
use std::collections::HashSet;

#[tokio::test]
async fn hostile_secrets_end_in_a_clear_status() {
    let scene = Scene::builder("chaos-hostile")
        .without_token()
        .start()
        .await;
    let (client, ns) = (&scene.client, &scene.ns);
    let secrets = scene.secrets();

    // Secret data that is not UTF-8.
    let binary = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "binary"}, "data": {"token": "//79/A=="}});
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(binary).unwrap(),
        )
        .await
        .unwrap();
    let mut spec = bot_spec(ns, 0);
    spec.broadcast_token_secret_ref.name = "binary".into();
    scene.create("binary", spec).await;
    let pending = scene.wait_reconciling("binary", "SecretKeyNotFound").await;
    assert!(
        pending
            .condition("Ready")
            .unwrap()
            .message
            .contains("binary")
    );

    // A 1 MiB broadcast token: sent as is, or refused with a clear status.
    // Just under the 1 MiB the API server allows a Secret.
    let huge = "t".repeat((1 << 20) - 1024);
    scene.put_secret("huge", "token", &huge).await;
    let mut spec = bot_spec(ns, 1);
    spec.broadcast_token_secret_ref.name = "huge".into();
    scene.create("huge", spec).await;
    scene
        .wait_bot(
            "huge",
            "Ready, Stalled or Reconciling with a reason",
            |bot| {
                ["Ready", "Stalled", "Reconciling"]
                    .iter()
                    .any(|t| {
                        bot.condition(t)
                            .is_some_and(|c| c.status == "True" && !c.reason.is_empty())
                    })
                    .then_some(())
            },
        )
        .await;

    // The token's Secret deleted right after the MeetingBot appears.
    scene.put_secret("fleeting", "token", BROADCAST_TOKEN).await;
    let mut spec = bot_spec(ns, 2);
    spec.broadcast_token_secret_ref.name = "fleeting".into();
    scene.create("fleeting", spec).await;
    secrets
        .delete("fleeting", &DeleteParams::default())
        .await
        .unwrap();
    scene
        .wait_bot("fleeting", "Ready (Joined or SecretNotFound)", |bot| {
            let ready = bot.condition("Ready")?;
            (ready.reason == "Joined" || ready.reason == "SecretNotFound").then_some(())
        })
        .await;
    let peak = scene.admin.peak_live(&session_of(ns, 2)).await.unwrap();
    assert!(peak <= 1, "{peak} live bots at once");
    // A Zoom URL with its password in a Secret, and a vendor that echoes
    // every request field (and the key) in FastAPI 422 bodies for it.
    let password = "hostilePwd7x3";
    let zoom = format!("https://us02web.zoom.us/j/81234567890?pwd={password}");
    scene.put_secret("zoom-url", "meetingUrl", &zoom).await;
    scene
        .admin
        .set_faults(&Faults {
            echo_rate: 1.0,
            sessions: vec![session_of(ns, 3)],
            ..Default::default()
        })
        .await
        .unwrap();
    let mut spec = bot_spec(ns, 3);
    spec.meeting_url = None;
    spec.meeting_url_secret_ref = Some(MeetingUrlSecretRef {
        name: "zoom-url".into(),
        key: "meetingUrl".into(),
    });
    scene.create("echoed", spec).await;
    scene
        .wait_bot("echoed", "Stalled or Reconciling, saying why", |bot| {
            ["Stalled", "Reconciling"]
                .iter()
                .any(|t| bot.condition(t).is_some_and(|c| c.status == "True"))
                .then_some(())
        })
        .await;

    let searched = [API_KEY, BROADCAST_TOKEN, &huge[..64], password, &zoom];
    let found = secrets_found(client, ns, &[scene.operator().log_text()], &searched).await;
    let (left_behind, unknown) = delete_all(client, ns, &scene.admin, HashSet::new()).await;
    let found = found + secrets_found(client, ns, &[scene.operator().log_text()], &searched).await;
    let line = format!(
        "| hostile input | 5, and 10 000 fuzz cases | non-UTF-8 Secret, 1 MiB token, Secret deleted \
         mid-join, a vendor echoing every field of a join with a Zoom password URL; {} secrets searched \
         (key, token, meeting URL, its password) | 0 | {left_behind} | {unknown} | {found} |",
        searched.len()
    );
    append_row(&line);
    assert_eq!(found, 0, "no secret in logs, Events or status");
}
