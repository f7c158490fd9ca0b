//! Copies of a joined MeetingBot, an object in another namespace that the
//! operator cannot decode, and a joinAt it could not read.

use crate::scene::{Scene, Waits};
use crate::support::*;
use kube::ResourceExt;
use meetingbot_operator::api::{MeetingBot, annotation};

/// `kubectl get -o yaml`, renamed and created again: what a copy carries.
pub fn copy_of(original: &MeetingBot, name: &str) -> MeetingBot {
    let mut copy = original.clone();
    copy.metadata.name = Some(name.into());
    copy.metadata.uid = None;
    copy.metadata.resource_version = None;
    copy.metadata.creation_timestamp = None;
    copy.metadata.managed_fields = None;
    copy.metadata.generation = None;
    copy
}

#[tokio::test]
async fn a_copy_of_a_joined_meetingbot_is_stalled_and_leaves_the_original_alone() {
    let scene = Scene::start("copy").await;
    scene.create("standup", spec("session-copy")).await;
    let original = scene.wait_joined("standup").await;
    let original_uid = original.uid().unwrap();
    let original_id = original.status.clone().unwrap().meeting_bot_id;
    scene
        .create_object(&copy_of(&original, "standup-copy"))
        .await;
    let copy = scene.wait_stalled("standup-copy", "ForeignRecord").await;
    let message = &copy.condition("Stalled").unwrap().message;
    assert!(message.contains(&original_uid), "{message}");
    assert!(message.contains(annotation::ADOPT_RECORD), "{message}");

    // Deleting the copy does not take the original's avatar out.
    scene.delete("standup-copy").await;
    scene.wait_gone("standup-copy").await;
    assert_eq!(scene.live_bots("session-copy").await.len(), 1);
    assert_eq!(scene.calls().await.total("leave"), 0);
    let still = scene.bot("standup").await;
    assert_eq!(
        still
            .condition("Ready")
            .map(|c| (c.status.as_str(), c.reason.as_str())),
        Some(("True", "Joined"))
    );
    assert_eq!(still.status.unwrap().meeting_bot_id, original_id);

    // A second copy that starts afresh gets its own avatar.
    let mut fresh = copy_of(&original, "standup-fresh");
    fresh
        .metadata
        .annotations
        .get_or_insert_default()
        .insert(annotation::DISCARD_RECORD.into(), original_uid.clone());
    scene.create_object(&fresh).await;
    let fresh = scene.wait_joined("standup-fresh").await;
    assert_ne!(fresh.status.unwrap().meeting_bot_id, original_id);
    assert_eq!(scene.live_bots("session-copy").await.len(), 2);

    scene.delete("standup").await;
    scene.delete("standup-fresh").await;
    scene.wait_gone("standup").await;
    scene.wait_gone("standup-fresh").await;
    assert!(scene.live_bots("session-copy").await.is_empty());
}

#[tokio::test]
async fn an_undecodable_meetingbot_in_one_namespace_blinds_no_other() {
    // One operator for all namespaces: its label selector keeps other tests'
    // objects out of its watch, and an install id of its own keeps them out of
    // its sweep for strays (every object stamped with its install and outside
    // the selector, which it would hand over: leave their bots).
    let mut scene = Scene::builder("neighbour").without_operator().start().await;
    let hostile = Scene::builder("hostile").bare().start().await;
    let ns = scene.ns.clone();
    let label = format!("e2e-blind={ns}");
    let labelled = |mut bot: MeetingBot| {
        bot.metadata
            .labels
            .get_or_insert_default()
            .insert("e2e-blind".into(), ns.clone());
        bot
    };
    // A status that the API server accepts (a date-time past what the time library holds).
    hostile
        .create_object(&labelled(MeetingBot::new("odd", spec("session-odd"))))
        .await;
    kubectl(&[
        "patch",
        "meetingbot",
        "odd",
        "-n",
        &hostile.ns,
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"joinedAt":"9999-12-31T23:59:59Z"}}"#,
    ]);

    let mut options = scene.options();
    options.namespace = String::new();
    options.extra_args.push(format!("--label-selector={label}"));
    options
        .extra_args
        .push(format!("--install-id=e2e-blind-{ns}"));
    let first = scene.start_operator(&options).await;
    first.kill().await;
    scene.run_operator(&options).await;
    scene
        .create_object(&labelled(MeetingBot::new("fine", spec("session-fine"))))
        .await;
    scene.wait_joined("fine").await;
    // Read as raw JSON: the typed client cannot decode this object either.
    let odd = poll(
        "the odd object to say why",
        std::time::Duration::from_secs(30),
        || async {
            let args = ["get", "meetingbot", "odd", "-n", &hostile.ns, "-o", "json"];
            let raw: serde_json::Value =
                serde_json::from_str(&kubectl(&args)).map_err(|e| e.to_string())?;
            let conditions = &raw["status"]["conditions"];
            let stalled = conditions.as_array().and_then(|all| {
                all.iter()
                    .find(|c| c["type"] == "Stalled" && c["reason"] == "InvalidSpec")
            });
            stalled
                .cloned()
                .ok_or_else(|| format!("conditions {conditions}"))
        },
    )
    .await;
    assert!(
        odd["message"].as_str().unwrap().contains("status.joinedAt"),
        "{odd}"
    );
    scene.delete("fine").await;
    scene.wait_gone("fine").await;
    assert!(scene.live_bots("session-fine").await.is_empty());
}

#[tokio::test]
async fn a_join_at_the_operator_cannot_read_is_refused_at_admission() {
    let scene = Scene::builder("joinat").bare().start().await;
    for (value, field_says) in [
        ("9999-12-31T23:59:59Z", "year 9000"),
        ("2026-12-01T09:00:00", "spec.joinAt"),
        ("2026-12-01 09:00:00Z", "spec.joinAt"),
        ("2026-12-01T09:00:00+25:00", "spec.joinAt"),
    ] {
        let mut bot = serde_json::to_value(MeetingBot::new("odd", spec("s"))).unwrap();
        bot["spec"]["joinAt"] = serde_json::json!(value);
        let output = run(
            "kubectl",
            &["create", "-n", &scene.ns, "-f", "-"],
            &bot.to_string(),
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{value} was accepted");
        assert!(stderr.contains(field_says), "{value}: {stderr}");
    }
}
