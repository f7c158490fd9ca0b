//! The reconciler's Kubernetes writes: metadata patches fenced by the
//! resourceVersion a decision was made on, the status a plan settles on
//! (first of all the result of a join, which this process alone knows until
//! it lands), and Events.

use super::connection_secret;
use super::context::MANAGER;
use super::plan::{Ending, Notice};
use super::status;
use super::steps::{Reconciler, Step, Unmet};
use crate::api::{
    BotRecord, MeetingBot, MeetingBotStatus, Phase, RecordedBot, annotation, event, reason,
};
use crate::lemonslice::{self, LeaveOutcome, Priority};
use crate::{Result, is_conflict};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, Resource, ResourceExt};
use serde_json::json;
use std::time::{Duration, Instant};
use tracing::{error, info, warn};

/// After a write conflict, how soon to look again (the watch brings the newer object).
const CONFLICT_RETRY: Duration = Duration::from_millis(200);
/// How long to keep trying to record a bot id that join just returned: this
/// process holds the only copy, so it outlasts an API-server outage (a restart
/// of kube-apiserver took about a minute in `make chaos`).
const PERSIST_DEADLINE: Duration = Duration::from_secs(15 * 60);

impl Reconciler<'_> {
    /// A metadata merge patch that applies only to the version of the object
    /// this reconcile has seen: on a conflict, the reconcile starts over.
    pub(super) async fn patch_versioned(&self, patch: serde_json::Value) -> Result<Step> {
        self.fenced_patch(&self.bot, patch).await
    }

    /// A metadata merge patch that applies only to `seen`'s version.
    pub(super) async fn fenced_patch(
        &self,
        seen: &MeetingBot,
        mut patch: serde_json::Value,
    ) -> Result<Step> {
        patch["metadata"]["resourceVersion"] = json!(seen.resource_version());
        match self
            .api
            .patch(
                &seen.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            Ok(bot) => {
                self.ctx.own_writes.wrote(&bot);
                Ok(Step::Continue(bot, None))
            }
            Err(error) if is_conflict(&error) => Ok(Step::Stop(start_over())),
            Err(error) => Err(error.into()),
        }
    }

    /// Removes the record's copy (and what came with the bot) from status,
    /// which says the bot left and the next step is under way (not Ready: a
    /// replica that stops here must not leave a Ready without an avatar),
    /// applied only to `seen`'s version.
    pub(super) async fn clear_status_record(&self, seen: &MeetingBot) -> Result<Step> {
        let left = Ending::reconciling(
            Phase::Leaving,
            reason::LEAVING,
            "the avatar left the meeting; what the spec asks for comes next".into(),
        );
        let status = self.status_for(seen, &left);
        match self.write_status(seen, &status).await {
            Ok(bot) => Ok(Step::Continue(bot, None)),
            Err(error) if is_conflict(&error) => Ok(Step::Stop(start_over())),
            Err(error) => Err(error.into()),
        }
    }

    /// Replaces the status with `status`, applied only to `seen`'s version.
    ///
    /// A merge patch, not a server-side apply: the status is this operator's
    /// alone and the fence means the patch meets exactly `seen`, so a field
    /// `status` leaves out is sent as null; an apply costs the API server more
    /// per write, on the path to Ready of every bot.
    async fn write_status(
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
            .patch_status(
                &seen.name_any(),
                &PatchParams {
                    field_manager: Some(MANAGER.into()),
                    ..PatchParams::default()
                },
                &Patch::Merge(&patch),
            )
            .await?;
        self.ctx.own_writes.wrote(&written);
        Ok(written)
    }

    /// Writes the settled status when it differs from what is there, then
    /// publishes the state's Event when the state is new, and says when to look again.
    pub(super) async fn settle(&self, ending: Ending) -> Result<Action> {
        if let Some(joined) = &ending.joined {
            return self.persist_join(&ending, &joined.recorded).await;
        }
        let status = self.status_for(&self.bot, &ending);
        if self.bot.status.as_ref() != Some(&status) {
            // A reconcile that started from a stale cache must not overwrite a
            // newer status (and with it the record's copy or the websocket URL).
            match self.write_status(&self.bot, &status).await {
                Err(error) if is_conflict(&error) => return Ok(start_over()),
                written => written?,
            };
        }
        // Only once the status holds the new state: a reconcile from a stale
        // cache, refused above, must not announce a state that is not there.
        let previous_reason = status::ready_reason(self.bot.status.as_ref());
        if previous_reason != Some(ending.reason)
            && let Some(notice) = ending.event
        {
            let (type_, reason) = match notice {
                Notice::Normal(reason) => (EventType::Normal, reason),
                Notice::Warning(reason) => (EventType::Warning, reason),
            };
            self.publish(type_, reason, &ending.message).await;
        }
        Ok(requeue(&ending))
    }

    fn status_for(&self, seen: &MeetingBot, ending: &Ending) -> MeetingBotStatus {
        let now = Timestamp::now();
        let status = status::build(seen, ending, now, self.ctx.settings.redact_websocket_token);
        let memo = self.ctx.memo(&seen.uid().unwrap_or_default());
        connection_secret::with_condition(status, seen, memo.connection_secret.as_ref(), now)
    }

    /// Records a bot that just joined: its first copy, in status. This process
    /// holds the only other, so a refused write is tried again on the object
    /// as it is now, for as long as it still may be this bot's record; an
    /// object that is gone, or that meanwhile records another bot of its own,
    /// gets this bot taken out again rather than left behind unnamed.
    async fn persist_join(&self, ending: &Ending, recorded: &RecordedBot) -> Result<Action> {
        let deadline = Instant::now() + PERSIST_DEADLINE;
        let mut delay = Duration::from_millis(100);
        let mut seen = self.bot.clone();
        loop {
            let status = self.status_for(&seen, ending);
            let error = match self.write_status(&seen, &status).await {
                Ok(_) => break,
                Err(error) => error,
            };
            if Instant::now() >= deadline {
                error!(
                    meeting_bot_id = recorded.meeting_bot_id,
                    session_id = recorded.session_id,
                    "could not record the bot id; write it into the annotation {} by hand",
                    annotation::MEETING_BOT_ID
                );
                return Err(error.into());
            }
            if !is_conflict(&error) {
                warn!(%error, meeting_bot_id = recorded.meeting_bot_id, "could not record the bot id yet; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            match self.api.get_opt(&self.bot.name_any()).await {
                Ok(Some(now)) if now.uid() == self.bot.uid() => {
                    if let BotRecord::Joined(other) = now.bot_record()
                        && other.meeting_bot_id != recorded.meeting_bot_id
                    {
                        warn!(
                            meeting_bot_id = recorded.meeting_bot_id,
                            other = other.meeting_bot_id,
                            "the MeetingBot meanwhile records another bot: taking this one out"
                        );
                        return self.take_out_unrecorded(recorded).await;
                    }
                    seen = now;
                }
                Ok(_) => {
                    warn!(
                        meeting_bot_id = recorded.meeting_bot_id,
                        "the MeetingBot went away during its join: taking the bot out"
                    );
                    return self.take_out_unrecorded(recorded).await;
                }
                Err(error) => warn!(%error, "could not read the MeetingBot; retrying"),
            }
        }
        info!(
            meeting_bot_id = recorded.meeting_bot_id,
            "recorded the bot id"
        );
        self.publish_later(
            EventType::Normal,
            event::JOINED,
            format!(
                "the avatar joined the meeting as {}",
                recorded.meeting_bot_id
            ),
        );
        if let (Some(target), Some(joined)) = (
            &self.bot.spec.write_connection_secret_to_ref,
            &ending.joined,
        ) {
            self.write_connection_secret(&target.name, recorded, &joined.websocket_url)
                .await;
        }
        // The record's copy in the annotations follows in a reconcile of its
        // own, in the bookkeeping lane: this write's echo asks for none.
        Ok(Action::requeue(Duration::ZERO))
    }

    /// Leave for a bot that no object will record; a failure is logged with
    /// its id, the only place left to find it.
    async fn take_out_unrecorded(&self, recorded: &RecordedBot) -> Result<Action> {
        let left = match self.api_key(true).await {
            Ok(api_key) => {
                let admission = self.ctx.vendor.admit(Priority::Meeting).await;
                self.call_leave(admission, &api_key, recorded).await == LeaveOutcome::Left
            }
            Err(Unmet::Secret(_)) => false,
            Err(Unmet::Error(error)) => return Err(error),
        };
        if !left {
            error!(
                meeting_bot_id = recorded.meeting_bot_id,
                session_id = recorded.session_id,
                "could not take out a bot that no MeetingBot records; it stays until its session ends"
            );
        }
        Ok(Action::requeue(CONFLICT_RETRY))
    }

    /// Writes the bot's connection details into the Secret the spec names
    /// (see `connection_secret`: created, or updated only when this MeetingBot
    /// controls it). A failure is reported, not retried: the bot is in the
    /// meeting either way.
    async fn write_connection_secret(
        &self,
        name: &str,
        recorded: &RecordedBot,
        websocket_url: &lemonslice::WebsocketUrl,
    ) {
        let data = [
            ("websocketUrl".to_owned(), websocket_url.expose().to_owned()),
            ("meetingBotId".to_owned(), recorded.meeting_bot_id.clone()),
        ];
        let secrets: Api<Secret> = Api::namespaced(self.ctx.kube.clone(), &self.namespace);
        let written =
            connection_secret::write(&secrets, &self.bot, MANAGER, name, data.into()).await;
        if !written.ok() {
            warn!(
                secret = name,
                reason = written.reason(),
                message = written.message(),
                "connection Secret not written"
            );
            self.publish(EventType::Warning, written.reason(), &written.message())
                .await;
        }
        self.ctx.connection_secret_written(&self.bot, written);
    }

    pub(super) async fn publish(&self, type_: EventType, reason: &str, note: &str) {
        let regarding = self.bot.object_ref(&());
        self.ctx
            .events
            .publish(type_, reason, note, &regarding)
            .await;
    }

    /// Publishes an Event off the path to Ready (see `events`).
    fn publish_later(&self, type_: EventType, reason: &'static str, note: String) {
        let regarding = self.bot.object_ref(&());
        self.ctx
            .events
            .publish_later(type_, reason, note, regarding);
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

/// After a write refused because the object changed meanwhile: the watch
/// brings the newer object, and the reconcile starts over from it.
fn start_over() -> Action {
    info!("the object changed meanwhile; starting over");
    Action::requeue(CONFLICT_RETRY)
}

fn requeue(ending: &Ending) -> Action {
    ending
        .requeue
        .map_or_else(Action::await_change, Action::requeue)
}

#[cfg(test)]
mod tests {
    use super::*;

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
