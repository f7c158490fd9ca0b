//! One reconcile as a recipe: ask `decide` for the next step, carry it out
//! (one vendor call or one Kubernetes write), and plan again until the plan
//! settles: a file per step (`join`, `leave`, `session`, `record` for the
//! writes of the record and the finalizer, and `settle` for the ending and
//! the recording of a join). The fenced writes themselves are the cluster's.

mod gone;
mod handover;
mod install;
mod join;
mod leave;
mod record;
mod session;
mod settle;
#[cfg(test)]
mod tests;

pub use gone::take_out_after_deletion;
pub use handover::hand_over_strays;

use crate::api::{ApiKeySecretRef, BotRecord, FINALIZER, MeetingBot, Phase, reason};
use crate::lemonslice::{Admission, Answered, Priority, SecretString};
use crate::reconcile::cluster::{BotWrites, SecretKeyRef, Unmet};
use crate::reconcile::context::Context;
use crate::reconcile::decide::memo::Call;
use crate::reconcile::decide::plan::{Ending, Learned, Plan};
use crate::reconcile::decide::{Facts, decide};
use crate::reconcile::schedule::Turn;
use crate::{Error, Result, is_conflict};
use jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, Resource, ResourceExt};
use std::future::Future;
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// After a write conflict, how soon to look again (the watch brings the newer object).
const CONFLICT_RETRY: Duration = Duration::from_millis(200);

/// A reconcile that keeps planning steps past this many is cut short and requeued.
const MAX_STEPS: usize = 8;

/// What one step of a reconcile led to.
#[allow(
    clippy::large_enum_variant,
    reason = "one short-lived value per step; boxing buys nothing"
)]
enum Step {
    /// Plan again with this object (and what the step learned).
    Continue(MeetingBot, Option<Learned>),
    /// End the reconcile.
    Stop(Action),
}

impl Step {
    /// This step, still knowing `learned` when it learned nothing itself.
    fn keeping(self, learned: Option<Learned>) -> Step {
        match self {
            Step::Continue(bot, None) => Step::Continue(bot, learned),
            step => step,
        }
    }
}

pub(super) struct Reconciler<'a> {
    ctx: &'a Context,
    /// This reconcile's turn (see `lanes`): given up while a join or leave is out.
    turn: &'a Turn,
    api: Api<MeetingBot>,
    namespace: String,
    /// The object as this reconcile last saw or wrote it: every write of the
    /// record is conditional on its resourceVersion.
    bot: MeetingBot,
    /// Whether the object is in this install's scope (see `handover`).
    in_scope: bool,
}

impl<'a> Reconciler<'a> {
    pub(super) fn new(bot: &MeetingBot, ctx: &'a Context, turn: &'a Turn) -> Result<Self> {
        let namespace = bot.namespace().ok_or(Error::MissingNamespace)?;
        // Not from a cache older than this process's own last write of it.
        let bot = ctx
            .own_writes
            .newer_than(bot)
            .unwrap_or_else(|| bot.clone());
        Ok(Reconciler {
            ctx,
            turn,
            api: Api::namespaced(ctx.kube.clone(), &namespace),
            namespace,
            bot,
            in_scope: true,
        })
    }

