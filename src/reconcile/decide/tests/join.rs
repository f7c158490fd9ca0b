//! No bot yet, or a join whose outcome was lost: when to join, wait or stall.

use super::*;

#[test]
fn an_unsupported_meeting_url_stalls_without_a_call() {
    let mut bot = bot();
    bot.spec.meeting_url = Some("https://zoom.us.evil.com/j/1".into());
    let ending = ending_of(plan(&bot, None));
    assert_eq!(
        (ending.phase, ending.health, ending.reason),
        (Phase::Failed, Health::Stalled, reason::INVALID_MEETING_URL)
    );
    assert!(
        ending.message.starts_with("spec.meetingUrl"),
        "{}",
        ending.message
    );
    assert_eq!(ending.event, Some(Notice::Warning(event::JOIN_FAILED)));
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
            answer: None,
            seen_meeting_bot_id: None,
            install: Some(INSTALL.into()),
        })
    );
}

#[test]
fn a_queued_session_is_read_again_a_little_later_each_time() {
    let mut young = bot();
    young.metadata.creation_timestamp = Some(Time(now()));
    let ending = ending_of(plan(&young, session(SessionStatus::Queued)));
    assert_eq!(
        (ending.phase, ending.health, ending.reason),
        (
            Phase::WaitingForSession,
            Health::Reconciling,
            reason::SESSION_QUEUED
        )
    );
    assert_eq!(ending.requeue, Some(Duration::from_secs(2)));
    let minute_old = ending_of(plan(&bot(), session(SessionStatus::Queued)));
    assert_eq!(minute_old.requeue, Some(Duration::from_secs(8)));
    let mut hour_old = bot();
    hour_old.metadata.creation_timestamp = Some(Time(at(-3600)));
    let capped = ending_of(plan(&hour_old, session(SessionStatus::Queued)));
    assert_eq!(capped.requeue, Some(Duration::from_secs(20)));
}

#[test]
fn an_ended_session_is_never_joined() {
    for (status, expected) in [
        (SessionStatus::Completed, reason::SESSION_COMPLETED),
        (SessionStatus::TimedOut, reason::SESSION_TIMED_OUT),
        (SessionStatus::Failed, reason::SESSION_FAILED),
    ] {
        let ending = ending_of(plan(&bot(), session(status)));
        assert_eq!(
            (ending.phase, ending.health, ending.reason),
            (Phase::SessionEnded, Health::Stalled, expected)
        );
    }
}

#[test]
fn a_missing_secret_pends_without_a_call() {
    let missing = Learned::SecretMissing(SecretProblem::NotFound {
        secret: "token".into(),
    });
    let ending = ending_of(plan(&bot(), Some(missing)));
    assert_eq!(
        (ending.phase, ending.reason),
        (Phase::Pending, reason::SECRET_NOT_FOUND)
    );
    assert!(ending.message.contains("token"));

    let no_key = Learned::SecretMissing(SecretProblem::KeyNotFound {
        secret: "token".into(),
        key: "jwt".into(),
    });
    let ending = ending_of(plan(&bot(), Some(no_key)));
    assert_eq!(ending.reason, reason::SECRET_KEY_NOT_FOUND);
    assert!(ending.message.contains("jwt"));
}

#[test]
fn a_scheduled_bot_waits_for_join_at() {
    let mut later = bot();
    later.spec.join_at = Some(Time(at(90)));
    let ending = ending_of(plan(&later, None));
    assert_eq!(
        (ending.phase, ending.health, ending.reason),
        (Phase::Scheduled, Health::Reconciling, reason::SCHEDULED)
    );
    assert_eq!(ending.requeue, Some(Duration::from_secs(90)));
    later.spec.join_at = Some(Time(at(-1)));
    assert!(is_check(&plan(&later, None), "session-a"));
}

