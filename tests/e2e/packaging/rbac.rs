//! The chart's RBAC, checked by `kubectl auth can-i` verb by verb and by an
//! operator that runs on nothing but its ServiceAccount's token: cluster-wide,
//! and namespaced by `watchNamespaces`.

use super::{helm_install, helm_uninstall};
use crate::scene::{Scene, Waits};
use crate::support::*;
use meetingbot_operator::api::{ApiKeySecretRef, ConnectionSecretRef};
use std::path::{Path, PathBuf};

/// A kubeconfig for the cluster of `make test` that authenticates with `token`.
fn kubeconfig_with_token(token: &str, dir: &Path) -> PathBuf {
    let field = |path: &str| {
        succeed(
            "kubectl",
            &[
                "config",
                "view",
                "--raw",
                "--minify",
                "-o",
                &format!("jsonpath={path}"),
            ],
            "",
        )
    };
    let server = field("{.clusters[0].cluster.server}");
    let ca = field("{.clusters[0].cluster.certificate-authority-data}");
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: {server}, certificate-authority-data: {ca}}}\n\
             users:\n- name: u\n  user: {{token: {token}}}\ncontexts:\n- name: c\n  context: {{cluster: c, user: u}}\ncurrent-context: c\n"
        ),
    )
    .unwrap();
    kubeconfig
}

#[tokio::test]
async fn the_charts_rbac_is_enough_for_the_operator_and_nothing_more() {
    let release_scene = Scene::builder("release").bare().start().await;
    let release_ns = release_scene.ns.clone();
    let mut scene = Scene::builder("rbac-bots").without_operator().start().await;
    let bots_ns = scene.ns.clone();
    let release = format!("rbac-{release_ns}");
    // Bound in every namespace, its record policy would refuse the record
    // writes of the other tests' operators, which run as the admin.
    helm_install(&release, &release_ns, &["recordProtection.enabled=false"]);
    let service_account = format!("{release}-meetingbot-operator");
    let user = format!("system:serviceaccount:{release_ns}:{service_account}");
    let can = |verb: &str, resource: &str, ns: &str| can_i(&user, verb, resource, Some(ns));
    let granted = [
        ("get", "meetingbots.liveai.lemonslice.com", &bots_ns),
        // Finalizers of per-bot API key Secrets.
        ("patch", "secrets", &bots_ns),
        ("list", "meetingbots.liveai.lemonslice.com", &bots_ns),
        ("watch", "meetingbots.liveai.lemonslice.com", &bots_ns),
        ("patch", "meetingbots.liveai.lemonslice.com", &bots_ns),
        (
            "patch",
            "meetingbots.liveai.lemonslice.com/status",
            &bots_ns,
        ),
        ("get", "secrets", &bots_ns),
        ("watch", "secrets", &bots_ns),
        ("create", "events.events.k8s.io", &bots_ns),
        ("patch", "events.events.k8s.io", &bots_ns),
        ("get", "leases.coordination.k8s.io", &release_ns),
        ("create", "leases.coordination.k8s.io", &release_ns),
        ("update", "leases.coordination.k8s.io", &release_ns),
        ("watch", "leases.coordination.k8s.io", &release_ns),
    ];
    for (verb, resource, ns) in granted {
        assert!(
            can(verb, resource, ns),
            "{verb} {resource} in {ns} must be granted"
        );
    }
    let denied = [
        // Verbs the operator never uses.
        ("update", "meetingbots.liveai.lemonslice.com", &bots_ns),
        (
            "update",
            "meetingbots.liveai.lemonslice.com/status",
            &bots_ns,
        ),
        // Only for connection Secrets, which are off by default.
        (
            "update",
            "meetingbots.liveai.lemonslice.com/finalizers",
            &bots_ns,
        ),
        ("create", "secrets", &bots_ns),
        ("delete", "secrets", &bots_ns),
        ("update", "secrets", &bots_ns),
        ("get", "pods", &bots_ns),
        ("create", "pods", &bots_ns),
        ("delete", "pods", &release_ns),
        ("create", "meetingbots.liveai.lemonslice.com", &bots_ns),
        ("delete", "meetingbots.liveai.lemonslice.com", &bots_ns),
        (
            "create",
            "customresourcedefinitions.apiextensions.k8s.io",
            &bots_ns,
        ),
        (
            "update",
            "customresourcedefinitions.apiextensions.k8s.io",
            &bots_ns,
        ),
        ("get", "leases.coordination.k8s.io", &bots_ns),
        (
            "update",
            "leases.coordination.k8s.io",
            &"kube-system".to_owned(),
        ),
        ("create", "events", &bots_ns),
        ("get", "configmaps", &bots_ns),
    ];
    for (verb, resource, ns) in denied {
        assert!(
            !can(verb, resource, ns),
            "{verb} {resource} in {ns} must be denied"
        );
    }

    // What RBAC cannot narrow, the chart's Secret policy does: the token may
    // patch a Secret in its own key-for- finalizers, not in its data.
    scene
        .put_secret("unrelated", "password", "not-the-operators")
        .await;
    wait_secret_policy(&user, &bots_ns).await;
    assert_refused(
        &patch_secret_as(&user, &bots_ns, "unrelated", DATA_PATCH, false),
        "changes a Secret that no MeetingBot controls only in its own",
    );
    let held = patch_secret_as(&user, &bots_ns, "unrelated", KEY_FINALIZER_PATCH, true);
    assert!(held.status.success(), "{held:?}");

    // The operator itself, with nothing but the ServiceAccount's token,
    // holding a per-bot API key Secret through the policy.
    let dir = tempfile::tempdir().unwrap();
    run_as(&mut scene, &release, &release_ns, dir.path()).await;
    scene.put_secret("bot-key", "apiKey", API_KEY).await;
    let mut least = spec("session-rbac");
    least.api_key_secret_ref = Some(ApiKeySecretRef {
        name: "bot-key".into(),
        key: "apiKey".into(),
    });
    scene.create("least", least).await;
    scene.wait_joined("least").await;
    scene.delete("least").await;
    scene.wait_gone("least").await;
    assert!(
        scene.live_bots("session-rbac").await.is_empty(),
        "the bot left"
    );
    let events = kubectl(&["get", "events.events.k8s.io", "-n", &bots_ns, "-o", "name"]);
    assert!(!events.is_empty(), "the operator could publish Events");
    helm_uninstall(&release, &release_ns);
}

