//! `kubectl mbot version` and `kubectl mbot check [--pre]`: what runs, and
//! what is wrong, one fact a line. operator.rs finds the operator (its
//! Deployment and Lease), vendor.rs reads whether it acts or waits for
//! LemonSlice.

mod operator;
#[cfg(test)]
mod tests;
mod vendor;

pub use operator::version;

use crate::cli::Where;
use crate::connect::{Target, api_error};
use anyhow::anyhow;
use jiff::Timestamp;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::PostParams;
use kube::{Api, Resource};
use meetingbot_operator::api::MeetingBot;
use operator::{deployment_fact, find_operator, lease_fact};
use vendor::{vendor_fact, vendor_reports};

/// The oldest Kubernetes the chart installs on (its `kubeVersion`).
const MIN_MINOR: u32 = 30;
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
