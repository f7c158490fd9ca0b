//! Two installs of the operator whose scopes overlap (both watch one
//! namespace, each with its own identity, API key and base URL): one acts on
//! each MeetingBot, the object names it, and the other never calls
//! LemonSlice for it, its deletion included.

use crate::scene::{Scene, Waits};
use crate::support::*;
use fake_lemonslice::{Config as FakeConfig, FakeServer, Faults, RequestRecord};
use futures::future::join_all;
use meetingbot_operator::api::{ApiKeySecretRef, MeetingBot, annotation, event};
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

/// Two shards of one namespace, by label: install a (`shard=a`) and
/// install b (`shard=b`), each with its own key, against one vendor.
async fn start_shards(scene: &Scene) -> [Operator; 2] {
    scene.admin.set_api_keys(&[API_KEY, KEY_B]).await.unwrap();
    let mut operators = vec![];
    for shard in ["a", "b"] {
        operators.push(scene.start_operator(&shard_options(scene, shard)).await);
    }
    operators.try_into().ok().expect("two operators")
}

/// The operator of shard `a` (install a) or `b` (install b).
fn shard_options(scene: &Scene, shard: &str) -> OperatorOptions {
    let [a, b] = installs();
    let (install, key) = if shard == "a" { a } else { b };
    let mut options = scene.options();
    options.extra_args.extend([
        format!("--install-id={install}"),
        format!("--api-key={key}"),
        format!("--label-selector=shard={shard}"),
    ]);
    options
}

fn in_shard(name: &str, session: &str, shard: &str) -> MeetingBot {
    let mut bot = MeetingBot::new(name, spec(session));
    bot.metadata.labels = Some([("shard".to_owned(), shard.to_owned())].into());
    bot
}

async fn relabel(scene: &Scene, name: &str, shard: &str) {
    scene
        .merge(
            name,
            serde_json::json!({"metadata": {"labels": {"shard": shard}}}),
        )
        .await;
}

/// `bot_id` is the one avatar in `session`'s meeting, and there never were two.
async fn only_avatar(scene: &Scene, session: &str, bot_id: &str) {
    let live = scene.live_bots(session).await;
    let ids: Vec<&str> = live.iter().map(|b| b.meeting_bot_id.as_str()).collect();
    assert_eq!(ids, [bot_id]);
    assert_eq!(
        scene.admin.peak_live(session).await.unwrap(),
        1,
        "one avatar at a time"
    );
}

/// Waits until install `install` acts on `name` and it is Ready.
async fn wait_joined_by(scene: &Scene, name: &str, install: &str) -> MeetingBot {
    let what = format!("{name} joined by install {install}");
    scene
        .wait_bot(name, &what, |bot| {
            let status = bot.status.as_ref()?;
            let ready = bot.condition("Ready").is_some_and(|c| c.status == "True");
            (status.install.as_deref() == Some(install) && ready).then(|| bot.clone())
        })
        .await
}

#[tokio::test]
async fn a_meetingbot_relabelled_to_another_shard_while_its_join_is_in_flight_is_handed_over() {
    let faults = Faults {
        latency_ms: 1500,
        ..Faults::default()
    };
    let scene = Scene::builder("handover")
        .faults(faults)
        .without_operator()
        .deadline(Duration::from_secs(60))
        .start()
        .await;
    let _operators = start_shards(&scene).await;
    let [(install_a, _), (install_b, _)] = installs();
    scene
        .create_object(&in_shard("standup", "session-handover", "a"))
        .await;
    scene
        .wait_bot("standup", "install a's join in flight", |bot| {
            bot.annotation(annotation::JOIN_IN_FLIGHT).map(|_| ())
        })
        .await;
    relabel(&scene, "standup", "b").await;

    // Install a records its join, takes that avatar out (its own key joined
    // it, which install b does not hold) and lets go; install b joins anew.
    let joined = wait_joined_by(&scene, "standup", install_b).await;
    let bot_id = joined.status.unwrap().meeting_bot_id.unwrap();
    only_avatar(&scene, "session-handover", &bot_id).await;
    let requests = scene.admin.requests().await.unwrap();
    let of = |key: &'static str| {
        requests
            .iter()
            .filter(move |r| r.key_hint.as_deref() == Some(hint(key)))
    };
    let last_of_a = of(API_KEY).map(|r| r.at).max().expect("install a called");
    let first_of_b = of(KEY_B).map(|r| r.at).min().expect("install b called");
    assert!(
        last_of_a < first_of_b,
        "install b began after install a ended: {requests:?}"
    );
    assert!(
        of(API_KEY).any(|r| r.endpoint == "leave"),
        "install a took its avatar out"
    );
    let left_scope = scene.wait_event("standup", event::LEFT_SCOPE).await;
    assert!(left_scope.note.unwrap_or_default().contains(install_a));

    scene.delete("standup").await;
    scene.wait_gone("standup").await;
    assert!(
        scene.live_bots("session-handover").await.is_empty(),
        "its deletion took the avatar out"
    );
}

