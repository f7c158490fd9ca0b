//! The bot record against the rest of a cluster: rolling updates, `kubectl
//! replace`, copies and an object the operator cannot decode (`copies`),
//! edits the operator could not act on (`edits`), a
//! vendor that answers 404 for a moment and a mistyped base URL
//! (`failures`). Each ends with the fake's own account: never two live bots
//! for one MeetingBot, and none left after deletion.

mod copies;
mod edits;
mod failures;
mod forged;
mod keys;

pub use copies::copy_of;

use crate::runtime::{replica, wait_leading};
use crate::scene::{Scene, Waits};
use crate::support::*;
use fake_lemonslice::{Admin, Faults};
use meetingbot_operator::api::{MeetingBot, Phase};
use serde_json::json;
use std::time::Duration;

/// The most bots that were ever live at once across `sessions`, as the fake
/// counted them at every join, leave and session end. Exact only while every
/// bot of the scene's fake belongs to one MeetingBot: the fake counts all its
/// sessions together, not a chosen few, so this checks that all its bots are
/// of `sessions` and reads the count of all.
async fn most_at_once(admin: &Admin, sessions: &[&str]) -> usize {
    let peaks = admin.peaks().await.expect("the fake answers");
    let others: Vec<&String> = peaks
        .sessions
        .keys()
        .filter(|session| !sessions.contains(&session.as_str()))
        .collect();
    assert!(
        others.is_empty(),
        "the fake had bots of other sessions too: {others:?}"
    );
    peaks.all
}

#[tokio::test]
async fn a_rolling_update_mid_rejoin_never_makes_two_avatars() {
    let scene = Scene::builder("rolling")
        .without_operator()
        .deadline(Duration::from_secs(60))
        .start()
        .await;
    let mut old = scene.start_operator(&replica(&scene, "old")).await;
    wait_leading(&scene, &old).await;
    scene.create("standup", spec("session-roll-a")).await;
    scene.wait_joined("standup").await;

    // A slow vendor, and the new pod started before the old one stops.
    scene
        .admin
        .set_faults(&Faults {
            latency_ms: 3000,
            endpoints: vec!["join".into(), "leave".into()],
            ..Faults::default()
        })
        .await
        .unwrap();
    let mut new = scene.start_operator(&replica(&scene, "new")).await;
    scene
        .patch_spec("standup", json!({ "sessionId": "session-roll-b" }))
        .await;
    // The old leader announces the rejoin just before its leave (3 s) and
    // is told to stop in the middle of it.
    scene.wait_event("standup", "Rejoining").await;
    old.signal(SIGTERM);
    assert_eq!(old.wait_exit(Duration::from_secs(60)).await, Some(0));

    let bot = scene
        .wait_bot("standup", "Joined under session-roll-b", |bot| {
            let status = bot.status.as_ref()?;
            (status.phase == Some(Phase::Joined)
                && status.session_id.as_deref() == Some("session-roll-b"))
            .then(|| bot.clone())
        })
        .await;
    wait_leading(&scene, &new).await;
    let live = scene.live_bots("session-roll-b").await;
    assert_eq!(live.len(), 1, "one avatar: {live:?}");
    assert_eq!(
        Some(live[0].meeting_bot_id.as_str()),
        bot.status.as_ref().unwrap().meeting_bot_id.as_deref()
    );
    assert!(scene.live_bots("session-roll-a").await.is_empty());
    assert!(
        !old.log_text().contains("JoinOutcomeUnknown"),
        "a graceful stop leaves no outcome unknown"
    );

    scene.delete("standup").await;
    scene.wait_gone("standup").await;
    assert!(scene.live_bots("session-roll-b").await.is_empty());
    let most = most_at_once(&scene.admin, &["session-roll-a", "session-roll-b"]).await;
    assert_eq!(most, 1, "never two live avatars at once");
    new.signal(SIGTERM);
    assert_eq!(new.wait_exit(Duration::from_secs(60)).await, Some(0));
}

/// The manifest a user applied: no annotations, no finalizer, no status.
fn original_manifest(ns: &str, name: &str, session: &str) -> tempfile::NamedTempFile {
    let mut bot = MeetingBot::new(name, spec(session));
    bot.metadata.namespace = Some(ns.into());
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), serde_json::to_string(&bot).unwrap()).unwrap();
    file
}

#[tokio::test]
async fn kubectl_replace_of_the_original_manifest_keeps_one_avatar() {
    let scene = Scene::start("replace").await;
    scene.create("standup", spec("session-replace")).await;
    let before = scene.wait_joined("standup").await;
    let bot_id = before.status.unwrap().meeting_bot_id.unwrap();

    let manifest = original_manifest(&scene.ns, "standup", "session-replace");
    kubectl(&["replace", "-f", manifest.path().to_str().unwrap()]);
    let restored = scene
        .wait_bot("standup", "the record back in the annotations", |bot| {
            (annotated_bot_id(bot).as_ref() == Some(&bot_id) && bot.has_finalizer())
                .then(|| bot.clone())
        })
        .await;
    let annotated = restored.record_copies().annotated.unwrap().unwrap();
    assert_eq!(annotated.uid, restored.metadata.uid);
    assert_eq!(scene.calls().await.total("join"), 1, "no second join");
    assert_eq!(scene.live_bots("session-replace").await.len(), 1);

    scene.delete("standup").await;
    scene.wait_gone("standup").await;
    assert!(scene.live_bots("session-replace").await.is_empty());
}

/// A `kubectl replace` drops the finalizer, and a delete that comes before
/// the operator puts it back deletes the object at once: the operator still
/// takes the avatar out, from the object's last state in its watch.
#[tokio::test]
async fn a_delete_right_after_a_replace_still_takes_the_avatar_out() {
    use kube::api::{DeleteParams, PostParams, Preconditions};
    let scene = Scene::start("replace-delete").await;
    scene
        .create("standup", spec("session-replace-delete"))
        .await;
    let joined = scene.wait_joined("standup").await;
    let bot_id = joined.status.unwrap().meeting_bot_id.unwrap();
    let api = scene.bots();
    // Delete only the replaced object as it is, before anything (the
    // operator putting the finalizer back) changed it; else try again.
    let mut deleted = false;
    for _ in 0..50 {
        let current = api.get("standup").await.unwrap();
        let mut manifest = MeetingBot::new("standup", spec("session-replace-delete"));
        manifest.metadata.resource_version = current.metadata.resource_version;
        let Ok(replaced) = api
            .replace("standup", &PostParams::default(), &manifest)
            .await
        else {
            continue;
        };
        let unchanged = DeleteParams {
            preconditions: Some(Preconditions {
                resource_version: replaced.metadata.resource_version,
                uid: None,
            }),
            ..DeleteParams::default()
        };
        if api.delete("standup", &unchanged).await.is_ok() {
            deleted = true;
            break;
        }
    }
    assert!(deleted, "a delete never came before the finalizer was back");
    scene.wait_gone("standup").await;
    poll(
        "the avatar of the deleted MeetingBot to leave",
        Duration::from_secs(30),
        || async {
            let live = scene.live_bots("session-replace-delete").await;
            match live.is_empty() {
                true => Ok(()),
                false => Err(format!("{live:?}")),
            }
        },
    )
    .await;
    let leaves = scene.admin.leaves().await.unwrap();
    assert!(leaves.iter().any(|leave| leave.meeting_bot_id == bot_id));
}
