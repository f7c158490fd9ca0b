//! Whether the operator acts or waits for LemonSlice, where a user can read it
//! without pod proxy rights: Events about the operator's leader-election
//! Lease (in its namespace), one series per replica. `kubectl mbot check`
//! reads the latest.
//!
//! Only the start-up check is reported: until LemonSlice accepts the base URL
//! and the key, a replica acts on nothing, takes no Lease and is not ready.
//! Without leader election there is no Lease, and nothing is published.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use tracing::warn;

/// The Event reason while a replica waits for LemonSlice (Warning).
pub const LEMONSLICE_UNREACHABLE: &str = "LemonSliceUnreachable";
/// The Event reason once LemonSlice accepted the base URL and key (Normal).
pub const LEMONSLICE_REACHABLE: &str = "LemonSliceReachable";
/// How often a waiting replica checks again, and so renews its Warning.
pub const RECHECK_SECS: u64 = 5;

/// Publishes one replica's vendor check on its Lease; a failure to publish
/// is logged and otherwise ignored (the check goes on all the same).
pub struct VendorReport {
    /// None: leader election is off, there is no Lease to report on.
    recorder: Option<Recorder>,
    lease: ObjectReference,
    identity: String,
}

impl VendorReport {
    /// Reports on the Lease `lease_namespace/lease_name` when `enabled`.
    pub fn new(
        enabled: bool,
        kube: kube::Client,
        controller: &str,
        identity: &str,
        lease_namespace: &str,
        lease_name: &str,
    ) -> VendorReport {
        let reporter = Reporter {
            controller: controller.into(),
            instance: Some(identity.into()),
        };
        VendorReport {
            recorder: enabled.then(|| Recorder::new(kube, reporter)),
            lease: ObjectReference {
                api_version: Some("coordination.k8s.io/v1".into()),
                kind: Some("Lease".into()),
                name: Some(lease_name.into()),
                namespace: Some(lease_namespace.into()),
                ..Default::default()
            },
            identity: identity.into(),
        }
    }

    /// This replica waits for LemonSlice: `why` must carry no secret.
    pub async fn waiting(&self, why: &str) {
        let note = format!(
            "replica {}: {why}; not acting on any MeetingBot (and not ready) until LemonSlice \
             answers",
            self.identity
        );
        self.publish(EventType::Warning, LEMONSLICE_UNREACHABLE, note)
            .await;
    }

    /// LemonSlice accepted the base URL and the key: this replica acts.
    pub async fn acting(&self) {
        let note = format!(
            "replica {}: LemonSlice accepts the base URL and the operator's API key",
            self.identity
        );
        self.publish(EventType::Normal, LEMONSLICE_REACHABLE, note)
            .await;
    }

    async fn publish(&self, type_: EventType, reason: &str, note: String) {
        let Some(recorder) = &self.recorder else {
            return;
        };
        let event = Event {
            type_,
            reason: reason.into(),
            note: Some(note),
            action: "CheckLemonSlice".into(),
            secondary: None,
        };
        if let Err(error) = recorder.publish(&event, &self.lease).await {
            warn!(%error, reason, "cannot publish the LemonSlice check as an Event on the Lease");
        }
    }
}
