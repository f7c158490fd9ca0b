//! A bot in its meeting: when it stays, leaves, or its session is over.

use super::*;

#[test]
fn a_joined_bot_rests_until_its_session_is_due_for_a_read() {
    let bot = joined(bot());
    let ending = ending_of(plan(&bot, None));
    assert_eq!(
        (ending.phase, ending.health, ending.reason),
        (Phase::Joined, Health::Ready, reason::JOINED)
    );
    let requeue = ending.requeue.unwrap();
    assert!(
        requeue < POLL.mul_f64(1.2) && requeue > POLL.mul_f64(0.8) - Duration::from_secs(1),
        "{requeue:?}"
    );

    let due = decide(&Facts {
        session_checked_at: at(-60),
        ..facts(&bot, &Memo::default())
    });
    assert!(is_check(&due, "session-a"));
}

#[test]
fn a_session_that_ends_while_joined_is_reported_once_and_needs_no_leave() {
    let bot = joined(bot());
    let ending = ending_of(plan(&bot, session(SessionStatus::Completed)));
    assert_eq!(
        (ending.phase, ending.reason),
        (Phase::SessionEnded, reason::SESSION_COMPLETED)
    );
    assert_eq!(ending.event, Some(Notice::Normal(event::SESSION_ENDED)));
    assert_eq!(
        ending.recorded.unwrap().meeting_bot_id,
        "bot-1",
        "the bot id stays on record"
    );

    let mut ended = bot;
    ended.status = Some(status(
        Phase::SessionEnded,
        reason::SESSION_COMPLETED,
        Some(at(-10)),
    ));
    let again = ending_of(plan(&ended, None));
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
        Plan::Leave { recorded, purpose } => {
            assert_eq!(purpose, LeavePurpose::Rejoin);
            assert_eq!(recorded.session_id, "session-a");
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
    assert_eq!(ending_of(plan(&bot, None)).phase, Phase::Joined);
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
    let ending = ending_of(plan(
        &out,
        Some(Learned::Left(LeavePurpose::Suspend, "bot-1".into())),
    ));
    assert_eq!(
        (ending.phase, ending.reason),
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
    let ending = ending_of(plan(&short, None));
    assert_eq!(
        ending.requeue,
        Some(Duration::from_secs(10)),
        "looked at again when due, before the next session read"
    );

    let left = ending_of(plan(
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
    assert_eq!(ending_of(plan(&completed, None)).phase, Phase::Completed);
    let fingerprint = completed.spec.join_fingerprint();
    let restored = annotate(bot(), annotation::COMPLETED_SPEC, &fingerprint);
    assert_eq!(
        ending_of(plan(&restored, None)).phase,
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
fn a_404_while_joined_is_evidence_not_proof() {
    let bot = joined(bot());
    let not_found = failure(FailureKind::NotFound, 404);
    let last = Some(Learned::Session(SessionOutcome::Failed(not_found.clone())));
    let once = memo_after(Call::Session, not_found.clone());
    let ending = ending_of(plan_with(&bot, &once, last.clone()));
    assert_eq!(ending.phase, Phase::Joined, "one 404 ends nothing");
    assert!(
        ending.requeue.unwrap() <= Duration::from_secs(5),
        "read again soon: {:?}",
        ending.requeue
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
    let ending = ending_of(plan_with(&bot, &lasting, last.clone()));
    assert_eq!(
        (ending.phase, ending.reason),
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
        ending_of(plan_with(&bot, &quick, last)).phase,
        Phase::Joined,
        "three 404s within seconds are not yet a minute"
    );
}

#[test]
fn an_invalid_spec_keeps_the_joined_bots_record_in_status() {
    let mut zero = joined(bot());
    zero.spec.max_duration = Some("500ms".into());
    let mut port = joined(bot());
    port.spec.meeting_url = Some("https://zoom.us:65536/j/1".into());
    for (bot, reason) in [
        (zero, reason::INVALID_SPEC),
        (port, reason::INVALID_MEETING_URL),
    ] {
        let ending = ending_of(plan(&bot, None));
        assert_eq!((ending.health, ending.reason), (Health::Stalled, reason));
        assert_eq!(
            ending.recorded.map(|r| r.meeting_bot_id).as_deref(),
            Some("bot-1"),
            "status keeps the record (and with it the websocket URL)"
        );
    }
}

#[test]
fn a_bot_just_joined_is_recorded_before_any_leave() {
    let mut suspended = bot();
    suspended.spec.suspend = true;
    let mut over = bot();
    over.spec.max_duration = Some("1s".into());
    for bot in [suspended, over] {
        let recorded = RecordedBot {
            meeting_bot_id: "bot-2".into(),
            session_id: "session-a".into(),
            joined_spec: Some(bot.spec.join_fingerprint()),
            joined_at: Some(at(-5)),
            uid: Some("uid-1".into()),
            api_key: None,
            install: Some(INSTALL.into()),
        };
        let just_joined = Learned::Joined(JustJoined {
            recorded,
            websocket_url: Some(crate::lemonslice::WebsocketUrl::new("wss://ws/x?token=t")),
            joined_at: at(-5),
            platform: None,
        });
        let ending = ending_of(plan(&bot, Some(just_joined)));
        assert_eq!(
            ending.joined.map(|j| j.recorded.meeting_bot_id).as_deref(),
            Some("bot-2"),
            "the join's result is written first"
        );
    }
}

#[test]
fn only_404s_in_a_row_count_toward_a_session_gone() {
    let bot = joined(bot());
    let not_found = failure(FailureKind::NotFound, 404);
    let last = Some(Learned::Session(SessionOutcome::Failed(not_found.clone())));
    // Two blips long ago, a good read, then a single 404.
    let mut blips = Memo::default();
    for seconds_ago in [300, 290] {
        let busy = failure(FailureKind::RateLimited, 429);
        blips.record(Some(1), Call::Session, busy, at(-seconds_ago), 1.0);
    }
    blips.succeeded(Call::Session);
    blips.record(Some(1), Call::Session, not_found.clone(), at(0), 1.0);
    let ending = ending_of(plan_with(&bot, &blips, last.clone()));
    assert_eq!(ending.phase, Phase::Joined, "a good read clears the blips");

    // 404s broken by a timeout start their count again.
    let mut broken = Memo::default();
    let timeout = failure(FailureKind::NoAnswer, 0);
    for (seconds_ago, failure) in [
        (120, not_found.clone()),
        (100, not_found.clone()),
        (80, timeout),
        (60, not_found.clone()),
        (1, not_found.clone()),
    ] {
        broken.record(Some(1), Call::Session, failure, at(-seconds_ago), 1.0);
    }
    let ending = ending_of(plan_with(&bot, &broken, last));
    assert_eq!(
        ending.phase,
        Phase::Joined,
        "two 404s in a row are not three"
    );
}

#[test]
fn a_session_not_found_is_read_again_slowly_and_an_active_answer_rejoins_nothing() {
    let mut lost = joined(bot());
    lost.status = Some(status(
        Phase::SessionEnded,
        reason::SESSION_NOT_FOUND,
        Some(at(-10)),
    ));
    let ending = ending_of(plan(&lost, None));
    assert_eq!(ending.reason, reason::SESSION_NOT_FOUND);
    assert!(
        ending.requeue.unwrap() > Duration::from_secs(60),
        "read again, slowly: {:?}",
        ending.requeue
    );
    let due = decide(&Facts {
        session_checked_at: at(-600),
        ..facts(&lost, &Memo::default())
    });
    assert!(is_check(&due, "session-a"), "{due:?}");
    let found = ending_of(plan(&lost, session(SessionStatus::Active)));
    assert_eq!(
        (found.phase, found.reason),
        (Phase::Joined, reason::JOINED),
        "the same bot is in the meeting again; no second join"
    );
    let completed = ending_of(plan(&lost, session(SessionStatus::Completed)));
    assert_eq!(completed.reason, reason::SESSION_COMPLETED);
}

#[test]
fn a_bot_whose_session_ended_still_gets_its_leave() {
    let mut ended = joined(bot());
    ended.status = Some(status(
        Phase::SessionEnded,
        reason::SESSION_NOT_FOUND,
        Some(at(-10)),
    ));
    let mut suspended = ended.clone();
    suspended.spec.suspend = true;
    let mut moved = ended.clone();
    moved.spec.session_id = "session-b".into();
    for (bot, purpose) in [
        (suspended, LeavePurpose::Suspend),
        (moved, LeavePurpose::Rejoin),
    ] {
        let plan = plan(&bot, None);
        assert!(
            matches!(&plan, Plan::Leave { recorded, purpose: p } if *p == purpose && recorded.session_id == "session-a"),
            "{plan:?}"
        );
    }
}

#[test]
fn a_bot_joined_without_a_websocket_url_is_ready_and_says_so() {
    let joined_with = |websocket_url: Option<&str>| {
        let bot = bot();
        let recorded = RecordedBot {
            meeting_bot_id: "bot-2".into(),
            session_id: "session-a".into(),
            joined_spec: Some(bot.spec.join_fingerprint()),
            joined_at: Some(at(-5)),
            uid: Some("uid-1".into()),
            api_key: None,
            install: Some(INSTALL.into()),
        };
        let just_joined = Learned::Joined(JustJoined {
            recorded,
            websocket_url: websocket_url.map(crate::lemonslice::WebsocketUrl::new),
            joined_at: at(-5),
            platform: None,
        });
        ending_of(plan(&bot, Some(just_joined)))
    };
    let without = joined_with(None);
    assert_eq!(
        (without.health, without.reason),
        (Health::Ready, reason::JOINED)
    );
    assert_eq!(
        without.recorded.map(|r| r.meeting_bot_id).as_deref(),
        Some("bot-2"),
        "recorded all the same"
    );
    assert!(
        without.message.contains("no websocket URL"),
        "{}",
        without.message
    );
    let with = joined_with(Some("wss://ws/x?token=t"));
    assert!(!with.message.contains("websocket"), "{}", with.message);
}

#[test]
fn a_token_in_status_is_redacted_once_the_operator_redacts() {
    // Written by an operator run with `--redact-websocket-token=false`.
    let mut bot = joined(bot());
    let status = bot.status.as_mut().unwrap();
    status.websocket_url = Some("wss://ws/agent-audio/session-a?token=t0k3n".into());
    let ending = ending_of(plan(&bot, None));

    let shown = |redact| status::build(&bot, &ending, now(), redact, INSTALL).websocket_url;
    assert_eq!(
        shown(true).as_deref(),
        Some("wss://ws/agent-audio/session-a?[redacted]")
    );
    assert_eq!(
        shown(false).as_deref(),
        Some("wss://ws/agent-audio/session-a?token=t0k3n"),
        "kept as it was when the operator does not redact"
    );
}