    pub(super) async fn run(mut self) -> Result<Action> {
        let mut learned = None;
        for _ in 0..MAX_STEPS {
            let uid = self.bot.uid().unwrap_or_default();
            let memo = self.ctx.memo(&uid);
            // The bot this object's record names, or else the one it asks to adopt.
            let claimed = match self.bot.bot_record() {
                BotRecord::Joined(recorded) => Some(recorded.meeting_bot_id),
                BotRecord::None | BotRecord::JoinInFlight(_) => self
                    .bot
                    .adopt_request()
                    .and_then(Result::ok)
                    .map(|request| request.meeting_bot_id),
                BotRecord::Foreign { .. } | BotRecord::Conflict { .. } => None,
            };
            let recorded_elsewhere =
                claimed.is_some_and(|id| self.ctx.recorded_ids.elsewhere(&id, &uid));
            let plan = decide(&Facts {
                bot: &self.bot,
                memo: &memo,
                now: Timestamp::now(),
                retry_unknown_joins: self.ctx.settings.retry_unknown_joins,
                just_learned: learned.as_ref(),
                recorded_elsewhere,
                session_poll: self.ctx.settings.session_poll,
                session_checked_at: memo.session_checked_at.unwrap_or(self.ctx.started_at),
                install: &self.ctx.settings.install,
                in_scope: self.in_scope,
            });
            let step = match plan {
                Plan::Claim => self.claim().await?.keeping(learned.take()),
                Plan::LeaveToInstall { install } => self.leave_to_install(&install).await,
                Plan::Release => Step::Stop(self.release().await?),
                Plan::AddFinalizer => self.add_finalizer().await?,
                Plan::CheckSession { session_id } => self.check_session(&session_id).await?,
                Plan::Join(attempt) => self.join(attempt, false).await?,
                Plan::ClaimAndJoin(attempt) => self.join(attempt, true).await?,
                Plan::Leave { recorded, purpose } => self.leave(recorded, purpose).await?,
                Plan::Forget { recorded, purpose } => {
                    self.forget_without_leave(recorded, purpose).await?
                }
                Plan::Record(recorded) => self.record(&recorded).await?,
                // What was learned before the join was dropped still decides
                // (and so through the claim that comes first for a new object).
                Plan::ClearUnsentJoin => self.clear_unsent_join().await?.keeping(learned.take()),
                Plan::ClearEndedJoin {
                    session_id,
                    keep_learned,
                } => {
                    let learned = learned.take().filter(|_| keep_learned);
                    self.clear_ended_join(&session_id).await?.keeping(learned)
                }
                Plan::RemoveFinalizer { unknown_join } => self.let_go(unknown_join).await?,
                Plan::Settle(ending) => Step::Stop(self.settle(ending).await?),
            };
            match step {
                Step::Continue(bot, new_learned) => {
                    self.bot = bot;
                    learned = new_learned;
                }
                Step::Stop(action) => return Ok(action),
            }
        }
        warn!("reconcile did not settle in {MAX_STEPS} steps; trying again shortly");
        Ok(Action::requeue(Duration::from_secs(1)))
    }

    /// The object's finalizers with ours.
    fn with_finalizer(&self) -> Vec<String> {
        let mut finalizers = self.bot.finalizers().to_vec();
        if !finalizers.iter().any(|f| f == FINALIZER) {
            finalizers.push(FINALIZER.to_owned());
        }
        finalizers
    }

    /// Holds (or releases) this MeetingBot's share of a per-bot API key
    /// Secret (the spec's, or the one a bot joined with); nothing to do with
    /// the operator's own key.
    async fn hold_api_key(&self, key: Option<&ApiKeySecretRef>, hold: bool) -> Result<()> {
        let Some(at) = self.api_key_at(key) else {
            return Ok(());
        };
        let uid = self.bot.uid().unwrap_or_default();
        self.ctx.secrets.hold_key(&at, &uid, hold).await
    }

    /// A place under the vendor bound for a call that changes a meeting, if
    /// this process may start one; when it may not (it is stopping, or its
    /// Lease is not fresh), the step waits.
    async fn admit_meeting_call(&self) -> Option<Admission> {
        let admission = self.ctx.vendor.admit(Priority::Meeting).await;
        let open = self.ctx.gate.is_open();
        if !open {
            info!("not starting a vendor call: this replica is stopping or no longer leads");
        }
        open.then_some(admission)
    }

    /// An API key: the one in the Secret `key` names, or the operator's.
    /// A join uses the spec's; leave and a joined bot's session reads use the
    /// one the bot joined with.
    async fn api_key(
        &self,
        key: Option<&ApiKeySecretRef>,
        for_leave: bool,
    ) -> Result<SecretString, Unmet> {
        let Some(at) = self.api_key_at(key) else {
            return Ok(self.ctx.operator_key.current().await?);
        };
        let key = if for_leave {
            self.ctx.secrets.read_api_key_for_leave(&at).await?
        } else {
            self.ctx.secrets.read_api_key(&at).await?
        };
        Ok(key)
    }

