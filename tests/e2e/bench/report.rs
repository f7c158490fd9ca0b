//! The results: what was measured, the figures derived from it and the
//! targets of issue 9, saved as JSON and a plot.

use super::load::{CREATES_IN_FLIGHT, Created, ReadyPhase};
use super::plot;
use super::probe::{Machine, Writes};
use fake_lemonslice::{Bot, CallCounts, Leave, RequestRecord};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// What the bench was asked to do.
#[derive(Debug, Serialize)]
pub struct Settings {
    /// MeetingBots per run.
    pub n: u64,
    /// How long the fake takes to answer each join and each leave.
    pub latency_ms: u64,
    /// Bots reconciled at once, by the operator and by the baseline writer.
    pub concurrency: usize,
}

/// One run of N bots, by the baseline writer or by the operator.
#[derive(Debug, Serialize)]
pub struct Run {
    /// From the first create until the last bot showed Ready.
    pub ready_secs: f64,
    /// From the first create until the last create returned.
    pub created_secs: f64,
    /// From each create's return until its bot showed Ready.
    pub create_to_ready_p50_secs: f64,
    pub create_to_ready_p99_secs: f64,
    /// From the delete request until the last bot was gone.
    pub gone_secs: f64,
    /// When each bot turned Ready, in seconds since the first create.
    pub ready_at_secs: Vec<f64>,
    pub writes_to_ready: Writes,
    pub writes_to_gone: Writes,
}

impl Run {
    pub fn new(ready: ReadyPhase, gone_secs: f64, to_ready: Writes, to_gone: Writes) -> Run {
        Run {
            ready_secs: ready.ready_at_secs.last().copied().unwrap_or_default(),
            created_secs: ready
                .created
                .iter()
                .map(|c| c.returned_secs)
                .fold(0.0, f64::max),
            create_to_ready_p50_secs: percentile(&ready.create_to_ready_secs, 0.50),
            create_to_ready_p99_secs: percentile(&ready.create_to_ready_secs, 0.99),
            gone_secs,
            ready_at_secs: ready.ready_at_secs,
            writes_to_ready: to_ready,
            writes_to_gone: to_gone,
        }
    }
}

/// The vendor calls of the operator run, from the fake's own records.
#[derive(Debug, Serialize)]
pub struct VendorCalls {
    /// Join calls, whatever their answer, and the distinct sessions they
    /// joined (each bot has its own session).
    pub joins: u64,
    pub sessions_joined: usize,
    /// Leave calls, whatever their answer, and the distinct joined bots
    /// they took out.
    pub leaves: u64,
    pub bots_left: usize,
    /// Session reads until all bots were Ready: the operator reads each
    /// bot's session before joining it.
    pub session_reads_to_ready: u64,
}

impl VendorCalls {
    pub fn new(to_ready: &CallCounts, all: &CallCounts, joins: &[Bot], leaves: &[Leave]) -> Self {
        let joined: HashSet<&str> = joins.iter().map(|b| b.meeting_bot_id.as_str()).collect();
        let left: HashSet<&str> = leaves.iter().map(|l| l.meeting_bot_id.as_str()).collect();
        let sessions: HashSet<&str> = joins.iter().map(|b| b.session_id.as_str()).collect();
        VendorCalls {
            joins: all.total("join"),
            sessions_joined: sessions.len(),
            leaves: all.total("leave"),
            bots_left: joined.intersection(&left).count(),
            session_reads_to_ready: to_ready.total("session"),
        }
    }

    /// Exactly one join and one leave per bot: no join repeated, no bot left behind.
    pub fn one_join_and_one_leave_each(&self, n: u64) -> bool {
        let n_bots = n as usize;
        self.joins == n
            && self.sessions_joined == n_bots
            && self.leaves == n
            && self.bots_left == n_bots
    }
}

/// Every vendor call counted, whatever its endpoint and answer.
pub fn all_calls(calls: &CallCounts) -> u64 {
    calls
        .0
        .values()
        .flat_map(|by_status| by_status.values())
        .sum()
}

/// From each MeetingBot's create to the fake receiving its join. Measured
/// from the moment the create call returned, because creationTimestamp has
/// whole seconds only; the create calls' own duration says how much earlier
/// the object may have been stored.
#[derive(Debug, Serialize)]
pub struct Latency {
    pub p50_secs: f64,
    pub p99_secs: f64,
    pub max_secs: f64,
    pub create_call_p50_secs: f64,
    pub create_call_p99_secs: f64,
}

