//! The operator as a process: configuration, logging, the metrics and health
//! server, leader election and shutdown around the controller.

pub mod check;
pub mod config;
mod leader;
mod logging;
pub mod memory;
pub mod preflight;
pub mod process;
mod server;
pub mod vendor_report;

use crate::lemonslice::{self, ClientConfig, SecretString};
use crate::reconcile::{self, Context, Gate, Metrics, OperatorApiKey, Settings};
use config::RunArgs;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use server::Readiness;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tracing::{error, info};

/// Resolves once SIGTERM or SIGINT arrived; cheap to clone.
pub type Shutdown = Shared<BoxFuture<'static, ()>>;

/// Runs the operator until it is told to stop (exit 0) or loses its Lease (exit 1).
pub async fn run(args: RunArgs) -> ExitCode {
    if let Err(message) = logging::init(args.log_format, &args.log_level) {
        eprintln!("error: {message}");
        return ExitCode::from(2);
    }
    match start(args).await {
        Ok(code) => code,
        Err(error) => {
            error!(%error, "the operator stopped");
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The process as a recipe: clients, metrics, the health server, the vendor
/// check, then the controller, alone or under leader election.
async fn start(args: RunArgs) -> crate::Result<ExitCode> {
    let install = args.scope.install().map_err(crate::Error::Config)?;
    let operator_key = operator_api_key(&args).await?;
    let kube = kube::Client::try_default().await?;
    let vendor = lemonslice::Client::new(&ClientConfig {
        base_url: args.lemonslice_url.clone(),
        connect_timeout: args.connect_timeout,
        timeout: args.call_timeout,
        calls_per_second: std::num::NonZeroU32::new(args.vendor_calls_per_second),
    })?;
    let identity = args.identity.clone().unwrap_or_else(default_identity);
    let (registry, metrics, leader_gauge) = registry(&vendor);
    let gate = Gate::default();
    let ctx = Context::new(
        kube.clone(),
        vendor,
        operator_key,
        settings(&args, &identity, install),
        metrics,
        gate.clone(),
    );

    let readiness = Arc::new(Readiness::default());
    let listener = tokio::net::TcpListener::bind(args.metrics_addr).await?;
    info!(address = %args.metrics_addr, "serving /metrics, /healthz and /readyz");
    let app = server::router(registry, readiness.clone(), ctx.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let shutdown = shutdown_signal();
    let lease = lease_config(&args, &kube, identity.clone());
    let report = vendor_report::VendorReport::new(
        args.leader_election,
        kube.clone(),
        reconcile::MANAGER,
        &identity,
        &lease.namespace,
        &lease.name,
    );
    if !vendor_reachable(&ctx, &args.lemonslice_url, &report, shutdown.clone()).await {
        return Ok(ExitCode::SUCCESS);
    }
    readiness.vendor_checked.store(true, Ordering::Release);
    let run_controller = {
        let readiness = readiness.clone();
        let shutdown = shutdown.clone();
        move || {
            let synced = move || {
                info!("watches synced");
                readiness.synced.store(true, Ordering::Release);
            };
            reconcile::run(ctx, shutdown, synced)
        }
    };
    if !args.leader_election {
        info!("leader election is off: this replica reconciles");
        leader_gauge.set(1);
        gate.open();
        tokio::spawn(close_on(shutdown, gate));
        run_controller().await;
        return Ok(ExitCode::SUCCESS);
    }
    leader::run(
        kube,
        lease,
        readiness,
        leader_gauge,
        gate,
        shutdown,
        run_controller,
    )
    .await
}

/// The metrics registry: the standard `process_*` metrics, and under the
/// prefix `meetingbot_operator_` the build info, the controller's metrics and
/// the leader gauge.
fn registry(vendor: &lemonslice::Client) -> (Registry, Metrics, Gauge) {
    let mut root = Registry::default();
    root.register_collector(Box::new(process::ProcessCollector));
    let registry = root.sub_registry_with_prefix("meetingbot_operator");
    process::register_build_info(registry);
    let metrics = Metrics::default();
    metrics.register(registry);
    if let Some(throttled) = vendor.throttled_calls() {
        registry.register(
            "lemonslice_throttled",
            "LemonSlice calls that waited for the process-wide bound (--vendor-calls-per-second)",
            throttled,
        );
    }
    let leader_gauge = leader::register(registry);
    (root, metrics, leader_gauge)
}

fn settings(args: &RunArgs, identity: &str, install: &str) -> Settings {
    Settings {
        namespaces: args
            .scope
            .namespaces
            .iter()
            .filter(|ns| !ns.is_empty())
            .cloned()
            .collect(),
        label_selector: args.scope.label_selector.clone(),
        concurrency: args.concurrency,
        retry_unknown_joins: args.retry_unknown_joins,
        session_poll: args.session_poll_interval,
        redact_websocket_token: args.redact_websocket_token,
        instance: Some(identity.to_owned()),
        install: install.to_owned(),
    }
}

fn lease_config(args: &RunArgs, kube: &kube::Client, identity: String) -> leader::LeaseConfig {
    leader::LeaseConfig {
        name: args.lease_name.clone(),
        namespace: args
            .lease_namespace
            .clone()
            .unwrap_or_else(|| kube.default_namespace().to_owned()),
        identity,
        duration: args.lease_duration,
        drain: args
            .shutdown_timeout
            .max(args.call_timeout + std::time::Duration::from_secs(5)),
    }
}

/// Closes `gate` once the process is told to stop: without leader election,
/// a stopping replica starts no new call either.
async fn close_on(shutdown: Shutdown, gate: Gate) {
    shutdown.await;
    gate.close();
}

/// Waits until LemonSlice answers the session list with the operator's key:
/// until then the operator acts on nothing, so that a mistyped base URL (404
/// to everything) cannot pass for "every bot already gone". False if the
/// process was told to stop meanwhile.
async fn vendor_reachable(
    ctx: &Context,
    base_url: &str,
    report: &vendor_report::VendorReport,
    shutdown: Shutdown,
) -> bool {
    loop {
        let checked = match ctx.operator_key().current().await {
            Ok(key) => Some(ctx.vendor().check_account(&key).await),
            Err(error) => {
                error!(%error, "cannot read the operator's API key; not acting on any MeetingBot until it can");
                report
                    .waiting("cannot read the operator's API key (see its logs)")
                    .await;
                None
            }
        };
        match checked {
            None => {}
            Some(Ok(())) => {
                info!(
                    base_url,
                    "LemonSlice accepts the base URL and the operator's API key"
                );
                report.acting().await;
                return true;
            }
            Some(Err(failure)) => {
                error!(
                    base_url,
                    failure = failure.describe(),
                    "LemonSlice's session list failed: check --lemonslice-url and the operator's API key; \
                     not acting on any MeetingBot (and not ready) until it answers"
                );
                report
                    .waiting(&format!(
                        "LemonSlice's session list failed ({}): check --lemonslice-url and the \
                         operator's API key",
                        failure.describe()
                    ))
                    .await;
            }
        }
        tokio::select! {
            () = tokio::time::sleep(std::time::Duration::from_secs(vendor_report::RECHECK_SECS)) => {}
            () = shutdown.clone() => return false,
        }
    }
}

async fn operator_api_key(args: &RunArgs) -> crate::Result<OperatorApiKey> {
    let key = match (&args.api_key_file, &args.api_key) {
        (Some(path), _) => OperatorApiKey::File(path.clone()),
        (None, Some(key)) if !key.expose().trim().is_empty() => {
            OperatorApiKey::Value(SecretString::new(key.expose().trim()))
        }
        _ => {
            return Err(crate::Error::Config(
                "no LemonSlice API key: set LEMONSLICE_API_KEY or pass --api-key-file with the path of a file that holds it".into(),
            ));
        }
    };
    // Fail at start, not at the first join, when the file cannot be read.
    key.current().await?;
    Ok(key)
}

fn shutdown_signal() -> Shutdown {
    async {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("can install a SIGTERM handler");
        tokio::select! {
            _ = terminate.recv() => info!("SIGTERM: shutting down"),
            _ = tokio::signal::ctrl_c() => info!("SIGINT: shutting down"),
        }
    }
    .boxed()
    .shared()
}

/// The host name and process id: unique even for two replicas on one machine.
fn default_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("{}-{}", host.trim(), std::process::id())
}
