//! The steps that write the record of a bot, and the finalizer that comes
//! with it: record, forget, let go.

use super::{Reconciler, Step};
use crate::Result;
use crate::api::{
    BotRecord, FINALIZER, RecordedBot, annotation, event, forgotten_annotations, joined_annotations,
};
use crate::reconcile::decide::plan::{Learned, LeavePurpose};
use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use serde_json::json;
use tracing::info;

impl Reconciler<'_> {
    /// Adds the finalizer to an object that may have a bot in a meeting.
    pub(super) async fn add_finalizer(&self) -> Result<Step> {
        self.patch_versioned(json!({ "metadata": { "finalizers": self.with_finalizer() } }))
            .await
    }

    /// Clears a join-in-flight record whose call was never sent.
    pub(super) async fn clear_unsent_join(&self) -> Result<Step> {
        info!("clearing the record of a join that made no bot");
        self.clear_join_in_flight().await
    }

    /// Clears the record of a join whose outcome was never learned, once
    /// its session ended: any bot it made left the meeting with it.
    pub(super) async fn clear_ended_join(&self, session_id: &str) -> Result<Step> {
        info!(
            session_id,
            "the session of a join whose outcome was never learned ended: clearing the join's record"
        );
        let step = self.clear_join_in_flight().await?;
        if let Step::Continue(..) = step {
            self.publish_later(
                EventType::Normal,
                event::UNKNOWN_JOIN_ENDED,
                format!(
                    "session {session_id} ended, and with it any avatar of the join whose outcome was \
                     never learned: the join's record is cleared"
                ),
            );
        }
        Ok(step)
    }

    async fn clear_join_in_flight(&self) -> Result<Step> {
        self.patch_versioned(json!({
            "metadata": { "annotations": { annotation::JOIN_IN_FLIGHT: null } }
        }))
        .await
    }

    /// Lets the object go, saying so when a join's outcome was never learned.
    pub(super) async fn let_go(&self, unknown_join: bool) -> Result<Step> {
        if unknown_join {
            self.publish(
                EventType::Warning,
                event::JOIN_OUTCOME_UNKNOWN,
                "deleted while a join's outcome was unknown: if a bot joined, it stays until the session ends",
            )
            .await;
        }
        self.remove_finalizer().await
    }

    pub(super) async fn remove_finalizer(&self) -> Result<Step> {
        // The spec's key, and the one the bot joined with if the spec names another now.
        let spec_key = self.bot.spec.api_key_secret_ref.as_ref();
        self.hold_api_key(spec_key, false).await?;
        if let BotRecord::Joined(recorded) = self.bot.bot_record()
            && recorded.api_key_secret_ref(&self.bot.spec) != spec_key
        {
            self.hold_api_key(recorded.api_key_secret_ref(&self.bot.spec), false)
                .await?;
        }
        let finalizers: Vec<&String> = self
            .bot
            .finalizers()
            .iter()
            .filter(|f| *f != FINALIZER)
            .collect();
        self.ctx.letting_go(&self.bot.uid().unwrap_or_default());
        match self
            .patch_versioned(json!({ "metadata": { "finalizers": finalizers } }))
            .await?
        {
            Step::Continue(..) => {
                self.ctx.let_go_of(&self.bot);
                Ok(Step::Stop(Action::await_change()))
            }
            stop => Ok(stop),
        }
    }

    /// Writes the record into the annotations (with the finalizer): the copy
    /// that survives a restore without status.
    pub(super) async fn record(&self, recorded: &RecordedBot) -> Result<Step> {
        let mut patch = json!({ "metadata": {
            "annotations": annotation_patch(joined_annotations(recorded)),
        }});
        if !self.bot.has_finalizer() {
            patch["metadata"]["finalizers"] = json!(self.with_finalizer());
        }
        self.patch_versioned(patch).await
    }

    /// Drops the record without calling leave (skip-leave, or a bot this
    /// process saw leave). A skip-leave used up on a rejoin is cleared with
    /// the record, so that it lets go of this bot only, not of every later one.
    pub(super) async fn forget_without_leave(
        &self,
        recorded: RecordedBot,
        purpose: LeavePurpose,
    ) -> Result<Step> {
        info!(
            meeting_bot_id = recorded.meeting_bot_id,
            "forgetting the bot without leave"
        );
        let used_up = (self.bot.skip_leave() && purpose != LeavePurpose::Delete)
            .then_some(annotation::SKIP_LEAVE);
        self.forget_clearing(recorded, purpose, used_up).await
    }

    /// Clears the record after the bot left (or was let go): from the
    /// annotations, then from status, each write fenced. Between the two, or
    /// after a refused second write, the copy left over only costs one more
    /// leave, which answers 404.
    pub(super) async fn forget(
        &self,
        recorded: RecordedBot,
        purpose: LeavePurpose,
    ) -> Result<Step> {
        self.forget_clearing(recorded, purpose, None).await
    }

    /// [`Self::forget`], removing the annotation `also` in the same write.
    async fn forget_clearing(
        &self,
        recorded: RecordedBot,
        purpose: LeavePurpose,
        also: Option<&'static str>,
    ) -> Result<Step> {
        let mut annotations = forgotten_annotations();
        annotations.extend(also.map(|key| (key, None)));
        if purpose == LeavePurpose::Complete {
            annotations.insert(
                annotation::COMPLETED_SPEC,
                Some(self.bot.spec.join_fingerprint()),
            );
        }
        let patch = json!({ "metadata": { "annotations": annotation_patch(annotations) } });
        let bot = match self.patch_versioned(patch).await? {
            Step::Continue(bot, _) => bot,
            stop => return Ok(stop),
        };
        let bot = match self.clear_status_record(&bot).await? {
            Step::Continue(bot, _) => bot,
            stop => return Ok(stop),
        };
        self.hold_api_key(recorded.api_key_secret_ref(&self.bot.spec), false)
            .await?;
        Ok(Step::Continue(
            bot,
            Some(Learned::Left(purpose, recorded.meeting_bot_id)),
        ))
    }
}

/// A merge-patch fragment of annotations: `None` removes one.
fn annotation_patch(
    annotations: impl IntoIterator<Item = (&'static str, Option<String>)>,
) -> serde_json::Map<String, serde_json::Value> {
    annotations
        .into_iter()
        .map(|(key, value)| (key.to_owned(), json!(value)))
        .collect()
}