impl Latency {
    pub fn new(created: &[Created], requests: &[RequestRecord]) -> Latency {
        // Requests come in arrival order: the first join of a session is its join.
        let mut arrived = HashMap::new();
        for join in requests.iter().filter(|r| r.endpoint == "join") {
            arrived.entry(join.session_id.as_str()).or_insert(join.at);
        }
        // A bot without a join fails the invariants, after the report.
        let mut to_join: Vec<f64> = created
            .iter()
            .filter_map(|c| {
                Some((*arrived.get(c.session_id.as_str())? - c.returned).as_seconds_f64())
            })
            .collect();
        let mut create_calls: Vec<f64> = created
            .iter()
            .map(|c| (c.returned - c.sent).as_seconds_f64())
            .collect();
        to_join.sort_by(f64::total_cmp);
        create_calls.sort_by(f64::total_cmp);
        Latency {
            p50_secs: percentile(&to_join, 0.50),
            p99_secs: percentile(&to_join, 0.99),
            max_secs: to_join.last().copied().unwrap_or_default(),
            create_call_p50_secs: percentile(&create_calls, 0.50),
            create_call_p99_secs: percentile(&create_calls, 0.99),
        }
    }
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The operator process, from /proc, over every process of the run.
#[derive(Debug, Serialize)]
pub struct Process {
    pub peak_rss_mib: f64,
    /// A few seconds after all bots were Ready, with all of them joined.
    pub rss_at_rest_mib: f64,
    /// CPU from start until all bots were Ready.
    pub cpu_secs_to_ready: f64,
    /// CPU from the delete request until all bots were gone.
    pub cpu_secs_to_gone: f64,
}

/// The operator restarted with all bots joined: what it did in the window after.
#[derive(Debug, Serialize)]
pub struct Restart {
    pub window_secs: u64,
    /// From the new process's start until `/readyz` answered 200.
    pub readyz_secs: f64,
    pub vendor_calls: u64,
    pub writes: Writes,
    /// Restarts made to get a window in which no other client changed a MeetingBot.
    pub attempts: u32,
}

#[derive(Debug, Serialize)]
pub struct Results {
    pub date: String,
    pub machine: Machine,
    pub settings: Settings,
    pub creates_in_flight: usize,
    pub baseline: Run,
    pub operator: Run,
    pub vendor_calls: VendorCalls,
    pub create_to_join: Latency,
    pub process: Process,
    pub restart: Restart,
    /// Changes to MeetingBots outside the bench's namespaces while it ran:
    /// the API server's write counts include those clients' writes.
    pub foreign_changes: u64,
    pub figures: Figures,
}

/// What the measurements say, per bot and as ratios.
#[derive(Debug, Serialize)]
pub struct Figures {
    /// max(N × L / concurrency, baseline): the operator cannot beat its
    /// concurrency's share of the vendor's latency, nor the API server.
    pub ideal_secs: f64,
    pub ready_vs_baseline: f64,
    pub ready_vs_ideal: f64,
    pub gone_vs_baseline: f64,
    /// Writes to MeetingBots per bot by the controller (operator or
    /// baseline writer), not counting the bench's own creates and deletes.
    pub operator_writes_per_bot_to_ready: f64,
    pub baseline_writes_per_bot_to_ready: f64,
    pub operator_writes_per_bot_to_gone: f64,
    pub baseline_writes_per_bot_to_gone: f64,
    pub targets: Targets,
}

/// The targets of issue 9, at N = 1000 on a 2-core machine.
#[derive(Debug, Serialize)]
pub struct Targets {
    pub ready_vs_baseline: Target,
    pub create_to_join_p99: Target,
    pub peak_rss: Target,
    pub one_join_and_one_leave_per_bot: Target,
    pub restart_costs_nothing: Target,
}

/// A target and whether this run met it.
#[derive(Debug, Serialize)]
pub struct Target {
    /// The target as the issue states it.
    pub target: String,
    pub met: bool,
    /// The measured value as a share of the limit, for numeric limits: the margin.
    pub share_of_limit: Option<f64>,
}

impl Target {
    fn at_most(measured: f64, limit: f64) -> Target {
        Target::limit(measured, limit, measured <= limit, format!("≤ {limit}"))
    }

    fn below(measured: f64, limit: f64, unit: &str) -> Target {
        Target::limit(
            measured,
            limit,
            measured < limit,
            format!("< {limit} {unit}"),
        )
    }

    fn limit(measured: f64, limit: f64, met: bool, target: String) -> Target {
        Target {
            target,
            met,
            share_of_limit: Some(measured / limit),
        }
    }

