//! Leader election on a `coordination.k8s.io` Lease. Two active replicas could
//! each join the same meeting, so only the leader starts vendor calls. As in
//! client-go, a leader whose renewal has not been seen within a renew
//! deadline shorter than the Lease stops starting calls before any standby
//! may take over; a leader that stops (SIGTERM) keeps renewing until the
//! calls it already sent are recorded, then releases the Lease.

use super::Shutdown;
use super::server::Readiness;
use crate::reconcile::Gate;
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::runtime::{WatchStreamExt, watcher};
use kube_lease_manager::{LeaseCreateMode, LeaseManager, LeaseParams};
use parking_lot::Mutex;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

pub struct LeaseConfig {
    pub name: String,
    pub namespace: String,
    pub identity: String,
    pub duration: Duration,
    /// How long a stopping leader keeps the Lease while calls already sent
    /// finish and are recorded: at least the vendor call timeout.
    pub drain: Duration,
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

/// Notes when the latest renewal of the Lease by `identity` was made: its
/// `renewTime`, from which a standby counts the Lease's expiry, and not when
/// the watch told of it, which may be late: a late watch event must not let
/// this replica lead longer than the Lease it holds.
async fn watch_renewals(
    leases: Api<Lease>,
    name: String,
    identity: String,
    renewed: Arc<Mutex<Instant>>,
) {
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut events = std::pin::pin!(watcher(leases, config).default_backoff().applied_objects());
    while let Some(event) = events.next().await {
        let Ok(lease) = event else { continue };
        let spec = lease.spec.unwrap_or_default();
        if spec.holder_identity.as_deref() == Some(identity.as_str()) {
            let made = spec
                .renew_time
                .map_or_else(Instant::now, |time| instant_at(time.0));
            let mut renewed = renewed.lock();
            *renewed = (*renewed).max(made);
        }
    }
}

/// The monotonic instant of the wall-clock time `at`; now, for a time ahead.
/// The Lease's `renewTime` was written from this process's own clock.
fn instant_at(at: k8s_openapi::jiff::Timestamp) -> Instant {
    let ago = k8s_openapi::jiff::Timestamp::now().duration_since(at);
    let ago = Duration::try_from(ago).unwrap_or_default();
    Instant::now().checked_sub(ago).unwrap_or_else(Instant::now)
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

/// How long a leader waits before it tries again a renewal that failed.
const RENEW_RETRY: Duration = Duration::from_millis(500);

/// Renews the Lease for as long as this replica holds it, trying a failed
/// renewal again (as client-go does: what ends leading is the renew
/// deadline, not one error); resolves once another replica holds it.
async fn hold(manager: &LeaseManager) {
    loop {
        match manager.changed().await {
            Ok(_) => return,
            Err(error) => {
                warn!(%error, "could not renew the Lease; trying again");
                tokio::time::sleep(RENEW_RETRY).await;
            }
        }
    }
}

/// Why a leader stops leading.
enum Stop {
    Shutdown,
    Lost(String),
    ControllerEnded,
}

/// What leading switches on in this process: readiness as the leader, the
/// `leader` gauge, and the gate that lets vendor calls start.
struct Seat {
    readiness: Arc<Readiness>,
    gauge: Gauge,
    gate: Gate,
}

/// One replica's part in the election for the Lease.
struct Election {
    kube: kube::Client,
    lease: LeaseConfig,
    leases: Api<Lease>,
    params: LeaseParams,
    /// No renewal seen for this long, and the leader stops acting.
    renew_deadline: Duration,
}

#[allow(
    clippy::too_many_arguments,
    reason = "the process plumbing, passed once"
)]
pub async fn run<F>(
    kube: kube::Client,
    lease: LeaseConfig,
    readiness: Arc<Readiness>,
    leader_gauge: Gauge,
    gate: Gate,
    shutdown: Shutdown,
    run_controller: impl FnOnce() -> F,
) -> crate::Result<ExitCode>
where
    F: Future<Output = ()> + Send + 'static,
{
    let election = Election::new(kube, lease);
    let seat = Seat {
        readiness,
        gauge: leader_gauge,
        gate,
    };
    seat.readiness.standby.store(true, Ordering::Release);
    let Some(manager) = election.acquire(&shutdown).await? else {
        info!("stopping before leading");
        return Ok(ExitCode::SUCCESS);
    };
    let (stop, controller) = election
        .lead(&manager, &seat, &shutdown, run_controller)
        .await;
    // No new join or leave from here on; calls already sent finish and are recorded.
    seat.gate.close();
    let code = election.step_down(stop, manager, controller).await;
    seat.gauge.set(0);
    Ok(code)
}

impl Election {
    fn new(kube: kube::Client, lease: LeaseConfig) -> Election {
        let duration = lease.duration.as_secs().max(2);
        // Renew at a third of the duration, and stop acting when no renewal
        // was seen for three quarters of it: a quarter is left before a
        // standby may lead, and a renewal may be late or fail and be tried
        // again before leading ends (client-go: every 2 s within 10 s of 15 s).
        let grace = (duration * 2 / 3).max(1);
        Election {
            leases: Api::namespaced(kube.clone(), &lease.namespace),
            params: LeaseParams::new(lease.identity.clone(), duration, grace),
            renew_deadline: Duration::from_secs(duration) * 3 / 4,
            kube,
            lease,
        }
    }

