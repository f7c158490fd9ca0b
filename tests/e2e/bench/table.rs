//! The Markdown table the README keeps: the run's settings and machine, then
//! one row per figure with the baseline's value, the operator's, and the
//! target the operator's is held to.

use super::probe::Writes;
use super::report::{Results, Target};
use std::fmt::Write as _;

pub fn markdown(results: &Results) -> String {
    let settings = &results.settings;
    let mut out = format!(
        "N = {}, L = {} ms, concurrency {}, {} creates in flight; {}; {}\n\n",
        settings.n,
        settings.latency_ms,
        settings.concurrency,
        results.creates_in_flight,
        results.machine,
        results.date,
    );
    out.push_str("| figure | baseline | operator | target | result |\n");
    out.push_str("|---|---|---|---|---|\n");
    for row in rows(results) {
        let (target, verdict) = row
            .target
            .map(|t| (t.target.clone(), t.verdict()))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {target} | {verdict} |",
            row.figure, row.baseline, row.operator
        );
    }
    out.push_str(&notes(results));
    out
}

/// A figure, for the baseline and the operator, and its target if it has one.
struct Row<'a> {
    figure: String,
    baseline: String,
    operator: String,
    target: Option<&'a Target>,
}

fn both<'a>(figure: impl Into<String>, baseline: String, operator: String) -> Row<'a> {
    Row {
        figure: figure.into(),
        baseline,
        operator,
        target: None,
    }
}

/// A figure the baseline has no counterpart of.
fn operator<'a>(figure: impl Into<String>, operator: String) -> Row<'a> {
    both(figure, String::new(), operator)
}

impl<'a> Row<'a> {
    fn held_to(self, target: &'a Target) -> Row<'a> {
        Row {
            target: Some(target),
            ..self
        }
    }
}

fn rows(results: &Results) -> Vec<Row<'_>> {
    let (base, op) = (&results.baseline, &results.operator);
    let (figures, targets) = (&results.figures, &results.figures.targets);
    let (calls, latency) = (&results.vendor_calls, &results.create_to_join);
    let (process, restart) = (&results.process, &results.restart);
    let n = results.settings.n;
    let per_bot = |count: u64| count as f64 / n as f64;
    vec![
        both(
            "all created (the last create returned)",
            secs(base.created_secs),
            secs(op.created_secs),
        ),
        both("all Ready", secs(base.ready_secs), secs(op.ready_secs)),
        operator("all Ready / baseline", ratio(figures.ready_vs_baseline))
            .held_to(&targets.ready_vs_baseline),
        operator(
            format!(
                "all Ready / ideal, max(N × L / {}, baseline) = {}",
                results.settings.concurrency,
                secs(figures.ideal_secs)
            ),
            ratio(figures.ready_vs_ideal),
        ),
        both(
            "create → Ready, p50 / p99",
            pair(
                secs(base.create_to_ready_p50_secs),
                secs(base.create_to_ready_p99_secs),
            ),
            pair(
                secs(op.create_to_ready_p50_secs),
                secs(op.create_to_ready_p99_secs),
            ),
        ),
        operator(
            "create → the fake receives the join, p50 / p99",
            pair(secs(latency.p50_secs), secs(latency.p99_secs)),
        )
        .held_to(&targets.create_to_join_p99),
        both(
            "all gone after the delete",
            secs(base.gone_secs),
            format!(
                "{} ({} the baseline)",
                secs(op.gone_secs),
                ratio(figures.gone_vs_baseline)
            ),
        ),
        operator(
            "joins / leaves per bot",
            pair(per_bot(calls.joins), per_bot(calls.leaves)),
        )
        .held_to(&targets.one_join_and_one_leave_per_bot),
        operator(
            "session reads per bot, to all Ready",
            format!("{:.3}", per_bot(calls.session_reads_to_ready)),
        ),
        both(
            "MeetingBot writes per bot, to all Ready",
            writes_per_bot(&base.writes_to_ready, n),
            writes_per_bot(&op.writes_to_ready, n),
        ),
        both(
            "MeetingBot writes per bot, deletion",
            writes_per_bot(&base.writes_to_gone, n),
            writes_per_bot(&op.writes_to_gone, n),
        ),
        operator("peak RSS", mib(process.peak_rss_mib)).held_to(&targets.peak_rss),
        operator(
            format!("RSS at rest, {n} joined"),
            mib(process.rss_at_rest_mib),
        ),
        operator(
            "CPU to all Ready / for the deletion",
            pair(
                secs(process.cpu_secs_to_ready),
                secs(process.cpu_secs_to_gone),
            ),
        ),
        operator(
            format!(
                "restart with {n} joined: vendor calls / MeetingBot writes in {} s",
                restart.window_secs
            ),
            pair(restart.vendor_calls, restart.writes.total()),
        )
        .held_to(&targets.restart_costs_nothing),
        operator("restart: until /readyz", secs(restart.readyz_secs)),
    ]
}

/// What a reader of the table needs to know to trust it.
fn notes(results: &Results) -> String {
    let latency = &results.create_to_join;
    let mut notes = format!(
        "\nLatencies run from the return of each create call (creationTimestamp has whole \
         seconds only); the creates took {} (p50) and {} (p99). Writes count every write \
         request the API server handled, 409 Conflicts included.",
        secs(latency.create_call_p50_secs),
        secs(latency.create_call_p99_secs),
    );
    if results.foreign_changes > 0 {
        let _ = write!(
            notes,
            " Other clients changed MeetingBots {} times during the run: the write counts \
             include their writes.",
            results.foreign_changes
        );
    }
    if results.restart.attempts > 1 {
        let _ = write!(
            notes,
            " The restart was measured {} times to get a window without other clients' writes.",
            results.restart.attempts
        );
    }
    notes.push('\n');
    notes
}

fn secs(value: f64) -> String {
    format!("{value:.2} s")
}

fn mib(value: f64) -> String {
    format!("{value:.1} MiB")
}

fn ratio(value: f64) -> String {
    format!("{value:.2}×")
}

fn pair(first: impl std::fmt::Display, second: impl std::fmt::Display) -> String {
    format!("{first} / {second}")
}

/// A controller's writes per bot, split by verb and subresource, with the
/// conflicts among them.
fn writes_per_bot(writes: &Writes, n: u64) -> String {
    let writes = writes.by_controller();
    let per_bot = |count: u64| count as f64 / n as f64;
    let split: Vec<String> = writes
        .by_kind
        .iter()
        .map(|(kind, &count)| format!("{kind} {:.2}", per_bot(count)))
        .collect();
    format!(
        "{:.2} ({}; 409s {:.2})",
        per_bot(writes.total()),
        split.join(", "),
        per_bot(writes.conflicts)
    )
}
