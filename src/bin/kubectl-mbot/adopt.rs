//! `kubectl mbot adopt NAME --bot-id ID [--session S]`: record a bot that
//! is in the meeting, or take over the record of a copied MeetingBot.

use crate::connect::Target;
use crate::patch::{annotate, guarded_annotate};
use crate::record::{foreign_uid, join_in_flight, recorded_bot_id};
use anyhow::bail;
use meetingbot_operator::api::{MeetingBot, annotation};

/// What adopting comes to.
#[derive(Debug, PartialEq, Eq)]
pub enum Plan {
    /// The record is another MeetingBot's: make it this one's.
    TakeOver { foreign_uid: String },
    /// The bot is already recorded.
    Nothing,
    /// Ask the operator to record the bot (a version-checked adopt request).
    Record { bot_id: String, session: String },
}

pub async fn run(
    target: &Target,
    name: &str,
    bot_id: &str,
    session: Option<&str>,
) -> anyhow::Result<()> {
    let bot = target.bot(name).await?;
    let ns = &target.namespace;
    match plan(&bot, ns, bot_id, session)? {
        Plan::Nothing => println!("{ns}/{name} already records bot {bot_id}: nothing to do"),
        Plan::TakeOver { foreign_uid } => {
            annotate(
                target,
                name,
                &[(annotation::ADOPT_RECORD, &foreign_uid)],
                "adopting the record",
            )
            .await?;
            println!(
                "✔ {ns}/{name} takes over the record of MeetingBot {foreign_uid}{}: deleting it \
                 now makes that bot leave",
                recorded_bot_id(&bot)
                    .map(|id| format!(" (bot {id})"))
                    .unwrap_or_default()
            );
            if recorded_bot_id(&bot).is_none() {
                println!(
                    "  That record is a join whose outcome is unknown: once the operator has \
                     taken it over (`kubectl mbot status {name} -n {ns}`), run this command \
                     again to record bot {bot_id}."
                );
            }
        }
        Plan::Record { bot_id, session } => {
            let request = serde_json::json!({ "meetingBotId": bot_id, "sessionId": session });
            guarded_annotate(target, &bot, &[(annotation::ADOPT, &request.to_string())]).await?;
            println!(
                "✔ {ns}/{name} asks the operator to record bot {bot_id} (session {session}): it then \
                 shows it Joined, and deleting the MeetingBot makes that bot leave. \
                 `kubectl mbot status {name} -n {ns}` shows when it did"
            );
        }
    }
    Ok(())
}

pub fn plan(
    bot: &MeetingBot,
    ns: &str,
    bot_id: &str,
    session: Option<&str>,
) -> anyhow::Result<Plan> {
    let name = bot.metadata.name.as_deref().unwrap_or_default();
    if bot_id.trim().is_empty() {
        bail!("--bot-id is empty: give the bot's meeting_bot_id");
    }
    let recorded = recorded_bot_id(bot);
    if let Some(foreign) = foreign_uid(bot) {
        if let Some(other) = recorded.filter(|other| *other != bot_id) {
            bail!(
                "{ns}/{name} carries the record of MeetingBot {foreign}, whose bot is {other}, \
                 not {bot_id}: to take that record over, run \
                 `kubectl mbot adopt {name} -n {ns} --bot-id {other}`; to drop it and join \
                 afresh, `kubectl mbot discard-record {name} -n {ns}`"
            );
        }
        return Ok(Plan::TakeOver {
            foreign_uid: foreign.to_owned(),
        });
    }
    if let Some(other) = recorded {
        if other == bot_id.trim() {
            return Ok(Plan::Nothing);
        }
        bail!(
            "{ns}/{name} already records bot {other}, which may be in the meeting: adopting \
             {bot_id} would lose {other}, and a bot whose id is lost can never be removed. \
             Nothing was written. If {bot_id} is another avatar in the same meeting, give it a \
             MeetingBot of its own and adopt it there (deleting that MeetingBot makes it leave)"
        );
    }
    let session = session
        .map(str::to_owned)
        .or_else(|| join_in_flight(bot).map(|attempt| attempt.session_id))
        .unwrap_or_else(|| bot.spec.session_id.clone());
    Ok(Plan::Record {
        bot_id: bot_id.to_owned(),
        session,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::{bot, record};
    use meetingbot_operator::api::reason::JOIN_OUTCOME_UNKNOWN;

    #[test]
    fn an_unknown_join_is_recorded_under_its_session() {
        let attempt = r#"{"sessionId":"old","startedAt":"2026-01-01T00:00:00Z"}"#;
        let unsure = bot(
            &[(annotation::JOIN_IN_FLIGHT, attempt)],
            Some(JOIN_OUTCOME_UNKNOWN),
        );
        assert_eq!(
            plan(&unsure, "team", "meeting-bot-9", None).unwrap(),
            Plan::Record {
                bot_id: "meeting-bot-9".into(),
                session: "old".into(),
            }
        );
        let fresh = bot(&[], None);
        assert!(matches!(
            plan(&fresh, "team", "b", Some("given")).unwrap(),
            Plan::Record { session, .. } if session == "given"
        ));
        assert!(matches!(
            plan(&fresh, "team", "b", None).unwrap(),
            Plan::Record { session, .. } if session == "s1"
        ));
    }

    #[test]
    fn a_different_live_bot_is_never_replaced() {
        let joined = bot(
            &[(annotation::RECORD, &record("meeting-bot-1", "own-uid"))],
            None,
        );
        let refusal = plan(&joined, "team", "meeting-bot-2", None)
            .unwrap_err()
            .to_string();
        assert!(
            refusal.contains("already records bot meeting-bot-1"),
            "{refusal}"
        );
        assert_eq!(
            plan(&joined, "team", "meeting-bot-1", None).unwrap(),
            Plan::Nothing
        );
        let mut in_status = bot(&[], None);
        in_status.status.as_mut().unwrap().meeting_bot_id = Some("meeting-bot-1".into());
        assert!(plan(&in_status, "team", "meeting-bot-2", None).is_err());
    }

    #[test]
    fn a_foreign_record_is_taken_over_only_with_its_own_bot() {
        let copy = bot(
            &[(annotation::RECORD, &record("meeting-bot-1", "other-uid"))],
            None,
        );
        assert_eq!(
            plan(&copy, "team", "meeting-bot-1", None).unwrap(),
            Plan::TakeOver {
                foreign_uid: "other-uid".into()
            }
        );
        assert!(plan(&copy, "team", "meeting-bot-2", None).is_err());
    }
}
