//! `kubectl mbot version` and `kubectl mbot check [--pre]`: what runs, and
//! what is wrong, one fact a line.
//!
//! Where the operator is: `--operator-namespace`, else the namespace of the
//! Deployment the chart installed (labelled
//! `app.kubernetes.io/name=meetingbot-operator`), else `-n`'s. Its
//! leader-election Lease: `--lease-name`, else the Deployment's `LEASE_NAME`
//! and `LEASE_NAMESPACE`, else `meetingbot-operator` (the operator's default)
//! in that namespace.

use crate::connect::{Target, api_error};
use crate::format::age;
use anyhow::anyhow;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Event;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ListParams, PostParams};
use kube::{Api, Resource};
use meetingbot_operator::api::MeetingBot;
use meetingbot_operator::runtime::vendor_report::{
    LEMONSLICE_REACHABLE, LEMONSLICE_UNREACHABLE, RECHECK_SECS,
};
use std::collections::BTreeMap;

/// The label the chart puts on the operator's Deployment.
const CHART_SELECTOR: &str = "app.kubernetes.io/name=meetingbot-operator";
/// The operator's default Lease name (its `--lease-name`).
const DEFAULT_LEASE: &str = "meetingbot-operator";
/// The oldest Kubernetes the chart installs on (its `kubeVersion`).
const MIN_MINOR: u32 = 30;

/// Where to look for the operator.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct Where {
    /// The operator's namespace (default: that of the chart's Deployment, else -n's).
    #[arg(long, value_name = "NAMESPACE")]
    pub operator_namespace: Option<String>,
    /// The operator's leader-election Lease (default: the Deployment's
    /// LEASE_NAME, else meetingbot-operator).
    #[arg(long, value_name = "NAME")]
    pub lease_name: Option<String>,
}

/// One fact: true when all is well with it.
#[derive(Debug, PartialEq, Eq)]
pub struct Fact {
    pub ok: bool,
    pub text: String,
}

fn ok(text: impl Into<String>) -> Fact {
    Fact {
        ok: true,
        text: text.into(),
    }
}

fn bad(text: impl Into<String>) -> Fact {
    Fact {
        ok: false,
        text: text.into(),
    }
}

impl std::fmt::Display for Fact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", if self.ok { "✔" } else { "✗" }, self.text)
    }
}

/// The operator as the cluster shows it.
struct Operator {
    deployment: Option<Deployment>,
    /// Why Deployments could not be listed.
    deployment_error: Option<String>,
    lease_namespace: String,
    lease_name: String,
    /// The Lease, or why it could not be read (e.g. Forbidden).
    lease: Result<Option<Lease>, String>,
}

