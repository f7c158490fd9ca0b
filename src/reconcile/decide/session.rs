//! The end of a session, which takes its avatar with it: as the vendor
//! answers it, as status remembers it, and as status shows it; and when
//! a session is due to be read again to learn it.

use super::Facts;
use super::plan::{Ending, Learned};
use crate::api::{MeetingBot, Phase, RecordedBot, reason};
use crate::lemonslice::SessionStatus;
use jiff::Timestamp;
use std::time::Duration;

/// The Ready reason of a session that is over, taking its avatar with it.
pub(super) fn ended_reason(session: SessionStatus) -> Option<&'static str> {
    match session {
        SessionStatus::Queued | SessionStatus::Active => None,
        SessionStatus::Completed => Some(reason::SESSION_COMPLETED),
        SessionStatus::TimedOut => Some(reason::SESSION_TIMED_OUT),
        SessionStatus::Failed => Some(reason::SESSION_FAILED),
    }
}

/// Whether status already says that this bot's session ended, and why.
pub(super) fn said_ended(bot: &MeetingBot, recorded: &RecordedBot) -> Option<&'static str> {
    let status = bot.status.as_ref()?;
    let same_bot = status.meeting_bot_id.as_deref() == Some(recorded.meeting_bot_id.as_str());
    if status.phase != Some(Phase::SessionEnded) || !same_bot {
        return None;
    }
    let said = status.ready_reason()?;
    [
        reason::SESSION_COMPLETED,
        reason::SESSION_TIMED_OUT,
        reason::SESSION_FAILED,
        reason::SESSION_NOT_FOUND,
    ]
    .into_iter()
    .find(|known| *known == said)
}

/// The ending of a MeetingBot whose session is over, for `reason`.
pub(super) fn over(session_id: &str, reason: &'static str) -> Ending {
    Ending::stalled(
        Phase::SessionEnded,
        reason,
        format!(
            "session {session_id} is over ({reason}), and with it the avatar's presence in any meeting; \
             delete the MeetingBot, or set spec.sessionId to a live session"
        ),
    )
}

/// How long until the session is due for a read `interval` after the last
/// one (a read just made, or the join, counts as the last); `None` when due.
pub(super) fn due_in(facts: &Facts, interval: Duration) -> Option<Duration> {
    if matches!(
        facts.just_learned,
        Some(Learned::Session(_) | Learned::Joined(_))
    ) {
        return Some(interval);
    }
    let due = facts
        .session_checked_at
        .checked_add(interval)
        .unwrap_or(Timestamp::MAX);
    Duration::try_from(due.duration_since(facts.now))
        .ok()
        .filter(|remaining| !remaining.is_zero())
}

/// `interval` stretched by a factor in 0.8..1.2 fixed per object, so that
/// bots created together do not poll together.
pub(super) fn jittered(interval: Duration, bot: &MeetingBot) -> Duration {
    let uid = bot.metadata.uid.as_deref().unwrap_or_default();
    let spread = crate::api::fnv1a(uid.as_bytes()) % 1000;
    interval.mul_f64(0.8 + spread as f64 * 0.4 / 1000.0)
}
