//! `kubectl mbot status NAME`: one screen a person can act on.

use crate::connect::Target;
use crate::events::Shown;
use crate::format::{age, human_duration, when};
use crate::output::{self, DataFormat};
use crate::record::{foreign_uid, join_in_flight, needs_you, recorded, recorded_bot_id};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use meetingbot_operator::api::MeetingBot;
use serde::Serialize;
use std::fmt::Write;

const EVENTS_SHOWN: usize = 10;

pub async fn run(target: &Target, name: &str, format: Option<DataFormat>) -> anyhow::Result<()> {
    let bot = target.bot(name).await?;
    let uid = bot.metadata.uid.clone().unwrap_or_default();
    let events = crate::events::latest(target, &uid, EVENTS_SHOWN).await?;
    match format {
        Some(format) => print!(
            "{}",
            output::data(&report(&bot, &target.namespace, &events), format)?
        ),
        None => print!(
            "{}",
            render(&bot, &target.namespace, &events, Timestamp::now())
        ),
    }
    Ok(())
}

/// The facts of the screen, as data (`-o json|yaml`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub name: String,
    pub namespace: String,
    pub phase: Option<String>,
    pub platform: Option<String>,
    pub suspend: bool,
    pub deleting_since: Option<Timestamp>,
    pub max_duration: Option<String>,
    /// The bot the MeetingBot records, and whose record it is.
    pub record: RecordReport,
    /// A join sent whose outcome was never recorded.
    pub join_in_flight: Option<JoinReport>,
    pub conditions: Vec<Condition>,
    pub events: Vec<EventReport>,
    /// What needs a person, and the commands that get it going; null when nothing does.
    pub needs_you: Option<NeedsYou>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordReport {
    pub bot_id: Option<String>,
    pub session_id: Option<String>,
    pub joined_at: Option<Timestamp>,
    /// The UID of the MeetingBot whose record this is, when not this one's own.
    pub foreign_uid: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinReport {
    pub session_id: String,
    pub started_at: Timestamp,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventReport {
    pub at: Timestamp,
    #[serde(rename = "type")]
    pub type_: String,
    pub reason: String,
    pub count: i32,
    pub message: String,
}

#[derive(Debug, Serialize)]
pub struct NeedsYou {
    pub what: String,
    pub steps: Vec<StepReport>,
}

#[derive(Debug, Serialize)]
pub struct StepReport {
    pub when: String,
    pub command: String,
}

pub fn report(bot: &MeetingBot, namespace: &str, events: &[Shown]) -> Report {
    let status = bot.status.clone().unwrap_or_default();
    Report {
        name: bot.metadata.name.clone().unwrap_or_default(),
        namespace: namespace.to_owned(),
        phase: status.phase.map(|p| format!("{p:?}")),
        platform: status.platform.map(|p| format!("{p:?}")),
        suspend: bot.spec.suspend,
        deleting_since: bot.metadata.deletion_timestamp.as_ref().map(|t| t.0),
        max_duration: bot.spec.max_duration.clone(),
        record: RecordReport {
            bot_id: recorded_bot_id(bot),
            session_id: joined_session(bot),
            joined_at: joined_at(bot),
            foreign_uid: foreign_uid(bot),
        },
        join_in_flight: join_in_flight(bot).map(|attempt| JoinReport {
            session_id: attempt.session_id,
            started_at: attempt.started_at,
        }),
        conditions: status.conditions.clone(),
        events: events
            .iter()
            .map(|e| EventReport {
                at: e.at,
                type_: e.type_.clone(),
                reason: e.reason.clone(),
                count: e.count,
                message: e.message.clone(),
            })
            .collect(),
        needs_you: needs_you(bot, namespace).map(|(what, steps)| NeedsYou {
            what,
            steps: steps
                .into_iter()
                .map(|s| StepReport {
                    when: s.when,
                    command: s.command,
                })
                .collect(),
        }),
    }
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
    line(
        "Install",
        bot.acting_install()
            .unwrap_or_else(|| "- (no operator install acts on it yet)".into()),
    );
    line("Bot ID", bot_id(bot, now));
    line("Session", session(bot));
    let joined_at = joined_at(bot);
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
        (Some(id), _) => id.to_owned(),
        (None, Some(attempt)) => format!(
            "unknown: a join under session {} was sent at {} and its outcome never recorded",
            attempt.session_id,
            when(now, attempt.started_at)
        ),
        (None, None) => "- (no bot)".into(),
    }
}

/// When the bot joined: status, else the record's annotation.
pub fn joined_at(bot: &MeetingBot) -> Option<Timestamp> {
    let status = bot.status.as_ref();
    status
        .and_then(|s| s.joined_at.as_ref())
        .map(|t| t.0)
        .or_else(|| recorded(bot).and_then(|copy| copy.joined_at))
}

/// The session the recorded bot joined under: the record's annotation, else status.
pub fn joined_session(bot: &MeetingBot) -> Option<String> {
    recorded(bot)
        .map(|copy| copy.session_id)
        .or_else(|| bot.status.as_ref().and_then(|s| s.session_id.clone()))
}

/// The session the bot joined under, and the spec's when it differs.
fn session(bot: &MeetingBot) -> String {
    match joined_session(bot) {
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
                format!(
                    "{text}: leaves in {}",
                    human_duration(jiff::SignedDuration::from_secs(left))
                )
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
        assert!(
            text.contains("Install:      - (no operator install"),
            "{text}"
        );
        let mut claimed = stuck.clone();
        claimed.status.as_mut().unwrap().install = Some("team-a/meetingbot".into());
        let text = render(&claimed, "team", &[], Timestamp::now());
        assert!(text.contains("Install:      team-a/meetingbot\n"), "{text}");
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
        assert_eq!(
            max_duration(&joined, Some(start), now),
            "90m: leaves in 60m"
        );
        assert_eq!(
            max_duration(&joined, None, now),
            "90m, counted from the join"
        );
    }

    #[test]
    fn the_report_holds_the_record_the_join_and_the_commands() {
        let attempt = r#"{"sessionId":"s1","startedAt":"2026-01-01T00:00:00Z"}"#;
        let stuck = bot(
            &[(annotation::JOIN_IN_FLIGHT, attempt)],
            Some(JOIN_OUTCOME_UNKNOWN),
        );
        let data = serde_json::to_value(report(&stuck, "team", &[])).unwrap();
        assert_eq!(data["name"], "standup");
        assert!(data["record"].is_object(), "{data}");
        assert_eq!(data["record"]["botId"], serde_json::Value::Null);
        assert_eq!(data["joinInFlight"]["sessionId"], "s1");
        assert_eq!(data["conditions"][0]["type"], "Stalled");
        assert_eq!(
            data["needsYou"]["steps"][1]["command"],
            "kubectl mbot retry-join standup -n team"
        );
        let yaml = output::yaml(&report(&stuck, "team", &[])).unwrap();
        assert!(yaml.contains("record:"), "{yaml}");
    }
}
