//! `kubectl mbot status NAME`: one screen a person can act on.

use crate::connect::Target;
use crate::events::Shown;
use crate::format::{age, short, when};
use crate::record::{foreign_uid, join_in_flight, needs_you, recorded, recorded_bot_id};
use jiff::Timestamp;
use meetingbot_operator::api::{MeetingBot, MeetingBotStatus};
use std::fmt::Write;

const EVENTS_SHOWN: usize = 10;

pub async fn run(target: &Target, name: &str) -> anyhow::Result<()> {
    let bot = target.bot(name).await?;
    let uid = bot.metadata.uid.clone().unwrap_or_default();
    let events = crate::events::latest(target, &uid, EVENTS_SHOWN).await?;
    print!(
        "{}",
        render(&bot, &target.namespace, &events, Timestamp::now())
    );
    Ok(())
}

/// The screen: the facts, the conditions, the latest Events, and what needs a person.
pub fn render(bot: &MeetingBot, namespace: &str, events: &[Shown], now: Timestamp) -> String {
    let mut out = String::new();
    facts(&mut out, bot, namespace, now);
    conditions(&mut out, bot, now);
    latest_events(&mut out, events, now);
    if let Some((what, steps)) = needs_you(bot, namespace) {
        let _ = writeln!(out, "\nNeeds you: {what}");
        for step in steps {
            let _ = writeln!(out, "  {}:\n    {}", step.when, step.command);
        }
    }
    out
}

/// One labelled line per fact: where the bot is, and what record it has.
fn facts(out: &mut String, bot: &MeetingBot, namespace: &str, now: Timestamp) {
    let status = bot.status.clone().unwrap_or_default();
    let dash = || "-".to_owned();
    let mut line = |label: &str, value: String| {
        let _ = writeln!(out, "{:<14}{value}", format!("{label}:"));
    };
    line(
        "MeetingBot",
        format!(
            "{namespace}/{}",
            bot.metadata.name.as_deref().unwrap_or_default()
        ),
    );
    line(
        "Phase",
        status
            .phase
            .map(|p| format!("{p:?}"))
            .unwrap_or_else(|| "- (not yet seen by the operator)".into()),
    );
    line(
        "Platform",
        status
            .platform
            .map(|p| format!("{p:?}"))
            .unwrap_or_else(dash),
    );
    line("Bot ID", bot_id(bot, now));
    line("Session", session(bot, &status));
    let joined_at = status
        .joined_at
        .as_ref()
        .map(|t| t.0)
        .or_else(|| recorded(bot).and_then(|copy| copy.joined_at));
    line(
        "Joined at",
        joined_at.map(|t| when(now, t)).unwrap_or_else(dash),
    );
    line("Max duration", max_duration(bot, joined_at, now));
    if bot.spec.suspend {
        line(
            "Suspend",
            "true (the avatar stays out of the meeting)".into(),
        );
    }
    if let Some(since) = &bot.metadata.deletion_timestamp {
        line(
            "Deleting",
            format!("since {}: waits for the bot to leave", when(now, since.0)),
        );
    }
    if let Some(uid) = foreign_uid(bot) {
        line(
            "Record",
            format!("of another MeetingBot (uid {uid}), not this one's"),
        );
    }
}

fn bot_id(bot: &MeetingBot, now: Timestamp) -> String {
    match (recorded_bot_id(bot), join_in_flight(bot)) {
        (Some(id), _) => id,
        (None, Some(attempt)) => format!(
            "unknown: a join under session {} was sent at {} and its outcome never recorded",
            attempt.session_id,
            when(now, attempt.started_at)
        ),
        (None, None) => "- (no bot)".into(),
    }
}

/// The session the bot joined under, and the spec's when it differs.
fn session(bot: &MeetingBot, status: &MeetingBotStatus) -> String {
    let session = recorded(bot)
        .map(|copy| copy.session_id)
        .or(status.session_id.clone());
    match session {
        Some(s) if s != bot.spec.session_id => {
            format!("{s} (spec.sessionId is now {})", bot.spec.session_id)
        }
        Some(s) => s,
        None => format!("- (spec.sessionId {})", bot.spec.session_id),
    }
}

fn conditions(out: &mut String, bot: &MeetingBot, now: Timestamp) {
    let _ = writeln!(out, "\nConditions:");
    let conditions = bot
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    if conditions.is_empty() {
        let _ = writeln!(out, "  none yet");
    }
    for c in conditions {
        let _ = writeln!(
            out,
            "  {:<12} {:<6} {:<20} {:>6}  {}",
            c.type_,
            c.status,
            c.reason,
            age(now, c.last_transition_time.0),
            c.message
        );
    }
}

fn latest_events(out: &mut String, events: &[Shown], now: Timestamp) {
    let _ = writeln!(out, "\nEvents (latest {EVENTS_SHOWN}):");
    if events.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for e in events {
        let count = if e.count > 1 {
            format!(" (x{})", e.count)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "  {:>6} ago  {:<8} {}{count}: {}",
            age(now, e.at),
            e.type_,
            e.reason,
            e.message
        );
    }
}

fn max_duration(bot: &MeetingBot, joined_at: Option<Timestamp>, now: Timestamp) -> String {
    let Some(text) = bot.spec.max_duration.as_deref() else {
        return "- (stays until deleted)".into();
    };
    match (bot.max_duration(), joined_at) {
        (Some(Err(problem)), _) => format!("{text}: invalid ({problem})"),
        (Some(Ok(limit)), Some(joined)) => {
            let left = limit.as_secs() as i64 - now.duration_since(joined).as_secs();
            if left > 0 {
                format!("{text}: leaves in {}", short(left as u64))
            } else {
                format!("{text}: reached")
            }
        }
        _ => format!("{text}, counted from the join"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::bot;
    use meetingbot_operator::api::annotation;
    use meetingbot_operator::api::reason::JOIN_OUTCOME_UNKNOWN;

    #[test]
    fn an_unknown_join_shows_what_happened_and_the_commands() {
        let attempt = r#"{"sessionId":"s1","startedAt":"2026-01-01T00:00:00Z"}"#;
        let stuck = bot(
            &[(annotation::JOIN_IN_FLIGHT, attempt)],
            Some(JOIN_OUTCOME_UNKNOWN),
        );
        let text = render(&stuck, "team", &[], Timestamp::now());
        assert!(
            text.contains("Bot ID:       unknown: a join under session s1"),
            "{text}"
        );
        assert!(text.contains("Needs you:"), "{text}");
        assert!(
            text.contains("kubectl mbot retry-join standup -n team"),
            "{text}"
        );
    }

    #[test]
    fn time_left_counts_from_the_join() {
        let mut joined = bot(&[], None);
        joined.spec.max_duration = Some("90m".into());
        let now = Timestamp::now();
        let start = now - jiff::SignedDuration::from_secs(30 * 60);
        assert_eq!(max_duration(&joined, Some(start), now), "90m: leaves in 1h");
        assert_eq!(
            max_duration(&joined, None, now),
            "90m, counted from the join"
        );
    }
}
