//! Writes of a MeetingBot fenced by the resourceVersion a decision was made
//! on: a writer with an older view (a stale cache, a replica on its way out)
//! is refused with a conflict instead of overwriting a newer object. Each
//! write's result is remembered as this process's own (see `own_writes`).

use super::as_operator;
use crate::api::{MeetingBot, MeetingBotStatus};
use crate::reconcile::schedule::OwnWrites;
use kube::api::Patch;
use kube::{Api, ResourceExt};
use serde_json::json;

/// The writes of one reconcile to the MeetingBots of one namespace.
pub struct BotWrites<'a> {
    pub api: Api<MeetingBot>,
    pub own_writes: &'a OwnWrites,
}

impl BotWrites<'_> {
    /// A metadata merge patch that applies only to `seen`'s version.
    pub async fn patch(
        &self,
        seen: &MeetingBot,
        mut patch: serde_json::Value,
    ) -> kube::Result<MeetingBot> {
        patch["metadata"]["resourceVersion"] = json!(seen.resource_version());
        let written = self
            .api
            .patch(&seen.name_any(), &as_operator(), &Patch::Merge(&patch))
            .await?;
        self.own_writes.wrote(&written);
        Ok(written)
    }

    /// Replaces the status with `status`, applied only to `seen`'s version.
    ///
    /// A merge patch, not a server-side apply: the status is this operator's
    /// alone and the fence means the patch meets exactly `seen`, so a field
    /// `status` leaves out is sent as null; an apply costs the API server more
    /// per write, on the path to Ready of every bot.
    pub async fn replace_status(
        &self,
        seen: &MeetingBot,
        status: &MeetingBotStatus,
    ) -> kube::Result<MeetingBot> {
        let patch = json!({
            "metadata": { "resourceVersion": seen.resource_version() },
            "status": status_replacing(seen.status.as_ref(), status),
        });
        let written = self
            .api
            .patch_status(&seen.name_any(), &as_operator(), &Patch::Merge(&patch))
            .await?;
        self.own_writes.wrote(&written);
        Ok(written)
    }
}

/// The merge patch that turns status `old` into `new`: `new`, and null for
/// each field only `old` has (a merge patch replaces lists whole, and no field
/// of status is a map).
fn status_replacing(old: Option<&MeetingBotStatus>, new: &MeetingBotStatus) -> serde_json::Value {
    let mut patch = json!(new);
    if let (Some(serde_json::Value::Object(old)), serde_json::Value::Object(fields)) =
        (old.map(|old| json!(old)), &mut patch)
    {
        for gone in old.into_iter().map(|(key, _)| key) {
            fields.entry(gone).or_insert(serde_json::Value::Null);
        }
    }
    patch
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Phase;

    #[test]
    fn a_status_patch_removes_what_the_new_status_leaves_out() {
        let old = MeetingBotStatus {
            phase: Some(Phase::Joined),
            meeting_bot_id: Some("bot-1".into()),
            websocket_url: Some("wss://example/ws?token=t".into()),
            ..MeetingBotStatus::default()
        };
        let new = MeetingBotStatus {
            phase: Some(Phase::Leaving),
            ..MeetingBotStatus::default()
        };
        assert_eq!(
            status_replacing(Some(&old), &new),
            json!({ "phase": "Leaving", "meetingBotId": null, "websocketUrl": null })
        );
        assert_eq!(status_replacing(None, &new), json!({ "phase": "Leaving" }));
    }
}