async fn find_operator(target: &Target, place: &Where) -> anyhow::Result<Operator> {
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
fn deployment_version(deployment: &Deployment) -> Option<String> {
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

fn deployment_name(deployment: &Deployment) -> String {
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

/// `kubectl mbot check [--pre]`: prints each fact; an error when one is wrong.
pub async fn check(target: &Target, place: &Where, pre: bool) -> anyhow::Result<()> {
    let facts = if pre {
        pre_facts(target).await?
    } else {
        facts(target, place).await?
    };
    for fact in &facts {
        println!("{fact}");
    }
    let wrong = facts.iter().filter(|f| !f.ok).count();
    match wrong {
        0 => Ok(()),
        n => Err(anyhow!("{n} of {} checks failed (✗ above)", facts.len())),
    }
}

async fn server_fact(target: &Target) -> anyhow::Result<Fact> {
    let info = target
        .client
        .apiserver_version()
        .await
        .map_err(|e| api_error(e, "reading the API server's version"))?;
    Ok(server_version_fact(
        &info.major,
        &info.minor,
        &info.git_version,
    ))
}

/// The server is one the chart installs on.
pub fn server_version_fact(major: &str, minor: &str, git_version: &str) -> Fact {
    // Some providers print the minor as "30+".
    let minor_number: Option<u32> = minor.trim_end_matches('+').parse().ok();
    match (major, minor_number) {
        ("1", Some(m)) if m >= MIN_MINOR => ok(format!("Kubernetes {git_version}")),
        ("1", Some(_)) => bad(format!(
            "Kubernetes {git_version}: the operator needs 1.{MIN_MINOR} or newer"
        )),
        _ => ok(format!("Kubernetes {git_version}")),
    }
}

async fn crd(target: &Target) -> anyhow::Result<Option<CustomResourceDefinition>> {
    let crds: Api<CustomResourceDefinition> = Api::all(target.client.clone());
    crds.get_opt(&crd_name())
        .await
        .map_err(|e| api_error(e, "reading the MeetingBot CRD"))
}

fn crd_name() -> String {
    format!("{}.{}", MeetingBot::plural(&()), MeetingBot::group(&()))
}

const INSTALL_CRD: &str =
    "install it with `kubectl apply --server-side -f crds/meetingbot.yaml` (or the Helm chart)";

/// The CRD is installed, established, and serves the version the plugin speaks.
pub fn crd_fact(crd: Option<&CustomResourceDefinition>) -> Fact {
    let name = crd_name();
    let ours = MeetingBot::version(&());
    let Some(crd) = crd else {
        return bad(format!("CRD {name} is not installed: {INSTALL_CRD}"));
    };
    let established = crd
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "Established" && c.status == "True");
    let (served, stored) = versions(crd);
    let listing = format!("served {}, stored {}", served.join(","), stored.join(","));
    match (established, served.iter().any(|v| *v == ours)) {
        (false, _) => bad(format!(
            "CRD {name} is not Established yet ({listing}): wait, or see `kubectl describe crd {name}`"
        )),
        (true, false) => bad(format!(
            "CRD {name} does not serve {ours}, which this plugin speaks ({listing}): \
             install the CRD and plugin of one release"
        )),
        (true, true) => ok(format!(
            "CRD {name} Established, {listing}; this plugin speaks {ours}"
        )),
    }
}

/// Before install: no CRD, or one that serves the plugin's version.
pub fn pre_crd_fact(crd: Option<&CustomResourceDefinition>) -> Fact {
    match crd {
        None => ok(format!(
            "CRD {} is not installed yet: the install creates it",
            crd_name()
        )),
        Some(_) => {
            let fact = crd_fact(crd);
            Fact {
                ok: fact.ok,
                text: format!("already installed: {}", fact.text),
            }
        }
    }
}

fn versions(crd: &CustomResourceDefinition) -> (Vec<&str>, Vec<&str>) {
    let served = crd
        .spec
        .versions
        .iter()
        .filter(|v| v.served)
        .map(|v| v.name.as_str())
        .collect();
    let stored = crd
        .spec
        .versions
        .iter()
        .filter(|v| v.storage)
        .map(|v| v.name.as_str())
        .collect();
    (served, stored)
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

/// One replica's report about LemonSlice, from an Event about the Lease.
#[derive(Debug, Clone)]
pub struct VendorReport {
    pub instance: String,
    pub at: Timestamp,
    pub waiting: bool,
    pub note: String,
}

fn vendor_report(event: Event) -> Option<VendorReport> {
    let reason = event.reason.as_deref()?;
    let waiting = match reason {
        LEMONSLICE_UNREACHABLE => true,
        LEMONSLICE_REACHABLE => false,
        _ => return None,
    };
    let at = event
        .series
        .as_ref()
        .and_then(|s| s.last_observed_time.as_ref().map(|t| t.0))
        .or(event.last_timestamp.as_ref().map(|t| t.0))
        .or(event.event_time.as_ref().map(|t| t.0))
        .or(event.metadata.creation_timestamp.as_ref().map(|t| t.0))?;
    Some(VendorReport {
        instance: event.reporting_instance.unwrap_or_default(),
        at,
        waiting,
        note: event.message.unwrap_or_default(),
    })
}

/// Whether the operator acts or waits for LemonSlice: each replica's latest
/// report; a Warning counts while it is renewed (a waiting replica checks
/// again every few seconds), an old one is of a replica gone since.
pub fn vendor_fact(reports: &[VendorReport], now: Timestamp) -> Fact {
    let mut latest: BTreeMap<&str, &VendorReport> = BTreeMap::new();
    for report in reports {
        let entry = latest.entry(report.instance.as_str()).or_insert(report);
        if report.at > entry.at {
            *entry = report;
        }
    }
    let fresh = (RECHECK_SECS * 12) as i64;
    let waiting = latest
        .values()
        .filter(|r| r.waiting && now.duration_since(r.at).as_secs() <= fresh)
        .max_by_key(|r| r.at);
    if let Some(r) = waiting {
        return bad(format!(
            "the operator waits for LemonSlice: {} (reported {} ago)",
            r.note,
            age(now, r.at)
        ));
    }
    match latest.values().filter(|r| !r.waiting).max_by_key(|r| r.at) {
        Some(r) => ok(format!("{} (reported {} ago)", r.note, age(now, r.at))),
        None => ok("no replica reports waiting for LemonSlice (no report on the Lease)"),
    }
}

async fn vendor_reports(target: &Target, operator: &Operator) -> anyhow::Result<Vec<VendorReport>> {
    let events: Api<Event> = Api::namespaced(target.client.clone(), &operator.lease_namespace);
    let selector = format!(
        "involvedObject.kind=Lease,involvedObject.name={}",
        operator.lease_name
    );
    let list = events
        .list(&ListParams::default().fields(&selector))
        .await
        .map_err(|e| api_error(e, "listing the Events about the operator's Lease"))?;
    Ok(list.items.into_iter().filter_map(vendor_report).collect())
}

/// May the caller do `verb` on `resource` (of `group`) in `namespace` (None: cluster-wide)?
async fn may(
    target: &Target,
    verb: &str,
    group: &str,
    resource: &str,
    namespace: Option<&str>,
) -> anyhow::Result<bool> {
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.into()),
                group: Some(group.into()),
                resource: Some(resource.into()),
                namespace: namespace.map(str::to_owned),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let reviews: Api<SelfSubjectAccessReview> = Api::all(target.client.clone());
    let answer = reviews
        .create(&PostParams::default(), &review)
        .await
        .map_err(|e| api_error(e, "asking the API server what you may do"))?;
    Ok(answer.status.is_some_and(|s| s.allowed))
}

async fn rights_fact(target: &Target) -> anyhow::Result<Fact> {
    let ns = &target.namespace;
    let group = MeetingBot::group(&()).into_owned();
    let plural = MeetingBot::plural(&()).into_owned();
    let mut missing = vec![];
    for verb in ["create", "patch"] {
        if !may(target, verb, &group, &plural, Some(ns)).await? {
            missing.push(verb);
        }
    }
    Ok(match missing.is_empty() {
        true => ok(format!(
            "you may create and patch MeetingBots in namespace {ns}"
        )),
        false => bad(format!(
            "you may not {} MeetingBots in namespace {ns}: ask for a Role with those verbs on \
             {plural}.{group}",
            missing.join(" or ")
        )),
    })
}

/// A fact that could not be learned is a problem, and says why.
fn or_bad(fact: anyhow::Result<Fact>) -> Fact {
    fact.unwrap_or_else(|error| bad(format!("{error:#}")))
}

async fn facts(target: &Target, place: &Where) -> anyhow::Result<Vec<Fact>> {
    let mut facts = vec![or_bad(server_fact(target).await)];
    facts.push(or_bad(crd(target).await.map(|c| crd_fact(c.as_ref()))));
    let operator = find_operator(target, place).await?;
    facts.push(match &operator.deployment_error {
        Some(error) => bad(format!(
            "{error}: the Lease below tells whether an operator runs"
        )),
        None => deployment_fact(operator.deployment.as_ref()),
    });
    facts.push(match &operator.lease {
        Ok(lease) => lease_fact(
            &operator.lease_namespace,
            &operator.lease_name,
            lease.as_ref(),
            Timestamp::now(),
        ),
        Err(error) => bad(error.clone()),
    });
    facts.push(match vendor_reports(target, &operator).await {
        Ok(reports) => vendor_fact(&reports, Timestamp::now()),
        Err(error) => bad(format!("{error:#}")),
    });
    facts.push(or_bad(rights_fact(target).await));
    Ok(facts)
}

async fn pre_facts(target: &Target) -> anyhow::Result<Vec<Fact>> {
    let mut facts = vec![or_bad(server_fact(target).await)];
    facts.push(or_bad(crd(target).await.map(|c| pre_crd_fact(c.as_ref()))));
    let crds = "customresourcedefinitions";
    let install = may(target, "create", "apiextensions.k8s.io", crds, None).await;
    facts.push(or_bad(install.map(|install| match install {
        true => ok("you may create CustomResourceDefinitions (the install needs it)"),
        false => bad(
            "you may not create CustomResourceDefinitions: the install needs a cluster admin \
             (or someone may apply crds/meetingbot.yaml for you)",
        ),
    })));
    Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::coordination::v1::LeaseSpec;
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
        CustomResourceDefinitionCondition, CustomResourceDefinitionStatus,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
    use kube::CustomResourceExt;

    fn installed(established: bool) -> CustomResourceDefinition {
        let mut crd = MeetingBot::crd();
        crd.status = Some(CustomResourceDefinitionStatus {
            conditions: Some(vec![CustomResourceDefinitionCondition {
                type_: "Established".into(),
                status: if established { "True" } else { "False" }.into(),
                ..Default::default()
            }]),
            ..Default::default()
        });
        crd
    }

    #[test]
    fn before_install_no_crd_passes_and_after_it_fails() {
        let pre = pre_crd_fact(None);
        assert!(pre.ok, "{pre}");
        let fact = crd_fact(None);
        assert!(!fact.ok && fact.text.contains("install it"), "{fact}");
    }

    #[test]
    fn a_crd_must_be_established_and_serve_the_plugins_version() {
        let fine = crd_fact(Some(&installed(true)));
        assert!(fine.ok, "{fine}");
        assert!(fine.text.contains("served v1"), "{fine}");
        assert!(!crd_fact(Some(&installed(false))).ok);
        let mut other = installed(true);
        for v in &mut other.spec.versions {
            v.name = "v9".into();
        }
        let fact = crd_fact(Some(&other));
        assert!(!fact.ok && fact.text.contains("does not serve"), "{fact}");
        assert!(!pre_crd_fact(Some(&other)).ok);
        assert!(pre_crd_fact(Some(&installed(true))).ok);
    }

    #[test]
    fn a_lease_is_stale_past_its_duration() {
        let now = Timestamp::now();
        let lease = |holder: Option<&str>, ago: i64| Lease {
            spec: Some(LeaseSpec {
                holder_identity: holder.map(str::to_owned),
                lease_duration_seconds: Some(15),
                renew_time: Some(MicroTime(now - jiff::SignedDuration::from_secs(ago))),
                ..Default::default()
            }),
            ..Default::default()
        };
        let fresh = lease_fact("ops", "mb", Some(&lease(Some("pod-a"), 3)), now);
        assert!(
            fresh.ok && fresh.text.contains("held by pod-a, renewed 3s ago"),
            "{fresh}"
        );
        let stale = lease_fact("ops", "mb", Some(&lease(Some("pod-a"), 40)), now);
        assert!(!stale.ok && stale.text.contains("stale"), "{stale}");
        assert!(!lease_fact("ops", "mb", Some(&lease(None, 1)), now).ok);
        assert!(!lease_fact("ops", "mb", None, now).ok);
        assert_eq!(stale.to_string().chars().next(), Some('✗'));
    }

    #[test]
    fn old_servers_are_refused_and_versions_come_from_the_image() {
        assert!(server_version_fact("1", "30+", "v1.30.2").ok);
        assert!(!server_version_fact("1", "29", "v1.29.0").ok);
        let mut d = Deployment::default();
        d.spec.template.spec = Some(k8s_openapi::api::core::v1::PodSpec {
            containers: vec![k8s_openapi::api::core::v1::Container {
                image: Some("registry.local:5000/meetingbot-operator:0.3.1".into()),
                ..Default::default()
            }],
            ..Default::default()
        });
        assert_eq!(deployment_version(&d).as_deref(), Some("0.3.1"));
        assert!(!deployment_fact(Some(&d)).ok, "nothing ready");
        assert!(deployment_fact(None).ok);
    }

    #[test]
    fn a_replica_waiting_for_lemonslice_is_a_problem_while_it_renews_its_warning() {
        let now = Timestamp::now();
        let report = |instance: &str, ago: i64, waiting: bool| VendorReport {
            instance: instance.into(),
            at: now - jiff::SignedDuration::from_secs(ago),
            waiting,
            note: format!(
                "replica {instance}: {}",
                if waiting { "HTTP 401" } else { "fine" }
            ),
        };
        let fact = vendor_fact(&[report("a", 300, false), report("a", 2, true)], now);
        assert!(
            !fact.ok
                && fact
                    .text
                    .contains("waits for LemonSlice: replica a: HTTP 401"),
            "{fact}"
        );
        // Recovered since: its latest report is the Normal one.
        let fact = vendor_fact(&[report("a", 30, true), report("a", 1, false)], now);
        assert!(fact.ok && fact.text.contains("replica a: fine"), "{fact}");
        // A replica that died waiting long ago does not count.
        let fact = vendor_fact(&[report("old", 3600, true), report("b", 10, false)], now);
        assert!(fact.ok, "{fact}");
        assert!(vendor_fact(&[], now).ok);
    }
}
