//! The chart's record protection, through kubectl against the real API
//! server: a tenant who may edit MeetingBots cannot write the operator's
//! record or its finalizer, and is told what to do instead; it may still
//! remove them and ask for a reconcile; the operator, running as the chart's
//! ServiceAccount, joins and records as before.

use super::rbac::{options_as, run_as};
use super::{helm_install, helm_uninstall};
use crate::scene::{Scene, Waits};
use crate::support::*;
use meetingbot_operator::api::{FINALIZER, annotation};
use std::time::Duration;

/// A ServiceAccount `tenant` that may do anything to MeetingBots of `ns`
/// (as the cluster's `edit` role allows), and nothing else.
fn tenant_with_edit_rights(ns: &str) -> String {
    let manifest = format!(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: tenant, namespace: {ns}}}\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {{name: tenant, namespace: {ns}}}\n\
         rules:\n- apiGroups: [liveai.lemonslice.com]\n  resources: [meetingbots]\n  \
         verbs: [get, list, watch, create, update, patch, delete]\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: tenant, namespace: {ns}}}\n\
         roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: tenant}}\n\
         subjects:\n- {{kind: ServiceAccount, name: tenant, namespace: {ns}}}\n"
    );
    succeed("kubectl", &["apply", "-f", "-"], &manifest);
    format!("--as=system:serviceaccount:{ns}:tenant")
}

#[tokio::test]
async fn only_the_operator_writes_its_record_under_the_charts_policy() {
    let release_scene = Scene::builder("policy-release").bare().start().await;
    let release_ns = release_scene.ns.clone();
    let mut scene = Scene::builder("policy").without_operator().start().await;
    let ns = scene.ns.clone();
    let release = format!("policy-{release_ns}");
    helm_install(
        &release,
        &release_ns,
        &[&format!("watchNamespaces={{{ns}}}")],
    );
    let tenant = tenant_with_edit_rights(&ns);
    let tenant_kubectl = |args: &[&str]| {
        let mut all = vec![tenant.as_str(), "-n", ns.as_str()];
        all.extend(args);
        run("kubectl", &all, "")
    };

    // The API server applies a new policy within a moment: wait for it on an
    // object of the tenant's own, with a server-side dry run.
    scene.create("own", spec("session-own")).await;
    let write_record = |name: &str, dry_run: bool| {
        let mut args = vec![
            "annotate".to_owned(),
            format!("meetingbot/{name}"),
            format!(
                "{}={{\"meetingBotId\":\"meeting-bot-forged\",\"sessionId\":\"s\"}}",
                annotation::RECORD
            ),
            "--overwrite".to_owned(),
        ];
        if dry_run {
            args.push("--dry-run=server".into());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        tenant_kubectl(&args)
    };
    poll(
        "the policy to refuse a tenant's record write",
        Duration::from_secs(30),
        || async {
            let output = write_record("own", true);
            match output.status.success() {
                true => Err("admitted".to_owned()),
                false => Ok(()),
            }
        },
    )
    .await;

    // The operator, as the chart's ServiceAccount, joins and writes its record.
    let dir = tempfile::tempdir().unwrap();
    run_as(&mut scene, &release, &release_ns, dir.path()).await;
    scene.create("standup", spec("session-policy")).await;
    let joined = scene
        .wait_bot("standup", "the record in its annotation", |bot| {
            annotated_bot_id(bot).map(|_| bot.clone())
        })
        .await;
    let real = joined.status.unwrap().meeting_bot_id.unwrap();

    // A tenant's change to the record is refused, naming the way to adopt.
    let refused = write_record("standup", false);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "a tenant changed the record");
    assert!(
        stderr.contains(annotation::RECORD) && stderr.contains("kubectl mbot adopt"),
        "{stderr}"
    );
    // So is adding the operator's finalizer to an object without it.
    let finalizer = format!("{{\"metadata\":{{\"finalizers\":[\"{FINALIZER}\"]}}}}");
    let mut idle = spec("session-idle");
    idle.suspend = true;
    scene.create("idle", idle).await;
    let refused = tenant_kubectl(&["patch", "meetingbot/idle", "--type=merge", "-p", &finalizer]);
    assert!(
        !refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains(FINALIZER),
        "{refused:?}"
    );

    // A reconcile request goes through, and the operator answers it.
    let asked = tenant_kubectl(&[
        "annotate",
        "meetingbot/standup",
        &format!("{}=policy-1", annotation::RECONCILE_REQUESTED_AT),
        "--overwrite",
    ]);
    assert!(asked.status.success(), "{asked:?}");
    scene
        .wait_bot("standup", "the reconcile request echoed", |bot| {
            let handled = bot.status.as_ref()?.last_handled_reconcile_at.as_deref();
            (handled == Some("policy-1")).then_some(())
        })
        .await;
    // Removing the record is allowed; the operator writes it again from status.
    let removed = tenant_kubectl(&[
        "annotate",
        "meetingbot/standup",
        &format!("{}-", annotation::RECORD),
    ]);
    assert!(removed.status.success(), "{removed:?}");
    scene
        .wait_bot("standup", "the record written again", |bot| {
            (annotated_bot_id(bot).as_ref() == Some(&real)).then_some(())
        })
        .await;

    for name in ["standup", "idle", "own"] {
        scene.delete(name).await;
        scene.wait_gone(name).await;
    }
    assert!(scene.live_bots("session-policy").await.is_empty());
    assert_eq!(
        scene.calls().await.total("join"),
        2,
        "standup and own joined"
    );
    helm_uninstall(&release, &release_ns);
}

