//! `decide`, rule by rule, without any server: the objects and facts the
//! tests build here, the rules in a file per concern.

mod deletion;
mod install;
mod join;
mod joined;
mod record;

use super::memo::{Call, Memo};
use super::plan::{Health, JustJoined, LeavePurpose, Notice, SecretProblem};
use super::*;
use crate::api::{
    ApiKeySecretRef, DeletionPolicy, FINALIZER, JoinAttempt, MeetingBot, MeetingBotSpec,
    MeetingBotStatus, RecordedBot, annotation,
};
use crate::lemonslice::{Failure, FailureKind, SessionOutcome, SessionStatus};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use std::time::Duration;

const POLL: Duration = Duration::from_secs(30);

/// The install the tests decide as.
const INSTALL: &str = "install-a";

fn now() -> Timestamp {
    "2026-11-24T12:00:00Z".parse().unwrap()
}

fn at(seconds_from_now: i64) -> Timestamp {
    now() + jiff::SignedDuration::from_secs(seconds_from_now)
}

/// A MeetingBot of generation 1, created a minute ago, with the finalizer.
fn bot() -> MeetingBot {
    let mut bot = MeetingBot::new(
        "standup",
        MeetingBotSpec::new(
            "session-a",
            "https://meet.google.com/abc-defg-hij",
            "wss://x.livekit.cloud",
            "token",
        ),
    );
    bot.metadata.uid = Some("uid-1".into());
    bot.metadata.generation = Some(1);
    bot.metadata.creation_timestamp = Some(Time(at(-60)));
    bot.metadata.finalizers = Some(vec![FINALIZER.into()]);
    // Claimed by this install (see `install` for the claim).
    bot.status = Some(MeetingBotStatus {
        install: Some(INSTALL.into()),
        ..MeetingBotStatus::default()
    });
    bot
}

fn annotate(mut bot: MeetingBot, key: &str, value: &str) -> MeetingBot {
    bot.metadata
        .annotations
        .get_or_insert_default()
        .insert(key.into(), value.into());
    bot
}

/// `bot` with a joined record (as the annotations keep it) and a Joined status.
fn joined(bot: MeetingBot) -> MeetingBot {
    let recorded = RecordedBot {
        meeting_bot_id: "bot-1".into(),
        session_id: bot.spec.session_id.clone(),
        joined_spec: Some(bot.spec.join_fingerprint()),
        joined_at: Some(at(-10)),
        uid: Some("uid-1".into()),
        api_key: None,
        install: Some(INSTALL.into()),
    };
    let mut bot = crate::api::joined_annotations(&recorded)
        .into_iter()
        .filter_map(|(key, value)| Some((key, value?)))
        .fold(bot, |bot, (key, value)| annotate(bot, key, &value));
    bot.status = Some(MeetingBotStatus {
        joined_spec: recorded.joined_spec,
        ..status(Phase::Joined, "Joined", Some(at(-10)))
    });
    bot
}

fn status(phase: Phase, ready_reason: &str, joined_at: Option<Timestamp>) -> MeetingBotStatus {
    MeetingBotStatus {
        phase: Some(phase),
        meeting_bot_id: Some("bot-1".into()),
        session_id: Some("session-a".into()),
        joined_at: joined_at.map(Time),
        record_uid: Some("uid-1".into()),
        joined_spec: Some(bot().spec.join_fingerprint()),
        install: Some(INSTALL.into()),
        observed_generation: Some(1),
        conditions: vec![Condition {
            type_: "Ready".into(),
            status: "False".into(),
            reason: ready_reason.into(),
            message: String::new(),
            observed_generation: Some(1),
            last_transition_time: Time(at(-10)),
        }],
        ..MeetingBotStatus::default()
    }
}

fn in_flight(bot: MeetingBot, retry_join: Option<&str>) -> MeetingBot {
    let attempt = JoinAttempt {
        session_id: "session-a".into(),
        retry_join: retry_join.map(str::to_owned),
        started_at: at(-5),
        uid: Some("uid-1".into()),
        answer: None,
        seen_meeting_bot_id: None,
        install: Some(INSTALL.into()),
    };
    annotate(
        bot,
        annotation::JOIN_IN_FLIGHT,
        &serde_json::to_string(&attempt).unwrap(),
    )
}

fn deleting(mut bot: MeetingBot) -> MeetingBot {
    bot.metadata.deletion_timestamp = Some(Time(at(-1)));
    bot
}

/// Decides with an empty memo, the session read a second ago.
fn plan(bot: &MeetingBot, learned: Option<Learned>) -> Plan {
    plan_with(bot, &Memo::default(), learned)
}

/// The plan of an operator started without `--retry-unknown-joins`.
fn plan_with(bot: &MeetingBot, memo: &Memo, learned: Option<Learned>) -> Plan {
    plan_of(bot, memo, learned, UnknownJoins::Stall)
}

/// What the operator does with a join whose outcome it never learned:
/// `--retry-unknown-joins` or not.
#[derive(Clone, Copy, Debug, PartialEq)]
enum UnknownJoins {
    Stall,
    Retry,
}

fn plan_of(bot: &MeetingBot, memo: &Memo, learned: Option<Learned>, unknown: UnknownJoins) -> Plan {
    decide(&Facts {
        retry_unknown_joins: unknown == UnknownJoins::Retry,
        just_learned: learned.as_ref(),
        ..facts(bot, memo)
    })
}

/// What `decide` knows of `bot` with `memo` and nothing just learned, the
/// session read a second ago; tests change the field they are about.
fn facts<'a>(bot: &'a MeetingBot, memo: &'a Memo) -> Facts<'a> {
    Facts {
        bot,
        memo,
        now: now(),
        retry_unknown_joins: false,
        just_learned: None,
        recorded_elsewhere: false,
        session_poll: POLL,
        session_checked_at: at(-1),
        install: INSTALL,
        in_scope: true,
    }
}

fn ending_of(plan: Plan) -> Ending {
    match plan {
        Plan::Settle(ending) => ending,
        other => panic!("expected a settled status, got {other:?}"),
    }
}

fn session(status: SessionStatus) -> Option<Learned> {
    Some(Learned::Session(SessionOutcome::Status(status)))
}

fn failure(kind: FailureKind, status: u16) -> Failure {
    Failure {
        kind,
        status: Some(status),
        detail: "detail".into(),
        retry_after: None,
        meeting_bot_id: None,
    }
}

fn memo_after(call: Call, failure: Failure) -> Memo {
    let mut memo = Memo::default();
    memo.record(Some(1), call, failure, now(), 1.0);
    memo
}

fn is_check(plan: &Plan, session: &str) -> bool {
    matches!(plan, Plan::CheckSession { session_id } if session_id == session)
}
