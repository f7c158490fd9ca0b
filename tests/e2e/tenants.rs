//! Tenants cannot use the operator against each other, and secrets stay
//! secret: a vendor that echoes what it was sent, connection Secrets that
//! belong to someone else, and one namespace's storm against another's joins.

use crate::support::*;
use fake_lemonslice::Faults;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use meetingbot_operator::api::{
    ConnectionSecretRef, MeetingBot, MeetingBotSpec, MeetingUrlSecretRef,
};
use std::time::Duration;

/// A Zoom meeting whose passcode is in its URL.
const PASSWORD: &str = "Zm9vYmFyUGFzc2NvZGU4Nw";
const MEETING_ID: &str = "81234567890";

fn zoom_url() -> String {
    format!("https://us02web.zoom.us/j/{MEETING_ID}?pwd={PASSWORD}")
}

/// Every place a secret could leak to: the operator's log, the namespace's
/// Events (all of their fields) and the MeetingBots' whole status.
async fn leak_places(client: &Client, ns: &str, log: &str) -> Vec<(String, String)> {
    let events = kubectl(&["get", "events.events.k8s.io", "-n", ns, "-o", "json"]);
    let bots = Api::<MeetingBot>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .unwrap();
    let mut places = vec![("events".to_owned(), events)];
    for bot in bots.items {
        let status = serde_json::to_string(&bot.status).unwrap();
        places.push((format!("status of {}", bot.metadata.name.unwrap()), status));
    }
    for (i, line) in log.lines().enumerate() {
        places.push((format!("log line {}", i + 1), line.to_owned()));
    }
    places
}

#[tokio::test]
async fn an_echoing_vendor_learns_nothing_secret_into_status_events_or_logs() {
    let (client, ns, fake) = prepared("tenants-echo").await;
    let session = format!("session-echo-{ns}");
    fake.admin()
        .set_faults(&Faults {
            echo_rate: 1.0,
            endpoints: vec!["join".into()],
            ..Faults::default()
        })
        .await
        .unwrap();
    put_secret(&client, &ns, "meeting", "meetingUrl", &zoom_url()).await;
    let operator = Operator::start(&OperatorOptions::new(&ns, &fake)).await;
    let spec = MeetingBotSpec {
        meeting_url: None,
        meeting_url_secret_ref: Some(MeetingUrlSecretRef {
            name: "meeting".into(),
            key: "meetingUrl".into(),
        }),
        ..spec(&session)
    };
    create_bot(&client, &ns, "echoed", spec).await;
    let bot = wait_for_condition(
        &client,
        &ns,
        "echoed",
        "Stalled",
        Some("InvalidRequest"),
        Duration::from_secs(30),
    )
    .await;
    let message = &condition(&bot, "Ready").unwrap().message;
    assert!(
        message.contains("x-api-key") && message.contains("[redacted]"),
        "the status still says which field the vendor refused: {message}"
    );
    let calls = fake.admin().calls().await.unwrap();
    assert!(calls.count("join", "422") >= 1, "the vendor echoed");
    // The Warning Event of the refusal is published after the status: wait for it.
    wait_until("the refusal's Event", Duration::from_secs(10), || async {
        let events = kubectl(&["get", "events.events.k8s.io", "-n", &ns, "-o", "json"]);
        events.contains("JoinFailed").then_some(())
    })
    .await;

    let encode = |value: &str| -> String {
        url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
    };
    let url = zoom_url();
    let secrets = [
        url.clone(),
        encode(&url),
        PASSWORD.to_owned(),
        BROADCAST_TOKEN.to_owned(),
        API_KEY.to_owned(),
        serde_json::to_string(&url).unwrap().replace('/', "\\/"),
    ];
    let places = leak_places(&client, &ns, &operator.log_text()).await;
    assert!(places.len() > 3, "there is a log to search");
    for secret in &secrets {
        for (place, text) in &places {
            assert!(
                !text.contains(secret.as_str()),
                "{secret:?} leaked into {place}: {text}"
            );
        }
    }
}

