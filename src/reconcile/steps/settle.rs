//! Ending a reconcile: the status a plan settles on, and first of all the
//! result of a join, which this process alone knows until it lands (so it is
//! retried for as long as it may still be this bot's record, and a bot no
//! object will record is taken out again), with the connection Secret that
//! follows it.

use super::{CONFLICT_RETRY, Reconciler, start_over};
use crate::Result;
use crate::api::{BotRecord, MeetingBot, MeetingBotStatus, RecordedBot, annotation, event};
use crate::is_conflict;
use crate::lemonslice::{self, LeaveOutcome, Priority};
use crate::reconcile::cluster::{Unmet, connection_secret, current};
use crate::reconcile::decide::plan::{Ending, Notice};
use crate::reconcile::decide::{connection_secret::with_condition, status};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};
use std::time::{Duration, Instant};
use tracing::{error, info, warn};

/// How long to keep trying to record a bot id that join just returned: this
/// process holds the only copy, so it outlasts an API-server outage (a restart
/// of kube-apiserver took about a minute in `make chaos`).
const PERSIST_DEADLINE: Duration = Duration::from_secs(15 * 60);

impl Reconciler<'_> {
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
            match self.writes().replace_status(&self.bot, &status).await {
                Err(error) if is_conflict(&error) => return Ok(start_over()),
                written => written?,
            };
        }
        // Only once the status holds the new state: a reconcile from a stale
        // cache, refused above, must not announce a state that is not there.
        let previous_reason = self.bot.status.as_ref().and_then(|s| s.ready_reason());
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

    pub(super) fn status_for(&self, seen: &MeetingBot, ending: &Ending) -> MeetingBotStatus {
        let now = Timestamp::now();
        let settings = &self.ctx.settings;
        let status = status::build(
            seen,
            ending,
            now,
            settings.redact_websocket_token,
            &settings.install,
        );
        let memo = self.ctx.memo(&seen.uid().unwrap_or_default());
        with_condition(status, seen, memo.seldom().connection_secret.as_ref(), now)
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
            // What the join was decided for: a spec changed meanwhile is not
            // acted on yet, so status must not say it was observed.
            let mut decided_for = seen.clone();
            decided_for.metadata.generation = self.bot.metadata.generation;
            let status = self.status_for(&decided_for, ending);
            let error = match self.writes().replace_status(&seen, &status).await {
                Ok(_) => break,
                Err(error) => error,
            };
            if Instant::now() >= deadline {
                error!(
                    meeting_bot_id = recorded.meeting_bot_id,
                    session_id = recorded.session_id,
                    "could not record the bot id; adopt it with `kubectl mbot adopt` (the annotation {})",
                    annotation::ADOPT
                );
                return Err(error.into());
            }
            if !is_conflict(&error) {
                warn!(%error, meeting_bot_id = recorded.meeting_bot_id, "could not record the bot id yet; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            match current(&self.api, &self.bot).await {
                Ok(Some(now)) => {
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
                Ok(None) => {
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
            match &joined.websocket_url {
                Some(url) => {
                    self.write_connection_secret(&target.name, recorded, url)
                        .await
                }
                None => {
                    let written = connection_secret::Written {
                        secret: target.name.clone(),
                        outcome: connection_secret::Outcome::NoWebsocketUrl,
                    };
                    self.publish(EventType::Warning, written.reason(), &written.message())
                        .await;
                    self.ctx.connection_secret_written(&self.bot, written);
                }
            }
        }
        // The record's copy in the annotations follows in a reconcile of its
        // own, in the bookkeeping lane: this write's echo asks for none.
        Ok(Action::requeue(Duration::ZERO))
    }

    /// Leave for a bot that no object will record; a failure is logged with
    /// its id, the only place left to find it.
    pub(super) async fn take_out_unrecorded(&self, recorded: &RecordedBot) -> Result<Action> {
        let left = match self
            .api_key(recorded.api_key_secret_ref(&self.bot.spec), true)
            .await
        {
            Ok(api_key) => {
                let admission = self.ctx.vendor.admit(Priority::Meeting).await;
                // No record is left to keep: a 404 that the account confirms is
                // taken as the bot gone, since nothing could ask again later.
                matches!(
                    self.call_leave(admission, &api_key, recorded).await,
                    LeaveOutcome::Left | LeaveOutcome::NotFound(_)
                )
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
        let written = connection_secret::write(&secrets, &self.bot, name, data.into()).await;
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
}

fn requeue(ending: &Ending) -> Action {
    ending
        .requeue
        .map_or_else(Action::await_change, Action::requeue)
}
