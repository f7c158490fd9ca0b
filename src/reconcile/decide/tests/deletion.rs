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
