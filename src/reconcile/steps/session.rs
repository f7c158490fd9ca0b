//! The step that reads the session's status.

use super::{Reconciler, Step};
use crate::Result;
use crate::api::BotRecord;
use crate::lemonslice::{Priority, SessionOutcome};
use crate::reconcile::decide::memo::Call;
use crate::reconcile::decide::plan::Learned;
use tracing::info;

impl Reconciler<'_> {
    pub(super) async fn check_session(&self, session_id: &str) -> Result<Step> {
        let api_key = match self.api_key(false).await {
            Ok(key) => key,
            Err(unmet) => return self.unmet(unmet),
        };
        // The read before a join is on a user's path; a joined bot's poll can wait.
        let priority = match self.bot.bot_record() {
            BotRecord::Joined(_) => Priority::Poll,
            _ => Priority::Meeting,
        };
        let admission = self.ctx.vendor.admit(priority).await;
        let outcome = self
            .counted(
                Call::Session,
                self.ctx
                    .vendor
                    .session_status(admission, &api_key, session_id),
            )
            .await;
        self.ctx.session_checked(&self.bot);
        if let SessionOutcome::Failed(failure) = &outcome {
            info!(failure = failure.describe(), "reading the session failed");
            self.ctx
                .record_failure(&self.bot, Call::Session, failure.clone());
        }
        Ok(self.learned(Learned::Session(outcome)))
    }
}
