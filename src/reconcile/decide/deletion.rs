//! A MeetingBot being deleted: take its bot out, or let it go.

use super::Facts;
use super::leave::leave_or_wait;
use super::plan::{Ending, LeavePurpose, Plan};
use crate::api::{BotRecord, DeletionPolicy, Phase, reason};

pub(super) fn decide(facts: &Facts, record: BotRecord) -> Plan {
    let bot = facts.bot;
    if !bot.has_finalizer() {
        // Nothing of ours holds the object; the API server removes it.
        return Ending::reconciling(Phase::Leaving, reason::LEAVING, String::new()).into();
    }
    let let_go = Plan::RemoveFinalizer {
        unknown_join: false,
    };
    match record {
        // A copy's bot belongs to the original: deleting the copy leaves it be.
        // Copies in conflict come here only when users let the object go.
        BotRecord::None | BotRecord::Foreign { .. } | BotRecord::Conflict { .. } => let_go,
        BotRecord::JoinInFlight(_) => Plan::RemoveFinalizer { unknown_join: true },
        BotRecord::Joined(_)
            if bot.spec.deletion_policy == DeletionPolicy::Orphan || bot.skip_leave() =>
        {
            let_go
        }
        // Even when its session seems over: leave answers 404 for a bot already gone.
        BotRecord::Joined(recorded) => leave_or_wait(facts, recorded, LeavePurpose::Delete),
    }
}
