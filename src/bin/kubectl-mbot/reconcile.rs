//! `kubectl mbot reconcile NAME|-l SELECTOR|--all`: request a reconcile of
//! each, then wait for each echo.

use crate::cli::Selection;
use crate::connect::{Target, api_error};
use crate::patch::{annotate, fresh_value};
use crate::select::{chosen, name, outcome};
use anyhow::anyhow;
use meetingbot_operator::api::annotation;
use meetingbot_operator::api::condition::READY;
use std::time::{Duration, Instant};

const POLL: Duration = Duration::from_millis(250);

pub async fn run(target: &Target, which: &Selection, timeout: Duration) -> anyhow::Result<()> {
    let bots = chosen(target, which).await?;
    let one = which.name.is_some();
    let ns = &target.namespace;
    let requested = fresh_value();
    let mut failed = 0;
    let mut waiting = vec![];
    for bot in &bots {
        let name = name(bot);
        let asked = annotate(
            target,
            name,
            &[(annotation::RECONCILE_REQUESTED_AT, &requested)],
            &format!("requesting a reconcile of {ns}/{name}"),
        )
        .await;
        match asked {
            Ok(()) => {
                eprintln!("► asked the operator to reconcile {ns}/{name}");
                waiting.push(name.to_owned());
            }
            Err(error) if one => return Err(error),
            Err(error) => {
                eprintln!("✗ {error:#}");
                failed += 1;
            }
        }
    }
    let start = Instant::now();
    while !waiting.is_empty() {
        let mut still = vec![];
        for name in waiting {
            if !echoed(target, &name, &requested).await? {
                still.push(name);
            }
        }
        waiting = still;
        if waiting.is_empty() {
            break;
        }
        if start.elapsed() >= timeout {
            let error = anyhow!(
                "the operator did not handle the request within {}s (status.lastHandledReconcileAt \
                 is not {requested:?}): check that the operator runs and watches namespace {ns} \
                 (its logs, and `kubectl get pods -A -l app.kubernetes.io/name=meetingbot-operator`), \
                 or wait longer with --timeout",
                timeout.as_secs(),
            );
            if one {
                return Err(error);
            }
            for name in &waiting {
                eprintln!("✗ {ns}/{name}: not handled in time");
            }
            eprintln!("{error}");
            failed += waiting.len();
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    outcome(failed, bots.len())
}

/// Whether the operator has handled the request on `name`; prints the outcome when it has.
async fn echoed(target: &Target, name: &str, requested: &str) -> anyhow::Result<bool> {
    let ns = &target.namespace;
    let found = target
        .bots()
        .get_opt(name)
        .await
        .map_err(|e| api_error(e, &format!("reading MeetingBot {name}")))?;
    let Some(bot) = found else {
        println!("✔ {ns}/{name} is gone: the operator finished its deletion");
        return Ok(true);
    };
    let status = bot.status.clone().unwrap_or_default();
    if status.last_handled_reconcile_at.as_deref() != Some(requested) {
        return Ok(false);
    }
    let ready = bot.condition(READY);
    println!(
        "✔ reconciled {ns}/{name}: phase {}, Ready {} ({})",
        status
            .phase
            .map(|p| format!("{p:?}"))
            .unwrap_or_else(|| "-".into()),
        ready.map(|c| c.status.as_str()).unwrap_or("-"),
        ready.map(|c| c.reason.as_str()).unwrap_or("-"),
    );
    Ok(true)
}
