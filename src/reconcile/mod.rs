//! Reconciling MeetingBots: `decide` (pure) plans the next step from what is
//! known; the controller carries plans out and reports them in status and Events.

pub mod connection_secret;
mod context;
pub mod decide;
mod events;
mod lanes;
pub mod memo;
pub mod metrics;
pub mod plan;
mod secrets;
pub mod status;
mod steps;
mod watch;
mod writes;

pub use context::{Context, Gate, MANAGER, Settings};
pub use metrics::Metrics;
pub use secrets::OperatorApiKey;
pub use watch::run;
