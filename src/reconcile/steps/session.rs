//! The step that reads the session's status.

use super::{Reconciler, Step};
use crate::Result;
use crate::api::BotRecord;
use crate::lemonslice::{Admission, Failure, FailureKind, Priority, SecretString, SessionOutcome};
use crate::reconcile::decide::memo::Call;
use crate::reconcile::decide::plan::Learned;
use tracing::info;

impl Reconciler<'_> {
    pub(super) async fn check_session(&self, session_id: &str) -> Result<Step> {
        // The read before a join is on a user's path, with the key it will
        // join with; a joined bot's poll can wait, and uses the key it joined
        // with; so can the read that learns whether the session of a join
        // whose outcome is unknown ended.
        let record = self.bot.bot_record();
        let spec_key = self.bot.spec.api_key_secret_ref.as_ref();
        let (key, priority) = match &record {
            BotRecord::Joined(recorded) => {
                (recorded.api_key_secret_ref(&self.bot.spec), Priority::Poll)
            }
            BotRecord::JoinInFlight(_) => (spec_key, Priority::Poll),
            _ => (spec_key, Priority::Meeting),
        };
        let api_key = match self.api_key(key, false).await {
            Ok(key) => key,
            Err(unmet) => return self.unmet(unmet),
        };
        let admission = self.ctx.vendor.admit(priority).await;
        let outcome = self.read_session(admission, &api_key, session_id).await;
        Ok(self.learned(Learned::Session(outcome)))
    }

    /// Reads the session's status, and keeps what it says for the backoff
    /// and the next poll.
    pub(super) async fn read_session(
        &self,
        admission: Admission,
        api_key: &SecretString,
        session_id: &str,
    ) -> SessionOutcome {
        let outcome = self
            .counted(
                Call::Session,
                self.ctx
                    .vendor
                    .session_status(admission, api_key, session_id),
            )
            .await;
        self.ctx.session_checked(&self.bot);
        let outcome = match outcome {
            SessionOutcome::Failed(failure) if failure.kind == FailureKind::NotFound => {
                SessionOutcome::Failed(self.believed_not_found(api_key, failure).await)
            }
            outcome => outcome,
        };
        match &outcome {
            SessionOutcome::Status(_) => self.ctx.call_succeeded(&self.bot, Call::Session),
            SessionOutcome::Failed(failure) => {
                info!(failure = failure.describe(), "reading the session failed");
                self.ctx
                    .record_failure(&self.bot, Call::Session, failure.clone());
            }
        }
        outcome
    }

    /// A 404 (`not_found`) counts as one only when the account answers with
    /// the same key (as the vendor contract advises: a wrong base URL, or a
    /// key of another account, answers 404 too); otherwise the check's own
    /// failure, which proves nothing gone.
    pub(super) async fn believed_not_found(
        &self,
        api_key: &SecretString,
        not_found: Failure,
    ) -> Failure {
        match self.ctx.vendor.check_account(api_key).await {
            Ok(()) => not_found,
            Err(check) => Failure {
                kind: match check.kind {
                    FailureKind::NotFound => FailureKind::ServerError,
                    kind => kind,
                },
                detail: format!(
                    "answered 404, but the account check with the same key failed: {}",
                    check.detail
                ),
                ..check
            },
        }
    }
}