/// One chart release over `ns`, in a namespace of its own: its namespace,
/// release name, install identity and ServiceAccount.
struct Release {
    _scene: Scene,
    ns: String,
    name: String,
    install: String,
    service_account: String,
}

async fn release_over(prefix: &str, ns: &str) -> Release {
    let scene = Scene::builder(prefix).bare().start().await;
    let release_ns = scene.ns.clone();
    let name = format!("r-{release_ns}");
    helm_install(&name, &release_ns, &[&format!("watchNamespaces={{{ns}}}")]);
    Release {
        install: format!("{release_ns}/{name}"),
        service_account: format!("{name}-meetingbot-operator"),
        ns: release_ns,
        name,
        _scene: scene,
    }
}

impl Release {
    /// Its operator, on its ServiceAccount's token, with the chart's identity.
    async fn start(&self, scene: &Scene, dir: &std::path::Path) -> Operator {
        let options = options_as(scene, &self.name, &self.ns, dir);
        scene.start_operator(&options).await
    }
}

#[tokio::test]
async fn two_releases_over_one_namespace_each_record_the_joins_of_the_objects_they_act_on() {
    let scene = Scene::builder("policy-installs")
        .without_operator()
        .start()
        .await;
    let ns = scene.ns.clone();
    let a = release_over("policy-install-a", &ns).await;
    let b = release_over("policy-install-b", &ns).await;
    // Both policies in force: each refuses the other's operator a record
    // write on an object no install acts on yet (a server-side dry run).
    scene
        .create("unclaimed", {
            let mut idle = spec("session-unclaimed");
            idle.suspend = true;
            idle
        })
        .await;
    for release in [&a, &b] {
        let other = format!(
            "--as=system:serviceaccount:{}:{}",
            release.ns, release.service_account
        );
        let record = format!(
            "{}={{\"meetingBotId\":\"m\",\"sessionId\":\"s\"}}",
            annotation::RECORD
        );
        poll(
            "the other release's policy in force",
            Duration::from_secs(30),
            || async {
                let args = [
                    other.as_str(),
                    "-n",
                    &ns,
                    "annotate",
                    "meetingbot/unclaimed",
                    &record,
                    "--dry-run=server",
                ];
                match run("kubectl", &args, "").status.success() {
                    true => Err("admitted".to_owned()),
                    false => Ok(()),
                }
            },
        )
        .await;
    }
    scene.delete("unclaimed").await;

    // Each release's operator in turn, so that each acts on one MeetingBot.
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let operator_a = a.start(&scene, dir_a.path()).await;
    scene.create("first", spec("session-first")).await;
    let recorded =
        |bot: &meetingbot_operator::api::MeetingBot| annotated_bot_id(bot).map(|_| bot.clone());
    let first = scene
        .wait_bot("first", "the record in its annotation", recorded)
        .await;
    assert_eq!(
        first.status.unwrap().install.as_deref(),
        Some(a.install.as_str())
    );
    operator_a.kill().await;
    let _operator_b = b.start(&scene, dir_b.path()).await;
    scene.create("second", spec("session-second")).await;
    let second = scene
        .wait_bot("second", "the record in its annotation", recorded)
        .await;
    assert_eq!(
        second.status.unwrap().install.as_deref(),
        Some(b.install.as_str())
    );

    let _operator_a = a.start(&scene, dir_a.path()).await;
    for name in ["first", "second"] {
        scene.delete(name).await;
        scene.wait_gone(name).await;
    }
    assert!(scene.live_bots("session-first").await.is_empty());
    assert!(scene.live_bots("session-second").await.is_empty());
    helm_uninstall(&a.name, &a.ns);
    helm_uninstall(&b.name, &b.ns);
}