#[tokio::test]
async fn an_install_that_was_down_when_its_meetingbot_left_its_shard_hands_it_over_when_back() {
    let scene = Scene::builder("handover-restart")
        .without_operator()
        .start()
        .await;
    let [operator_a, _operator_b] = start_shards(&scene).await;
    let [_, (install_b, _)] = installs();
    scene
        .create_object(&in_shard("standup", "session-handover-restart", "a"))
        .await;
    scene.wait_joined("standup").await;
    operator_a.kill().await;
    relabel(&scene, "standup", "b").await;
    // Install b leaves it to install a, which is down, and says so.
    scene.wait_event("standup", event::OTHER_INSTALL).await;

    let _operator_a = scene.start_operator(&shard_options(&scene, "a")).await;
    let joined = wait_joined_by(&scene, "standup", install_b).await;
    let bot_id = joined.status.unwrap().meeting_bot_id.unwrap();
    only_avatar(&scene, "session-handover-restart", &bot_id).await;
}

#[tokio::test]
async fn a_bot_its_own_key_joined_moves_to_the_other_shard_and_leaves_with_that_key() {
    let scene = Scene::builder("handover-key")
        .without_operator()
        .start()
        .await;
    let _operators = start_shards(&scene).await;
    let [_, (install_b, _)] = installs();
    scene.put_secret("account", "apiKey", API_KEY).await;
    let mut bot = in_shard("standup", "session-handover-key", "a");
    bot.spec.api_key_secret_ref = Some(ApiKeySecretRef {
        name: "account".into(),
        key: "apiKey".into(),
    });
    scene.create_object(&bot).await;
    let joined = scene.wait_joined("standup").await;
    let bot_id = joined.status.unwrap().meeting_bot_id.unwrap();

    relabel(&scene, "standup", "b").await;
    // The same avatar, now install b's: no leave, no second join.
    let taken_over = wait_joined_by(&scene, "standup", install_b).await;
    assert_eq!(
        taken_over.status.unwrap().meeting_bot_id.as_deref(),
        Some(bot_id.as_str())
    );
    assert!(scene.requests_to("leave").await.is_empty());
    assert_eq!(scene.requests_to("join").await.len(), 1);

    scene.delete("standup").await;
    scene.wait_gone("standup").await;
    let leaves = scene.requests_to("leave").await;
    assert_eq!(leaves.len(), 1, "{leaves:?}");
    assert_eq!(
        leaves[0].key_hint.as_deref(),
        Some(hint(API_KEY)),
        "the key that joined"
    );
    assert!(scene.live_bots("session-handover-key").await.is_empty());
}

#[tokio::test]
async fn a_404_from_another_account_never_lets_go_of_a_meetingbot_outside_the_installs_scope() {
    // Install a (the scene's operator, the default install id): its vendor
    // refuses leaves for now (503), so that the deletion waits for install b.
    let faults = Faults {
        error_rate: 1.0,
        error_statuses: vec![503],
        endpoints: vec!["leave".into()],
        ..Faults::default()
    };
    let scene = Scene::builder("same-id")
        .faults(faults)
        .deadline(Duration::from_secs(60))
        .start()
        .await;
    scene.create("standup", spec("session-same-id")).await;
    scene.wait_joined("standup").await;
    scene.delete("standup").await;
    scene
        .wait_bot("standup", "marked for deletion", |bot| {
            bot.metadata.deletion_timestamp.as_ref().map(|_| ())
        })
        .await;

    // Install b: the same install id by mistake (given: a label-selected
    // operator refuses to start without one), another vendor account, and a
    // label selector that leaves the MeetingBot out: its sweep for strays
    // finds it stamped with "its" install, and its leave answers 404 (that
    // account never had the bot).
    let fake_b = scene
        .another_fake(FakeConfig {
            api_keys: vec![API_KEY.into()],
            ..Default::default()
        })
        .await;
    let mut options = OperatorOptions::new(&scene.ns, &fake_b);
    options.extra_args.extend([
        "--label-selector=e2e-shard=elsewhere".into(),
        "--install-id=default".into(),
    ]);
    let install_b = scene.start_operator(&options).await;
    poll(
        "install b to try to leave, and not believe the 404",
        Duration::from_secs(30),
        || async {
            let log = install_b.log_text();
            match log.contains("not believed") {
                true => Ok(()),
                false => Err(log),
            }
        },
    )
    .await;
    assert!(
        scene.bots().get_opt("standup").await.unwrap().is_some(),
        "the MeetingBot waits for its bot to leave"
    );

    scene.admin.set_faults(&Faults::default()).await.unwrap();
    scene.wait_gone("standup").await;
    assert!(
        scene.live_bots("session-same-id").await.is_empty(),
        "the MeetingBot went only after its bot left"
    );
    assert_eq!(scene.admin.leaves().await.unwrap().len(), 1);
    assert!(fake_b.admin().leaves().await.unwrap().is_empty());
}
