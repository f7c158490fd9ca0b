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
        joined_at: Some(at(-10)),
        uid: Some("uid-1".into()),
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
        record_uid: Some("uid-1".into()),
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
fn the_finalizer_comes_with_the_first_record_not_before() {
    let mut new = bot();
    new.metadata.finalizers = None;
    assert!(
        is_check(&plan(&new, None), "session-a"),
        "no write before a join is due"
    );
    assert!(matches!(
        plan(&new, session(SessionStatus::Active)),
        Plan::Join(_)
    ));
    let mut unknown = in_flight(bot(), None);
    unknown.metadata.finalizers = None;
    assert_eq!(plan(&unknown, None), Plan::AddFinalizer);
    let mut replaced = joined(bot());
    replaced.metadata.finalizers = None;
    assert!(matches!(plan(&replaced, None), Plan::Record(_)));
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
            uid: Some("uid-1".into()),
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
    assert!(
        matches!(
            plan(&deleting(ended), None),
            Plan::Leave {
                purpose: LeavePurpose::Delete,
                ..
            }
        ),
        "deletion calls leave anyway: a 404 there is fine, a bot left behind is not"
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
    let settle = settled(plan(
        &out,
        Some(Learned::Left(LeavePurpose::Suspend, "bot-1".into())),
    ));
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

    let left = settled(plan(
        &bot(),
        Some(Learned::Left(LeavePurpose::Complete, "bot-1".into())),
    ));
    assert_eq!(left.phase, Phase::Completed);
    let mut completed = bot();
    completed.status = Some(MeetingBotStatus {
        meeting_bot_id: None,
        session_id: None,
        record_uid: None,
        ..status(Phase::Completed, reason::COMPLETED, None)
    });
    assert_eq!(settled(plan(&completed, None)).phase, Phase::Completed);
    let fingerprint = completed.spec.join_fingerprint();
    let restored = annotate(bot(), annotation::COMPLETED_SPEC, &fingerprint);
    assert_eq!(
        settled(plan(&restored, None)).phase,
        Phase::Completed,
        "the annotations remember it when status is lost"
    );
    completed.metadata.generation = Some(2);
    assert!(
        is_check(&plan(&completed, None), "session-a"),
        "a new spec joins again"
    );
}

#[test]
fn a_copy_of_another_objects_record_is_foreign_and_gets_no_call() {
    let mut copy = joined(bot());
    copy.metadata.uid = Some("uid-copy".into());
    let settle = settled(plan(&copy, session(SessionStatus::Active)));
    assert_eq!(
        (settle.phase, settle.health, settle.reason),
        (Phase::Failed, Health::Stalled, reason::FOREIGN_RECORD)
    );
    assert!(settle.message.contains("uid-1") && settle.message.contains(annotation::ADOPT_RECORD));
    assert_eq!(
        settle.bot.and_then(|b| b.uid).as_deref(),
        Some("uid-1"),
        "status keeps the foreign record as it is"
    );
    assert_eq!(
        plan(&deleting(copy.clone()), None),
        Plan::RemoveFinalizer {
            unknown_join: false
        },
        "deleting the copy leaves the original's avatar alone"
    );
    let adopted = annotate(copy.clone(), annotation::ADOPT_RECORD, "uid-1");
    assert!(
        matches!(plan(&adopted, None), Plan::Record(r) if r.uid.as_deref() == Some("uid-copy")),
        "adopting restamps the record with this object's UID"
    );
    let discarded = annotate(copy, annotation::DISCARD_RECORD, "uid-1");
    assert!(
        is_check(&plan(&discarded, None), "session-a"),
        "starts afresh"
    );
}

#[test]
fn one_copy_of_the_record_restores_the_other() {
    // `kubectl replace` of the original manifest: annotations and finalizer gone.
    let mut replaced = joined(bot());
    replaced.metadata.annotations = None;
    replaced.metadata.finalizers = None;
    match plan(&replaced, session(SessionStatus::Active)) {
        Plan::Record(recorded) => {
            assert_eq!(recorded.meeting_bot_id, "bot-1");
            assert_eq!(recorded.uid.as_deref(), Some("uid-1"));
        }
        other => panic!("expected the annotations restored, got {other:?}"),
    }
    // A restore without status: the settled status names the bot again.
    let mut restored = joined(bot());
    restored.status = None;
    let settle = settled(plan(&restored, None));
    assert_eq!(settle.phase, Phase::Joined);
    assert_eq!(
        settle.bot.map(|b| b.meeting_bot_id).as_deref(),
        Some("bot-1")
    );
}

#[test]
fn a_404_while_joined_is_evidence_not_proof() {
    let bot = joined(bot());
    let not_found = failure(FailureKind::NotFound, 404);
    let last = Some(Learned::Session(SessionOutcome::Failed(not_found.clone())));
    let once = memo_after(Call::Session, not_found.clone());
    let settle = settled(plan_with(&bot, &once, last.clone(), false));
    assert_eq!(settle.phase, Phase::Joined, "one 404 ends nothing");
    assert!(
        settle.requeue.unwrap() <= Duration::from_secs(5),
        "read again soon: {:?}",
        settle.requeue
    );

    let mut lasting = Memo::default();
    for seconds_ago in [90, 60, 30] {
        lasting.record(
            Some(1),
            Call::Session,
            not_found.clone(),
            at(-seconds_ago),
            1.0,
        );
    }
    let settle = settled(plan_with(&bot, &lasting, last.clone(), false));
    assert_eq!(
        (settle.phase, settle.reason),
        (Phase::SessionEnded, reason::SESSION_NOT_FOUND)
    );
    let mut quick = Memo::default();
    for seconds_ago in [20, 10, 1] {
        quick.record(
            Some(1),
            Call::Session,
            not_found.clone(),
            at(-seconds_ago),
            1.0,
        );
    }
    assert_eq!(
        settled(plan_with(&bot, &quick, last, false)).phase,
        Phase::Joined,
        "three 404s within seconds are not yet a minute"
    );
}

/// Every combination of the record's copies (absent, this object's, a
/// legacy one without UID, another bot of this object's, another object's)
/// and of a join in flight: none plans a join while any copy names a bot,
/// and none while a join is in flight unless users allowed one more.
#[test]
fn no_combination_of_record_copies_plans_a_second_join() {
    #[derive(Clone, Copy, Debug)]
    enum Copy {
        Absent,
        Own,
        Legacy,
        OtherBot,
        Foreign,
    }
    let copies = [
        Copy::Absent,
        Copy::Own,
        Copy::Legacy,
        Copy::OtherBot,
        Copy::Foreign,
    ];
    let recorded = |copy: Copy| {
        let (id, uid) = match copy {
            Copy::Absent => return None,
            Copy::Own => ("bot-1", Some("uid-1")),
            Copy::Legacy => ("bot-1", None),
            Copy::OtherBot => ("bot-2", Some("uid-1")),
            Copy::Foreign => ("bot-9", Some("uid-other")),
        };
        Some(RecordedBot {
            meeting_bot_id: id.into(),
            session_id: "session-a".into(),
            joined_spec: None,
            joined_at: Some(at(-30)),
            uid: uid.map(str::to_owned),
        })
    };
    for annotated in copies {
        for in_status in copies {
            for flight in [Copy::Absent, Copy::Own, Copy::Foreign] {
                for last in [None, session(SessionStatus::Active)] {
                    let mut subject = bot();
                    if let Some(r) = recorded(annotated) {
                        for (key, value) in crate::api::joined_annotations(&r) {
                            if let Some(value) = value {
                                subject = annotate(subject, key, &value);
                            }
                        }
                    }
                    if let Some(r) = recorded(in_status) {
                        subject.status = Some(MeetingBotStatus {
                            meeting_bot_id: Some(r.meeting_bot_id),
                            joined_at: r.joined_at.map(Time),
                            record_uid: r.uid,
                            ..status(Phase::Joined, reason::JOINED, None)
                        });
                    }
                    if !matches!(flight, Copy::Absent) {
                        subject = in_flight(subject, None);
                        if matches!(flight, Copy::Foreign) {
                            let foreign = JoinAttempt {
                                session_id: "session-a".into(),
                                retry_join: None,
                                started_at: at(-5),
                                uid: Some("uid-other".into()),
                            };
                            subject = annotate(
                                subject,
                                annotation::JOIN_IN_FLIGHT,
                                &serde_json::to_string(&foreign).unwrap(),
                            );
                        }
                    }
                    let plan = plan(&subject, last);
                    let anything = [annotated, in_status, flight]
                        .iter()
                        .any(|c| !matches!(c, Copy::Absent));
                    if anything {
                        assert!(
                            !matches!(plan, Plan::Join(_)),
                            "annotations {annotated:?}, status {in_status:?}, in flight {flight:?}: {plan:?}"
                        );
                    }
                }
            }
        }
    }
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

#[test]
fn a_bot_seen_to_leave_is_never_taken_for_live_again() {
    // The leave succeeded, then the write clearing the record was refused (a
    // `kubectl replace` restored the spec the bot joined with).
    let mut memo = Memo::default();
    memo.left_bot = Some(("bot-1".into(), LeavePurpose::Rejoin));
    let plan = plan_with(&joined(bot()), &memo, None, false);
    assert!(
        matches!(&plan, Plan::Forget { bot, purpose: LeavePurpose::Rejoin } if bot.meeting_bot_id == "bot-1"),
        "{plan:?}"
    );
    assert_eq!(
        plan_with(&deleting(joined(bot())), &memo, None, false),
        Plan::RemoveFinalizer {
            unknown_join: false
        }
    );
}
