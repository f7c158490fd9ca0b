//! What the controller counts. Label values are bounded: results, endpoints,
//! status classes and phases — never object names or error strings.

use super::decide::memo::Call;
use crate::api::MeetingBot;
use crate::api::condition::STALLED;
use jiff::Timestamp;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
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
    pub endpoint: Call,
    pub class: StatusClass,
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
    pub fn of(http_code: Option<u16>) -> StatusClass {
        match http_code {
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

/// The reason of a true Stalled condition: one of the operator's own reasons.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: String,
}

/// A lane of turns (see `schedule::lanes`): `path` or `bookkeeping`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LaneLabels {
    pub lane: &'static str,
}

/// An index kept beside the watch's cache: `memos` (what calls met, per object),
/// `own_writes`, `bot_ids`, `secret_refs`, `secret_digests`, `api_keys`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KeptLabels {
    pub index: &'static str,
}

/// A count as a gauge's value.
fn gauge_value(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// The controller's metrics; registered once, shared by every reconcile.
#[derive(Clone)]
pub struct Metrics {
    reconciles: Family<ResultLabels, Counter>,
    reconcile_duration: Histogram,
    calls: Family<CallLabels, Counter>,
    call_duration: Family<CallLabels, Histogram>,
    pub phases: Family<PhaseLabels, Gauge>,
    stalled: Family<ReasonLabels, Gauge>,
    oldest_deletion: Gauge<f64, AtomicU64>,
    other_install: Gauge,
    waiting: Family<LaneLabels, Gauge>,
    busy_turns: Family<LaneLabels, Gauge>,
    kept: Family<KeptLabels, Gauge>,
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
            stalled: Family::default(),
            oldest_deletion: Gauge::default(),
            other_install: Gauge::default(),
            waiting: Family::default(),
            busy_turns: Family::default(),
            kept: Family::default(),
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
            "Latency of LemonSlice API calls by endpoint and status class",
            self.call_duration.clone(),
        );
        registry.register("meetingbots", "MeetingBots by phase", self.phases.clone());
        registry.register(
            "meetingbots_stalled",
            "MeetingBots whose Stalled condition is true, by reason",
            self.stalled.clone(),
        );
        registry.register(
            "meetingbots_oldest_deletion_seconds",
            "Time since the oldest MeetingBot still being deleted was deleted; 0 when none is",
            self.oldest_deletion.clone(),
        );
        registry.register(
            "meetingbots_other_install",
            "MeetingBots in this install's scope that another install acts on (not counted above)",
            self.other_install.clone(),
        );
        registry.register(
            "reconciles_waiting",
            "Reconciles waiting in line for a turn, by lane (path: joins, leaves and new bots; bookkeeping: joined bots)",
            self.waiting.clone(),
        );
        registry.register(
            "lane_busy_turns",
            "Turns taken now, by lane (at most --concurrency for path, a quarter of it for bookkeeping)",
            self.busy_turns.clone(),
        );
        registry.register(
            "kept_entries",
            "Entries this process keeps beside the watch's cache, by index; each goes with its MeetingBot (or with the last MeetingBot that names its Secret)",
            self.kept.clone(),
        );
    }

    /// Notes the size of each index the process keeps beside the watch's cache.
    pub fn kept(&self, sizes: impl IntoIterator<Item = (&'static str, usize)>) {
        for (index, size) in sizes {
            self.kept
                .get_or_create(&KeptLabels { index })
                .set(gauge_value(size));
        }
    }

    /// Notes, per lane (by name), how many reconciles wait and how many turns are taken.
    pub fn lanes(&self, load: impl IntoIterator<Item = (&'static str, usize, usize)>) {
        for (lane, waiting, busy) in load {
            let labels = LaneLabels { lane };
            self.waiting
                .get_or_create(&labels)
                .set(gauge_value(waiting));
            self.busy_turns
                .get_or_create(&labels)
                .set(gauge_value(busy));
        }
    }

    /// Counts the `bots` that `install` acts on (or that none claimed yet) by
    /// phase and by the reason they are stalled, and notes how long the
    /// oldest of them being deleted has been waiting; and counts the others.
    pub fn count<B: std::borrow::Borrow<MeetingBot>>(
        &self,
        bots: impl IntoIterator<Item = B>,
        now: Timestamp,
        install: &str,
    ) {
        let mut phases: HashMap<String, i64> = HashMap::new();
        let mut stalled: HashMap<String, i64> = HashMap::new();
        let mut oldest_deletion = 0.0_f64;
        let mut other_install = 0;
        for bot in bots {
            let bot = bot.borrow();
            if bot.acted_on_elsewhere(install) {
                other_install += 1;
                continue;
            }
            let status = bot.status.as_ref();
            let phase = status.and_then(|s| s.phase);
            let name = phase.map_or_else(|| "Unknown".to_owned(), |p| format!("{p:?}"));
            *phases.entry(name).or_default() += 1;
            let stalled_reason = bot.condition(STALLED).filter(|c| c.status == "True");
            if let Some(condition) = stalled_reason {
                *stalled.entry(condition.reason.clone()).or_default() += 1;
            }
            if let Some(deleted) = &bot.metadata.deletion_timestamp {
                let waited = now.duration_since(deleted.0).as_secs_f64();
                oldest_deletion = oldest_deletion.max(waited);
            }
        }
        self.phases.clear();
        for (phase, count) in phases {
            self.phases.get_or_create(&PhaseLabels { phase }).set(count);
        }
        self.stalled.clear();
        for (reason, count) in stalled {
            self.stalled
                .get_or_create(&ReasonLabels { reason })
                .set(count);
        }
        self.oldest_deletion.set(oldest_deletion);
        self.other_install.set(other_install);
    }

    pub fn reconciled(&self, result: ReconcileResult, took: Duration) {
        self.reconciles
            .get_or_create(&ResultLabels { result })
            .inc();
        self.reconcile_duration.observe(took.as_secs_f64());
    }

    pub fn called(&self, endpoint: Call, http_code: Option<u16>, took: Duration) {
        let labels = CallLabels {
            endpoint,
            class: StatusClass::of(http_code),
        };
        self.calls.get_or_create(&labels).inc();
        self.call_duration
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{MeetingBotSpec, MeetingBotStatus, Phase};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

    fn bot(phase: Phase, stalled: Option<&str>, deleted_secs_ago: Option<i64>) -> MeetingBot {
        let now = Timestamp::now();
        let mut bot = MeetingBot::new("m", MeetingBotSpec::new("s", "u", "w", "t"));
        let condition = |type_: &str, reason: &str| Condition {
            type_: type_.into(),
            status: "True".into(),
            reason: reason.into(),
            message: String::new(),
            observed_generation: None,
            last_transition_time: Time(now),
        };
        bot.status = Some(MeetingBotStatus {
            phase: Some(phase),
            conditions: stalled
                .map(|reason| vec![condition(STALLED, reason)])
                .unwrap_or_default(),
            ..Default::default()
        });
        bot.metadata.deletion_timestamp =
            deleted_secs_ago.map(|secs| Time(now - jiff::SignedDuration::from_secs(secs)));
        bot
    }

    fn exposition(metrics: &Metrics) -> String {
        let mut registry = Registry::with_prefix("meetingbot_operator");
        metrics.register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        text
    }

    /// `bot` acted on by the install `install`.
    fn of_install(mut bot: MeetingBot, install: &str) -> MeetingBot {
        bot.status.get_or_insert_default().install = Some(install.into());
        bot
    }

    #[test]
    fn counts_stalled_reasons_and_the_oldest_deletion() {
        let metrics = Metrics::default();
        let bots = [
            bot(Phase::Failed, Some("JoinOutcomeUnknown"), None),
            bot(Phase::Leaving, Some("LeaveFailed"), Some(600)),
            of_install(
                bot(Phase::Leaving, Some("LeaveFailed"), Some(30)),
                "install-a",
            ),
            // Another install's: counted apart, not in its phase.
            of_install(
                bot(Phase::Leaving, Some("LeaveFailed"), Some(900)),
                "install-b",
            ),
            bot(Phase::Joined, None, None),
        ];
        metrics.count(&bots, Timestamp::now(), "install-a");
        let text = exposition(&metrics);
        for line in [
            "meetingbot_operator_meetingbots_stalled{reason=\"LeaveFailed\"} 2",
            "meetingbot_operator_meetingbots_stalled{reason=\"JoinOutcomeUnknown\"} 1",
            "meetingbot_operator_meetingbots{phase=\"Leaving\"} 2",
            "meetingbot_operator_meetingbots_other_install 1",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
        let oldest: f64 = text
            .lines()
            .find_map(|l| {
                l.strip_prefix("meetingbot_operator_meetingbots_oldest_deletion_seconds ")
            })
            .unwrap()
            .parse()
            .unwrap();
        assert!((600.0..610.0).contains(&oldest), "{oldest}");

        // Once they are gone, so are their series.
        metrics.count(&bots[4..], Timestamp::now(), "install-a");
        let text = exposition(&metrics);
        assert!(!text.contains("meetingbots_stalled{"), "{text}");
        assert!(text.contains("meetingbot_operator_meetingbots_oldest_deletion_seconds 0"));
    }

    #[test]
    fn reports_the_waiting_line_and_busy_turns_per_lane() {
        let metrics = Metrics::default();
        metrics.lanes([("path", 3, 16), ("bookkeeping", 0, 1)]);
        let text = exposition(&metrics);
        for line in [
            "meetingbot_operator_reconciles_waiting{lane=\"path\"} 3",
            "meetingbot_operator_reconciles_waiting{lane=\"bookkeeping\"} 0",
            "meetingbot_operator_lane_busy_turns{lane=\"path\"} 16",
            "meetingbot_operator_lane_busy_turns{lane=\"bookkeeping\"} 1",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }
}