/// ServiceAccount `name` of `ns`, bound to a Role of the same name with `rules`.
async fn service_account_with_rules(client: &Client, ns: &str, name: &str, rules: Vec<PolicyRule>) {
    let pp = PostParams::default();
    let mut account = ServiceAccount::default();
    account.metadata.name = Some(name.into());
    Api::<ServiceAccount>::namespaced(client.clone(), ns)
        .create(&pp, &account)
        .await
        .unwrap();
    let mut role = Role::default();
    role.metadata.name = Some(name.into());
    role.rules = Some(rules);
    Api::<Role>::namespaced(client.clone(), ns)
        .create(&pp, &role)
        .await
        .unwrap();
    let mut binding = RoleBinding {
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "Role".into(),
            name: name.into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: name.into(),
            namespace: Some(ns.into()),
            ..Subject::default()
        }]),
        ..RoleBinding::default()
    };
    binding.metadata.name = Some(name.into());
    Api::<RoleBinding>::namespaced(client.clone(), ns)
        .create(&pp, &binding)
        .await
        .unwrap();
}

/// A client acting as ServiceAccount `tenant` of `ns`, whose Role allows
/// MeetingBots and nothing else.
async fn tenant_client(client: &Client, ns: &str) -> Client {
    let meetingbots_only = PolicyRule {
        api_groups: Some(vec!["liveai.lemonslice.com".into()]),
        resources: Some(vec!["meetingbots".into()]),
        verbs: [
            "get", "list", "watch", "create", "update", "patch", "delete",
        ]
        .map(String::from)
        .to_vec(),
        ..PolicyRule::default()
    };
    service_account_with_rules(client, ns, "tenant", vec![meetingbots_only]).await;
    let mut config = crate::support::config().await;
    config.auth_info.impersonate = Some(format!("system:serviceaccount:{ns}:tenant"));
    Client::try_from(config).unwrap()
}

#[tokio::test]
async fn a_meetingbot_cannot_take_over_or_delete_a_secret_it_did_not_create() {
    let (client, ns, fake) = prepared("tenants-conn").await;
    let tenant = tenant_client(&client, &ns).await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    put_secret(&client, &ns, "victim", "password", "db-password-not-yours").await;
    let before = secrets.get("victim").await.unwrap();
    assert!(
        Api::<Secret>::namespaced(tenant.clone(), &ns)
            .delete("victim", &DeleteParams::default())
            .await
            .is_err(),
        "the tenant may not delete Secrets itself"
    );
    let _operator = Operator::start(&OperatorOptions::new(&ns, &fake)).await;

    let with_target = |session: &str, target: &str| MeetingBotSpec {
        write_connection_secret_to_ref: Some(ConnectionSecretRef {
            name: target.into(),
        }),
        ..spec(session)
    };
    // As the tenant: one bot names the existing Secret, one a fresh name.
    create_bot(
        &tenant,
        &ns,
        "thief",
        with_target("session-thief", "victim"),
    )
    .await;
    create_bot(
        &tenant,
        &ns,
        "honest",
        with_target("session-honest", "mine"),
    )
    .await;
    wait_for_condition(
        &client,
        &ns,
        "thief",
        "Ready",
        Some("Joined"),
        Duration::from_secs(30),
    )
    .await;
    let bots: Api<MeetingBot> = Api::namespaced(client.clone(), &ns);
    let thief = wait_until(
        "the thief's ConnectionSecretReady",
        Duration::from_secs(20),
        || async {
            let bot = bots.get("thief").await.ok()?;
            condition(&bot, "ConnectionSecretReady")
                .is_some()
                .then_some(bot)
        },
    )
    .await;
    let refused = condition(&thief, "ConnectionSecretReady").unwrap();
    assert_eq!(
        (refused.status.as_str(), refused.reason.as_str()),
        ("False", "ConnectionSecretNotOwned")
    );
    assert!(
        refused.message.contains("Secret victim"),
        "{}",
        refused.message
    );
    let after = secrets.get("victim").await.unwrap();
    assert_eq!(after.data, before.data, "the Secret's data is untouched");
    assert_eq!(after.metadata.owner_references, None, "no owner was added");
    assert_eq!(
        after.resource_version(),
        before.resource_version(),
        "nothing was written at all"
    );
    wait_until("the Warning Event", Duration::from_secs(10), || async {
        kubectl(&["get", "events.events.k8s.io", "-n", &ns, "-o", "json"])
            .contains("ConnectionSecretNotOwned")
            .then_some(())
    })
    .await;

    // The honest bot's Secret is created, owned by it as controller.
    let honest = wait_until(
        "the honest bot's Secret",
        Duration::from_secs(30),
        || async {
            let bot = bots.get("honest").await.ok()?;
            let ready = condition(&bot, "ConnectionSecretReady")?;
            (ready.status == "True").then_some(bot)
        },
    )
    .await;
    let mine = secrets.get("mine").await.unwrap();
    let owner = &mine.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.uid.as_str(), owner.controller),
        (honest.uid().unwrap().as_str(), Some(true))
    );
    assert!(mine.data.unwrap().contains_key("websocketUrl"));

    // Deleting both as the tenant: the garbage collector takes the Secret
    // the operator created, and leaves the other one.
    let tenant_bots: Api<MeetingBot> = Api::namespaced(tenant.clone(), &ns);
    for name in ["thief", "honest"] {
        tenant_bots
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
        wait_for_gone(&client, &ns, name, Duration::from_secs(30)).await;
    }
    wait_until(
        "the garbage collector to delete Secret mine",
        Duration::from_secs(60),
        || async { secrets.get_opt("mine").await.ok()?.is_none().then_some(()) },
    )
    .await;
    let survivor = secrets.get("victim").await.expect("Secret victim survives");
    assert_eq!(survivor.data, before.data);
}

