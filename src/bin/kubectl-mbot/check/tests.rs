//! The facts of check, from objects made here.

use super::operator::*;
use super::vendor::*;
use super::*;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::coordination::v1::LeaseSpec;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
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
