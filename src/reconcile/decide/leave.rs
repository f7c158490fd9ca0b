//! Taking a bot out of its meeting: leave now, or say why not yet.

use super::Facts;
use super::backoff::{leave_ways_out, waiting};
use super::memo::Call;
use super::memo::CallMemo;
use super::plan::{Ending, Learned, LeavePurpose, Plan};
use super::session::said_ended;
use crate::api::{MeetingBot, Phase, RecordedBot, event, reason};
use jiff::Timestamp;

/// Whether one more leave 404 (the account answering with the same key)
/// proves the bot of `recorded` gone, given the leave's `earlier` failures:
/// at once when status says its session ended, which takes the bot with it;
/// otherwise only as the last of 404s in a row over a minute. A vendor, or a
/// proxy in front of it, may answer 404 for a moment (a bot it does not know
/// yet, a route being changed), and a bot whose record went on such an
/// answer could never be taken out.
pub fn not_found_proves_left(
    bot: &MeetingBot,
    recorded: &RecordedBot,
    earlier: Option<&CallMemo>,
    now: Timestamp,
) -> bool {
    said_ended(bot, recorded).is_some()
        || earlier.is_some_and(|earlier| earlier.not_found_proven(1, now))
}

/// Leave now, or report why not yet; status keeps showing the bot meanwhile.
pub(super) fn leave_or_wait(facts: &Facts, recorded: RecordedBot, purpose: LeavePurpose) -> Plan {
    if let Some(Learned::SecretMissing(problem)) = facts.just_learned {
        return Ending::stalled(
            Phase::Leaving,
            reason::LEAVE_FAILED,
            format!(
                "leave needs the API key in Secret {}, which is missing; restore it, or {}",
                problem.secret(),
                leave_ways_out()
            ),
        )
        .showing(Some(recorded))
        .with_warning(event::LEAVE_FAILED)
        .into();
    }
    if let Some(wait) = waiting(facts, Call::Leave) {
        return wait.showing(Some(recorded)).into();
    }
    Plan::Leave { recorded, purpose }
}