/// The fewest seconds the operator may wait before the `n`th retry (1-based)
/// of a failing call: the backoff (1 s doubling, capped at 5 min) at its
/// lowest jitter (0.8), less 100 ms for the clocks.
fn least_gap(n: u32) -> f64 {
    let backoff = (1u64 << (n - 1).min(16)).min(300) as f64;
    backoff * 0.8 - 0.1
}

#[tokio::test]
async fn a_namespace_touching_its_secret_under_a_429_storm_cannot_reset_backoff_or_starve_others() {
    let client = client().await;
    let stormy = namespace(&client, "tenants-storm").await;
    let quiet = namespace(&client, "tenants-quiet").await;
    for ns in [&stormy, &quiet] {
        put_secret(&client, ns, "token", "token", BROADCAST_TOKEN).await;
    }
    let fake = fake().await;
    let storm_sessions: Vec<String> = (0..3).map(|i| format!("storm-{stormy}-{i}")).collect();
    fake.admin()
        .set_faults(&Faults {
            error_rate: 1.0,
            error_statuses: vec![429],
            endpoints: vec!["join".into()],
            sessions: storm_sessions.clone(),
            ..Faults::default()
        })
        .await
        .unwrap();
    // Both namespaces, and a bound low enough that the start alone exceeds it.
    let mut options = OperatorOptions::new(&format!("{stormy},{quiet}"), &fake);
    options
        .extra_args
        .push("--vendor-calls-per-second=2".into());
    let operator = Operator::start(&options).await;

    for (i, session) in storm_sessions.iter().enumerate() {
        create_bot(&client, &stormy, &format!("storm-{i}"), spec(session)).await;
    }
    // The stormy team touches its token Secret once a second (a label change,
    // the data stays), for 20 s.
    let touching = {
        let secrets: Api<Secret> = Api::namespaced(client.clone(), &stormy);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            for i in 0..20 {
                tick.tick().await;
                let patch =
                    serde_json::json!({"metadata": {"annotations": {"touched": i.to_string()}}});
                secrets
                    .patch("token", &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .unwrap();
            }
        })
    };
    for i in 0..4 {
        create_bot(
            &client,
            &quiet,
            &format!("quiet-{i}"),
            spec(&format!("quiet-{quiet}-{i}")),
        )
        .await;
    }
    for i in 0..4 {
        wait_for_condition(
            &client,
            &quiet,
            &format!("quiet-{i}"),
            "Ready",
            Some("Joined"),
            Duration::from_secs(40),
        )
        .await;
    }
    touching.await.unwrap();

    let requests = fake.admin().requests().await.unwrap();
    for session in &storm_sessions {
        let mut joins: Vec<_> = requests
            .iter()
            .filter(|r| r.endpoint == "join" && &r.session_id == session)
            .map(|r| r.at)
            .collect();
        joins.sort();
        assert!(joins.len() >= 2, "{session} was retried: {joins:?}");
        // Within 20 s, the schedule allows at most 1 + 0.8 (1 + 2 + 4 + 8) ≈ 5 calls; one
        // every second (backoff reset by every touch) would be about 20.
        assert!(
            joins.len() <= 6,
            "{session}: {} joins in the storm",
            joins.len()
        );
        for (n, pair) in joins.windows(2).enumerate() {
            let gap = (pair[1] - pair[0]).num_milliseconds() as f64 / 1000.0;
            let least = least_gap(n as u32 + 1);
            assert!(
                gap >= least,
                "{session}: retry {} came {gap:.2} s after the last, before the backoff's {least:.2} s",
                n + 1
            );
        }
    }
    let metrics = operator.get("/metrics").await.unwrap().1;
    let throttled: f64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("meetingbot_operator_lemonslice_throttled_total "))
        .unwrap_or_else(|| panic!("the throttle metric is exported: {metrics}"))
        .trim()
        .parse()
        .unwrap();
    assert!(
        throttled > 0.0,
        "the bound of 2 calls/s throttled some calls"
    );
}

