//! Two installs of the operator whose scopes overlap (both watch one
//! namespace, each with its own identity, API key and base URL): one acts on
//! each MeetingBot, the object names it, and the other never calls
//! LemonSlice for it, its deletion included.

use crate::scene::{Scene, Waits};
use crate::support::*;
use fake_lemonslice::{Config as FakeConfig, FakeServer, Faults, RequestRecord};
use futures::future::join_all;
use meetingbot_operator::api::{MeetingBot, event};
use std::collections::BTreeMap;
use std::time::Duration;

const BOTS: usize = 20;
const KEY_B: &str = "account-b-key-7c1e";

/// Install a: the scene's key; install b: its own.
fn installs() -> [(&'static str, &'static str); 2] {
    [("team-a/meetingbot", API_KEY), ("team-b/meetingbot", KEY_B)]
}

fn hint(key: &str) -> &str {
    &key[key.len() - 4..]
}

fn session(i: usize) -> String {
    format!("session-installs-{i}")
}

/// Starts both installs, each against its own vendor URL, and creates the
/// MeetingBots at once: each is claimed by whichever install got there first.
async fn start_both(scene: &Scene, fakes: [&FakeServer; 2]) -> [Operator; 2] {
    let mut operators = vec![];
    for ((install, key), fake) in installs().into_iter().zip(fakes) {
        let mut options = OperatorOptions::new(&scene.ns, fake);
        options.extra_args.extend([
            format!("--install-id={install}"),
            format!("--api-key={key}"),
        ]);
        operators.push(scene.start_operator(&options).await);
    }
    let names: Vec<String> = (0..BOTS).map(|i| format!("bot-{i}")).collect();
    join_all(
        names
            .iter()
            .zip(0..)
            .map(|(name, i)| scene.create(name, spec(&session(i)))),
    )
    .await;
    operators.try_into().ok().expect("two operators")
}

/// Which install acts on each MeetingBot, by session, once every one says.
async fn acting_installs(scene: &Scene) -> BTreeMap<String, String> {
    poll(
        "every MeetingBot to name the install acting on it",
        Duration::from_secs(60),
        || async {
            let bots = scene
                .bots()
                .list(&Default::default())
                .await
                .map_err(|e| e.to_string())?;
            let named: BTreeMap<String, String> = bots
                .items
                .iter()
                .filter_map(|bot: &MeetingBot| {
                    Some((
                        bot.spec.session_id.clone(),
                        bot.status.as_ref()?.install.clone()?,
                    ))
                })
                .collect();
            if named.len() == BOTS {
                Ok(named)
            } else {
                Err(format!("{} of {BOTS} name one", named.len()))
            }
        },
    )
    .await
}

/// Every call for a session came with the key of the install acting on it.
fn only_the_acting_install_called(requests: &[RequestRecord], acting: &BTreeMap<String, String>) {
    let keys: BTreeMap<&str, &str> = installs().into_iter().collect();
    for request in requests {
        let install = &acting[&request.session_id];
        assert_eq!(
            request.key_hint.as_deref(),
            Some(hint(keys[install.as_str()])),
            "{} of session {} came from the install that does not act on it ({install} does)",
            request.endpoint,
            request.session_id
        );
    }
}

/// Each MeetingBot got one Warning from the install that leaves it alone.
async fn each_told_once_who_acts(scene: &Scene, acting: &BTreeMap<String, String>) {
    for i in 0..BOTS {
        let warning = scene
            .wait_event(&format!("bot-{i}"), event::OTHER_INSTALL)
            .await;
        let note = warning.note.unwrap_or_default();
        assert!(note.contains(&acting[&session(i)]), "{note}");
    }
}

/// Deletes every MeetingBot and waits until all are gone.
async fn delete_all(scene: &Scene) {
    let names: Vec<String> = (0..BOTS).map(|i| format!("bot-{i}")).collect();
    join_all(names.iter().map(|name| scene.delete(name))).await;
    for i in 0..BOTS {
        scene.wait_gone(&format!("bot-{i}")).await;
    }
}

