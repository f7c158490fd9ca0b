//! Which install acts on an object: the one stamped in its status (or, after
//! a restore without status, in its own record). Installs whose scopes
//! overlap would otherwise each call LemonSlice for the same object with
//! their own key and base URL: a session read or a leave with the wrong
//! account answers 404, which looks like a session over or a bot gone.

use super::Facts;
use super::leave::leave_or_wait;
use super::plan::{LeavePurpose, Plan};
use crate::api::BotRecord;

/// The plan that settles who acts, if this install is not (yet) the one.
pub(super) fn acting(facts: &Facts) -> Option<Plan> {
    let bot = facts.bot;
    match bot.acting_install() {
        Some(install) if install == facts.install => None,
        Some(install) => Some(Plan::LeaveToInstall { install }),
        // Nothing to do for it: no call, so no claim.
        None if bot.is_deleting() && !bot.has_finalizer() => None,
        // The claim is fenced: of two installs that both saw the object
        // unclaimed, the second's write is refused, and it looks again.
        None => Some(Plan::Claim),
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