/// A kubeconfig that acts as ServiceAccount `operator` of `ns`, whose Role
/// lacks `meetingbots/status`: every status write of the operator is refused.
async fn operator_without_status_rights(
    client: &Client,
    ns: &str,
    dir: &std::path::Path,
) -> std::path::PathBuf {
    let rule = |group: &str, resource: &str, verbs: &[&str]| PolicyRule {
        api_groups: Some(vec![group.into()]),
        resources: Some(vec![resource.into()]),
        verbs: verbs.iter().map(|v| v.to_string()).collect(),
        ..PolicyRule::default()
    };
    let rules = vec![
        rule(
            "liveai.lemonslice.com",
            "meetingbots",
            &["get", "list", "watch", "patch"],
        ),
        rule("", "secrets", &["get", "list", "watch", "patch"]),
        rule("events.k8s.io", "events", &["create", "patch"]),
    ];
    service_account_with_rules(client, ns, "operator", rules).await;
    let admin = std::fs::read_to_string(repo_root().join("target/cluster/kubeconfig")).unwrap();
    let impersonating = admin.replacen(
        "  user:\n",
        &format!("  user:\n    as: system:serviceaccount:{ns}:operator\n"),
        1,
    );
    assert_ne!(
        admin, impersonating,
        "the kubeconfig has a user to impersonate with"
    );
    let path = dir.join("kubeconfig");
    std::fs::write(&path, impersonating).unwrap();
    path
}

#[tokio::test]
async fn a_refused_status_write_is_reported_on_the_object() {
    let (client, ns, fake) = prepared("tenants-refused").await;
    // A queued session: the first thing the operator writes is status.
    fake.admin()
        .set_session_status("session-refused", "QUEUED")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut options = OperatorOptions::new(&ns, &fake);
    options.kubeconfig = Some(operator_without_status_rights(&client, &ns, dir.path()).await);
    let operator = Operator::start(&options).await;
    create_bot(&client, &ns, "refused", spec("session-refused")).await;
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), &ns);
    let event = wait_until(
        "a Warning Event naming the refusal",
        Duration::from_secs(30),
        || async {
            let list = events.list(&Default::default()).await.ok()?;
            list.items.into_iter().find(|e| {
                e.reason.as_deref() == Some("KubernetesForbidden")
                    && e.type_.as_deref() == Some("Warning")
                    && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("refused")
            })
        },
    )
    .await;
    let note = event.note.unwrap_or_default();
    assert!(
        note.contains("forbidden") || note.contains("Forbidden"),
        "{note}"
    );
    assert!(!note.contains(API_KEY) && !note.contains(BROADCAST_TOKEN));
    assert!(fake.admin().calls().await.unwrap().total("join") == 0);
    drop(operator);
    delete_namespace(&client, &ns, Duration::from_secs(60)).await;
}
