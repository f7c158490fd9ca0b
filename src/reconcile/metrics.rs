//! What the controller counts. Label values are bounded: results, endpoints,
//! status classes and phases — never object names or error strings.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: ReconcileResult,
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum ReconcileResult {
    Ok,
    Error,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    pub endpoint: Endpoint,
    pub class: StatusClass,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    pub endpoint: Endpoint,
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum Endpoint {
    Join,
    Leave,
    Session,
}

/// `2xx`, `4xx`, `5xx`, or `error` when no answer came.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum StatusClass {
    Success,
    ClientError,
    ServerError,
    NoAnswer,
}

impl EncodeLabelValue for StatusClass {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
        use std::fmt::Write;
        encoder.write_str(match self {
            StatusClass::Success => "2xx",
            StatusClass::ClientError => "4xx",
            StatusClass::ServerError => "5xx",
            StatusClass::NoAnswer => "error",
        })
    }
}

impl StatusClass {
    pub fn of(status: Option<u16>) -> StatusClass {
        match status {
            Some(200..=299) => StatusClass::Success,
            Some(400..=499) => StatusClass::ClientError,
            Some(_) => StatusClass::ServerError,
            None => StatusClass::NoAnswer,
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    pub phase: String,
}

/// The controller's metrics; registered once, shared by every reconcile.
#[derive(Clone)]
pub struct Metrics {
    reconciles: Family<ResultLabels, Counter>,
    reconcile_duration: Histogram,
    calls: Family<CallLabels, Counter>,
    call_duration: Family<EndpointLabels, Histogram>,
    pub phases: Family<PhaseLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            reconciles: Family::default(),
            reconcile_duration: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            calls: Family::default(),
            call_duration: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.005, 2.0, 14))
            }),
            phases: Family::default(),
        }
    }
}

impl Metrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "meetingbot_reconciles",
            "Reconciles by result",
            self.reconciles.clone(),
        );
        registry.register(
            "meetingbot_reconcile_duration_seconds",
            "Time spent in one reconcile",
            self.reconcile_duration.clone(),
        );
        registry.register(
            "lemonslice_calls",
            "LemonSlice API calls by endpoint and status class",
            self.calls.clone(),
        );
        registry.register(
            "lemonslice_call_duration_seconds",
            "Latency of LemonSlice API calls",
            self.call_duration.clone(),
        );
        registry.register("meetingbots", "MeetingBots by phase", self.phases.clone());
    }

    pub fn reconciled(&self, result: ReconcileResult, took: Duration) {
        self.reconciles
            .get_or_create(&ResultLabels { result })
            .inc();
        self.reconcile_duration.observe(took.as_secs_f64());
    }

    pub fn called(&self, endpoint: Endpoint, status: Option<u16>, took: Duration) {
        let class = StatusClass::of(status);
        self.calls
            .get_or_create(&CallLabels { endpoint, class })
            .inc();
        self.call_duration
            .get_or_create(&EndpointLabels { endpoint })
            .observe(took.as_secs_f64());
    }
}
