//! The operator stopped and started again: joined bots are left alone, a
//! namespace deleted meanwhile still sees every bot leave, and a join cut
//! off by SIGKILL never makes a second bot.

use crate::scene::{Scene, Waits};
use crate::support::*;
use fake_lemonslice::Faults;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::DeleteParams;
use kube::{Api, ResourceExt};
use meetingbot_operator::api::{ApiKeySecretRef, MeetingBot, Phase, annotation};
use std::time::Duration;

/// Creates `bot-{i}` for each spec and waits until every one has joined.
async fn joined_bots(scene: &Scene, specs: Vec<meetingbot_operator::api::MeetingBotSpec>) {
    for (i, spec) in specs.iter().enumerate() {
        scene.create(&format!("bot-{i}"), spec.clone()).await;
    }
    for i in 0..specs.len() {
        scene.wait_joined(&format!("bot-{i}")).await;
    }
}

#[tokio::test]
async fn a_restarted_operator_leaves_joined_bots_alone() {
    let mut scene = Scene::start("restart").await;
    let count = 20;
    let specs = (0..count).map(|i| spec(&format!("session-restart-{i}")));
    joined_bots(&scene, specs.collect()).await;
    // Both copies of every record written (the annotations follow Ready).
    let versions = |list: Vec<MeetingBot>| -> Vec<(String, String)> {
        list.into_iter()
            .map(|bot| (bot.name_any(), bot.resource_version().unwrap()))
            .collect()
    };
    let before = poll(
        "every record in the annotations too",
        Duration::from_secs(20),
        || async {
            let list = scene.bots().list(&Default::default()).await;
            let items = list.map_err(|error| error.to_string())?.items;
            let without: Vec<String> = items
                .iter()
                .filter(|bot| !bot.annotations().contains_key(annotation::RECORD))
                .map(|bot| bot.name_any())
                .collect();
            match without.is_empty() {
                true => Ok(versions(items)),
                false => Err(format!("no record annotation on {without:?}")),
            }
        },
    )
    .await;
    scene.kill_operator().await;
    let calls_before = scene.calls().await;

    scene.restart_operator().await;
    // The new process reconciles every MeetingBot once at its start: the
    // counter shows it has looked at all of them.
    scene
        .wait_metric(
            scene.operator(),
            "meetingbot_operator_meetingbot_reconciles_total{result=\"Ok\"}",
            |n| n >= count as f64,
        )
        .await;
    let after = versions(scene.bots().list(&Default::default()).await.unwrap().items);
    assert_eq!(before, after, "no MeetingBot was written after the restart");
    assert_eq!(
        scene.calls().await,
        calls_before,
        "no vendor call after the restart"
    );
}

#[tokio::test]
async fn an_operator_that_redacts_takes_the_token_out_of_status_already_written() {
    const OPT_OUT: &str = "--redact-websocket-token=false";
    let mut scene = Scene::builder("redact").arg(OPT_OUT).start().await;
    scene.create("standup", spec("session-redact")).await;
    let joined = scene.wait_joined("standup").await.status.unwrap();
    let written = joined.websocket_url.expect("a websocket URL");
    let token = written.split("token=").nth(1).expect("the token in status");

    // Upgraded to the default.
    let mut options = scene.options();
    options.extra_args.retain(|arg| arg != OPT_OUT);
    scene.run_operator(&options).await;

    let shown = scene
        .wait_bot("standup", "the websocket URL without its token", |bot| {
            let url = bot.status.as_ref()?.websocket_url.clone()?;
            url.ends_with("?[redacted]").then_some(url)
        })
        .await;
    assert!(!shown.contains(token), "{shown}");
    assert_eq!(shown.split('?').next(), written.split('?').next());
    let status = scene.bot("standup").await.status.unwrap();
    assert_eq!(status.meeting_bot_id, joined.meeting_bot_id, "the same bot");
    assert_eq!(scene.calls().await.total("join"), 1, "no second join");
}

#[tokio::test]
async fn deleting_the_namespace_makes_every_bot_leave_even_across_a_restart() {
    let mut scene = Scene::start("nsdelete").await;
    scene.put_secret("lemonslice", "apiKey", API_KEY).await;
    let specs = (0..4).map(|i| {
        let mut spec = spec(&format!("session-ns-{i}"));
        if i % 2 == 0 {
            spec.api_key_secret_ref = Some(ApiKeySecretRef {
                name: "lemonslice".into(),
                key: "apiKey".into(),
            });
        }
        spec
    });
    joined_bots(&scene, specs.collect()).await;
    // The key Secret is held for the joined bots that use it.
    let held = scene.secrets().get("lemonslice").await.unwrap();
    assert_eq!(held.finalizers().len(), 2, "{:?}", held.finalizers());
    // The operator restarts while the namespace goes: it keeps no key in memory.
    scene.kill_operator().await;
    let namespaces: Api<Namespace> = Api::all(scene.client.clone());
    namespaces
        .delete(&scene.ns, &DeleteParams::default())
        .await
        .unwrap();
    scene.restart_operator().await;
    poll(
        "the namespace to be gone",
        Duration::from_secs(90),
        || async {
            match namespaces.get_opt(&scene.ns).await {
                Ok(None) => Ok(()),
                Ok(Some(namespace)) => Err(format!("{:?}", namespace.status)),
                Err(error) => Err(error.to_string()),
            }
        },
    )
    .await;
    let live = scene.admin.bots().await.unwrap();
    assert!(live.is_empty(), "every bot left: {live:?}");
}

#[tokio::test]
async fn a_killed_operator_never_leaves_two_bots() {
    // The fake creates the bot, then holds the answer.
    let mut scene = Scene::builder("sigkill")
        .faults(Faults {
            hang_rate: 1.0,
            hang_secs: 600,
            endpoints: vec!["join".into()],
            ..Default::default()
        })
        .start()
        .await;
    scene.create("interrupted", spec("session-kill")).await;
    poll(
        "the join to reach the fake",
        Duration::from_secs(20),
        || async {
            match scene.admin.joins().await.map_err(|e| e.to_string())?.len() {
                1 => Ok(()),
                n => Err(format!("{n} joins")),
            }
        },
    )
    .await;
    scene.kill_operator().await;
    scene.admin.set_faults(&Faults::default()).await.unwrap();

    scene.restart_operator().await;
    let bot = scene
        .wait_bot(
            "interrupted",
            "Ready, or Stalled (JoinOutcomeUnknown)",
            |bot| {
                let settled = bot.condition("Ready").is_some_and(|c| c.status == "True")
                    || bot
                        .condition("Stalled")
                        .is_some_and(|c| c.reason == "JoinOutcomeUnknown");
                settled.then(|| bot.clone())
            },
        )
        .await;
    let live = scene.live_bots("session-kill").await;
    assert_eq!(live.len(), 1, "one live bot: {live:?}");
    assert_eq!(
        scene.admin.peak_live("session-kill").await.unwrap(),
        1,
        "never two live bots"
    );
    let status = bot.status.unwrap();
    if status.phase == Some(Phase::Joined) {
        assert_eq!(
            status.meeting_bot_id.as_ref(),
            Some(&live[0].meeting_bot_id)
        );
    }
    assert_eq!(
        scene.admin.joins().await.unwrap().len(),
        1,
        "no second join"
    );
}
