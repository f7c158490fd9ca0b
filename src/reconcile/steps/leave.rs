//! The leave step: call leave, then forget the bot or let the object go.

use super::{Reconciler, Step};
use crate::Result;
use crate::api::{RecordedBot, event};
use crate::lemonslice::{Admission, Failure, FailureKind, LeaveOutcome, SecretString};
use crate::reconcile::decide::leave::not_found_proves_left;
use crate::reconcile::decide::memo::Call;
use crate::reconcile::decide::plan::LeavePurpose;
use jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use tracing::{info, warn};

impl Reconciler<'_> {
    pub(super) async fn leave(&self, recorded: RecordedBot, purpose: LeavePurpose) -> Result<Step> {
        self.turn.take_back().await;
        let api_key = match self
            .api_key(recorded.api_key_secret_ref(&self.bot.spec), true)
            .await
        {
            Ok(key) => key,
            Err(unmet) => return self.unmet(unmet),
        };
        let Some(admission) = self.admit_meeting_call().await else {
            return Ok(Step::Stop(Action::await_change()));
        };
        if purpose == LeavePurpose::Rejoin {
            self.publish(
                EventType::Normal,
                event::REJOINING,
                &format!(
                    "the spec changed: bot {} leaves, then a new one joins",
                    recorded.meeting_bot_id
                ),
            )
            .await;
        }
        self.turn.step_aside();
        let outcome = match self.call_leave(admission, &api_key, &recorded).await {
            LeaveOutcome::NotFound(_) if self.not_found_proves_left(&recorded) => {
                info!(
                    meeting_bot_id = recorded.meeting_bot_id,
                    "leave answered 404 again, and the account answers: the bot is gone"
                );
                LeaveOutcome::Left
            }
            outcome => outcome,
        };
        match outcome {
            LeaveOutcome::Left => {
                self.ctx.forget_failures(&self.bot);
                self.ctx
                    .saw_leave(&self.bot, &recorded.meeting_bot_id, purpose);
                // Off the path to gone: a deletion waits for its own write only.
                self.publish_later(
                    EventType::Normal,
                    event::LEFT,
                    format!("bot {} left the meeting", recorded.meeting_bot_id),
                );
                match purpose {
                    LeavePurpose::Delete => self.remove_finalizer().await,
                    LeavePurpose::Rejoin
                    | LeavePurpose::Suspend
                    | LeavePurpose::Complete
                    | LeavePurpose::HandOver => self.forget(recorded, purpose).await,
                }
            }
            LeaveOutcome::NotFound(failure)
            | LeaveOutcome::Retryable(failure)
            | LeaveOutcome::Refused(failure) => {
                warn!(failure = failure.describe(), "leave failed");
                self.ctx.record_failure(&self.bot, Call::Leave, failure);
                Ok(Step::Continue(self.bot.clone(), None))
            }
        }
    }

    /// Whether this leave's 404 proves the bot gone (see `not_found_proves_left`).
    fn not_found_proves_left(&self, recorded: &RecordedBot) -> bool {
        let memo = self.ctx.memo(&self.bot.uid().unwrap_or_default());
        let earlier = memo.current(self.bot.metadata.generation, Call::Leave);
        not_found_proves_left(&self.bot, recorded, earlier, Timestamp::now())
    }

    /// Calls leave and counts it. A 404 is [`LeaveOutcome::NotFound`] only
    /// when the account answers with the same key (else it is retried), and
    /// never for an object outside this install's scope (one it hands over,
    /// see `handover`): another install under the same `--install-id` (a
    /// misconfiguration, but a quiet one) may have joined it through another
    /// account or base URL, where a 404 proves nothing, and believing it would
    /// drop the record or the finalizer of a bot that is still in its meeting.
    pub(super) async fn call_leave(
        &self,
        admission: Admission,
        api_key: &SecretString,
        recorded: &RecordedBot,
    ) -> LeaveOutcome {
        let outcome = self
            .counted(
                Call::Leave,
                self.ctx.vendor.leave(
                    admission,
                    api_key,
                    &recorded.session_id,
                    &recorded.meeting_bot_id,
                ),
            )
            .await;
        let outcome = match outcome {
            // Logged, shown and evented as any refused leave (see `leave`);
            // no 404 that counts toward a bot gone, and not asked again soon.
            LeaveOutcome::NotFound(failure) if !self.in_scope => LeaveOutcome::Refused(Failure {
                kind: FailureKind::Conflict,
                detail: format!(
                    "answered 404 for a MeetingBot outside this install's scope: not believed, as \
                     another install under the same install id may have joined it; {}",
                    failure.detail
                ),
                ..failure
            }),
            LeaveOutcome::NotFound(failure) => {
                let believed = self.believed_not_found(api_key, failure).await;
                if believed.kind == FailureKind::NotFound {
                    LeaveOutcome::NotFound(believed)
                } else {
                    LeaveOutcome::Retryable(believed)
                }
            }
            outcome => outcome,
        };
        if outcome == LeaveOutcome::Left {
            info!(meeting_bot_id = recorded.meeting_bot_id, "left");
        }
        outcome
    }
}
