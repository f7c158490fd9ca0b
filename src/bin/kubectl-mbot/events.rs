//! The latest Events about one MeetingBot.

use crate::connect::{Target, api_error};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Event;
use kube::Api;
use kube::api::ListParams;

/// One Event, as `status` shows it.
pub struct Shown {
    pub at: Timestamp,
    pub type_: String,
    pub reason: String,
    pub count: i32,
    pub message: String,
}

/// The Events whose object is `uid`, the latest `limit` of them, oldest first.
pub async fn latest(target: &Target, uid: &str, limit: usize) -> anyhow::Result<Vec<Shown>> {
    let events: Api<Event> = Api::namespaced(target.client.clone(), &target.namespace);
    let list = events
        .list(&ListParams::default().fields(&format!("involvedObject.uid={uid}")))
        .await
        .map_err(|e| api_error(e, "listing Events"))?;
    let mut shown: Vec<Shown> = list.items.into_iter().map(shown).collect();
    shown.sort_by_key(|e| e.at);
    let skip = shown.len().saturating_sub(limit);
    Ok(shown.into_iter().skip(skip).collect())
}

/// When `event` last happened: its series' latest, else its own times.
pub fn last_seen(event: &Event) -> Option<Timestamp> {
    event
        .series
        .as_ref()
        .and_then(|s| s.last_observed_time.as_ref().map(|t| t.0))
        .or(event.last_timestamp.as_ref().map(|t| t.0))
        .or(event.event_time.as_ref().map(|t| t.0))
        .or(event.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

fn shown(event: Event) -> Shown {
    let at = last_seen(&event).unwrap_or(Timestamp::UNIX_EPOCH);
    let count = event
        .series
        .as_ref()
        .and_then(|s| s.count)
        .or(event.count)
        .unwrap_or(1);
    Shown {
        at,
        type_: event.type_.unwrap_or_default(),
        reason: event.reason.unwrap_or_default(),
        count,
        message: event.message.unwrap_or_default(),
    }
}
