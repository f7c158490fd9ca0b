//! Rights: a tenant that may create MeetingBots but not Secrets cannot use
//! the connection Secret to take over or delete one, and an operator without
//! the right to write status says so on the object.

use crate::scene::{Scene, Waits};
use crate::support::*;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client, ResourceExt};
use meetingbot_operator::api::{ConnectionSecretRef, MeetingBot, MeetingBotSpec};
use std::time::Duration;

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
    let mut config = config().await;
    config.auth_info.impersonate = Some(format!("system:serviceaccount:{ns}:tenant"));
    Client::try_from(config).unwrap()
}

#[tokio::test]
async fn a_meetingbot_cannot_take_over_or_delete_a_secret_it_did_not_create() {
    let scene = Scene::start("tenants-conn").await;
    let tenant = tenant_client(&scene.client, &scene.ns).await;
    let secrets = scene.secrets();
    scene
        .put_secret("victim", "password", "db-password-not-yours")
        .await;
    let before = secrets.get("victim").await.unwrap();
    assert!(
        Api::<Secret>::namespaced(tenant.clone(), &scene.ns)
            .delete("victim", &DeleteParams::default())
            .await
            .is_err(),
        "the tenant may not delete Secrets itself"
    );

    let with_target = |name: &str, session: &str, target: &str| {
        let spec = MeetingBotSpec {
            write_connection_secret_to_ref: Some(ConnectionSecretRef {
                name: target.into(),
            }),
            ..spec(session)
        };
        MeetingBot::new(name, spec)
    };
    // As the tenant: one bot names the existing Secret, one a fresh name.
    let tenant_bots: Api<MeetingBot> = Api::namespaced(tenant.clone(), &scene.ns);
    for bot in [
        with_target("thief", "session-thief", "victim"),
        with_target("honest", "session-honest", "mine"),
    ] {
        tenant_bots
            .create(&PostParams::default(), &bot)
            .await
            .unwrap();
    }
    scene.wait_joined("thief").await;
    let thief = scene
        .wait_condition(
            "thief",
            "ConnectionSecretReady",
            "False",
            "ConnectionSecretNotOwned",
        )
        .await;
    let refused = thief.condition("ConnectionSecretReady").unwrap();
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
    scene.wait_event("thief", "ConnectionSecretNotOwned").await;

    // The honest bot's Secret is created, owned by it as controller.
    let honest = scene
        .wait_bot("honest", "ConnectionSecretReady=True", |bot| {
            let ready = bot.condition("ConnectionSecretReady")?;
            (ready.status == "True").then(|| bot.clone())
        })
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
    for name in ["thief", "honest"] {
        tenant_bots
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
        scene.wait_gone(name).await;
    }
    scene
        .within(Duration::from_secs(60))
        .wait_secret_gone("mine")
        .await;
    let survivor = secrets.get("victim").await.expect("Secret victim survives");
    assert_eq!(survivor.data, before.data);
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
    let admin = std::fs::read_to_string(kubeconfig_path()).unwrap();
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
    // A queued session: the first thing the operator writes is status.
    let mut scene = Scene::builder("tenants-refused")
        .session("session-refused", "QUEUED")
        .without_operator()
        .start()
        .await;
    let dir = tempfile::tempdir().unwrap();
    let mut options = scene.options();
    options.kubeconfig =
        Some(operator_without_status_rights(&scene.client, &scene.ns, dir.path()).await);
    scene.run_operator(&options).await;
    scene.create("refused", spec("session-refused")).await;
    let event = scene.wait_event("refused", "KubernetesForbidden").await;
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    let note = event.note.unwrap_or_default();
    assert!(
        note.contains("forbidden") || note.contains("Forbidden"),
        "{note}"
    );
    assert!(!note.contains(API_KEY) && !note.contains(BROADCAST_TOKEN));
    assert_eq!(scene.calls().await.total("join"), 0);
}
