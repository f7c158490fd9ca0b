use super::*;

fn acted_on_by(mut bot: MeetingBot, install: &str) -> MeetingBot {
    bot.status.get_or_insert_default().install = Some(install.into());
    bot
}

fn unclaimed(mut bot: MeetingBot) -> MeetingBot {
    bot.status = None;
    bot
}

fn leaves_to(plan: &Plan) -> Option<&str> {
    match plan {
        Plan::LeaveToInstall { install } => Some(install),
        _ => None,
    }
}

#[test]
fn only_the_install_that_claimed_an_object_acts_on_it() {
    // A new object is claimed by its join's record, which names this
    // install and comes before any call, its session read included.
    let Plan::ClaimAndJoin(attempt) = plan(&unclaimed(bot()), None) else {
        panic!("a new object's join claims it");
    };
    assert_eq!(attempt.install.as_deref(), Some(INSTALL));
    // So is a new object whose session was read queued before (its record
    // went again); what the read said is written with this install's stamp.
    let waiting = plan(&unclaimed(bot()), session(SessionStatus::Queued));
    assert_eq!(ending_of(waiting).phase, Phase::WaitingForSession);
    // One an operator before 0.3 joined (its status names no install), and
    // one being deleted that still holds the finalizer, are claimed by a
    // status write of their own before their call.
    let mut older = joined(bot());
    older.status.as_mut().unwrap().install = None;
    let older = annotate(
        older,
        annotation::RECORD,
        r#"{"meetingBotId":"bot-1","sessionId":"session-a","uid":"uid-1"}"#,
    );
    assert_eq!(plan(&older, None), Plan::Claim);
    assert_eq!(plan(&deleting(unclaimed(bot())), None), Plan::Claim);
    // One with nothing left to do needs no claim.
    let mut gone = deleting(unclaimed(bot()));
    gone.metadata.finalizers = None;
    assert_ne!(plan(&gone, None), Plan::Claim);

    // Claimed by this install: the rules that follow decide.
    assert!(is_check(&plan(&bot(), None), "session-a"));

    // Claimed by another: nothing from here, whatever else holds, deletion included.
    for other in [
        acted_on_by(bot(), "install-b"),
        acted_on_by(joined(bot()), "install-b"),
        deleting(acted_on_by(joined(bot()), "install-b")),
        acted_on_by(in_flight(bot(), None), "install-b"),
    ] {
        let planned = plan(&other, None);
        assert_eq!(leaves_to(&planned), Some("install-b"), "{planned:?}");
    }

    // Restored without status: this object's own record says who acts.
    let mut restored = joined(bot());
    restored.status = None;
    let record = restored.annotation(annotation::RECORD).unwrap().to_owned();
    let by_other = record.replace(INSTALL, "install-b");
    let restored_elsewhere = annotate(restored.clone(), annotation::RECORD, &by_other);
    assert_eq!(
        leaves_to(&plan(&restored_elsewhere, None)),
        Some("install-b")
    );
    assert_ne!(
        plan(&restored, None),
        Plan::Claim,
        "its own record names this install"
    );

    // A copy's record was made for another object: it names no install of this one's.
    let copied = by_other.replace("uid-1", "uid-original");
    let copy = annotate(restored, annotation::RECORD, &copied);
    assert_eq!(
        ending_of(plan(&copy, None)).reason,
        reason::FOREIGN_RECORD,
        "its status, which this install writes, claims it"
    );
}

#[test]
fn an_object_that_left_the_scope_is_handed_over() {
    let out_of_scope = |bot: &MeetingBot, learned: Option<Learned>| {
        decide(&Facts {
            in_scope: false,
            just_learned: learned.as_ref(),
            ..facts(bot, &Memo::default())
        })
    };
    // Nothing joined, or a join whose outcome is unknown: let go at once.
    assert_eq!(out_of_scope(&bot(), None), Plan::Release);
    assert_eq!(out_of_scope(&in_flight(bot(), None), None), Plan::Release);
    // A bot this install's own key joined: no other install can take it
    // out, so it leaves first, and the next install joins anew.
    let joined_here = joined(bot());
    let Plan::Leave { recorded, purpose } = out_of_scope(&joined_here, None) else {
        panic!("a leave first");
    };
    assert_eq!(
        (recorded.meeting_bot_id.as_str(), purpose),
        ("bot-1", LeavePurpose::HandOver)
    );
    let left = Learned::Left(LeavePurpose::HandOver, "bot-1".into());
    assert_eq!(out_of_scope(&joined_here, Some(left)), Plan::Release);
    // A bot a key Secret of the MeetingBot joined goes with the object.
    let mut with_key = joined(bot());
    let key = ApiKeySecretRef {
        name: "account".into(),
        key: "apiKey".into(),
    };
    with_key.spec.api_key_secret_ref = Some(key);
    assert_eq!(out_of_scope(&with_key, None), Plan::Release);
    // Being deleted, it is finished here: leave, then let go of the object.
    assert!(matches!(
        out_of_scope(&deleting(joined(bot())), None),
        Plan::Leave {
            purpose: LeavePurpose::Delete,
            ..
        }
    ));
    // Another install's object is not this one's to hand over.
    assert_eq!(
        leaves_to(&out_of_scope(
            &acted_on_by(joined(bot()), "install-b"),
            None
        )),
        Some("install-b")
    );
}
