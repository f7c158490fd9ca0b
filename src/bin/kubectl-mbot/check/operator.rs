//! Where the operator is: `--operator-namespace`, else the namespace of the
//! Deployment the chart installed (labelled
//! `app.kubernetes.io/name=meetingbot-operator`), else `-n`'s. Its
//! leader-election Lease: `--lease-name`, else the Deployment's `LEASE_NAME`
//! and `LEASE_NAMESPACE`, else `meetingbot-operator` (the operator's default)
//! in that namespace.

use super::{Fact, bad, ok};
use crate::cli::Where;
use crate::connect::{Target, api_error};
use crate::format::age;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::api::ListParams;

/// The label the chart puts on the operator's Deployment.
const CHART_SELECTOR: &str = "app.kubernetes.io/name=meetingbot-operator";
/// The operator's default Lease name (its `--lease-name`).
const DEFAULT_LEASE: &str = "meetingbot-operator";

/// The operator as the cluster shows it.
pub(super) struct Operator {
    pub(super) deployment: Option<Deployment>,
    /// Why Deployments could not be listed.
    pub(super) deployment_error: Option<String>,
    pub(super) lease_namespace: String,
    pub(super) lease_name: String,
    /// The Lease, or why it could not be read (e.g. Forbidden).
    pub(super) lease: Result<Option<Lease>, String>,
}

pub(super) async fn find_operator(target: &Target, place: &Where) -> anyhow::Result<Operator> {
    let params = ListParams::default().labels(CHART_SELECTOR);
    let deployments = match &place.operator_namespace {
        Some(ns) => Api::<Deployment>::namespaced(target.client.clone(), ns)
            .list(&params)
            .await
            .map(|l| l.items),
        None => Api::<Deployment>::all(target.client.clone())
            .list(&params)
            .await
            .map(|l| l.items),
    };
    // Not allowed to read Deployments: the Lease alone tells whether it runs.
    let (deployment, deployment_error) = match deployments {
        Ok(found) => (found.into_iter().next(), None),
        Err(e) => (
            None,
            Some(format!(
                "{:#}",
                api_error(e, "looking for the operator's Deployment")
            )),
        ),
    };
    let env = |key: &str| -> Option<String> {
        let spec = deployment.as_ref()?.spec.template.spec.as_ref()?;
        spec.containers
            .iter()
            .flat_map(|c| c.env.iter().flatten())
            .find(|e| e.name == key)
            .and_then(|e| e.value.clone())
            .filter(|v| !v.is_empty())
    };
    let operator_namespace = place
        .operator_namespace
        .clone()
        .or_else(|| deployment.as_ref()?.metadata.namespace.clone())
        .unwrap_or_else(|| target.namespace.clone());
    let lease_name = place
        .lease_name
        .clone()
        .or_else(|| env("LEASE_NAME"))
        .unwrap_or_else(|| DEFAULT_LEASE.to_owned());
    let lease_namespace = env("LEASE_NAMESPACE").unwrap_or(operator_namespace);
    let lease = Api::<Lease>::namespaced(target.client.clone(), &lease_namespace)
        .get_opt(&lease_name)
        .await
        .map_err(|e| {
            format!(
                "{:#}",
                api_error(e, &format!("reading Lease {lease_namespace}/{lease_name}"))
            )
        });
    Ok(Operator {
        deployment,
        deployment_error,
        lease_namespace,
        lease_name,
        lease,
    })
}

/// The image tag of the Deployment's first container, else its version label.
pub(super) fn deployment_version(deployment: &Deployment) -> Option<String> {
    let image = deployment
        .spec
        .template
        .spec
        .as_ref()?
        .containers
        .first()?
        .image
        .clone()?;
    let tag = image
        .rsplit_once('@')
        .map(|(_, digest)| digest.to_owned())
        .or_else(|| {
            let (_, last) = image.rsplit_once('/').unwrap_or(("", &image));
            last.split_once(':').map(|(_, tag)| tag.to_owned())
        });
    tag.or_else(|| {
        deployment
            .metadata
            .labels
            .as_ref()?
            .get("app.kubernetes.io/version")
            .cloned()
    })
}

