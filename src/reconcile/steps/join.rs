//! The join step: record the attempt, version-checked, then call join and
//! keep what it answered.

use super::{Reconciler, Step};
use crate::Result;
use crate::api::{JoinAttempt, JoinedKey, MeetingBot, Platform, RecordedBot, annotation};
use crate::lemonslice::{
    Failure, JoinOutcome, JoinRequest, JoinedBot, Priority, SecretString, SessionOutcome,
    SessionStatus,
};
use crate::reconcile::cluster::{Unmet, current};
use crate::reconcile::decide::memo::Call;
use crate::reconcile::decide::plan::{JustJoined, Learned, SecretProblem};
use jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use serde_json::json;
use tracing::{info, warn};

impl Reconciler<'_> {
    /// Records the attempt, then joins. With `read_session_first` (the join
    /// of an object no install acts on yet, which the record claims), the
    /// session is read between the two, and only an ACTIVE one is joined.
    pub(super) async fn join(
        &self,
        attempt: JoinAttempt,
        read_session_first: bool,
    ) -> Result<Step> {
        self.turn.take_back().await;
        let (api_key, request) = match self.join_inputs().await {
            Ok(inputs) => inputs,
            Err(unmet) => return self.unmet(unmet),
        };
        // Before the record: a recorded join must not then wait for the bound.
        let session_admission = match read_session_first {
            true => Some(self.ctx.vendor.admit(Priority::Meeting).await),
            false => None,
        };
        let Some(admission) = self.admit_meeting_call().await else {
            return Ok(Step::Stop(Action::await_change()));
        };
        // A per-bot key must outlive its namespace's teardown while the bot may need it.
        self.hold_api_key(self.bot.spec.api_key_secret_ref.as_ref(), true)
            .await?;

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
        if let Some(session_admission) = session_admission {
            let session = self
                .read_session(session_admission, &api_key, &attempt.session_id)
                .await;
            if session != SessionOutcome::Status(SessionStatus::Active) {
                // Not joined: the record goes, and the session's state decides.
                self.ctx.join_not_made(&bot, attempt.started_at);
                return Ok(Step::Continue(bot, Some(Learned::Session(session))));
            }
            // The read may have taken until the call timeout: a replica that
            // meanwhile stopped leading (or is stopping) starts no join.
            if !self.ctx.gate.is_open() {
                info!(
                    "not joining after the session read: this replica is stopping or no longer leads"
                );
                self.ctx.join_not_made(&bot, attempt.started_at);
                return Ok(Step::Continue(bot, None));
            }
            // A delete that raced the record's write can remove the object
            // all the same (the API server may decide on a copy it read before
            // the finalizer came). By now the watch shows it gone: no bot is
            // made for it, since nothing would be left to record it in. (An
            // object that only left the watch's label selector is joined and
            // handed over, see `handover`.)
            if !self.ctx.watches(&bot) && self.deleted(&bot).await {
                info!("not joining after the session read: the MeetingBot is gone");
                self.ctx.join_not_made(&bot, attempt.started_at);
                return Ok(Step::Stop(Action::await_change()));
            }
        }
        let outcome = self
            .counted(
                Call::Join,
                self.ctx
                    .vendor
                    .join(admission, &api_key, &attempt.session_id, &request),
            )
            .await;
        let failure = match outcome {
            JoinOutcome::Joined(joined) => {
                let platform = Platform::from_meeting_url(&request.meeting_url).ok();
                return Ok(self.just_joined(bot, attempt, joined, platform));
            }
            JoinOutcome::NotJoined(failure) => {
                info!(
                    failure = failure.describe(),
                    "join refused; no bot was created"
                );
                failure
            }
            JoinOutcome::Unknown(failure) => {
                // An id seen in an answer that could not be used whole: the
                // bot may be in the meeting, and this line may be all that
                // names it (ids are not secrets).
                warn!(
                    failure = failure.describe(),
                    seen_meeting_bot_id = failure.meeting_bot_id,
                    session_id = attempt.session_id,
                    "join outcome unknown; a bot may exist"
                );
                if !self.ctx.settings.retry_unknown_joins {
                    // The in-flight record stays: it is what stops a second
                    // join. It takes what the answer said, for the stall's message.
                    return self.note_unknown_answer(bot, attempt, &failure).await;
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

    /// A join that made a bot: what the reconcile learned, to be written
    /// (status first: the result's first copy).
    fn just_joined(
        &self,
        bot: MeetingBot,
        attempt: JoinAttempt,
        joined: JoinedBot,
        platform: Option<Platform>,
    ) -> Step {
        // Whole seconds, as status keeps it: the two copies agree.
        let joined_at =
            Timestamp::from_second(Timestamp::now().as_second()).expect("now is a valid time");
        let recorded = RecordedBot {
            meeting_bot_id: joined.meeting_bot_id,
            session_id: attempt.session_id,
            joined_spec: Some(self.bot.spec.join_fingerprint()),
            joined_at: Some(joined_at),
            uid: self.bot.uid(),
            api_key: Some(JoinedKey {
                secret_ref: self.bot.spec.api_key_secret_ref.clone(),
            }),
            install: Some(self.ctx.settings.install.clone()),
        };
        info!(meeting_bot_id = recorded.meeting_bot_id, "joined");
        if joined.websocket_url.is_none() {
            warn!(
                meeting_bot_id = recorded.meeting_bot_id,
                "the join's answer carried no websocket URL; the bot is recorded all the same"
            );
        }
        self.ctx.forget_failures(&bot);
        Step::Continue(
            bot,
            Some(Learned::Joined(JustJoined {
                recorded,
                websocket_url: joined.websocket_url,
                joined_at,
                platform,
            })),
        )
    }

    /// Keeps what an answer that proves nothing said (and the bot id it
    /// named) in the join-in-flight record, where the stall shows it. A
    /// failed write only loses the message: the record stays as it was, and
    /// the log line above names the id.
    async fn note_unknown_answer(
        &self,
        bot: MeetingBot,
        attempt: JoinAttempt,
        failure: &Failure,
    ) -> Result<Step> {
        if failure.status.is_none() && failure.meeting_bot_id.is_none() {
            // No answer at all (a timeout, a broken connection): nothing to add.
            return Ok(Step::Continue(bot, None));
        }
        let noted = JoinAttempt {
            answer: Some(failure.describe()),
            seen_meeting_bot_id: failure.meeting_bot_id.clone(),
            ..attempt
        };
        let in_flight = serde_json::to_string(&noted).expect("a join attempt serializes");
        let patch =
            json!({ "metadata": { "annotations": { annotation::JOIN_IN_FLIGHT: in_flight } } });
        match self.fenced_patch(&bot, patch).await {
            Ok(step) => Ok(step),
            Err(error) => {
                warn!(%error, "could not note the join's answer in its in-flight record");
                Ok(Step::Continue(bot, None))
            }
        }
    }

    /// Whether the API server no longer has `bot` (this object, by UID).
    /// When it cannot say, the object counts as still there.
    async fn deleted(&self, bot: &MeetingBot) -> bool {
        matches!(current(&self.api, bot).await, Ok(None))
    }

    /// What join sends, read in this order: the broadcast token, the API key,
    /// the meeting URL.
    async fn join_inputs(&self) -> Result<(SecretString, JoinRequest), Unmet> {
        let spec = &self.bot.spec;
        let token_ref = self.secret_at(
            &spec.broadcast_token_secret_ref.name,
            &spec.broadcast_token_secret_ref.key,
        );
        let broadcast_token = self.ctx.secrets.read(&token_ref).await?;
        let api_key = self
            .api_key(self.bot.spec.api_key_secret_ref.as_ref(), false)
            .await?;
        let meeting_url = self.meeting_url().await?;
        let request = JoinRequest {
            meeting_url,
            livekit_url: spec.livekit_url.clone(),
            broadcast_token,
            bot_name: spec.bot_name.clone(),
        };
        Ok((api_key, request))
    }

    /// The meeting URL: the spec's, or the one in the Secret it names, checked
    /// against the same platform rules as the spec's.
    async fn meeting_url(&self) -> Result<String, Unmet> {
        let spec = &self.bot.spec;
        let Some(reference) = &spec.meeting_url_secret_ref else {
            return Ok(spec.meeting_url.clone().unwrap_or_default());
        };
        let at = self.secret_at(&reference.name, &reference.key);
        let url = self.ctx.secrets.read(&at).await?;
        let url = url.expose().trim().to_owned();
        match Platform::from_meeting_url(&url) {
            Ok(_) => Ok(url),
            Err(invalid) => Err(SecretProblem::InvalidMeetingUrl {
                secret: at.name,
                key: at.key,
                problem: invalid.to_string(),
            }
            .into()),
        }
    }
}
