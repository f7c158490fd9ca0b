//! The reconciler's Kubernetes services: fenced writes of MeetingBots
//! (`writes`), the Secrets a call needs (`secrets`), the connection Secret a
//! join fills (`connection_secret`) and Events (`events`). They answer with
//! Kubernetes results; what a result means for a reconcile is the steps'.

use crate::api::MeetingBot;
use kube::{Api, ResourceExt};

pub mod connection_secret;
mod events;
mod secrets;
mod writes;

pub use events::Events;
pub use secrets::{OperatorApiKey, SecretKeyRef, SecretReader, Unmet};
pub use writes::BotWrites;

/// Name of the operator as a field manager and Event reporter.
pub const MANAGER: &str = "meetingbot-operator";

/// Parameters of the operator's patches: `managedFields` names it as the
/// manager of what it wrote (without one the API server says "unknown").
pub fn as_operator() -> kube::api::PatchParams {
    kube::api::PatchParams {
        field_manager: Some(MANAGER.into()),
        ..kube::api::PatchParams::default()
    }
}

/// `bot` as the API server has it now: `None` when it is gone, or when its
/// name now belongs to another object (another UID).
pub async fn current(api: &Api<MeetingBot>, bot: &MeetingBot) -> kube::Result<Option<MeetingBot>> {
    let now = api.get_opt(&bot.name_any()).await?;
    Ok(now.filter(|now| now.uid() == bot.uid()))
}
