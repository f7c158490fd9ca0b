//! The bot record against the rest of a cluster: rolling updates, `kubectl
//! replace`, copies, an object the operator cannot decode, a vendor that
//! answers 404 for a moment, and a mistyped base URL. Each ends with the
//! fake's own account: never two live bots for one MeetingBot, and none left
//! after deletion.

use crate::runtime::{leads, replica};
use crate::support::*;
use fake_lemonslice::{FakeServer, Faults};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use meetingbot_operator::api::{MeetingBot, Phase, annotation};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const READY: Duration = Duration::from_secs(30);

async fn joined(client: &Client, ns: &str, name: &str) -> MeetingBot {
    wait_for_condition(client, ns, name, "Ready", Some("Joined"), READY).await
}

async fn delete(client: &Client, ns: &str, name: &str) {
    let bots: Api<MeetingBot> = Api::namespaced(client.clone(), ns);
    bots.delete(name, &DeleteParams::default())
        .await
        .expect("deletes");
}

/// Samples the fake's live bots of `session` until dropped, keeping the most seen at once.
struct MostAtOnce {
    most: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl MostAtOnce {
    fn watch(fake: &FakeServer, sessions: &[&str]) -> MostAtOnce {
        let admin = fake.admin();
        let sessions: Vec<String> = sessions.iter().map(|s| s.to_string()).collect();
        let most = Arc::new(AtomicUsize::new(0));
        let seen = most.clone();
        let task = tokio::spawn(async move {
            loop {
                if let Ok(bots) = admin.bots().await {
                    let live = bots
                        .iter()
                        .filter(|b| sessions.contains(&b.session_id))
                        .count();
                    seen.fetch_max(live, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        MostAtOnce { most, task }
    }

    fn most(&self) -> usize {
        self.most.load(Ordering::Relaxed)
    }
}

impl Drop for MostAtOnce {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn a_rolling_update_mid_rejoin_never_makes_two_avatars() {
    let (client, ns, fake) = prepared("rolling").await;
    let old = Operator::start(&replica(&ns, &fake, "old")).await;
    wait_until("old to lead", READY, || async {
        leads(&old).await.then_some(())
    })
    .await;
    create_bot(&client, &ns, "standup", spec("session-roll-a")).await;
    joined(&client, &ns, "standup").await;
    let most = MostAtOnce::watch(&fake, &["session-roll-a", "session-roll-b"]);

    // A slow vendor, and the new pod started before the old one stops.
    fake.admin()
        .set_faults(&Faults {
            latency_ms: 3000,
            endpoints: vec!["join".into(), "leave".into()],
            ..Faults::default()
        })
        .await
        .unwrap();
    let mut new = Operator::start(&replica(&ns, &fake, "new")).await;
    let bots: Api<MeetingBot> = Api::namespaced(client.clone(), &ns);
    bots.patch(
        "standup",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({ "spec": { "sessionId": "session-roll-b" } })),
    )
    .await
    .unwrap();
    // The old leader announces the rejoin just before its leave (3 s) and
    // is told to stop in the middle of it.
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), &ns);
    wait_until("the leave to begin", READY, || async {
        let list = events.list(&Default::default()).await.ok()?;
        list.items
            .iter()
            .any(|e| e.reason.as_deref() == Some("Rejoining"))
            .then_some(())
    })
    .await;
    let mut old = old;
    old.signal(SIGTERM);
    assert_eq!(old.wait_exit(Duration::from_secs(60)).await, Some(0));

    let bot = wait_until(
        "the bot to rejoin under session-roll-b",
        Duration::from_secs(60),
        || async {
            let bot = bots.get("standup").await.ok()?;
            let status = bot.status.as_ref()?;
            (status.phase == Some(Phase::Joined)
                && status.session_id.as_deref() == Some("session-roll-b"))
            .then_some(bot)
        },
    )
    .await;
    wait_until("the new replica to lead", READY, || async {
        leads(&new).await.then_some(())
    })
    .await;
    let live = live_bots(&fake.admin(), "session-roll-b").await;
    assert_eq!(live.len(), 1, "one avatar: {live:?}");
    assert_eq!(
        Some(live[0].meeting_bot_id.as_str()),
        bot.status.as_ref().unwrap().meeting_bot_id.as_deref()
    );
    assert!(live_bots(&fake.admin(), "session-roll-a").await.is_empty());
    assert!(
        !old.log_text().contains("JoinOutcomeUnknown"),
        "a graceful stop leaves no outcome unknown"
    );

    delete(&client, &ns, "standup").await;
    wait_for_gone(&client, &ns, "standup", Duration::from_secs(60)).await;
    assert!(live_bots(&fake.admin(), "session-roll-b").await.is_empty());
    assert_eq!(most.most(), 1, "never two live avatars at once");
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
    let (client, ns, fake) = prepared("replace").await;
    let _operator = Operator::start(&OperatorOptions::new(&ns, &fake)).await;
    create_bot(&client, &ns, "standup", spec("session-replace")).await;
    let before = joined(&client, &ns, "standup").await;
    let bot_id = before.status.unwrap().meeting_bot_id.unwrap();

    let manifest = original_manifest(&ns, "standup", "session-replace");
    kubectl(&["replace", "-f", manifest.path().to_str().unwrap()]);
    let bots: Api<MeetingBot> = Api::namespaced(client.clone(), &ns);
    let restored = wait_until("the record back in the annotations", READY, || async {
        let bot = bots.get("standup").await.ok()?;
        (bot.annotation(annotation::MEETING_BOT_ID) == Some(bot_id.as_str()) && bot.has_finalizer())
            .then_some(bot)
    })
    .await;
    assert_eq!(
        restored.annotation(annotation::RECORD_UID),
        restored.metadata.uid.as_deref()
    );
    let calls = fake.admin().calls().await.unwrap();
    assert_eq!(calls.total("join"), 1, "no second join");
    assert_eq!(live_bots(&fake.admin(), "session-replace").await.len(), 1);

    delete(&client, &ns, "standup").await;
    wait_for_gone(&client, &ns, "standup", READY).await;
    assert!(live_bots(&fake.admin(), "session-replace").await.is_empty());
    delete_namespace(&client, &ns, Duration::from_secs(60)).await;
}

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
    let (client, ns, fake) = prepared("copy").await;
    let _operator = Operator::start(&OperatorOptions::new(&ns, &fake)).await;
    create_bot(&client, &ns, "standup", spec("session-copy")).await;
    let original = joined(&client, &ns, "standup").await;
    let original_uid = original.uid().unwrap();
    let bots: Api<MeetingBot> = Api::namespaced(client.clone(), &ns);
    bots.create(&PostParams::default(), &copy_of(&original, "standup-copy"))
        .await
        .unwrap();
    let copy = wait_for_condition(
        &client,
        &ns,
        "standup-copy",
        "Stalled",
        Some("ForeignRecord"),
        READY,
    )
    .await;
    let message = &condition(&copy, "Stalled").unwrap().message;
    assert!(message.contains(&original_uid), "{message}");
    assert!(message.contains(annotation::ADOPT_RECORD), "{message}");

    // Deleting the copy does not take the original's avatar out.
    delete(&client, &ns, "standup-copy").await;
    wait_for_gone(&client, &ns, "standup-copy", READY).await;
    assert_eq!(live_bots(&fake.admin(), "session-copy").await.len(), 1);
    assert_eq!(fake.admin().calls().await.unwrap().total("leave"), 0);
    joined(&client, &ns, "standup").await;

    // A second copy that starts afresh gets its own avatar.
    let mut fresh = copy_of(&original, "standup-fresh");
    fresh
        .metadata
        .annotations
        .get_or_insert_default()
        .insert(annotation::DISCARD_RECORD.into(), original_uid.clone());
    bots.create(&PostParams::default(), &fresh).await.unwrap();
    let fresh = joined(&client, &ns, "standup-fresh").await;
    assert_ne!(
        fresh.status.unwrap().meeting_bot_id,
        original.status.clone().unwrap().meeting_bot_id
    );
    assert_eq!(live_bots(&fake.admin(), "session-copy").await.len(), 2);

    delete(&client, &ns, "standup").await;
    delete(&client, &ns, "standup-fresh").await;
    wait_for_gone(&client, &ns, "standup", READY).await;
    wait_for_gone(&client, &ns, "standup-fresh", READY).await;
    assert!(live_bots(&fake.admin(), "session-copy").await.is_empty());
    delete_namespace(&client, &ns, Duration::from_secs(60)).await;
}

#[tokio::test]
async fn an_undecodable_meetingbot_in_one_namespace_blinds_no_other() {
    let client = client().await;
    let hostile_ns = namespace(&client, "hostile").await;
    let (_, ns, fake) = prepared("neighbour").await;
    let label = format!("e2e-blind={ns}");
    let labelled = |mut bot: MeetingBot| {
        bot.metadata
            .labels
            .get_or_insert_default()
            .insert("e2e-blind".into(), ns.clone());
        bot
    };
    // A status that the API server accepts (a date-time past what the time library holds).
    let hostile: Api<MeetingBot> = Api::namespaced(client.clone(), &hostile_ns);
    hostile
        .create(
            &PostParams::default(),
            &labelled(MeetingBot::new("odd", spec("session-odd"))),
        )
        .await
        .unwrap();
    kubectl(&[
        "patch",
        "meetingbot",
        "odd",
        "-n",
        &hostile_ns,
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"joinedAt":"9999-12-31T23:59:59Z"}}"#,
    ]);

    // One operator for all namespaces (its label selector keeps other tests' objects out).
    let mut options = OperatorOptions::new("", &fake);
    options.extra_args.push(format!("--label-selector={label}"));
    let first = Operator::start(&options).await;
    first.kill().await;
    let _operator = Operator::start(&options).await;
    let bots: Api<MeetingBot> = Api::namespaced(client.clone(), &ns);
    bots.create(
        &PostParams::default(),
        &labelled(MeetingBot::new("fine", spec("session-fine"))),
    )
    .await
    .unwrap();
    joined(&client, &ns, "fine").await;
    let odd = wait_until("the odd object to say why", READY, || async {
        let raw: serde_json::Value = serde_json::from_str(&kubectl(&[
            "get",
            "meetingbot",
            "odd",
            "-n",
            &hostile_ns,
            "-o",
            "json",
        ]))
        .ok()?;
        let stalled = raw["status"]["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == "Stalled" && c["reason"] == "InvalidSpec")?
            .clone();
        Some(stalled)
    })
    .await;
    assert!(
        odd["message"].as_str().unwrap().contains("status.joinedAt"),
        "{odd}"
    );
    delete(&client, &ns, "fine").await;
    wait_for_gone(&client, &ns, "fine", READY).await;
    assert!(live_bots(&fake.admin(), "session-fine").await.is_empty());
    delete_namespace(&client, &ns, Duration::from_secs(60)).await;
}

#[tokio::test]
async fn a_join_at_the_operator_cannot_read_is_refused_at_admission() {
    let client = client().await;
    let ns = namespace(&client, "joinat").await;
    for (value, field_says) in [
        ("9999-12-31T23:59:59Z", "year 9000"),
        ("2026-12-01T09:00:00", "spec.joinAt"),
        ("2026-12-01 09:00:00Z", "spec.joinAt"),
        ("2026-12-01T09:00:00+25:00", "spec.joinAt"),
    ] {
        let mut bot = serde_json::to_value(MeetingBot::new("odd", spec("s"))).unwrap();
        bot["spec"]["joinAt"] = serde_json::json!(value);
        let status = std::process::Command::new("kubectl")
            .args(["create", "-n", &ns, "-f", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(bot.to_string().as_bytes())?;
                child.wait_with_output()
            })
            .unwrap();
        let stderr = String::from_utf8_lossy(&status.stderr);
        assert!(!status.status.success(), "{value} was accepted");
        assert!(stderr.contains(field_says), "{value}: {stderr}");
    }
    delete_namespace(&client, &ns, Duration::from_secs(60)).await;
}

#[tokio::test]
async fn seconds_of_session_404s_keep_the_bot_and_deletion_still_leaves() {
    let (client, ns, fake) = prepared("notfound").await;
    let mut options = OperatorOptions::new(&ns, &fake);
    options.extra_args.push("--session-poll-interval=1s".into());
    let _operator = Operator::start(&options).await;
    create_bot(&client, &ns, "standup", spec("session-404")).await;
    joined(&client, &ns, "standup").await;

    fake.admin()
        .set_faults(&Faults {
            error_rate: 1.0,
            error_statuses: vec![404],
            endpoints: vec!["session".into()],
            ..Faults::default()
        })
        .await
        .unwrap();
    let requests_404 = || async {
        let requests = fake.admin().requests().await.ok()?;
        let count = requests
            .iter()
            .filter(|r| r.endpoint == "session" && r.status == "404")
            .count();
        Some(count)
    };
    wait_until("three session reads answered 404", READY, || async {
        (requests_404().await? >= 3).then_some(())
    })
    .await;
    fake.admin().set_faults(&Faults::default()).await.unwrap();

    let bots: Api<MeetingBot> = Api::namespaced(client.clone(), &ns);
    let bot = bots.get("standup").await.unwrap();
    assert_eq!(bot.status.unwrap().phase, Some(Phase::Joined));
    let events = kubectl(&["get", "events", "-n", &ns, "-o", "json"]);
    assert!(!events.contains("SessionEnded"), "{events}");

    delete(&client, &ns, "standup").await;
    wait_for_gone(&client, &ns, "standup", READY).await;
    assert_eq!(fake.admin().calls().await.unwrap().total("leave"), 1);
    assert!(live_bots(&fake.admin(), "session-404").await.is_empty());
    delete_namespace(&client, &ns, Duration::from_secs(60)).await;
}

#[tokio::test]
async fn a_wrong_base_url_keeps_the_operator_unready_and_every_finalizer_in_place() {
    let (client, ns, fake) = prepared("wrongurl").await;
    let good = Operator::start(&OperatorOptions::new(&ns, &fake)).await;
    create_bot(&client, &ns, "standup", spec("session-wrong-url")).await;
    joined(&client, &ns, "standup").await;
    good.kill().await;

    let mut options = OperatorOptions::new(&ns, &fake);
    options.lemonslice_url = format!("{}/not-the-api", fake.url());
    let wrong = Operator::spawn(&options);
    delete(&client, &ns, "standup").await;
    wait_until("two failed checks in the log", READY, || async {
        let failed = wrong.log_text().matches("check --lemonslice-url").count();
        (failed >= 2).then_some(())
    })
    .await;
    let (status, body) = wrong.get("/readyz").await.expect("readyz answers");
    assert_eq!(status, 503, "{body}");
    let bots: Api<MeetingBot> = Api::namespaced(client.clone(), &ns);
    let still = bots.get("standup").await.expect("still there");
    assert!(still.has_finalizer() && still.metadata.deletion_timestamp.is_some());
    assert_eq!(fake.admin().calls().await.unwrap().total("leave"), 0);
    assert_eq!(live_bots(&fake.admin(), "session-wrong-url").await.len(), 1);

    wrong.kill().await;
    let _fixed = Operator::start(&OperatorOptions::new(&ns, &fake)).await;
    wait_for_gone(&client, &ns, "standup", READY).await;
    assert!(
        live_bots(&fake.admin(), "session-wrong-url")
            .await
            .is_empty()
    );
    delete_namespace(&client, &ns, Duration::from_secs(60)).await;
}
