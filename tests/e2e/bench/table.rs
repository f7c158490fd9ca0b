//! The Markdown tables: one run's figures with their targets (the README's
//! table), and the scaling runs side by side.

use serde_json::Value;

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

/// A `[half, all]` pair of seconds, as "1.02 / 2.31 s".
fn half_and_all(pair: &Value) -> String {
    let at = |i: usize| pair[i].as_f64().unwrap_or(f64::NAN);
    format!("{:.2} / {:.2} s", at(0), at(1))
}

/// Figures by name, as "etcd 0.52 s, kube-apiserver 2.10 s".
fn by_name(figures: &Value, show: fn(f64) -> String) -> String {
    let Some(figures) = figures.as_object() else {
        return String::new();
    };
    figures
        .iter()
        .map(|(name, figure)| format!("{name} {}", show(figure.as_f64().unwrap_or(f64::NAN))))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One run's figures, each with its target where the issue sets one.
pub fn single(results: &Value) -> String {
    let op = &results["operator"];
    let base = &results["baseline"];
    let f = |key: &str| op[key].as_f64().unwrap_or(f64::NAN);
    let b = |key: &str| base[key].as_f64().unwrap_or(f64::NAN);
    let sized = |key: &str| {
        results["operator_sized_baseline"][key]
            .as_f64()
            .unwrap_or(f64::NAN)
    };
    let n = results["n"].as_u64().unwrap_or(0);
    let ratio = f("ready_vs_baseline");
    let gone_ratio = f("gone_vs_baseline");
    // The targets of the scale issue: 24 MiB at N = 1000, 40 MiB at 5000.
    let rss_target = if n > 1000 { 40.0 } else { 24.0 };
    let p99_target = 0.9 * b("create_to_ready_p99_secs");
    let deletion_both = |key: &str, show: fn(f64) -> String| {
        let (base, op) = (&base["deletion"][key], &op["deletion"][key]);
        format!("{} · {}", by_name(base, show), by_name(op, show))
    };
    let rows = [
        (
            "all Ready: baseline / operator".to_owned(),
            format!("{:.2} s / {:.2} s", b("ready_secs"), f("ready_secs")),
            String::new(),
            String::new(),
        ),
        (
            "time to all Ready / baseline".into(),
            format!("{ratio:.2} (/ ideal {:.2})", f("ready_vs_ideal")),
            "≤ 1.10".into(),
            verdict(ratio <= 1.10).into(),
        ),
        (
            "all gone: baseline / operator".into(),
            format!(
                "{:.2} s / {:.2} s ({gone_ratio:.2}×)",
                b("gone_secs"),
                f("gone_secs"),
            ),
            "≤ 1.15×".into(),
            verdict(gone_ratio <= 1.15).into(),
        ),
        (
            "all Ready; all gone: baseline with the operator's objects / operator".into(),
            format!(
                "{:.2} s / {:.2} s ({:.2}×); {:.2} s / {:.2} s ({:.2}×)",
                sized("ready_secs"),
                f("ready_secs"),
                f("ready_vs_operator_sized_baseline"),
                sized("gone_secs"),
                f("gone_secs"),
                f("gone_vs_operator_sized_baseline"),
            ),
            "the API server's work for objects this size".into(),
            String::new(),
        ),
        (
            "deletion, half / all: marked; left; gone".into(),
            format!(
                "baseline {}; –; {} · operator {}; {}; {}",
                half_and_all(&base["deletion"]["marked_secs"]),
                half_and_all(&base["deletion"]["gone_secs"]),
                half_and_all(&op["deletion"]["marked_secs"]),
                half_and_all(&op["deletion"]["left_secs"]),
                half_and_all(&op["deletion"]["gone_secs"]),
            ),
            String::new(),
            String::new(),
        ),
        (
            "CPU during the deletion: baseline · operator".into(),
            deletion_both("cpu_secs", |secs| format!("{secs:.2} s")),
            String::new(),
            String::new(),
        ),
        (
            "API requests during the deletion: baseline · operator".into(),
            deletion_both("requests", |count| format!("{count}")),
            String::new(),
            String::new(),
        ),
        (
            "creation → join p50 / p99".into(),
            format!(
                "{:.3} s / {:.3} s",
                f("create_to_join_p50_secs"),
                f("create_to_join_p99_secs")
            ),
            format!(
                "p99 ≤ 0.9 × baseline's p99 creation → Ready ({:.3} s) = {p99_target:.3} s",
                b("create_to_ready_p99_secs")
            ),
            verdict(f("create_to_join_p99_secs") <= p99_target).into(),
        ),
        (
            "join order vs creation order (Spearman)".into(),
            format!("{:.3}", f("join_order_correlation")),
            "1 = first created, first joined".into(),
            String::new(),
        ),
        (
            "joins / leaves / session reads per bot".into(),
            format!(
                "{} / {} / {:.3}",
                f("joins_per_bot"),
                f("leaves_per_bot"),
                f("session_reads_per_bot")
            ),
            "1 / 1".into(),
            verdict(f("joins_per_bot") == 1.0 && f("leaves_per_bot") == 1.0).into(),
        ),
        (
            "MeetingBot writes per bot to Ready (baseline)".into(),
            format!(
                "{:.2} ({:.2})",
                f("writes_per_bot_to_ready"),
                b("writes_per_bot_to_ready")
            ),
            "≤ 2.0".into(),
            verdict(f("writes_per_bot_to_ready") <= 2.0).into(),
        ),
        (
            "MeetingBot writes per join, at rest".into(),
            format!("{:.2}", f("writes_per_join")),
            "≤ 3.0".into(),
            verdict(f("writes_per_join") <= 3.0).into(),
        ),
        (
            "retried conflicts (409), to rest / to gone".into(),
            format!("{} / {}", f("conflicts_to_rest"), f("conflicts_to_gone")),
            "0".into(),
            verdict(f("conflicts_to_rest") == 0.0 && f("conflicts_to_gone") == 0.0).into(),
        ),
        (
            "MeetingBot writes per bot, deletion to gone".into(),
            format!("{:.2}", f("writes_per_bot_to_gone")),
            "≤ 1.0".into(),
            verdict(f("writes_per_bot_to_gone") <= 1.0).into(),
        ),
        (
            "peak RSS / at rest with all joined".into(),
            format!(
                "{:.1} MiB / {:.1} MiB",
                f("peak_rss_mib"),
                f("rss_at_rest_mib")
            ),
            format!("≤ {rss_target:.0} MiB"),
            verdict(f("peak_rss_mib") <= rss_target).into(),
        ),
        (
            "CPU to all Ready / per bot to rest".into(),
            format!(
                "{:.2} s / {:.2} ms",
                f("cpu_secs_to_ready"),
                f("cpu_ms_per_bot")
            ),
            String::new(),
            String::new(),
        ),
        (
            "CPU per rotation of one MeetingBot's token Secret".into(),
            format!("{:.2} ms", f("cpu_ms_per_secret_rotation")),
            "flat with N".into(),
            String::new(),
        ),
        (
            "restart with all joined: vendor calls / writes in 10 s".into(),
            format!("{} / {}", f("restart_vendor_calls"), f("restart_writes")),
            "0 / 0".into(),
            verdict(f("restart_vendor_calls") == 0.0 && f("restart_writes") == 0.0).into(),
        ),
        (
            "restart: until `/readyz`".into(),
            format!("{:.2} s", f("restart_readyz_secs")),
            String::new(),
            String::new(),
        ),
    ];
    let mut out = format!(
        "N = {n}, L = {} ms, concurrency {}; {}\n\n| figure | measured | target | |\n|---|---|---|---|\n",
        results["latency_ms"],
        results["concurrency"],
        results["machine"].as_str().unwrap_or_default(),
    );
    for (figure, measured, target, verdict) in rows {
        out.push_str(&format!(
            "| {figure} | {measured} | {target} | {verdict} |\n"
        ));
    }
    out
}

/// A figure of a run: `side` is "operator" or "baseline".
fn v(run: &Value, side: &str, key: &str) -> f64 {
    run[side][key].as_f64().unwrap_or(f64::NAN)
}

/// The scaling runs, one column per N.
pub fn scaling(runs: &[Value]) -> String {
    type Row = (&'static str, fn(&Value) -> String);
    let rows: [Row; 14] = [
        ("all Ready: operator / baseline", |r| {
            format!(
                "{:.1} s / {:.1} s ({:.2}×)",
                v(r, "operator", "ready_secs"),
                v(r, "baseline", "ready_secs"),
                v(r, "operator", "ready_vs_baseline")
            )
        }),
        ("all gone: operator / baseline", |r| {
            format!(
                "{:.1} s / {:.1} s ({:.2}×)",
                v(r, "operator", "gone_secs"),
                v(r, "baseline", "gone_secs"),
                v(r, "operator", "gone_vs_baseline")
            )
        }),
        (
            "all Ready; all gone: operator / baseline with the operator's objects",
            |r| {
                format!(
                    "{:.2}×; {:.2}×",
                    v(r, "operator", "ready_vs_operator_sized_baseline"),
                    v(r, "operator", "gone_vs_operator_sized_baseline")
                )
            },
        ),
        ("creation → join p50 / p99", |r| {
            format!(
                "{:.2} s / {:.2} s",
                v(r, "operator", "create_to_join_p50_secs"),
                v(r, "operator", "create_to_join_p99_secs")
            )
        }),
        ("baseline creation → Ready p99", |r| {
            format!("{:.2} s", v(r, "baseline", "create_to_ready_p99_secs"))
        }),
        ("MeetingBot writes per bot to Ready / per join", |r| {
            format!(
                "{:.2} / {:.2}",
                v(r, "operator", "writes_per_bot_to_ready"),
                v(r, "operator", "writes_per_join")
            )
        }),
        ("retried conflicts, to rest / to gone", |r| {
            format!(
                "{} / {}",
                r["operator"]["conflicts_to_rest"], r["operator"]["conflicts_to_gone"]
            )
        }),
        ("vendor calls per bot (join, session, leave)", |r| {
            format!("{:.3}", v(r, "operator", "vendor_calls_per_bot"))
        }),
        ("peak RSS", |r| {
            format!("{:.1} MiB", v(r, "operator", "peak_rss_mib"))
        }),
        ("RSS at rest, all joined", |r| {
            format!("{:.1} MiB", v(r, "operator", "rss_at_rest_mib"))
        }),
        ("RSS after a restart, all joined", |r| {
            format!("{:.1} MiB", v(r, "operator", "restarted_rss_mib"))
        }),
        ("CPU per bot, to rest", |r| {
            format!("{:.2} ms", v(r, "operator", "cpu_ms_per_bot"))
        }),
        ("CPU per rotation of one token Secret", |r| {
            format!("{:.2} ms", v(r, "operator", "cpu_ms_per_secret_rotation"))
        }),
        ("join order vs creation order (Spearman)", |r| {
            format!("{:.3}", v(r, "operator", "join_order_correlation"))
        }),
    ];
    let mut out = String::new();
    if let Some(first) = runs.first() {
        out.push_str(&format!(
            "L = {} ms, concurrency {}; {}\n\n",
            first["latency_ms"],
            first["concurrency"],
            first["machine"].as_str().unwrap_or_default()
        ));
    }
    out.push_str("| N |");
    for run in runs {
        out.push_str(&format!(" {} |", run["n"]));
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(runs.len()));
    out.push('\n');
    for (figure, cell) in rows {
        out.push_str(&format!("| {figure} |"));
        for run in runs {
            out.push_str(&format!(" {} |", cell(run)));
        }
        out.push('\n');
    }
    out
}