/// Makes the scene's operator the one of chart release `release` in
/// `release_ns`: its install identity, its ServiceAccount's token and nothing
/// more, its Lease there.
pub(super) async fn run_as(scene: &mut Scene, release: &str, release_ns: &str, dir: &Path) {
    let options = options_as(scene, release, release_ns, dir);
    scene.run_operator(&options).await;
}

/// The scene's operator options as the operator of chart release `release`
/// in `release_ns` (see [`run_as`]); its kubeconfig is written into `dir`.
pub(super) fn options_as(
    scene: &Scene,
    release: &str,
    release_ns: &str,
    dir: &Path,
) -> OperatorOptions {
    let service_account = format!("{release}-meetingbot-operator");
    let token = succeed(
        "kubectl",
        &["create", "token", &service_account, "-n", release_ns],
        "",
    );
    let mut options = scene.options();
    options.kubeconfig = Some(kubeconfig_with_token(token.trim(), dir));
    options.extra_args = vec![
        "--leader-election=true".into(),
        format!("--lease-namespace={release_ns}"),
        // As the chart renders it.
        format!("--install-id={release_ns}/{release}"),
    ];
    options
}

const DATA_PATCH: &str = r#"{"data":{"password":"b3BlcmF0b3Itd2FzLWhlcmU="}}"#;
const KEY_FINALIZER_PATCH: &str =
    r#"{"metadata":{"finalizers":["liveai.lemonslice.com/key-for-00000000-test"]}}"#;

/// A merge patch of Secret `name` of `ns` as `user`, made or only tried
/// (a server-side dry run, which admission policies judge all the same).
fn patch_secret_as(
    user: &str,
    ns: &str,
    name: &str,
    patch: &str,
    dry_run: bool,
) -> std::process::Output {
    let mut args = vec![
        "--as",
        user,
        "-n",
        ns,
        "patch",
        "secret",
        name,
        "--type=merge",
        "-p",
        patch,
    ];
    if dry_run {
        args.push("--dry-run=server");
    }
    run("kubectl", &args, "")
}

/// Waits until the API server applies the chart's Secret policy to `user`
/// (a new policy takes a moment): a dry-run data patch is refused.
async fn wait_secret_policy(user: &str, ns: &str) {
    let probe = format!("policy-probe-{}", std::process::id());
    succeed(
        "kubectl",
        &[
            "create",
            "secret",
            "generic",
            &probe,
            "-n",
            ns,
            "--from-literal=a=b",
        ],
        "",
    );
    poll(
        "the chart's Secret policy to apply",
        std::time::Duration::from_secs(30),
        || async {
            match patch_secret_as(user, ns, &probe, DATA_PATCH, true)
                .status
                .success()
            {
                true => Err("a data patch was admitted".to_owned()),
                false => Ok(()),
            }
        },
    )
    .await;
}

/// The API server refused the request with the policy's message.
fn assert_refused(output: &std::process::Output, message: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains(message),
        "expected a refusal saying {message:?}: {output:?}"
    );
}

/// `kubectl auth can-i VERB RESOURCE` as `user`, in `ns` or (`None`) across all namespaces;
/// `RESOURCE/SUB` names a subresource (`kubectl auth can-i` would read `SUB` as an object's name).
fn can_i(user: &str, verb: &str, resource: &str, ns: Option<&str>) -> bool {
    let (resource, subresource) = match resource.split_once('/') {
        Some((resource, subresource)) => (resource, Some(subresource)),
        None => (resource, None),
    };
    let mut args = vec!["auth", "can-i", verb, resource, "--as", user];
    if let Some(subresource) = subresource {
        args.extend(["--subresource", subresource]);
    }
    match ns {
        Some(ns) => args.extend(["-n", ns]),
        None => args.push("--all-namespaces"),
    }
    let output = run("kubectl", &args, "");
    String::from_utf8_lossy(&output.stdout).trim() == "yes"
}

