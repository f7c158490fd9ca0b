//! `kubectl mbot reconcile NAME`: request a reconcile, wait for its echo.

use crate::connect::{Target, api_error};
use crate::patch::{annotate, fresh_value};
use anyhow::anyhow;
use meetingbot_operator::api::annotation;
use meetingbot_operator::api::condition::READY;
use std::time::{Duration, Instant};

const POLL: Duration = Duration::from_millis(250);

pub async fn run(target: &Target, name: &str, timeout: Duration) -> anyhow::Result<()> {
    target.bot(name).await?;
    let requested = fresh_value();
    annotate(
        target,
        name,
        &[(annotation::RECONCILE_REQUESTED_AT, &requested)],
        "requesting a reconcile",
    )
    .await?;
    eprintln!(
        "► asked the operator to reconcile {}/{name}",
        target.namespace
    );
    let start = Instant::now();
    loop {
        let found = target
            .bots()
            .get_opt(name)
            .await
            .map_err(|e| api_error(e, &format!("reading MeetingBot {name}")))?;
        let Some(bot) = found else {
            println!(
                "✔ {}/{name} is gone: the operator finished its deletion",
                target.namespace
            );
            return Ok(());
        };
        let status = bot.status.clone().unwrap_or_default();
        if status.last_handled_reconcile_at.as_deref() == Some(requested.as_str()) {
            let ready = bot.condition(READY);
            println!(
                "✔ reconciled {}/{name}: phase {}, Ready {} ({})",
                target.namespace,
                status
                    .phase
                    .map(|p| format!("{p:?}"))
                    .unwrap_or_else(|| "-".into()),
                ready.map(|c| c.status.as_str()).unwrap_or("-"),
                ready.map(|c| c.reason.as_str()).unwrap_or("-"),
            );
            return Ok(());
        }
        if start.elapsed() >= timeout {
            return Err(anyhow!(
                "the operator did not handle the request within {}s (status.lastHandledReconcileAt \
                 is not {requested:?}): check that the operator runs and watches namespace {} \
                 (its logs, and `kubectl get pods -A -l app.kubernetes.io/name=meetingbot-operator`), \
                 or wait longer with --timeout",
                timeout.as_secs(),
                target.namespace
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}
