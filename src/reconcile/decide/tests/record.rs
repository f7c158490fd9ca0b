//! The record of a bot and its copies: restored, foreign, never a second join.

use super::*;

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
fn a_copy_of_another_objects_record_is_foreign_and_gets_no_call() {
    let mut copy = joined(bot());
    copy.metadata.uid = Some("uid-copy".into());
    let ending = ending_of(plan(&copy, session(SessionStatus::Active)));
    assert_eq!(
        (ending.phase, ending.health, ending.reason),
        (Phase::Failed, Health::Stalled, reason::FOREIGN_RECORD)
    );
    assert!(ending.message.contains("uid-1") && ending.message.contains(annotation::ADOPT_RECORD));
    assert_eq!(
        ending.recorded.and_then(|b| b.uid).as_deref(),
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
    let ending = ending_of(plan(&restored, None));
    assert_eq!(ending.phase, Phase::Joined);
    assert_eq!(
        ending.recorded.map(|b| b.meeting_bot_id).as_deref(),
        Some("bot-1")
    );
}

/// Every combination of the record's copies (absent, this object's, one
/// without UID, another bot of this object's, one that joined later than
/// status's, another object's, an unreadable annotation, an older operator's
/// annotations), of a join in flight, of an adopt request, of the bot being
/// recorded by another MeetingBot, and of a spec whose API key changed: none
/// plans a join while any copy or request names a bot or a join is in
/// flight; none leaves a bot that status does not record while status
/// records another; none leaves or adopts a bot another MeetingBot records.
#[test]
fn no_combination_of_record_copies_plans_a_second_join() {
    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Held {
        Absent,
        Own,
        WithoutUid,
        OtherBot,
        LaterBot,
        Foreign,
        Unreadable,
        OlderOperators,
    }
    use Held::*;
    let in_annotations = [
        Absent,
        Own,
        WithoutUid,
        OtherBot,
        LaterBot,
        Foreign,
        Unreadable,
        OlderOperators,
    ];
    let in_status = [Absent, Own, WithoutUid, OtherBot, Foreign];
    let copy_of = |copy: Held| {
        let (id, uid, joined) = match copy {
            Own => ("bot-1", Some("uid-1"), -30),
            WithoutUid => ("bot-1", None, -30),
            OtherBot => ("bot-2", Some("uid-1"), -60),
            LaterBot => ("bot-3", Some("uid-1"), -1),
            Foreign => ("bot-9", Some("uid-other"), -30),
            Absent | Unreadable | OlderOperators => return None,
        };
        Some(RecordedBot {
            meeting_bot_id: id.into(),
            session_id: "session-a".into(),
            joined_spec: None,
            joined_at: Some(at(joined)),
            uid: uid.map(str::to_owned),
            api_key: None,
            install: Some(INSTALL.into()),
        })
    };
    let adopt_requests = [None, Some("bot-5"), Some("{not json")];
    let mut seen = 0;
    for annotated in in_annotations {
        for status_copy in in_status {
            for flight in [Absent, Own, Foreign] {
                for adopt in adopt_requests {
                    for elsewhere in [false, true] {
                        for new_key in [false, true] {
                            for last in [None, session(SessionStatus::Active)] {
                                let mut subject = bot();
                                match annotated {
                                    Unreadable => {
                                        subject = annotate(subject, annotation::RECORD, "bot-7")
                                    }
                                    OlderOperators => {
                                        subject = annotate(
                                            subject,
                                            crate::api::LEGACY_RECORD_ANNOTATIONS[0],
                                            "bot-7",
                                        )
                                    }
                                    _ => {}
                                }
                                if let Some(r) = copy_of(annotated) {
                                    for (key, value) in crate::api::joined_annotations(&r) {
                                        if let Some(value) = value {
                                            subject = annotate(subject, key, &value);
                                        }
                                    }
                                }
                                if let Some(r) = copy_of(status_copy) {
                                    subject.status = Some(MeetingBotStatus {
                                        meeting_bot_id: Some(r.meeting_bot_id),
                                        joined_at: r.joined_at.map(Time),
                                        record_uid: r.uid,
                                        ..status(Phase::Joined, reason::JOINED, None)
                                    });
                                }
                                if flight != Absent {
                                    subject = in_flight(subject, None);
                                    if flight == Foreign {
                                        let foreign = JoinAttempt {
                                            session_id: "session-a".into(),
                                            retry_join: None,
                                            started_at: at(-5),
                                            uid: Some("uid-other".into()),
                                            answer: None,
                                            seen_meeting_bot_id: None,
                                            install: Some(INSTALL.into()),
                                        };
                                        subject = annotate(
                                            subject,
                                            annotation::JOIN_IN_FLIGHT,
                                            &serde_json::to_string(&foreign).unwrap(),
                                        );
                                    }
                                }
                                if let Some(request) = adopt {
                                    subject = annotate(subject, annotation::ADOPT, request);
                                }
                                if new_key {
                                    subject.spec.api_key_secret_ref = Some(ApiKeySecretRef {
                                        name: "other-account".into(),
                                        key: "api-key".into(),
                                    });
                                }
                                let memo = Memo::default();
                                let plan = decide(&Facts {
                                    just_learned: last.as_ref(),
                                    recorded_elsewhere: elsewhere,
                                    ..facts(&subject, &memo)
                                });
                                let context = format!(
                                    "annotations {annotated:?}, status {status_copy:?}, in flight \
                                     {flight:?}, adopt {adopt:?}, elsewhere {elsewhere}, new key \
                                     {new_key}: {plan:?}"
                                );
                                seen += 1;
                                let anything = [annotated, status_copy, flight]
                                    .iter()
                                    .any(|c| *c != Absent)
                                    || adopt.is_some();
                                if anything {
                                    assert!(
                                        !matches!(plan, Plan::Join(_) | Plan::ClaimAndJoin(_)),
                                        "{context}"
                                    );
                                }
                                if let Plan::Leave { recorded, .. } = &plan {
                                    assert!(!elsewhere, "{context}");
                                    if let Some(own) = copy_of(status_copy)
                                        && own.uid.as_deref() == Some("uid-1")
                                    {
                                        assert_eq!(
                                            recorded.meeting_bot_id, own.meeting_bot_id,
                                            "{context}"
                                        );
                                    }
                                }
                                if let Plan::Record(adopted) = &plan
                                    && elsewhere
                                {
                                    assert_ne!(adopted.meeting_bot_id, "bot-5", "{context}");
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    assert_eq!(seen, 8 * 5 * 3 * 3 * 2 * 2 * 2);
}

#[test]
fn a_bot_seen_to_leave_is_never_taken_for_live_again() {
    // The leave succeeded, then the write clearing the record was refused (a
    // `kubectl replace` restored the spec the bot joined with).
    let mut memo = Memo::default();
    memo.seldom_mut().left = Some(("bot-1".into(), LeavePurpose::Rejoin));
    let plan = plan_with(&joined(bot()), &memo, None);
    assert!(
        matches!(&plan, Plan::Forget { recorded, purpose: LeavePurpose::Rejoin } if recorded.meeting_bot_id == "bot-1"),
        "{plan:?}"
    );
    assert_eq!(
        plan_with(&deleting(joined(bot())), &memo, None),
        Plan::RemoveFinalizer {
            unknown_join: false
        }
    );
}

#[test]
fn a_bot_another_meetingbot_records_is_neither_left_nor_adopted_from_here() {
    // A tenant wrote the victim's bot id into its own object's annotations.
    let mut tenant = joined(bot());
    tenant.status = None;
    let mut suspended = tenant.clone();
    suspended.spec.suspend = true;
    let deleted = deleting(tenant.clone());
    for subject in [tenant.clone(), suspended, deleted] {
        let plan = decide(&Facts {
            recorded_elsewhere: true,
            ..facts(&subject, &Memo::default())
        });
        let ending = ending_of(plan);
        assert_eq!(
            (ending.health, ending.reason),
            (Health::Stalled, reason::ADOPTION_CONFLICT)
        );
        assert!(!ending.message.contains("uid-"), "names no other object");
    }
    let letting_go = annotate(deleting(tenant), annotation::SKIP_LEAVE, "true");
    let plan = decide(&Facts {
        recorded_elsewhere: true,
        ..facts(&letting_go, &Memo::default())
    });
    assert!(matches!(plan, Plan::RemoveFinalizer { .. }), "{plan:?}");

    // The object whose own status records the bot is not held back.
    let owner = joined(bot());
    let plan = decide(&Facts {
        recorded_elsewhere: true,
        ..facts(&deleting(owner), &Memo::default())
    });
    assert!(matches!(plan, Plan::Leave { .. }), "{plan:?}");
}
