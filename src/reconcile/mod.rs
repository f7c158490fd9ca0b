//! Reconciling MeetingBots: `decide` (pure) plans the next step from what is
//! known; the controller carries plans out and reports them in status and Events.

pub mod connection_secret;
mod controller;
pub mod decide;
pub mod memo;
pub mod metrics;
mod secrets;
pub mod status;

pub use controller::{Context, MANAGER, Settings, run};
pub use metrics::Metrics;
pub use secrets::OperatorApiKey;
