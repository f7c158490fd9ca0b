//! Which install acts on an object: the one stamped in its status (or, after
//! a restore without status, in its own record). Installs whose scopes
//! overlap would otherwise each call LemonSlice for the same object with
//! their own key and base URL: a session read or a leave with the wrong
//! account answers 404, which looks like a session over or a bot gone.

use super::Facts;
use super::plan::Plan;

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
