//! Waiting out earlier failures of a vendor call: a backoff, or a refusal
//! that only a change can cure.

use super::{event, reason};
use crate::api::Phase;
use crate::reconcile::memo::Call;
use crate::reconcile::plan::{Ending, Facts};
use std::time::Duration;

/// Ways to let a MeetingBot go when leave cannot succeed.
pub(super) const LEAVE_WAYS_OUT: &str = "to let the MeetingBot go without leave set spec.deletionPolicy to Orphan \
     or the annotation liveai.lemonslice.com/skip-leave to \"true\"";

/// When earlier failures of `call` say to wait, the status to show meanwhile.
pub(super) fn waiting(facts: &Facts, call: Call) -> Option<Ending> {
    let memo = facts.failures(call)?;
    let failure = memo.failure.as_ref()?;
    let remaining = Duration::try_from(memo.retry_at.duration_since(facts.now)).ok()?;
    let described = failure.describe();
    let ending = match (call, memo.gave_up) {
        (Call::Join, false) => Ending::reconciling(
            Phase::Joining,
            failure.kind.reason(),
            format!("join failed ({described}); retrying"),
        ),
        (Call::Session, false) => Ending::reconciling(
            Phase::Pending,
            failure.kind.reason(),
            format!("reading the session failed ({described}); retrying"),
        ),
        (Call::Join | Call::Session, true) => Ending::stalled(
            Phase::Failed,
            failure.kind.reason(),
            format!(
                "join refused ({described}); the operator tries again when the spec or a referenced Secret changes"
            ),
        ),
        (Call::Leave, false) => Ending::reconciling(
            Phase::Leaving,
            reason::LEAVING,
            format!("leave failed ({described}); retrying"),
        ),
        (Call::Leave, true) => Ending::stalled(
            Phase::Leaving,
            reason::LEAVE_FAILED,
            format!("leave refused ({described}); {LEAVE_WAYS_OUT}"),
        ),
    };
    let warning = match call {
        Call::Join | Call::Session => event::JOIN_FAILED,
        Call::Leave => event::LEAVE_FAILED,
    };
    Some(ending.with_requeue(remaining).with_warning(warning))
}
