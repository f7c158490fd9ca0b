//! The key that joined is the key that leaves: a MeetingBot moved to another
//! LemonSlice account's key rejoins, its first avatar taken out with the key
//! that joined it (another account's key cannot see it), and the first key's
//! Secret is let go.

use super::edits::wait_rejoined;
use crate::scene::{Scene, Waits};
use crate::support::*;
use kube::ResourceExt;
use meetingbot_operator::api::{API_KEY_FINALIZER_PREFIX, ApiKeySecretRef, JoinedKey};
use serde_json::json;
use std::time::Duration;

const ACCOUNT_B_KEY: &str = "account-b-key-3e91c07d";

#[tokio::test]
async fn a_new_api_key_rejoins_and_the_key_that_joined_takes_the_first_avatar_out() {
    let scene = Scene::start("keys").await;
    scene
        .admin
        .set_api_keys(&[API_KEY, ACCOUNT_B_KEY])
        .await
        .unwrap();
    scene.put_secret("account-a", "apiKey", API_KEY).await;
    scene.put_secret("account-b", "apiKey", ACCOUNT_B_KEY).await;
    let key_of = |name: &str| ApiKeySecretRef {
        name: name.into(),
        key: "apiKey".into(),
    };
    let mut spec = spec("session-keys");
    spec.api_key_secret_ref = Some(key_of("account-a"));
    scene.create("standup", spec).await;
    let joined = scene.wait_joined("standup").await;
    let first = joined.status.clone().unwrap().meeting_bot_id.unwrap();
    let held = format!("{API_KEY_FINALIZER_PREFIX}{}", joined.uid().unwrap());
    let holds = |secret: &str| {
        let secret = secret.to_owned();
        let held = held.clone();
        let secrets = scene.secrets();
        async move {
            let secret = secrets.get(&secret).await.map_err(|e| e.to_string())?;
            Ok::<bool, String>(secret.finalizers().contains(&held))
        }
    };
    assert!(holds("account-a").await.unwrap(), "the joining key is held");

    scene
        .patch_spec(
            "standup",
            json!({ "apiKeySecretRef": { "name": "account-b", "key": "apiKey" } }),
        )
        .await;
    let second = wait_rejoined(&scene, "standup", &first).await;
    let leaves = scene.admin.leaves().await.unwrap();
    assert!(
        leaves.iter().any(|leave| leave.meeting_bot_id == first),
        "the first avatar left: {leaves:?}"
    );
    let live = scene.live_bots("session-keys").await;
    assert_eq!(
        live.iter()
            .map(|b| b.meeting_bot_id.as_str())
            .collect::<Vec<_>>(),
        [second.as_str()]
    );
    let status = scene.bot("standup").await.status.unwrap();
    assert_eq!(
        status.joined_api_key,
        Some(JoinedKey {
            secret_ref: Some(key_of("account-b"))
        })
    );
    poll(
        "account-a's Secret let go, account-b's held",
        Duration::from_secs(20),
        || async {
            match (holds("account-a").await?, holds("account-b").await?) {
                (false, true) => Ok(()),
                other => Err(format!("held (a, b): {other:?}")),
            }
        },
    )
    .await;

    scene.delete("standup").await;
    scene.wait_gone("standup").await;
    assert!(scene.live_bots("session-keys").await.is_empty());
    assert_eq!(scene.calls().await.total("join"), 2);
}
