//! Reconciling MeetingBots: `decide` (pure) plans the next step from what is
//! known; the controller carries plans out and reports them in status and Events.

mod connection_secret;
mod context;
mod decide;
mod events;
mod lanes;
mod memo;
mod metrics;
mod plan;
mod report;
mod secrets;
mod status;
mod steps;
mod watch;
mod watched;
mod writes;

pub use context::{Context, Gate, Settings};
pub use metrics::Metrics;
pub use secrets::OperatorApiKey;
pub use watch::run;
