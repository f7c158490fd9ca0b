//! One reconcile as a recipe: ask `decide` for the next step, carry it out
//! (one vendor call or one Kubernetes write), and plan again until the plan
//! settles. The writes themselves live in `writes`.

use super::context::Context;
use super::decide::{Facts, decide};
use super::lanes::Turn;
use super::memo::Call;
use super::metrics::Endpoint;
use super::plan::{JustJoined, Learned, LeavePurpose, Plan, SecretProblem};
use super::secrets::SecretKeyRef;
use crate::api::{
    FINALIZER, JoinAttempt, MeetingBot, Platform, RecordedBot, annotation, event,
    forgotten_annotations, joined_annotations,
};
use crate::lemonslice::{
    Admission, JoinOutcome, JoinRequest, LeaveOutcome, SecretString, SessionOutcome,
};
use crate::{Error, Result};
use jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};
use serde_json::json;
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// A reconcile that keeps planning steps past this many is cut short and requeued.
const MAX_STEPS: usize = 8;

/// What one step of a reconcile led to.
#[allow(
    clippy::large_enum_variant,
    reason = "one short-lived value per step; boxing buys nothing"
)]
pub(super) enum Step {
    /// Plan again with this object (and what the step learned).
    Continue(MeetingBot, Option<Learned>),
    /// End the reconcile.
    Stop(Action),
}

