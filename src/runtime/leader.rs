//! Leader election on a `coordination.k8s.io` Lease. Two active replicas could
//! each join the same meeting, so only the leader reconciles, and a leader
//! that cannot renew stops at once and exits so that its pod restarts clean.

use super::Shutdown;
use super::server::Readiness;
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::runtime::{WatchStreamExt, watcher};
use kube_lease_manager::{LeaseCreateMode, LeaseManager, LeaseParams};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tracing::{error, info, warn};

pub struct LeaseConfig {
    pub name: String,
    pub namespace: String,
    pub identity: String,
    pub duration: Duration,
    pub shutdown_timeout: Duration,
}

pub fn register(registry: &mut Registry) -> Gauge {
    let leader = Gauge::default();
    registry.register(
        "leader",
        "1 when this replica holds the Lease and reconciles",
        leader.clone(),
    );
    leader
}

/// Resolves when the Lease, once seen held, is seen free: its leader released it.
async fn released(leases: Api<Lease>, name: &str) {
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut events = std::pin::pin!(watcher(leases, config).default_backoff().applied_objects());
    let mut seen_held = false;
    while let Some(event) = events.next().await {
        let Ok(lease) = event else { continue };
        let held = lease.spec.and_then(|spec| spec.holder_identity).is_some();
        if seen_held && !held {
            return;
        }
        seen_held |= held;
    }
}

pub async fn run<F>(
    kube: kube::Client,
    lease: LeaseConfig,
    readiness: Arc<Readiness>,
    leader_gauge: Gauge,
    shutdown: Shutdown,
    run_controller: impl FnOnce() -> F,
) -> crate::Result<ExitCode>
where
    F: Future<Output = ()> + Send + 'static,
{
    let duration = lease.duration.as_secs().max(2);
    // Renew well before expiry: a third of the duration is left as grace.
    let grace = (duration / 3).max(1);
    let params = LeaseParams::new(lease.identity.clone(), duration, grace);
    let leases: Api<Lease> = Api::namespaced(kube.clone(), &lease.namespace);
    let new_manager = || async {
        LeaseManager::new(
            kube.clone(),
            &lease.name,
            &lease.namespace,
            params.clone(),
            LeaseCreateMode::AutoCreate,
        )
        .await
        .map_err(|error| crate::Error::Config(format!("leader election: {error}")))
    };
    let mut manager = new_manager().await?;
    readiness.standby.store(true, Ordering::Release);
    info!(
        lease = lease.name,
        namespace = lease.namespace,
        identity = lease.identity,
        "waiting for the Lease"
    );

    loop {
        tokio::select! {
            biased;
            changed = manager.changed() => match changed {
                Ok(true) => break,
                Ok(false) => {}
                Err(error) => warn!(%error, "could not take the Lease yet"),
            },
            // The manager sleeps until the holder's Lease would expire; a
            // leader that shut down released it, so try again at once.
            () = released(leases.clone(), &lease.name) => manager = new_manager().await?,
            _ = shutdown.clone() => {
                info!("stopping before leading");
                return Ok(ExitCode::SUCCESS);
            }
        }
    }

    info!(
        identity = lease.identity,
        "leading: starting the controller"
    );
    readiness.standby.store(false, Ordering::Release);
    leader_gauge.set(1);
    let mut controller = tokio::spawn(run_controller());

    // Biased: the controller also stops on SIGTERM, and that is a clean exit.
    tokio::select! {
        biased;
        _ = shutdown.clone() => {
            // The controller stops taking work on the same signal; in-flight calls get a bound.
            if tokio::time::timeout(lease.shutdown_timeout, &mut controller).await.is_err() {
                warn!("in-flight reconciles did not finish in time; stopping them");
                controller.abort();
            }
            leader_gauge.set(0);
            if let Err(error) = manager.release().await {
                warn!(%error, "could not release the Lease; the standby takes over when it expires");
            } else {
                info!("released the Lease");
            }
            Ok(ExitCode::SUCCESS)
        }
        changed = manager.changed() => {
            // Lost the Lease, or could not renew it: another replica may lead now.
            controller.abort();
            leader_gauge.set(0);
            match changed {
                Ok(_) => error!("lost the Lease; exiting so that the pod restarts clean"),
                Err(error) => error!(%error, "could not renew the Lease; exiting so that the pod restarts clean"),
            }
            Ok(ExitCode::FAILURE)
        }
        _ = &mut controller => {
            error!("the controller stopped by itself");
            Ok(ExitCode::FAILURE)
        }
    }
}