    /// The step that follows a need its inputs left unmet.
    fn unmet(&self, unmet: Unmet) -> Result<Step> {
        match unmet {
            Unmet::Secret(problem) => Ok(self.learned(Learned::SecretMissing(problem))),
            Unmet::Error(error) => Err(error),
        }
    }

    /// Makes a vendor call, counted by its kind, the class of its answer and
    /// its latency.
    async fn counted<A: Answered>(&self, call: Call, request: impl Future<Output = A>) -> A {
        let started = Instant::now();
        let outcome = request.await;
        self.ctx
            .metrics
            .called(call, outcome.http_code(), started.elapsed());
        outcome
    }

    /// Where an API key of this bot's is kept, if it has one of its own
    /// (else the operator's key serves).
    fn api_key_at(&self, key: Option<&ApiKeySecretRef>) -> Option<SecretKeyRef> {
        let reference = key?;
        Some(self.secret_at(&reference.name, &reference.key))
    }

    /// A key of a Secret in this MeetingBot's namespace.
    fn secret_at(&self, name: &str, key: &str) -> SecretKeyRef {
        SecretKeyRef {
            namespace: self.namespace.clone(),
            name: name.to_owned(),
            key: key.to_owned(),
        }
    }

    fn learned(&self, learned: Learned) -> Step {
        Step::Continue(self.bot.clone(), Some(learned))
    }

    /// This reconcile's fenced writes of MeetingBots.
    fn writes(&self) -> BotWrites<'_> {
        BotWrites {
            api: self.api.clone(),
            own_writes: &self.ctx.own_writes,
        }
    }

    /// A metadata merge patch that applies only to the version of the object
    /// this reconcile has seen: on a conflict, the reconcile starts over.
    async fn patch_versioned(&self, patch: serde_json::Value) -> Result<Step> {
        self.fenced_patch(&self.bot, patch).await
    }

    /// A metadata merge patch that applies only to `seen`'s version.
    async fn fenced_patch(&self, seen: &MeetingBot, patch: serde_json::Value) -> Result<Step> {
        match self.writes().patch(seen, patch).await {
            Ok(bot) => Ok(Step::Continue(bot, None)),
            Err(error) if is_conflict(&error) => Ok(Step::Stop(start_over())),
            Err(error) => Err(error.into()),
        }
    }

    /// Removes the record's copy (and what came with the bot) from status,
    /// which says the bot left and the next step is under way (not Ready: a
    /// replica that stops here must not leave a Ready without an avatar),
    /// applied only to `seen`'s version.
    async fn clear_status_record(&self, seen: &MeetingBot) -> Result<Step> {
        let left = Ending::reconciling(
            Phase::Leaving,
            reason::LEAVING,
            "the avatar left the meeting; what the spec asks for comes next".into(),
        );
        let status = self.status_for(seen, &left);
        match self.writes().replace_status(seen, &status).await {
            Ok(bot) => Ok(Step::Continue(bot, None)),
            Err(error) if is_conflict(&error) => Ok(Step::Stop(start_over())),
            Err(error) => Err(error.into()),
        }
    }

    async fn publish(&self, type_: EventType, reason: &str, note: &str) {
        let regarding = self.bot.object_ref(&());
        self.ctx
            .events
            .publish(type_, reason, note, &regarding)
            .await;
    }

    /// Publishes an Event off the path to Ready (see `events`).
    fn publish_later(&self, type_: EventType, reason: &'static str, note: String) {
        self.ctx
            .events
            .publish_later(type_, reason, note, &self.bot);
    }
}

/// After a write refused because the object changed meanwhile: the watch
/// brings the newer object, and the reconcile starts over from it.
fn start_over() -> Action {
    info!("the object changed meanwhile; starting over");
    Action::requeue(CONFLICT_RETRY)
}