#[test]
fn retryable_failures_back_off_and_refusals_wait_for_a_change() {
    let busy = memo_after(Call::Join, failure(FailureKind::Unavailable, 503));
    let ending = ending_of(plan_with(&bot(), &busy, None));
    assert_eq!(
        (ending.phase, ending.health),
        (Phase::Joining, Health::Reconciling)
    );
    assert_eq!(ending.requeue, Some(Duration::from_secs(1)));
    assert_eq!(ending.event, Some(Notice::Warning(event::JOIN_FAILED)));

    let refused = memo_after(Call::Join, failure(FailureKind::Unauthorized, 401));
    let ending = ending_of(plan_with(&bot(), &refused, None));
    assert_eq!(
        (ending.phase, ending.health, ending.reason),
        (Phase::Failed, Health::Stalled, "Unauthorized")
    );
    let mut changed = bot();
    changed.metadata.generation = Some(2);
    assert!(
        is_check(&plan_with(&changed, &refused, None), "session-a"),
        "a new spec tries again"
    );

    let leave_refused = memo_after(Call::Leave, failure(FailureKind::Unauthorized, 401));
    let ending = ending_of(plan_with(&deleting(joined(bot())), &leave_refused, None));
    assert_eq!(
        (ending.phase, ending.health, ending.reason),
        (Phase::Leaving, Health::Stalled, reason::LEAVE_FAILED)
    );
}

#[test]
fn an_unknown_session_stalls_before_the_join() {
    let unknown = memo_after(Call::Session, failure(FailureKind::NotFound, 404));
    let ending = ending_of(plan_with(&bot(), &unknown, None));
    assert_eq!(
        (ending.health, ending.reason),
        (Health::Stalled, reason::SESSION_NOT_FOUND)
    );
}

#[test]
fn a_join_whose_outcome_was_lost_is_not_repeated_on_its_own() {
    let ending = ending_of(plan(&in_flight(bot(), None), None));
    assert_eq!(
        (ending.phase, ending.health, ending.reason),
        (Phase::Failed, Health::Stalled, reason::JOIN_OUTCOME_UNKNOWN)
    );
    assert!(
        ending
            .message
            .contains("kubectl mbot adopt standup --bot-id")
    );
    assert!(ending.message.contains(annotation::ADOPT));
    assert!(ending.message.contains(annotation::RETRY_JOIN));
    assert_eq!(
        ending.event,
        Some(Notice::Warning(event::JOIN_OUTCOME_UNKNOWN))
    );
}

#[test]
fn a_join_record_whose_call_was_never_sent_is_cleared() {
    let bot = in_flight(bot(), None);
    let mut unsent = Memo::default();
    unsent.seldom_mut().unsent_join = Some(at(-5));
    assert_eq!(plan_with(&bot, &unsent, None), Plan::ClearUnsentJoin);
    // A new object's record was its only claim: status takes it over first.
    let mut unclaimed = bot.clone();
    unclaimed.status = None;
    assert_eq!(plan_with(&unclaimed, &unsent, None), Plan::Claim);
    let mut another = Memo::default();
    another.seldom_mut().unsent_join = Some(at(-60));
    assert_eq!(
        ending_of(plan_with(&bot, &another, None)).reason,
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
        ending_of(plan(&used, None)).reason,
        reason::JOIN_OUTCOME_UNKNOWN
    );
}

#[test]
fn retry_unknown_joins_prefers_presence() {
    let plan = plan_of(
        &in_flight(bot(), None),
        &Memo::default(),
        None,
        UnknownJoins::Retry,
    );
    assert!(is_check(&plan, "session-a"));
}

