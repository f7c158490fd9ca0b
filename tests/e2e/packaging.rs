//! Packaging: the Helm chart, the manifests rendered from it, the image's
//! binary, each checked the way users meet them (the Argo CD health check:
//! gitops.rs).

use crate::support::*;
use kube::Api;
use kube::api::DeleteParams;
use meetingbot_operator::api::MeetingBot;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const CHART: &str = "charts/meetingbot-operator";

/// Runs a program from the repository's root, feeding it `stdin`.
fn run(program: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .current_dir(repo_root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("{program} runs (make test puts it on PATH): {error}"));
    let mut input = child.stdin.take().unwrap();
    input
        .write_all(stdin.unwrap_or_default().as_bytes())
        .unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

/// Runs a program that must succeed, and returns what it printed.
fn succeed(program: &str, args: &[&str], stdin: Option<&str>) -> String {
    let output = run(program, args, stdin);
    assert!(
        output.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn helm_template(namespace: &str, values: &[&str]) -> String {
    let mut args = vec![
        "template",
        "meetingbot-operator",
        CHART,
        "--namespace",
        namespace,
    ];
    for value in values {
        args.extend(["--set", value]);
    }
    succeed("helm", &args, None)
}

#[test]
fn helm_lint_passes_and_unknown_values_are_refused() {
    succeed("helm", &["lint", "--strict", CHART], None);
    let every_option = [
        "apiKey.value=inline-key",
        "metrics.serviceMonitor.enabled=true",
        "podDisruptionBudget.enabled=true",
        "networkPolicy.enabled=true",
        "connectionSecrets.enabled=true",
        "replicaCount=2",
    ];
    let mut args = vec!["lint", "--strict", CHART];
    for value in &every_option {
        args.extend(["--set", value]);
    }
    succeed("helm", &args, None);

    let refused = run("helm", &["template", CHART, "--set", "replicas=2"], None);
    assert!(!refused.status.success());
    let error = String::from_utf8_lossy(&refused.stderr);
    assert!(
        error.contains("replicas"),
        "the error names the key: {error}"
    );
}

#[tokio::test]
async fn the_rendered_chart_passes_the_restricted_pod_security_level() {
    let client = client().await;
    let ns = namespace(&client, "restricted").await;
    kubectl(&[
        "label",
        "namespace",
        &ns,
        "pod-security.kubernetes.io/enforce=restricted",
        "pod-security.kubernetes.io/warn=restricted",
    ]);
    for values in [
        &[][..],
        &[
            "apiKey.value=inline-key",
            "networkPolicy.enabled=true",
            "podDisruptionBudget.enabled=true",
        ],
    ] {
        let manifests = helm_template(&ns, values);
        let applied = succeed(
            "kubectl",
            &[
                "apply",
                "--dry-run=server",
                "--warnings-as-errors",
                "-n",
                &ns,
                "-f",
                "-",
            ],
            Some(&manifests),
        );
        assert!(
            applied.contains("deployment.apps/meetingbot-operator created (server dry run)"),
            "{applied}"
        );
    }
}

#[test]
fn deploy_and_the_chart_crd_match_their_sources() {
    let crd = std::fs::read(repo_root().join("crds/meetingbot.yaml")).unwrap();
    let chart_crd = std::fs::read(repo_root().join(CHART).join("crds/meetingbot.yaml")).unwrap();
    assert!(
        crd == chart_crd,
        "charts/meetingbot-operator/crds/ is a byte copy of crds/meetingbot.yaml"
    );

    let rendered = tempfile::tempdir().unwrap();
    succeed(
        "hack/render-deploy.sh",
        &[rendered.path().to_str().unwrap()],
        None,
    );
    let committed = repo_root().join("deploy");
    for entry in std::fs::read_dir(rendered.path()).unwrap() {
        let name = entry.unwrap().file_name();
        let fresh = std::fs::read(rendered.path().join(&name)).unwrap();
        let kept = std::fs::read(committed.join(&name)).unwrap_or_default();
        assert!(
            fresh == kept,
            "deploy/{} drifted from the chart: run hack/render-deploy.sh",
            name.to_string_lossy()
        );
    }
}

#[test]
fn the_kustomize_base_builds_what_install_yaml_holds() {
    let built = succeed("kubectl", &["kustomize", "deploy"], None);
    let kinds = |yaml: &str| {
        let mut kinds: Vec<String> = yaml
            .lines()
            .filter_map(|line| line.strip_prefix("kind: "))
            .map(str::to_owned)
            .collect();
        kinds.sort();
        kinds
    };
    let install = std::fs::read_to_string(repo_root().join("deploy/install.yaml")).unwrap();
    assert_eq!(kinds(&built), kinds(&install));
    assert!(built.contains("namespace: meetingbot-system"));
}

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
            None,
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
    let client = client().await;
    let release_ns = namespace(&client, "release").await;
    let bots_ns = namespace(&client, "rbac-bots").await;
    let release = format!("rbac-{release_ns}");
    succeed(
        "helm",
        &[
            "install",
            &release,
            CHART,
            "--namespace",
            &release_ns,
            "--set",
            "apiKey.value=unused-in-this-test",
        ],
        None,
    );
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

    // The operator itself, with nothing but the ServiceAccount's token.
    let token = succeed(
        "kubectl",
        &["create", "token", &service_account, "-n", &release_ns],
        None,
    );
    let dir = tempfile::tempdir().unwrap();
    let fake = fake().await;
    put_secret(&client, &bots_ns, "token", "token", BROADCAST_TOKEN).await;
    let mut options = OperatorOptions::new(&bots_ns, &fake);
    options.kubeconfig = Some(kubeconfig_with_token(token.trim(), dir.path()));
    options.extra_args = vec![
        "--leader-election=true".into(),
        format!("--lease-namespace={release_ns}"),
    ];
    let _operator = Operator::start(&options).await;
    create_bot(&client, &bots_ns, "least", spec("session-rbac")).await;
    wait_for_condition(
        &client,
        &bots_ns,
        "least",
        "Ready",
        Some("Joined"),
        Duration::from_secs(20),
    )
    .await;
    Api::<MeetingBot>::namespaced(client.clone(), &bots_ns)
        .delete("least", &DeleteParams::default())
        .await
        .unwrap();
    wait_for_gone(&client, &bots_ns, "least", Duration::from_secs(20)).await;
    assert!(
        live_bots(&fake.admin(), "session-rbac").await.is_empty(),
        "the bot left"
    );
    let events = kubectl(&["get", "events.events.k8s.io", "-n", &bots_ns, "-o", "name"]);
    assert!(!events.is_empty(), "the operator could publish Events");
    succeed(
        "helm",
        &["uninstall", &release, "--namespace", &release_ns],
        None,
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
    let output = run("kubectl", &args, None);
    String::from_utf8_lossy(&output.stdout).trim() == "yes"
}

#[tokio::test]
async fn with_watch_namespaces_the_rbac_is_namespaced_and_nothing_is_cluster_wide() {
    let client = client().await;
    let release_ns = namespace(&client, "release-ns").await;
    let watched = [
        namespace(&client, "watched-a").await,
        namespace(&client, "watched-b").await,
    ];
    let outside = namespace(&client, "outside").await;
    let release = format!("rbac-{release_ns}");
    let namespaces = format!("watchNamespaces={{{},{}}}", watched[0], watched[1]);
    succeed(
        "helm",
        &[
            "install",
            &release,
            CHART,
            "--namespace",
            &release_ns,
            "--set",
            "apiKey.value=unused-in-this-test",
            "--set",
            &namespaces,
            "--set",
            "connectionSecrets.enabled=true",
        ],
        None,
    );
    let manifest = succeed(
        "helm",
        &["get", "manifest", &release, "--namespace", &release_ns],
        None,
    );
    assert!(
        !manifest.contains("kind: ClusterRole"),
        "no ClusterRole or ClusterRoleBinding: {manifest}"
    );
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
            !can_i(&user, verb, resource, Some(&outside)),
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

    // The operator runs on the Roles alone.
    let token = succeed(
        "kubectl",
        &["create", "token", &service_account, "-n", &release_ns],
        None,
    );
    let dir = tempfile::tempdir().unwrap();
    let fake = fake().await;
    let bots_ns = &watched[0];
    put_secret(&client, bots_ns, "token", "token", BROADCAST_TOKEN).await;
    let mut options = OperatorOptions::new(bots_ns, &fake);
    options.kubeconfig = Some(kubeconfig_with_token(token.trim(), dir.path()));
    options.extra_args = vec![
        "--leader-election=true".into(),
        format!("--lease-namespace={release_ns}"),
    ];
    let _operator = Operator::start(&options).await;
    let mut with_secret = spec("session-rbac-ns");
    with_secret.write_connection_secret_to_ref =
        Some(meetingbot_operator::api::ConnectionSecretRef {
            name: "connection".into(),
        });
    create_bot(&client, bots_ns, "namespaced", with_secret).await;
    let bot = wait_for_condition(
        &client,
        bots_ns,
        "namespaced",
        "Ready",
        Some("Joined"),
        Duration::from_secs(20),
    )
    .await;
    let written = wait_until("the connection Secret", Duration::from_secs(20), || async {
        let secret = Api::<k8s_openapi::api::core::v1::Secret>::namespaced(client.clone(), bots_ns)
            .get_opt("connection")
            .await
            .ok()??;
        Some(secret)
    })
    .await;
    assert_eq!(
        written.metadata.owner_references.unwrap()[0].uid,
        bot.metadata.uid.unwrap()
    );
    Api::<MeetingBot>::namespaced(client.clone(), bots_ns)
        .delete("namespaced", &DeleteParams::default())
        .await
        .unwrap();
    wait_for_gone(&client, bots_ns, "namespaced", Duration::from_secs(20)).await;
    succeed(
        "helm",
        &["uninstall", &release, "--namespace", &release_ns],
        None,
    );
}
