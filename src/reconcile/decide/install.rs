//! Which install acts on an object: the one stamped in its status (or, after
//! a restore without status, in its own record). Installs whose scopes
//! overlap would otherwise each call LemonSlice for the same object with
//! their own key and base URL: a session read or a leave with the wrong
//! account answers 404, which looks like a session over or a bot gone.

use super::Facts;
use super::join;
use super::leave::leave_or_wait;
use super::plan::{LeavePurpose, Plan};
use crate::api::BotRecord;

/// The plan for an object no install acts on yet, given what this install
/// would do with it: anything but a write of status (which stamps this
/// install, fenced by the version seen) waits for a claim. A new object's
/// join needs no claim of its own: its record, written first and fenced,
/// names this install (of two installs that both saw the object unclaimed,
/// the second's write is refused, and it looks again), and the session is
/// read after it.
pub(super) fn claim_first(facts: &Facts, plan: Plan) -> Plan {
    let bot = facts.bot;
    match plan {
        Plan::CheckSession { .. }
            if bot.status.is_none() && matches!(bot.bot_record(), BotRecord::None) =>
        {
            Plan::ClaimAndJoin(join::attempt(facts))
        }
        Plan::Settle(_) => plan,
        // Nothing to do for it: no call, so no claim.
        _ if bot.is_deleting() && !bot.has_finalizer() => plan,
        _ => Plan::Claim,
    }
}

/// An object this install acts on that left its scope (relabelled out of
/// its label selector), unless it is being deleted (this install finishes
/// that): let go, so that the install whose scope holds it takes over. Its
/// bot goes with it when another install can take it out, that is when a
/// key Secret of the MeetingBot's joined it; one this install's own key
/// joined leaves first, and the next install joins anew.
pub(super) fn hand_over(facts: &Facts, record: &BotRecord) -> Option<Plan> {
    let bot = facts.bot;
    if facts.in_scope || bot.is_deleting() {
        return None;
    }
    if let BotRecord::Joined(recorded) = record
        && recorded.api_key_secret_ref(&bot.spec).is_none()
    {
        return Some(leave_or_wait(
            facts,
            recorded.clone(),
            LeavePurpose::HandOver,
        ));
    }
    Some(Plan::Release)
}