#[test]
fn no_join_while_a_join_is_in_flight_unless_allowed() {
    let retry_values = [None, Some("same"), Some("new")];
    for deleting_it in [false, true] {
        for unknown in [UnknownJoins::Stall, UnknownJoins::Retry] {
            for annotation_value in retry_values {
                for last in [None, session(SessionStatus::Active)] {
                    let mut bot = in_flight(bot(), Some("same"));
                    if let Some(value) = annotation_value {
                        bot = annotate(bot, annotation::RETRY_JOIN, value);
                    }
                    if deleting_it {
                        bot = deleting(bot);
                    }
                    let plan = plan_of(&bot, &Memo::default(), last, unknown);
                    let allowed = !deleting_it
                        && (unknown == UnknownJoins::Retry || annotation_value == Some("new"));
                    if !allowed {
                        assert!(
                            !matches!(
                                plan,
                                Plan::Join(_) | Plan::ClaimAndJoin(_) | Plan::CheckSession { .. }
                            ),
                            "deleting {deleting_it}, {unknown:?}, annotation {annotation_value:?}: {plan:?}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn the_stall_shows_what_an_answer_that_proves_nothing_said_and_the_bot_it_named() {
    let attempt = JoinAttempt {
        session_id: "session-a".into(),
        retry_join: None,
        started_at: at(-5),
        uid: Some("uid-1".into()),
        answer: Some("HTTP 200: the answer is over 64 KiB, more than the operator reads".into()),
        seen_meeting_bot_id: Some("meeting-bot-abc123".into()),
        install: Some(INSTALL.into()),
    };
    let bot = annotate(
        bot(),
        annotation::JOIN_IN_FLIGHT,
        &serde_json::to_string(&attempt).unwrap(),
    );
    let ending = ending_of(plan(&bot, None));
    assert_eq!(ending.reason, reason::JOIN_OUTCOME_UNKNOWN);
    assert!(ending.message.contains("over 64 KiB"), "{}", ending.message);
    assert!(
        ending.message.contains("named the bot meeting-bot-abc123"),
        "{}",
        ending.message
    );
    assert!(ending.message.contains(annotation::RETRY_JOIN));
}

#[test]
fn the_session_of_a_join_whose_outcome_was_lost_is_read_now_and_then() {
    let lost = in_flight(bot(), None);
    let stalled = ending_of(plan(&lost, None));
    assert_eq!(stalled.reason, reason::JOIN_OUTCOME_UNKNOWN);
    let next_read = stalled.requeue.expect("the stall looks again");
    assert!(next_read <= POLL.mul_f64(1.2), "{next_read:?}");
    // Due: the join's session is read, even when the spec now names another.
    let mut moved_on = lost.clone();
    moved_on.spec.session_id = "session-b".into();
    let memo = Memo::default();
    let due = Facts {
        session_checked_at: at(-60),
        ..facts(&moved_on, &memo)
    };
    assert!(is_check(&decide(&due), "session-a"));
    // What a reconcile already learned (a read, a Secret it lacks) waits for the next poll.
    let lacking = Learned::SecretMissing(SecretProblem::NotFound {
        secret: "key".into(),
    });
    for learned in [
        session(SessionStatus::Active).unwrap(),
        Learned::Session(SessionOutcome::Failed(failure(FailureKind::NotFound, 404))),
        lacking,
    ] {
        let plan = decide(&Facts {
            just_learned: Some(&learned),
            ..due
        });
        assert_eq!(
            ending_of(plan).reason,
            reason::JOIN_OUTCOME_UNKNOWN,
            "after {learned:?}"
        );
    }
}

#[test]
fn a_join_whose_outcome_was_lost_is_cleared_once_its_session_ended() {
    let lost = in_flight(bot(), None);
    for ended in [
        SessionStatus::Completed,
        SessionStatus::TimedOut,
        SessionStatus::Failed,
    ] {
        assert_eq!(
            plan(&lost, session(ended)),
            Plan::ClearEndedJoin {
                session_id: "session-a".into(),
                keep_learned: true,
            }
        );
    }
    // The spec names another session now: what was read of the old one
    // must not decide for it.
    let mut moved_on = lost.clone();
    moved_on.spec.session_id = "session-b".into();
    assert_eq!(
        plan(&moved_on, session(SessionStatus::Completed)),
        Plan::ClearEndedJoin {
            session_id: "session-a".into(),
            keep_learned: false,
        }
    );
    // A record that is the object's only claim: status takes the claim over first.
    let mut unclaimed = lost.clone();
    unclaimed.status = None;
    assert_eq!(
        plan(&unclaimed, session(SessionStatus::Completed)),
        Plan::Claim
    );
    // With the record cleared, the session read decides as for any bot.
    let cleared = bot();
    assert_eq!(
        ending_of(plan(&cleared, session(SessionStatus::Completed))).reason,
        reason::SESSION_COMPLETED
    );
}