#[tokio::test]
async fn with_watch_namespaces_the_rbac_is_namespaced_and_nothing_is_cluster_wide() {
    let release_scene = Scene::builder("release-ns").bare().start().await;
    let release_ns = release_scene.ns.clone();
    let mut scene = Scene::builder("watched-a").without_operator().start().await;
    let other = Scene::builder("watched-b").bare().start().await;
    let outside = Scene::builder("outside").bare().start().await;
    let watched = [scene.ns.clone(), other.ns.clone()];
    let release = format!("rbac-{release_ns}");
    let namespaces = format!("watchNamespaces={{{},{}}}", watched[0], watched[1]);
    helm_install(
        &release,
        &release_ns,
        &[&namespaces, "connectionSecrets.enabled=true"],
    );
    let manifest = succeed(
        "helm",
        &["get", "manifest", &release, "--namespace", &release_ns],
        "",
    );
    // Nothing cluster-wide for the operator: no ClusterRoleBinding, and the only
    // ClusterRoles are those aggregated to the users' view, edit and admin roles.
    assert!(
        !manifest.contains("kind: ClusterRoleBinding"),
        "no ClusterRoleBinding: {manifest}"
    );
    for role in manifest
        .split("\n---")
        .filter(|doc| doc.contains("kind: ClusterRole"))
    {
        assert!(
            role.contains("rbac.authorization.k8s.io/aggregate-to-view: \"true\"")
                || role.contains("rbac.authorization.k8s.io/aggregate-to-edit: \"true\""),
            "only aggregated ClusterRoles: {role}"
        );
    }
    let service_account = format!("{release}-meetingbot-operator");
    let user = format!("system:serviceaccount:{release_ns}:{service_account}");
    let bots = "meetingbots.liveai.lemonslice.com";
    let granted = [
        ("get", bots),
        ("list", bots),
        ("watch", bots),
        ("patch", bots),
        ("patch", "meetingbots.liveai.lemonslice.com/status"),
        ("update", "meetingbots.liveai.lemonslice.com/finalizers"),
        ("get", "secrets"),
        ("list", "secrets"),
        ("watch", "secrets"),
        ("create", "secrets"),
        ("patch", "secrets"),
        ("create", "events.events.k8s.io"),
        ("patch", "events.events.k8s.io"),
    ];
    for ns in &watched {
        for (verb, resource) in granted {
            assert!(
                can_i(&user, verb, resource, Some(ns)),
                "{verb} {resource} in watched {ns} must be granted"
            );
        }
        for (verb, resource) in [
            ("delete", "secrets"),
            ("update", "secrets"),
            ("delete", bots),
        ] {
            assert!(
                !can_i(&user, verb, resource, Some(ns)),
                "{verb} {resource} in {ns} must be denied"
            );
        }
    }
    for (verb, resource) in granted {
        assert!(
            !can_i(&user, verb, resource, Some(&outside.ns)),
            "{verb} {resource} outside the watched namespaces must be denied"
        );
        assert!(
            !can_i(&user, verb, resource, None),
            "{verb} {resource} across all namespaces must be denied"
        );
    }
    assert!(can_i(
        &user,
        "update",
        "leases.coordination.k8s.io",
        Some(&release_ns)
    ));

    // With connectionSecrets on, the token may create Secrets: only Opaque
    // ones that a MeetingBot controls, never a service account token.
    let ns = &watched[0];
    wait_secret_policy(&user, ns).await;
    let token_secret = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: stolen-token, namespace: {ns}, \
         annotations: {{kubernetes.io/service-account.name: default}}}}\n\
         type: kubernetes.io/service-account-token\n"
    );
    let created = run(
        "kubectl",
        &["create", "--as", &user, "-f", "-"],
        &token_secret,
    );
    assert_refused(
        &created,
        "creates only Opaque Secrets that a MeetingBot controls",
    );
    let plain = run(
        "kubectl",
        &[
            "create",
            "secret",
            "generic",
            "plain",
            "-n",
            ns,
            "--as",
            &user,
            "--from-literal=a=b",
        ],
        "",
    );
    assert_refused(
        &plain,
        "creates only Opaque Secrets that a MeetingBot controls",
    );

    // The operator runs on the Roles alone.
    let dir = tempfile::tempdir().unwrap();
    run_as(&mut scene, &release, &release_ns, dir.path()).await;
    let mut with_secret = spec("session-rbac-ns");
    with_secret.write_connection_secret_to_ref = Some(ConnectionSecretRef {
        name: "connection".into(),
    });
    scene.create("namespaced", with_secret).await;
    let bot = scene
        .wait_condition(
            "namespaced",
            "ConnectionSecretReady",
            "True",
            "ConnectionSecretWritten",
        )
        .await;
    let written = scene.secrets().get("connection").await.unwrap();
    assert_eq!(
        written.metadata.owner_references.unwrap()[0].uid,
        bot.metadata.uid.unwrap()
    );
    scene.delete("namespaced").await;
    scene.wait_gone("namespaced").await;
    helm_uninstall(&release, &release_ns);
}
