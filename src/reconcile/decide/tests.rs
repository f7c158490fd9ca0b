//! `decide`, rule by rule, without any server.

use super::*;
use crate::api::{FINALIZER, MeetingBotSpec, MeetingBotStatus};
use crate::lemonslice::Failure;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

const POLL: Duration = Duration::from_secs(30);

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
    };
    let mut bot = crate::api::joined_annotations(&recorded)
        .into_iter()
        .filter_map(|(key, value)| Some((key, value?)))
        .fold(bot, |bot, (key, value)| annotate(bot, key, &value));
    bot.status = Some(status(Phase::Joined, "Joined", Some(at(-10))));
    bot
}

fn status(phase: Phase, ready_reason: &str, joined_at: Option<Timestamp>) -> MeetingBotStatus {
    MeetingBotStatus {
        phase: Some(phase),
        meeting_bot_id: Some("bot-1".into()),
        session_id: Some("session-a".into()),
        joined_at: joined_at.map(Time),
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
fn plan(bot: &MeetingBot, last: Option<Learned>) -> Plan {
    plan_with(bot, &Memo::default(), last, false)
}

fn plan_with(bot: &MeetingBot, memo: &Memo, last: Option<Learned>, retry_unknown: bool) -> Plan {
    decide(&Facts {
        bot,
        memo,
        now: now(),
        retry_unknown_joins: retry_unknown,
        last: last.as_ref(),
        session_poll: POLL,
        session_checked_at: at(-1),
    })
}

fn settled(plan: Plan) -> Settle {
    match plan {
        Plan::Settle(settle) => settle,
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

#[test]
fn the_finalizer_comes_before_anything_else() {
    let mut bot = bot();
    bot.metadata.finalizers = None;
    bot.spec.meeting_url = Some("https://zoom.us.evil.com/j/1".into());
    assert_eq!(plan(&bot, None), Plan::AddFinalizer);
}

#[test]
fn an_unsupported_meeting_url_stalls_without_a_call() {
    let mut bot = bot();
    bot.spec.meeting_url = Some("https://zoom.us.evil.com/j/1".into());
    let settle = settled(plan(&bot, None));
    assert_eq!(
        (settle.phase, settle.health, settle.reason),
        (Phase::Failed, Health::Stalled, reason::INVALID_MEETING_URL)
    );
    assert!(
        settle.message.starts_with("spec.meetingUrl"),
        "{}",
        settle.message
    );
    assert_eq!(settle.event, Some(Notice::Warning(event::JOIN_FAILED)));
}

#[test]
fn a_new_bot_reads_its_session_then_joins_only_an_active_one() {
    let bot = annotate(bot(), annotation::RETRY_JOIN, "r1");
    assert!(is_check(&plan(&bot, None), "session-a"));
    assert_eq!(
        plan(&bot, session(SessionStatus::Active)),
        Plan::Join(JoinAttempt {
            session_id: "session-a".into(),
            retry_join: Some("r1".into()),
            started_at: now(),
        })
    );
}

#[test]
fn a_queued_session_is_read_again_a_little_later_each_time() {
    let mut young = bot();
    young.metadata.creation_timestamp = Some(Time(now()));
    let settle = settled(plan(&young, session(SessionStatus::Queued)));
    assert_eq!(
        (settle.phase, settle.health, settle.reason),
        (
            Phase::WaitingForSession,
            Health::Reconciling,
            reason::SESSION_QUEUED
        )
    );
    assert_eq!(settle.requeue, Some(Duration::from_secs(2)));
    let minute_old = settled(plan(&bot(), session(SessionStatus::Queued)));
    assert_eq!(minute_old.requeue, Some(Duration::from_secs(8)));
    let mut hour_old = bot();
    hour_old.metadata.creation_timestamp = Some(Time(at(-3600)));
    let capped = settled(plan(&hour_old, session(SessionStatus::Queued)));
    assert_eq!(capped.requeue, Some(Duration::from_secs(20)));
}

#[test]
fn an_ended_session_is_never_joined() {
    for (status, expected) in [
        (SessionStatus::Completed, reason::SESSION_COMPLETED),
        (SessionStatus::TimedOut, reason::SESSION_TIMED_OUT),
        (SessionStatus::Failed, reason::SESSION_FAILED),
    ] {
        let settle = settled(plan(&bot(), session(status)));
        assert_eq!(
            (settle.phase, settle.health, settle.reason),
            (Phase::SessionEnded, Health::Stalled, expected)
        );
    }
}

#[test]
fn a_missing_secret_pends_without_a_call() {
    let missing = Learned::SecretMissing(SecretProblem::NotFound {
        secret: "token".into(),
    });
    let settle = settled(plan(&bot(), Some(missing)));
    assert_eq!(
        (settle.phase, settle.reason),
        (Phase::Pending, reason::SECRET_NOT_FOUND)
    );
    assert!(settle.message.contains("token"));

    let no_key = Learned::SecretMissing(SecretProblem::KeyNotFound {
        secret: "token".into(),
        key: "jwt".into(),
    });
    let settle = settled(plan(&bot(), Some(no_key)));
    assert_eq!(settle.reason, reason::SECRET_KEY_NOT_FOUND);
    assert!(settle.message.contains("jwt"));
}

#[test]
fn a_join_whose_outcome_was_lost_is_not_repeated_on_its_own() {
    let settle = settled(plan(&in_flight(bot(), None), None));
    assert_eq!(
        (settle.phase, settle.health, settle.reason),
        (Phase::Failed, Health::Stalled, reason::JOIN_OUTCOME_UNKNOWN)
    );
    assert!(settle.message.contains(annotation::MEETING_BOT_ID));
    assert!(settle.message.contains(annotation::RETRY_JOIN));
    assert_eq!(
        settle.event,
        Some(Notice::Warning(event::JOIN_OUTCOME_UNKNOWN))
    );
}

#[test]
fn a_join_record_whose_call_was_never_sent_is_cleared() {
    let bot = in_flight(bot(), None);
    let mut unsent = Memo::default();
    unsent.unsent_join = Some(at(-5));
    assert_eq!(plan_with(&bot, &unsent, None, false), Plan::ClearUnsentJoin);
    let mut another = Memo::default();
    another.unsent_join = Some(at(-60));
    assert_eq!(
        settled(plan_with(&bot, &another, None, false)).reason,
        reason::JOIN_OUTCOME_UNKNOWN,
        "only the attempt that was not sent"
    );
}

#[test]
fn a_new_retry_join_value_allows_exactly_one_more_attempt() {
    let asked = annotate(in_flight(bot(), Some("r1")), annotation::RETRY_JOIN, "r2");
    assert!(is_check(&plan(&asked, None), "session-a"));
    assert!(matches!(
        plan(&asked, session(SessionStatus::Active)),
        Plan::Join(JoinAttempt { retry_join: Some(value), .. }) if value == "r2"
    ));
    // The attempt that used r2 was lost too: r2 allows no further join.
    let used = annotate(in_flight(bot(), Some("r2")), annotation::RETRY_JOIN, "r2");
    assert_eq!(
        settled(plan(&used, None)).reason,
        reason::JOIN_OUTCOME_UNKNOWN
    );
}

#[test]
fn retry_unknown_joins_prefers_presence() {
    let plan = plan_with(&in_flight(bot(), None), &Memo::default(), None, true);
    assert!(is_check(&plan, "session-a"));
}

#[test]
fn no_join_while_a_join_is_in_flight_unless_allowed() {
    let retry_values = [None, Some("same"), Some("new")];
    for deleting_it in [false, true] {
        for retry_unknown in [false, true] {
            for annotation_value in retry_values {
                for last in [None, session(SessionStatus::Active)] {
                    let mut bot = in_flight(bot(), Some("same"));
                    if let Some(value) = annotation_value {
                        bot = annotate(bot, annotation::RETRY_JOIN, value);
                    }
                    if deleting_it {
                        bot = deleting(bot);
                    }
                    let plan = plan_with(&bot, &Memo::default(), last, retry_unknown);
                    let allowed =
                        !deleting_it && (retry_unknown || annotation_value == Some("new"));
                    if !allowed {
                        assert!(
                            !matches!(plan, Plan::Join(_) | Plan::CheckSession { .. }),
                            "deleting {deleting_it}, flag {retry_unknown}, annotation {annotation_value:?}: {plan:?}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn a_joined_bot_rests_until_its_session_is_due_for_a_read() {
    let bot = joined(bot());
    let settle = settled(plan(&bot, None));
    assert_eq!(
        (settle.phase, settle.health, settle.reason),
        (Phase::Joined, Health::Ready, reason::JOINED)
    );
    let requeue = settle.requeue.unwrap();
    assert!(
        requeue < POLL.mul_f64(1.2) && requeue > POLL.mul_f64(0.8) - Duration::from_secs(1),
        "{requeue:?}"
    );

    let due = decide(&Facts {
        bot: &bot,
        memo: &Memo::default(),
        now: now(),
        retry_unknown_joins: false,
        last: None,
        session_poll: POLL,
        session_checked_at: at(-60),
    });
    assert!(is_check(&due, "session-a"));
}

#[test]
fn a_session_that_ends_while_joined_is_reported_once_and_needs_no_leave() {
    let bot = joined(bot());
    let settle = settled(plan(&bot, session(SessionStatus::Completed)));
    assert_eq!(
        (settle.phase, settle.reason),
        (Phase::SessionEnded, reason::SESSION_COMPLETED)
    );
    assert_eq!(settle.event, Some(Notice::Normal(event::SESSION_ENDED)));
    assert_eq!(
        settle.bot.unwrap().meeting_bot_id,
        "bot-1",
        "the bot id stays on record"
    );

    let mut ended = bot;
    ended.status = Some(status(
        Phase::SessionEnded,
        reason::SESSION_COMPLETED,
        Some(at(-10)),
    ));
    let again = settled(plan(&ended, None));
    assert_eq!(again.reason, reason::SESSION_COMPLETED, "no more polling");
    assert_eq!(
        plan(&deleting(ended), None),
        Plan::RemoveFinalizer {
            unknown_join: false
        }
    );
}

#[test]
fn a_spec_change_leaves_under_the_old_session_then_joins_anew() {
    let mut bot = joined(bot());
    bot.spec.session_id = "session-b".into();
    match plan(&bot, None) {
        Plan::Leave { bot, purpose } => {
            assert_eq!(purpose, LeavePurpose::Rejoin);
            assert_eq!(bot.session_id, "session-a");
        }
        other => panic!("expected a leave, got {other:?}"),
    }
    let skip = annotate(bot.clone(), annotation::SKIP_LEAVE, "true");
    assert!(matches!(plan(&skip, None), Plan::Forget { .. }));
}

#[test]
fn a_new_broadcast_token_alone_does_not_rejoin() {
    let mut bot = joined(bot());
    bot.spec.broadcast_token_secret_ref.name = "rotated".into();
    assert_eq!(settled(plan(&bot, None)).phase, Phase::Joined);
}

#[test]
fn deletion_leaves_forgets_or_lets_go() {
    assert!(matches!(
        plan(&deleting(joined(bot())), None),
        Plan::Leave {
            purpose: LeavePurpose::Delete,
            ..
        }
    ));
    let mut orphan = joined(bot());
    orphan.spec.deletion_policy = DeletionPolicy::Orphan;
    let skip = annotate(joined(bot()), annotation::SKIP_LEAVE, "true");
    for bot in [orphan, skip, bot()] {
        assert_eq!(
            plan(&deleting(bot), None),
            Plan::RemoveFinalizer {
                unknown_join: false
            }
        );
    }
    assert_eq!(
        plan(&deleting(in_flight(bot(), None)), None),
        Plan::RemoveFinalizer { unknown_join: true }
    );
}

#[test]
fn a_leave_without_its_api_key_names_the_ways_out() {
    let missing = Learned::SecretMissing(SecretProblem::NotFound {
        secret: "key".into(),
    });
    let settle = settled(plan(&deleting(joined(bot())), Some(missing)));
    assert_eq!(
        (settle.phase, settle.health, settle.reason),
        (Phase::Leaving, Health::Stalled, reason::LEAVE_FAILED)
    );
    assert!(settle.message.contains("deletionPolicy"));
    assert!(settle.message.contains(annotation::SKIP_LEAVE));
    assert!(settle.bot.is_some());
}

#[test]
fn retryable_failures_back_off_and_refusals_wait_for_a_change() {
    let busy = memo_after(Call::Join, failure(FailureKind::Unavailable, 503));
    let settle = settled(plan_with(&bot(), &busy, None, false));
    assert_eq!(
        (settle.phase, settle.health),
        (Phase::Joining, Health::Reconciling)
    );
    assert_eq!(settle.requeue, Some(Duration::from_secs(1)));
    assert_eq!(settle.event, Some(Notice::Warning(event::JOIN_FAILED)));

    let refused = memo_after(Call::Join, failure(FailureKind::Unauthorized, 401));
    let settle = settled(plan_with(&bot(), &refused, None, false));
    assert_eq!(
        (settle.phase, settle.health, settle.reason),
        (Phase::Failed, Health::Stalled, "Unauthorized")
    );
    let mut changed = bot();
    changed.metadata.generation = Some(2);
    assert!(
        is_check(&plan_with(&changed, &refused, None, false), "session-a"),
        "a new spec tries again"
    );

    let leave_refused = memo_after(Call::Leave, failure(FailureKind::Unauthorized, 401));
    let settle = settled(plan_with(
        &deleting(joined(bot())),
        &leave_refused,
        None,
        false,
    ));
    assert_eq!(
        (settle.phase, settle.health, settle.reason),
        (Phase::Leaving, Health::Stalled, reason::LEAVE_FAILED)
    );
}

#[test]
fn an_unknown_session_stalls_before_the_join() {
    let unknown = memo_after(Call::Session, failure(FailureKind::NotFound, 404));
    let settle = settled(plan_with(&bot(), &unknown, None, false));
    assert_eq!(
        (settle.health, settle.reason),
        (Health::Stalled, reason::SESSION_NOT_FOUND)
    );
}

#[test]
fn suspend_takes_the_avatar_out_and_keeps_it_out() {
    let mut suspended = joined(bot());
    suspended.spec.suspend = true;
    assert!(matches!(
        plan(&suspended, None),
        Plan::Leave {
            purpose: LeavePurpose::Suspend,
            ..
        }
    ));
    let mut out = bot();
    out.spec.suspend = true;
    let settle = settled(plan(&out, Some(Learned::Left(LeavePurpose::Suspend))));
    assert_eq!(
        (settle.phase, settle.reason),
        (Phase::Suspended, reason::SUSPENDED)
    );
}

#[test]
fn max_duration_leaves_once_and_never_rejoins_the_same_spec() {
    let mut long = joined(bot());
    long.spec.max_duration = Some("5s".into());
    assert!(matches!(
        plan(&long, None),
        Plan::Leave {
            purpose: LeavePurpose::Complete,
            ..
        }
    ));
    let mut short = joined(bot());
    short.spec.max_duration = Some("20s".into());
    let settle = settled(plan(&short, None));
    assert_eq!(
        settle.requeue,
        Some(Duration::from_secs(10)),
        "looked at again when due, before the next session read"
    );

    let left = settled(plan(&bot(), Some(Learned::Left(LeavePurpose::Complete))));
    assert_eq!(left.phase, Phase::Completed);
    let mut completed = bot();
    completed.status = Some(status(Phase::Completed, reason::COMPLETED, None));
    assert_eq!(settled(plan(&completed, None)).phase, Phase::Completed);
    completed.metadata.generation = Some(2);
    assert!(
        is_check(&plan(&completed, None), "session-a"),
        "a new spec joins again"
    );
}

#[test]
fn a_scheduled_bot_waits_for_join_at() {
    let mut later = bot();
    later.spec.join_at = Some(Time(at(90)));
    let settle = settled(plan(&later, None));
    assert_eq!(
        (settle.phase, settle.health, settle.reason),
        (Phase::Scheduled, Health::Reconciling, reason::SCHEDULED)
    );
    assert_eq!(settle.requeue, Some(Duration::from_secs(90)));
    later.spec.join_at = Some(Time(at(-1)));
    assert!(is_check(&plan(&later, None), "session-a"));
}