#[tokio::test]
async fn two_installs_on_one_namespace_one_vendor_one_avatar_per_meeting() {
    // One vendor answering in about a second, which knows both accounts.
    let faults = Faults {
        latency_ms: 800,
        jitter_ms: 400,
        ..Faults::default()
    };
    let scene = Scene::builder("installs")
        .faults(faults)
        .without_operator()
        .deadline(Duration::from_secs(90))
        .start()
        .await;
    scene.admin.set_api_keys(&[API_KEY, KEY_B]).await.unwrap();
    let operators = start_both(&scene, [&scene.fake, &scene.fake]).await;
    for i in 0..BOTS {
        scene.wait_joined(&format!("bot-{i}")).await;
    }
    let acting = acting_installs(&scene).await;
    each_told_once_who_acts(&scene, &acting).await;
    for (operator, (install, _)) in operators.iter().zip(installs()) {
        let elsewhere = acting.values().filter(|acting| *acting != install).count();
        scene
            .wait_metric(
                operator,
                "meetingbot_operator_meetingbots_other_install",
                |n| n == elsewhere as f64,
            )
            .await;
    }

    delete_all(&scene).await;
    for i in 0..BOTS {
        assert_eq!(
            scene.admin.peak_live(&session(i)).await.unwrap(),
            1,
            "one avatar in meeting {i}"
        );
        assert!(
            scene.live_bots(&session(i)).await.is_empty(),
            "meeting {i}'s avatar left"
        );
    }
    only_the_acting_install_called(&scene.admin.requests().await.unwrap(), &acting);
}

#[tokio::test]
async fn two_installs_with_two_vendors_that_each_know_only_their_own_sessions() {
    let scene = Scene::builder("installs-vendors")
        .without_operator()
        .deadline(Duration::from_secs(90))
        .start()
        .await;
    // Even sessions live at install a's vendor, odd ones at install b's.
    let vendor = |key: &str, parity: usize| FakeConfig {
        api_keys: vec![key.into()],
        sessions: (0..BOTS).filter(|i| i % 2 == parity).map(session).collect(),
        only_known_sessions: true,
        faults: Faults {
            latency_ms: 800,
            jitter_ms: 400,
            ..Faults::default()
        },
    };
    let fake_a = scene.another_fake(vendor(API_KEY, 0)).await;
    let fake_b = scene.another_fake(vendor(KEY_B, 1)).await;
    let _operators = start_both(&scene, [&fake_a, &fake_b]).await;
    let acting = acting_installs(&scene).await;
    // A MeetingBot joins when the install acting on it reaches its session's
    // vendor; else that install's vendor answers 404, and it stalls.
    let [(install_a, _), _] = installs();
    for i in 0..BOTS {
        let at_own_vendor = (acting[&session(i)] == install_a) == (i % 2 == 0);
        if at_own_vendor {
            scene.wait_joined(&format!("bot-{i}")).await;
        } else {
            scene
                .wait_stalled(&format!("bot-{i}"), "SessionNotFound")
                .await;
        }
    }
    each_told_once_who_acts(&scene, &acting).await;

    delete_all(&scene).await;
    let mut requests = fake_a.admin().requests().await.unwrap();
    requests.extend(fake_b.admin().requests().await.unwrap());
    only_the_acting_install_called(&requests, &acting);
    for i in 0..BOTS {
        let owner = if i % 2 == 0 { &fake_a } else { &fake_b };
        assert!(owner.admin().peak_live(&session(i)).await.unwrap() <= 1);
        let live = owner.admin().bots().await.unwrap();
        assert!(
            live.iter().all(|bot| bot.session_id != session(i)),
            "meeting {i}'s avatar left"
        );
    }
}

/// Leaving a shard's selector is not a deletion: the watch reports the
/// object gone from its scope, and the operator must not take its avatar out
/// as if the object had been deleted behind its back.
#[tokio::test]
async fn a_meetingbot_relabelled_out_of_the_shard_keeps_its_avatar() {
    let scene = Scene::builder("shard-exit")
        .arg("--label-selector=shard=a")
        .start()
        .await;
    let mut bot = MeetingBot::new("standup", spec("session-shard-exit"));
    bot.metadata.labels = Some([("shard".to_owned(), "a".to_owned())].into());
    scene.create_object(&bot).await;
    let joined = scene.wait_joined("standup").await;
    let bot_id = joined.status.unwrap().meeting_bot_id.unwrap();

    scene
        .merge(
            "standup",
            serde_json::json!({"metadata": {"labels": {"shard": "b"}}}),
        )
        .await;
    // The operator looks at what left its watch, and says what it made of it.
    let log = scene.operator().log.clone();
    poll(
        "the operator to see the MeetingBot leave its watch",
        Duration::from_secs(20),
        || async {
            let text = std::fs::read_to_string(&log).map_err(|e| e.to_string())?;
            ["left this install's scope", "deleted without its finalizer"]
                .iter()
                .any(|said| text.contains(said))
                .then_some(())
                .ok_or_else(|| "not yet".to_owned())
        },
    )
    .await;
    let live = scene.live_bots("session-shard-exit").await;
    assert_eq!(
        live.iter()
            .map(|b| b.meeting_bot_id.as_str())
            .collect::<Vec<_>>(),
        [bot_id.as_str()],
        "the avatar is still in the meeting"
    );
    assert!(
        scene.requests_to("leave").await.is_empty(),
        "no leave was called"
    );
}
