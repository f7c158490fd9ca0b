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
    // A new object is claimed before anything, its session read included.
    assert_eq!(plan(&unclaimed(bot()), None), Plan::Claim);
    // So is one an operator before 0.3 joined (its status names no install),
    // and one being deleted that still holds the finalizer.
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
    assert_eq!(plan(&copy, None), Plan::Claim);
}