pub(super) struct Reconciler<'a> {
    pub(super) ctx: &'a Context,
    /// This reconcile's turn (see `lanes`): given up while a join or leave is out.
    turn: &'a Turn,
    pub(super) api: Api<MeetingBot>,
    pub(super) namespace: String,
    /// The object as this reconcile last saw or wrote it: every write of the
    /// record is conditional on its resourceVersion.
    pub(super) bot: MeetingBot,
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
        })
    }

    pub(super) async fn run(mut self) -> Result<Action> {
        let mut learned = None;
        for _ in 0..MAX_STEPS {
            let memo = self.ctx.memo(&self.bot.uid().unwrap_or_default());
            let plan = decide(&Facts {
                bot: &self.bot,
                memo: &memo,
                now: Timestamp::now(),
                retry_unknown_joins: self.ctx.settings.retry_unknown_joins,
                last: learned.as_ref(),
                session_poll: self.ctx.settings.session_poll,
                session_checked_at: memo.session_checked_at.unwrap_or(self.ctx.started_at),
            });
            let step = match plan {
                Plan::AddFinalizer => {
                    self.patch_versioned(
                        json!({ "metadata": { "finalizers": self.with_finalizer() } }),
                    )
                    .await?
                }
                Plan::CheckSession { session_id } => self.check_session(&session_id).await?,
                Plan::Join(attempt) => self.join(attempt).await?,
                Plan::Leave { bot, purpose } => self.leave(bot, purpose).await?,
                Plan::Forget { bot, purpose } => {
                    info!(
                        meeting_bot_id = bot.meeting_bot_id,
                        "forgetting the bot without leave (skip-leave, or its session ended)"
                    );
                    self.forget(bot, purpose).await?
                }
                Plan::Record(recorded) => self.record(&recorded).await?,
                Plan::ClearUnsentJoin => {
                    info!("clearing the record of a join that made no bot");
                    self.patch_versioned(json!({
                        "metadata": { "annotations": { annotation::JOIN_IN_FLIGHT: null } }
                    }))
                    .await?
                }
                Plan::RemoveFinalizer { unknown_join } => {
                    if unknown_join {
                        self.publish(
                            EventType::Warning,
                            event::JOIN_OUTCOME_UNKNOWN,
                            "deleted while a join's outcome was unknown: if a bot joined, it stays until the session ends",
                        )
                        .await;
                    }
                    self.remove_finalizer().await?
                }
                Plan::Settle(settle) => Step::Stop(self.settle(settle).await?),
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

    /// Holds (or releases) this MeetingBot's share of its per-bot API key
    /// Secret; nothing to do with the operator's own key.
    async fn hold_api_key(&self, hold: bool) -> Result<()> {
        let Some(reference) = &self.bot.spec.api_key_secret_ref else {
            return Ok(());
        };
        let at = self.secret_at(&reference.name, &reference.key);
        let uid = self.bot.uid().unwrap_or_default();
        self.ctx.secrets.hold_key(&at, &uid, hold).await
    }

    async fn remove_finalizer(&self) -> Result<Step> {
        self.hold_api_key(false).await?;
        let finalizers: Vec<&String> = self
            .bot
            .finalizers()
            .iter()
            .filter(|f| *f != FINALIZER)
            .collect();
        match self
            .patch_versioned(json!({ "metadata": { "finalizers": finalizers } }))
            .await?
        {
            Step::Continue(..) => {
                self.ctx.forget(&self.bot.uid().unwrap_or_default());
                Ok(Step::Stop(Action::await_change()))
            }
            stop => Ok(stop),
        }
    }

    /// Writes the record into the annotations (with the finalizer): the copy
    /// that survives a restore without status.
    async fn record(&self, recorded: &RecordedBot) -> Result<Step> {
        let mut patch = json!({ "metadata": {
            "annotations": annotation_patch(joined_annotations(recorded)),
        }});
        if !self.bot.has_finalizer() {
            patch["metadata"]["finalizers"] = json!(self.with_finalizer());
        }
        self.patch_versioned(patch).await
    }

    /// Clears the record after the bot left (or was let go): from the
    /// annotations, then from status, each write fenced. Between the two, or
    /// after a refused second write, the copy left over only costs one more
    /// leave, which answers 404.
    async fn forget(&self, recorded: RecordedBot, purpose: LeavePurpose) -> Result<Step> {
        let mut annotations = forgotten_annotations();
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
        self.hold_api_key(false).await?;
        Ok(Step::Continue(
            bot,
            Some(Learned::Left(purpose, recorded.meeting_bot_id)),
        ))
    }

    async fn check_session(&self, session_id: &str) -> Result<Step> {
        let api_key = match self.api_key(false).await? {
            Ok(key) => key,
            Err(problem) => return Ok(self.learned(Learned::SecretMissing(problem))),
        };
        let admission = self.ctx.vendor.admit().await;
        let started = Instant::now();
        let outcome = self
            .ctx
            .vendor
            .session_status(admission, &api_key, session_id)
            .await;
        let status = match &outcome {
            SessionOutcome::Status(_) => Some(200),
            SessionOutcome::Failed(failure) => failure.status,
        };
        self.ctx
            .metrics
            .called(Endpoint::Session, status, started.elapsed());
        self.ctx.session_checked(&self.bot);
        if let SessionOutcome::Failed(failure) = &outcome {
            info!(failure = failure.describe(), "reading the session failed");
            self.ctx
                .record_failure(&self.bot, Call::Session, failure.clone());
        }
        Ok(self.learned(Learned::Session(outcome)))
    }

    /// Whether this process may start a call that changes a meeting; when it
    /// may not (it is stopping, or its Lease is not fresh), the step waits.
    fn may_call(&self) -> bool {
        let open = self.ctx.gate.is_open();
        if !open {
            info!("not starting a vendor call: this replica is stopping or no longer leads");
        }
        open
    }

    async fn join(&self, attempt: JoinAttempt) -> Result<Step> {
        self.turn.take_back().await;
        let spec = &self.bot.spec;
        let token_ref = self.secret_at(
            &spec.broadcast_token_secret_ref.name,
            &spec.broadcast_token_secret_ref.key,
        );
        let broadcast_token = match self.ctx.secrets.read(&token_ref).await? {
            Ok(token) => token,
            Err(problem) => return Ok(self.learned(Learned::SecretMissing(problem))),
        };
        let api_key = match self.api_key(false).await? {
            Ok(key) => key,
            Err(problem) => return Ok(self.learned(Learned::SecretMissing(problem))),
        };
        let meeting_url = match self.meeting_url().await? {
            Ok(url) => url,
            Err(problem) => return Ok(self.learned(Learned::SecretMissing(problem))),
        };
        let request = JoinRequest {
            meeting_url,
            livekit_url: spec.livekit_url.clone(),
            broadcast_token,
            bot_name: spec.bot_name.clone(),
        };
        // Before the record: a recorded join must not then wait for the bound.
        let admission = self.ctx.vendor.admit().await;
        if !self.may_call() {
            return Ok(Step::Stop(Action::await_change()));
        }
        // A per-bot key must outlive its namespace's teardown while the bot may need it.
        self.hold_api_key(true).await?;

        // Record the attempt, with the finalizer, before the call, checked
        // against the version this reconcile saw: a stale cache or a second
        // replica is refused here instead of joining a second time.
        let in_flight = serde_json::to_string(&attempt).expect("a join attempt serializes");
        let written = self
            .patch_versioned(json!({ "metadata": {
                "annotations": { annotation::JOIN_IN_FLIGHT: in_flight },
                "finalizers": self.with_finalizer(),
            }}))
            .await;
        let bot = match written {
            Ok(Step::Continue(bot, _)) => bot,
            Ok(stop) => return Ok(stop),
            Err(error) => {
                // The record may have landed with its answer lost; the join
                // was not sent, which only this process knows.
                self.ctx.join_not_made(&self.bot, attempt.started_at);
                return Err(error);
            }
        };

        self.turn.step_aside();
        let started = Instant::now();
        let outcome = self
            .ctx
            .vendor
            .join(admission, &api_key, &attempt.session_id, &request)
            .await;
        let status = match &outcome {
            JoinOutcome::Joined(_) => Some(200),
            JoinOutcome::NotJoined(failure) | JoinOutcome::Unknown(failure) => failure.status,
        };
        self.ctx
            .metrics
            .called(Endpoint::Join, status, started.elapsed());
        let failure = match outcome {
            JoinOutcome::Joined(joined) => {
                // Whole seconds, as status keeps it: the two copies agree.
                let joined_at = Timestamp::from_second(Timestamp::now().as_second())
                    .expect("now is a valid time");
                let recorded = RecordedBot {
                    meeting_bot_id: joined.meeting_bot_id,
                    session_id: attempt.session_id,
                    joined_spec: Some(spec.join_fingerprint()),
                    joined_at: Some(joined_at),
                    uid: self.bot.uid(),
                };
                info!(meeting_bot_id = recorded.meeting_bot_id, "joined");
                self.ctx.forget_failures(&bot);
                // The status write that follows is the result's first copy.
                return Ok(Step::Continue(
                    bot,
                    Some(Learned::Joined(JustJoined {
                        recorded,
                        websocket_url: joined.websocket_url,
                        joined_at,
                        platform: Platform::from_meeting_url(&request.meeting_url).ok(),
                    })),
                ));
            }
            JoinOutcome::NotJoined(failure) => {
                info!(
                    failure = failure.describe(),
                    "join refused; no bot was created"
                );
                failure
            }
            JoinOutcome::Unknown(failure) => {
                warn!(
                    failure = failure.describe(),
                    "join outcome unknown; a bot may exist"
                );
                if !self.ctx.settings.retry_unknown_joins {
                    // The in-flight record stays: it is what stops a second join.
                    return Ok(Step::Continue(bot, None));
                }
                failure
            }
        };
        // No bot (or, by choice, presence over uniqueness): the attempt's
        // record goes, and the failure's backoff applies.
        self.ctx.join_not_made(&bot, attempt.started_at);
        self.ctx.record_failure(&bot, Call::Join, failure);
        self.fenced_patch(
            &bot,
            json!({ "metadata": { "annotations": { annotation::JOIN_IN_FLIGHT: null } } }),
        )
        .await
    }

    async fn leave(&self, recorded: RecordedBot, purpose: LeavePurpose) -> Result<Step> {
        self.turn.take_back().await;
        let api_key = match self.api_key(true).await? {
            Ok(key) => key,
            Err(problem) => return Ok(self.learned(Learned::SecretMissing(problem))),
        };
        let admission = self.ctx.vendor.admit().await;
        if !self.may_call() {
            return Ok(Step::Stop(Action::await_change()));
        }
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
        match self.call_leave(admission, &api_key, &recorded).await {
            LeaveOutcome::Left => {
                self.ctx.forget_failures(&self.bot);
                self.ctx
                    .bot_left(&self.bot, &recorded.meeting_bot_id, purpose);
                self.publish(
                    EventType::Normal,
                    event::LEFT,
                    &format!("bot {} left the meeting", recorded.meeting_bot_id),
                )
                .await;
                match purpose {
                    LeavePurpose::Delete => self.remove_finalizer().await,
                    LeavePurpose::Rejoin | LeavePurpose::Suspend | LeavePurpose::Complete => {
                        self.forget(recorded, purpose).await
                    }
                }
            }
            LeaveOutcome::Retryable(failure) | LeaveOutcome::Refused(failure) => {
                warn!(failure = failure.describe(), "leave failed");
                self.ctx.record_failure(&self.bot, Call::Leave, failure);
                Ok(Step::Continue(self.bot.clone(), None))
            }
        }
    }

    /// Calls leave and counts it.
    pub(super) async fn call_leave(
        &self,
        admission: Admission,
        api_key: &SecretString,
        recorded: &RecordedBot,
    ) -> LeaveOutcome {
        let started = Instant::now();
        let outcome = self
            .ctx
            .vendor
            .leave(
                admission,
                api_key,
                &recorded.session_id,
                &recorded.meeting_bot_id,
            )
            .await;
        let status = match &outcome {
            LeaveOutcome::Left => Some(200),
            LeaveOutcome::Retryable(failure) | LeaveOutcome::Refused(failure) => failure.status,
        };
        self.ctx
            .metrics
            .called(Endpoint::Leave, status, started.elapsed());
        if outcome == LeaveOutcome::Left {
            info!(meeting_bot_id = recorded.meeting_bot_id, "left");
        }
        outcome
    }

    /// The meeting URL: the spec's, or the one in the Secret it names, checked
    /// against the same platform rules as the spec's.
    async fn meeting_url(&self) -> Result<Result<String, SecretProblem>> {
        let spec = &self.bot.spec;
        let Some(reference) = &spec.meeting_url_secret_ref else {
            return Ok(Ok(spec.meeting_url.clone().unwrap_or_default()));
        };
        let at = self.secret_at(&reference.name, &reference.key);
        Ok(self.ctx.secrets.read(&at).await?.and_then(|url| {
            let url = url.expose().trim().to_owned();
            match Platform::from_meeting_url(&url) {
                Ok(_) => Ok(url),
                Err(invalid) => Err(SecretProblem::InvalidMeetingUrl {
                    secret: at.name,
                    key: at.key,
                    problem: invalid.to_string(),
                }),
            }
        }))
    }

    /// The API key for this bot: its own Secret's, or the operator's.
    pub(super) async fn api_key(
        &self,
        for_leave: bool,
    ) -> Result<Result<SecretString, SecretProblem>> {
        let Some(reference) = &self.bot.spec.api_key_secret_ref else {
            return Ok(Ok(self.ctx.operator_key.current().await?));
        };
        let at = self.secret_at(&reference.name, &reference.key);
        if for_leave {
            self.ctx.secrets.read_api_key_for_leave(&at).await
        } else {
            self.ctx.secrets.read_api_key(&at).await
        }
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