    async fn manager(&self) -> crate::Result<LeaseManager> {
        LeaseManager::new(
            self.kube.clone(),
            &self.lease.name,
            &self.lease.namespace,
            self.params.clone(),
            LeaseCreateMode::AutoCreate,
        )
        .await
        .map_err(|error| crate::Error::Config(format!("leader election: {error}")))
    }

    /// Waits until this replica holds the Lease; `None` when it is asked to
    /// stop first.
    async fn acquire(&self, shutdown: &Shutdown) -> crate::Result<Option<LeaseManager>> {
        let mut manager = self.manager().await?;
        info!(
            lease = self.lease.name,
            namespace = self.lease.namespace,
            identity = self.lease.identity,
            "waiting for the Lease"
        );
        loop {
            tokio::select! {
                biased;
                changed = manager.changed() => match changed {
                    Ok(true) => return Ok(Some(manager)),
                    Ok(false) => {}
                    Err(error) => warn!(%error, "could not take the Lease yet"),
                },
                // The manager sleeps until the holder's Lease would expire; a
                // leader that shut down released it, so try again at once.
                () = released(self.leases.clone(), &self.lease.name) => manager = self.manager().await?,
                _ = shutdown.clone() => return Ok(None),
            }
        }
    }

    /// Runs the controller for as long as this replica leads, and says why it
    /// stopped. Leading ends when a renewal has not been seen within the renew
    /// deadline, before any standby may take the Lease.
    async fn lead<F>(
        &self,
        manager: &LeaseManager,
        seat: &Seat,
        shutdown: &Shutdown,
        run_controller: impl FnOnce() -> F,
    ) -> (Stop, JoinHandle<()>)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        info!(
            identity = self.lease.identity,
            "leading: starting the controller"
        );
        let renewed = Arc::new(Mutex::new(Instant::now()));
        let renewals = tokio::spawn(watch_renewals(
            self.leases.clone(),
            self.lease.name.clone(),
            self.lease.identity.clone(),
            renewed.clone(),
        ));
        seat.readiness.standby.store(false, Ordering::Release);
        seat.gauge.set(1);
        seat.gate.open();
        let mut controller = tokio::spawn(run_controller());
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        // One future renews for the whole term: made anew on each tick, it
        // would drop every renewal the API server takes longer than a tick
        // to answer, and a slow API server would cost the Lease.
        let mut holding = std::pin::pin!(hold(manager));

        // Biased: the controller also stops on SIGTERM, and that is a clean exit.
        let stop = loop {
            tokio::select! {
                biased;
                _ = shutdown.clone() => break Stop::Shutdown,
                () = &mut holding => break Stop::Lost("another replica holds the Lease".to_owned()),
                _ = &mut controller => break Stop::ControllerEnded,
                _ = tick.tick() => {
                    let since = renewed.lock().elapsed();
                    if since > self.renew_deadline {
                        break Stop::Lost(format!("no renewal of the Lease seen for {} ms", since.as_millis()));
                    }
                }
            }
        };
        renewals.abort();
        (stop, controller)
    }

    /// After leading, with the gate closed: lets the calls already sent be
    /// recorded, then gives the Lease back (on a shutdown) or exits so that
    /// the pod restarts clean (when leading was lost).
    async fn step_down(
        &self,
        stop: Stop,
        manager: LeaseManager,
        mut controller: JoinHandle<()>,
    ) -> ExitCode {
        match stop {
            Stop::Shutdown => {
                // Keep renewing while the controller drains, so that no standby
                // starts on these objects before their outcomes are written.
                tokio::select! {
                    drained = tokio::time::timeout(self.lease.drain, &mut controller) => {
                        if drained.is_err() {
                            warn!("in-flight reconciles did not finish in time; stopping them");
                        }
                    }
                    () = hold(&manager) => warn!("lost the Lease while draining"),
                }
                controller.abort();
                if let Err(error) = manager.release().await {
                    warn!(%error, "could not release the Lease; the standby takes over when it expires");
                } else {
                    info!("released the Lease");
                }
                ExitCode::SUCCESS
            }
            Stop::Lost(why) => {
                error!(
                    why,
                    "stopped leading: no new vendor calls; exiting so that the pod restarts clean"
                );
                // Calls already sent still get their outcome written (every such
                // write is fenced by the version it was planned on).
                let _ = tokio::time::timeout(self.lease.drain, &mut controller).await;
                controller.abort();
                ExitCode::FAILURE
            }
            Stop::ControllerEnded => {
                error!("the controller stopped by itself");
                ExitCode::FAILURE
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::instant_at;
    use k8s_openapi::jiff::{SignedDuration, Timestamp};
    use std::time::{Duration, Instant};

    #[test]
    fn a_renewal_counts_from_when_it_was_made_not_when_it_was_seen() {
        let made = Timestamp::now() - SignedDuration::from_secs(3);
        let elapsed = instant_at(made).elapsed();
        assert!(
            elapsed >= Duration::from_secs(3) && elapsed < Duration::from_secs(4),
            "{elapsed:?}"
        );
        let ahead = Timestamp::now() + SignedDuration::from_secs(3);
        assert!(instant_at(ahead) <= Instant::now());
    }
}
