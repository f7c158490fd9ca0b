//! The claim that makes this install the one acting on an object, and what
//! it does with an object another install acts on: nothing, said once.

use super::{Reconciler, Step, start_over};
use crate::api::{BotRecord, FINALIZER, MeetingBotStatus, Phase, event, reason};
use crate::reconcile::decide::plan::Ending;
use crate::{Result, is_conflict};
use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use tracing::info;

impl Reconciler<'_> {
    /// Stamps this install into status, fenced by the version seen: an
    /// object's status so far is kept (an object of an older operator stays
    /// Ready), a new object shows that it is on its way.
    pub(super) async fn claim(&self) -> Result<Step> {
        let install = &self.ctx.settings.install;
        let status = match &self.bot.status {
            Some(current) => MeetingBotStatus {
                install: Some(install.clone()),
                ..current.clone()
            },
            None => self.status_for(
                &self.bot,
                &Ending::reconciling(
                    Phase::Pending,
                    reason::CLAIMED,
                    format!("the operator install {install} acts on this MeetingBot"),
                ),
            ),
        };
        match self.writes().replace_status(&self.bot, &status).await {
            Ok(bot) => Ok(Step::Continue(bot, None)),
            Err(error) if is_conflict(&error) => Ok(Step::Stop(start_over())),
            Err(error) => Err(error.into()),
        }
    }

    /// Another install acts on the object: no call, no write; a Warning the
    /// first time this process meets it, since a person may have expected
    /// this install to act (its scope holds the object).
    pub(super) async fn leave_to_install(&self, install: &str) -> Step {
        if self.ctx.first_seen_acting_elsewhere(&self.bot, install) {
            let own = &self.ctx.settings.install;
            info!(
                acting_install = install,
                "another install acts on this MeetingBot"
            );
            let note = format!(
                "the operator install {install} acts on this MeetingBot (status.install), so the install \
                 {own}, whose scope also holds it, makes no call and no write for it, deletion included. If \
                 {install} is gone for good, have {own} act on it, leave included: kubectl patch meetingbot \
                 {name} --subresource=status --type=merge -p '{{\"status\":{{\"install\":\"{own}\"}}}}'",
                name = self.bot.name_any(),
            );
            self.publish(EventType::Warning, event::OTHER_INSTALL, &note)
                .await;
        }
        Step::Stop(Action::await_change())
    }
}

impl Reconciler<'_> {
    /// Lets go of an object that left this install's scope: status without
    /// this install's stamp, saying so. A record stays, for the install that
    /// takes the object over to leave with the key Secret it names.
    pub(super) async fn release(&self) -> Result<Action> {
        let own = &self.ctx.settings.install;
        let recorded = match self.bot.bot_record() {
            BotRecord::Joined(recorded) => Some(recorded),
            _ => None,
        };
        let phase = self
            .bot
            .status
            .as_ref()
            .and_then(|status| status.phase)
            .unwrap_or(Phase::Pending);
        let selector = self
            .ctx
            .settings
            .label_selector
            .as_deref()
            .unwrap_or_default();
        let (kept, stays) = match &recorded {
            Some(recorded) => (
                format!(
                    ", with its record of bot {}, which the key it joined with takes out",
                    recorded.meeting_bot_id
                ),
                format!(
                    ": bot {} then stays until its session ends",
                    recorded.meeting_bot_id
                ),
            ),
            None => (String::new(), String::new()),
        };
        let message = format!(
            "this MeetingBot left the scope of the operator install {own} (its label selector {selector} \
             no longer matches), which let it go{kept}. The install whose scope holds it takes it over; \
             until one does, nothing acts on it and deleting it waits (or remove the finalizer {FINALIZER} \
             by hand{stays})"
        );
        let ending = Ending::stalled(phase, reason::LEFT_SCOPE, message.clone()).showing(recorded);
        let mut status = self.status_for(&self.bot, &ending);
        status.install = None;
        match self.writes().replace_status(&self.bot, &status).await {
            Ok(_) => {}
            Err(error) if is_conflict(&error) => return Ok(start_over()),
            Err(error) => return Err(error.into()),
        }
        info!("the MeetingBot left this install's scope: let go");
        self.publish(EventType::Normal, event::LEFT_SCOPE, &message)
            .await;
        Ok(Action::await_change())
    }
}
