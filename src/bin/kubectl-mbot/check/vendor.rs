//! Whether the operator acts or waits for LemonSlice, as its replicas
//! publish it: Events about its Lease.

use super::operator::Operator;
use super::{Fact, bad, ok};
use crate::connect::{Target, api_error};
use crate::format::age;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Event;
use kube::Api;
use kube::api::ListParams;
use meetingbot_operator::runtime::vendor_report::{
    LEMONSLICE_REACHABLE, LEMONSLICE_UNREACHABLE, RECHECK_SECS,
};
use std::collections::BTreeMap;

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
    let at = crate::events::last_seen(&event)?;
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

pub(super) async fn vendor_reports(
    target: &Target,
    operator: &Operator,
) -> anyhow::Result<Vec<VendorReport>> {
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
