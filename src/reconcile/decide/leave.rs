//! Taking a bot out of its meeting: leave now, or say why not yet.

use super::Facts;
use super::backoff::{leave_ways_out, waiting};
use super::memo::Call;
use super::plan::{Ending, Learned, LeavePurpose, Plan};
use super::session::said_ended;
use crate::api::{MeetingBot, Phase, RecordedBot, event, reason};

/// Whether status says the session of `recorded` ended, taking the bot with it.
pub fn session_ended(bot: &MeetingBot, recorded: &RecordedBot) -> bool {
    said_ended(bot, recorded).is_some()
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