pub(super) fn deployment_name(deployment: &Deployment) -> String {
    format!(
        "{}/{}",
        deployment.metadata.namespace.as_deref().unwrap_or_default(),
        deployment.metadata.name.as_deref().unwrap_or_default()
    )
}

/// `kubectl mbot version`.
pub async fn version(target: &Target, place: &Where) -> anyhow::Result<()> {
    println!("Client Version: {}", env!("CARGO_PKG_VERSION"));
    let server = target
        .client
        .apiserver_version()
        .await
        .map_err(|e| api_error(e, "reading the API server's version"))?;
    println!("Server Version: {}", server.git_version);
    let operator = find_operator(target, place).await?;
    match &operator.deployment {
        Some(d) => println!(
            "Operator Version: {} (Deployment {})",
            deployment_version(d).unwrap_or_else(|| "unknown".into()),
            deployment_name(d)
        ),
        None => println!("Operator Version: unknown (no Deployment labelled {CHART_SELECTOR})"),
    }
    let holder = match &operator.lease {
        Ok(lease) => lease
            .as_ref()
            .and_then(|l| l.spec.as_ref()?.holder_identity.clone())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "none".into()),
        Err(error) => format!("unknown ({error})"),
    };
    println!(
        "Operator Leader: {holder} (Lease {}/{})",
        operator.lease_namespace, operator.lease_name
    );
    Ok(())
}

/// The chart's Deployment has its replicas ready.
pub fn deployment_fact(deployment: Option<&Deployment>) -> Fact {
    let Some(d) = deployment else {
        return ok(format!(
            "no operator Deployment labelled {CHART_SELECTOR} (not installed by the chart): \
             the Lease below tells whether an operator runs"
        ));
    };
    let wanted = d.spec.replicas.unwrap_or(1);
    let ready = d
        .status
        .as_ref()
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0);
    let version = deployment_version(d).unwrap_or_else(|| "unknown".into());
    let text = format!(
        "Deployment {} version {version}: {ready}/{wanted} ready",
        deployment_name(d)
    );
    match ready >= 1 {
        true => ok(text),
        false => bad(format!(
            "{text}: see `kubectl describe deployment -n {} {}` and its pods' logs",
            d.metadata.namespace.as_deref().unwrap_or_default(),
            d.metadata.name.as_deref().unwrap_or_default()
        )),
    }
}

/// The Lease has a holder that renewed it within its duration.
pub fn lease_fact(namespace: &str, name: &str, lease: Option<&Lease>, now: Timestamp) -> Fact {
    let Some(lease) = lease else {
        return bad(format!(
            "no Lease {namespace}/{name}: no operator with leader election has run there \
             (give --operator-namespace or --lease-name if it runs elsewhere)"
        ));
    };
    let spec = lease.spec.clone().unwrap_or_default();
    let Some(holder) = spec.holder_identity.filter(|h| !h.is_empty()) else {
        return bad(format!(
            "Lease {namespace}/{name} has no holder: no operator replica leads (stopped, or \
             starting); see the operator's pods"
        ));
    };
    let duration = spec.lease_duration_seconds.unwrap_or(15).max(1) as i64;
    let Some(renewed) = spec.renew_time.or(spec.acquire_time).map(|t| t.0) else {
        return bad(format!(
            "Lease {namespace}/{name} held by {holder} was never renewed"
        ));
    };
    let since = now.duration_since(renewed).as_secs();
    let text = format!(
        "Lease {namespace}/{name} held by {holder}, renewed {} ago (duration {duration}s)",
        age(now, renewed)
    );
    match since <= duration {
        true => ok(text),
        false => bad(format!(
            "{text}: stale, the leader stopped renewing it (is the operator running? its pods \
             and logs say); a standby takes over once the Lease expires"
        )),
    }
}
