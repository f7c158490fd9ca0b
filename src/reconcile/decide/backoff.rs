//! Waiting out earlier failures of a vendor call: a backoff, or a refusal
//! that only a change can cure.

use super::Facts;
use super::memo::Call;
use super::plan::Ending;
use crate::api::{Phase, annotation, event, reason};
use crate::lemonslice::FailureKind;
use std::time::Duration;

/// Ways to let a MeetingBot go when leave cannot succeed.
pub(super) fn leave_ways_out() -> String {
    format!(
        "to let the MeetingBot go without leave set spec.deletionPolicy to Orphan or the annotation {} \
         to \"true\"",
        annotation::SKIP_LEAVE
    )
}

/// The reason that a vendor call's failure shows in conditions and Events.
fn failure_reason(kind: FailureKind) -> &'static str {
    match kind {
        FailureKind::ConnectFailed => reason::CONNECT_FAILED,
        FailureKind::InvalidRequest => reason::INVALID_REQUEST,
        FailureKind::Unauthorized => reason::UNAUTHORIZED,
        FailureKind::NotFound => reason::SESSION_NOT_FOUND,
        FailureKind::Conflict => reason::SESSION_CONFLICT,
        FailureKind::RateLimited => reason::RATE_LIMITED,
        FailureKind::Unavailable => reason::VENDOR_UNAVAILABLE,
        FailureKind::ServerError => reason::VENDOR_ERROR,
        FailureKind::Redirected => reason::REDIRECTED,
        FailureKind::NoAnswer => reason::NO_ANSWER,
    }
}

/// When earlier failures of `call` say to wait, the status to show meanwhile.
pub(super) fn waiting(facts: &Facts, call: Call) -> Option<Ending> {
    let memo = facts.failures(call)?;
    let failure = memo.failure.as_ref()?;
    let remaining = Duration::try_from(memo.retry_at.duration_since(facts.now)).ok()?;
    let described = failure.describe();
    let ending = match (call, memo.gave_up) {
        (Call::Join, false) => Ending::reconciling(
            Phase::Joining,
            failure_reason(failure.kind),
            format!("join failed ({described}); retrying"),
        ),
        (Call::Session, false) => Ending::reconciling(
            Phase::Pending,
            failure_reason(failure.kind),
            format!("reading the session failed ({described}); retrying"),
        ),
        (Call::Join | Call::Session, true) => Ending::stalled(
            Phase::Failed,
            failure_reason(failure.kind),
            format!(
                "join refused ({described}); the operator tries again when the spec or a referenced Secret changes"
            ),
        ),
        (Call::Leave, false) if failure.kind == FailureKind::NotFound => Ending::reconciling(
            Phase::Leaving,
            reason::LEAVING,
            format!(
                "leave answered 404 ({described}): the bot may be gone, or LemonSlice may not know it \
                 for a moment; asking again until 404s in a row over a minute prove it gone"
            ),
        ),
        // A leave retried for as long as the vendor fails: the message says
        // how not to wait for it.
        (Call::Leave, false) => Ending::reconciling(
            Phase::Leaving,
            reason::LEAVING,
            format!(
                "leave failed ({described}); retrying ({})",
                leave_ways_out()
            ),
        ),
        (Call::Leave, true) => Ending::stalled(
            Phase::Leaving,
            reason::LEAVE_FAILED,
            format!("leave refused ({described}); {}", leave_ways_out()),
        ),
    };
    let warning = match call {
        Call::Join | Call::Session => event::JOIN_FAILED,
        Call::Leave => event::LEAVE_FAILED,
    };
    Some(ending.with_requeue(remaining).with_warning(warning))
}