    fn exactly(target: &str, met: bool) -> Target {
        Target {
            target: target.to_owned(),
            met,
            share_of_limit: None,
        }
    }

    /// Met or missed, and by how much.
    pub fn verdict(&self) -> String {
        match (self.met, self.share_of_limit) {
            (true, None) => "met".to_owned(),
            (false, None) => "MISSED".to_owned(),
            (true, Some(share)) => format!("met ({share:.2} of the limit)"),
            (false, Some(share)) => format!("MISSED ({share:.2}× the limit)"),
        }
    }
}

/// The operator run's measurements, apart from its [`Run`].
pub struct OperatorCosts {
    pub vendor_calls: VendorCalls,
    pub create_to_join: Latency,
    pub process: Process,
    pub restart: Restart,
}

impl Results {
    pub fn new(
        settings: Settings,
        baseline: Run,
        operator: Run,
        costs: OperatorCosts,
        foreign_changes: u64,
    ) -> Results {
        let figures = Figures::new(&settings, &baseline, &operator, &costs);
        Results {
            date: chrono::Utc::now().format("%Y-%m-%d").to_string(),
            machine: Machine::this(),
            settings,
            creates_in_flight: CREATES_IN_FLIGHT,
            baseline,
            operator,
            vendor_calls: costs.vendor_calls,
            create_to_join: costs.create_to_join,
            process: costs.process,
            restart: costs.restart,
            foreign_changes,
            figures,
        }
    }

    /// Writes `results.json` and the plot `ready.png` into `dir`.
    pub fn save(&self, dir: &Path) {
        std::fs::create_dir_all(dir).expect("the results folder");
        let json = serde_json::to_string_pretty(self).expect("results serialize");
        std::fs::write(dir.join("results.json"), json).expect("results.json is written");
        plot::ready_over_time(
            &dir.join("ready.png"),
            self.settings.n,
            &[
                (&self.baseline.ready_at_secs, plot::GREY),
                (&self.operator.ready_at_secs, plot::ORANGE),
            ],
        );
    }

    /// The hard invariants of issue 9, checked once everything is reported.
    pub fn assert_invariants(&self) {
        assert!(
            self.vendor_calls
                .one_join_and_one_leave_each(self.settings.n),
            "exactly one join and one leave per bot: {:?}",
            self.vendor_calls
        );
        assert_eq!(
            (self.restart.vendor_calls, self.restart.writes.total()),
            (0, 0),
            "a restart with all bots joined makes no vendor call and no MeetingBot write: {:?}",
            self.restart
        );
    }
}

impl Figures {
    fn new(settings: &Settings, baseline: &Run, operator: &Run, costs: &OperatorCosts) -> Figures {
        let n = settings.n as f64;
        let vendor_bound = n * settings.latency_ms as f64 / 1000.0 / settings.concurrency as f64;
        let ideal_secs = vendor_bound.max(baseline.ready_secs);
        let ready_vs_baseline = operator.ready_secs / baseline.ready_secs;
        let restart = &costs.restart;
        let targets = Targets {
            ready_vs_baseline: Target::at_most(ready_vs_baseline, 1.5),
            create_to_join_p99: Target::below(costs.create_to_join.p99_secs, 1.0, "s"),
            peak_rss: Target::below(costs.process.peak_rss_mib, 64.0, "MiB"),
            one_join_and_one_leave_per_bot: Target::exactly(
                "1 / 1",
                costs.vendor_calls.one_join_and_one_leave_each(settings.n),
            ),
            restart_costs_nothing: Target::exactly(
                "0 / 0",
                restart.vendor_calls == 0 && restart.writes.total() == 0,
            ),
        };
        Figures {
            ideal_secs,
            ready_vs_baseline,
            ready_vs_ideal: operator.ready_secs / ideal_secs,
            gone_vs_baseline: operator.gone_secs / baseline.gone_secs,
            operator_writes_per_bot_to_ready: per_bot(&operator.writes_to_ready, n),
            baseline_writes_per_bot_to_ready: per_bot(&baseline.writes_to_ready, n),
            operator_writes_per_bot_to_gone: per_bot(&operator.writes_to_gone, n),
            baseline_writes_per_bot_to_gone: per_bot(&baseline.writes_to_gone, n),
            targets,
        }
    }
}

/// A controller's writes per bot.
fn per_bot(writes: &Writes, n: f64) -> f64 {
    writes.by_controller().total() as f64 / n
}
