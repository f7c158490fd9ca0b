//! A MeetingBot being deleted: leave, or let go.

use super::*;

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
    let ending = ending_of(plan(&deleting(joined(bot())), Some(missing)));
    assert_eq!(
        (ending.phase, ending.health, ending.reason),
        (Phase::Leaving, Health::Stalled, reason::LEAVE_FAILED)
    );
    assert!(ending.message.contains("deletionPolicy"));
    assert!(ending.message.contains(annotation::SKIP_LEAVE));
    assert!(ending.recorded.is_some());
}

#[test]
fn a_leave_404_is_asked_again_showing_the_bot_meanwhile() {
    let bot = deleting(joined(bot()));
    let mut memo = Memo::default();
    let mut not_found = failure(FailureKind::NotFound, 404);
    not_found.detail = "Not Found".into();
    memo.record(bot.metadata.generation, Call::Leave, not_found, now(), 1.0);
    let ending = ending_of(plan_with(&bot, &memo, None));
    assert_eq!(
        (ending.phase, ending.health, ending.reason),
        (Phase::Leaving, Health::Reconciling, reason::LEAVING)
    );
    assert!(ending.message.contains("404"), "{}", ending.message);
    assert!(ending.recorded.is_some(), "status keeps the bot");
    assert_eq!(ending.requeue, Some(Duration::from_secs(1)));
    // Once the retry is due, leave is called again.
    let due = Facts {
        now: at(2),
        ..facts(&bot, &memo)
    };
    assert!(matches!(decide(&due), Plan::Leave { .. }));
}

#[test]
fn a_leave_retried_through_a_vendor_outage_names_the_ways_out() {
    let bot = deleting(joined(bot()));
    let memo = memo_after(Call::Leave, failure(FailureKind::Unavailable, 503));
    let ending = ending_of(plan_with(&bot, &memo, None));
    assert_eq!(
        (ending.health, ending.reason),
        (Health::Reconciling, reason::LEAVING)
    );
    assert!(
        ending.message.contains(annotation::SKIP_LEAVE) && ending.message.contains("Orphan"),
        "{}",
        ending.message
    );
}

#[test]
fn a_leave_404_proves_the_bot_gone_only_when_its_session_ended_or_after_a_minute_of_them() {
    let bot = deleting(joined(bot()));
    let recorded = match bot.bot_record() {
        crate::api::BotRecord::Joined(recorded) => recorded,
        other => panic!("{other:?}"),
    };
    let proves = |bot: &MeetingBot, memo: &Memo, now| {
        let earlier = memo.current(bot.metadata.generation, Call::Leave);
        leave::not_found_proves_left(bot, &recorded, earlier, now)
    };
    let none = Memo::default();
    assert!(!proves(&bot, &none, now()), "a first 404 proves nothing");
    let mut memo = Memo::default();
    for at_secs in [0, 1] {
        memo.record(
            bot.metadata.generation,
            Call::Leave,
            failure(FailureKind::NotFound, 404),
            at(at_secs),
            1.0,
        );
    }
    assert!(!proves(&bot, &memo, at(30)), "too soon");
    assert!(proves(&bot, &memo, at(61)), "the third over a minute");
    // A bot whose session status says ended went with it: the first 404 is enough.
    let mut ended = bot.clone();
    ended.status = Some(status(
        Phase::SessionEnded,
        reason::SESSION_COMPLETED,
        Some(at(-10)),
    ));
    assert!(proves(&ended, &none, now()));
}
