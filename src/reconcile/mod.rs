//! Reconciling MeetingBots: `decide` (pure) plans the next step from what is
//! known; the controller carries plans out and reports them in status and Events.
//!
//! - `plan` (what decide answers and steps learn) and `decide` (its facts and
//!   rules, a file per concern);
//! - `watch` (the streams and the reconcile entry), `watched` (objects as the
//!   watch decodes them), `triggers` (which deliveries ask for a reconcile),
//!   `own_writes` (what the operator's writes returned), `lanes` (whose turn
//!   it is), `waiting` (where reconciles wait for it, outside kube's runner),
//!   `report` (undecodable objects, failed reconciles);
//! - `steps` (the plan loop, a file per step) and `writes` (its Kubernetes
//!   writes), `status` (the status an ending shows), `events`, `connection_secret`;
//! - `context` (what reconciles share), `memo` (failures met, per object),
//!   `secrets` (referenced Secrets and the operator's key), `metrics`.

mod connection_secret;
mod context;
mod decide;
mod events;
mod lanes;
mod memo;
mod metrics;
mod own_writes;
mod plan;
mod report;
mod secrets;
mod status;
mod steps;
mod triggers;
mod waiting;
mod watch;
mod watched;
mod writes;

pub use context::{Context, Gate, Settings};
pub use metrics::Metrics;
pub use secrets::OperatorApiKey;
pub use watch::run;
