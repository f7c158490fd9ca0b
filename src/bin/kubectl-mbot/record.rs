//! What a MeetingBot's record and conditions say it needs: whose record it
//! carries, which bot it records, and the commands that get it going again.

use jiff::Timestamp;
use meetingbot_operator::api::condition::{RECONCILING, STALLED};
use meetingbot_operator::api::reason::{
    FOREIGN_RECORD, JOIN_OUTCOME_UNKNOWN, LEAVE_FAILED, RECORD_CONFLICT,
};
use meetingbot_operator::api::{BotRecord, JoinAttempt, MeetingBot, RecordedBot, annotation};

/// A deletion that has waited this long (in seconds) is "stuck".
pub const STUCK_DELETING_SECS: i64 = 60;

/// The UID of another MeetingBot whose record this one carries (it is a copy
/// or a restore of it): the record annotation's, else status.recordUid, when
/// set and not this object's own UID.
pub fn foreign_uid(bot: &MeetingBot) -> Option<String> {
    let own = bot.metadata.uid.as_deref().unwrap_or_default();
    let copies = bot.record_copies();
    [copies.annotated.and_then(Result::ok), copies.in_status]
        .into_iter()
        .flatten()
        .find_map(|copy| copy.uid.filter(|uid| !uid.is_empty() && uid != own))
}

/// The bot the object records: the record annotation's, else status's.
pub fn recorded(bot: &MeetingBot) -> Option<RecordedBot> {
    let copies = bot.record_copies();
    copies.annotated.and_then(Result::ok).or(copies.in_status)
}

/// The id of the bot the object records.
pub fn recorded_bot_id(bot: &MeetingBot) -> Option<String> {
    recorded(bot).map(|copy| copy.meeting_bot_id)
}

/// The join whose outcome was never recorded, when there is one and no bot id.
pub fn join_in_flight(bot: &MeetingBot) -> Option<JoinAttempt> {
    match bot.bot_record() {
        BotRecord::JoinInFlight(attempt) if recorded_bot_id(bot).is_none() => Some(attempt),
        _ => None,
    }
}

/// The reason of the Stalled condition, when it is True.
pub fn stalled_reason(bot: &MeetingBot) -> Option<&str> {
    bot.condition(STALLED)
        .filter(|c| c.status == "True")
        .map(|c| c.reason.as_str())
}

/// Why a MeetingBot needs a person, in a few words; `None` when it does not.
pub fn attention(bot: &MeetingBot, now: Timestamp) -> Option<String> {
    let stalled = stalled_reason(bot);
    if let Some(since) = bot.metadata.deletion_timestamp.as_ref() {
        let waited = now.duration_since(since.0).as_secs();
        if stalled.is_some() || waited >= STUCK_DELETING_SECS {
            let why = stalled
                .or_else(|| bot.condition(RECONCILING).map(|c| c.reason.as_str()))
                .unwrap_or("waiting for the operator");
            return Some(format!(
                "Deleting for {}: {why}",
                crate::format::age(now, since.0)
            ));
        }
        return None;
    }
    if let Some(uid) = foreign_uid(bot)
        && stalled != Some(FOREIGN_RECORD)
    {
        return Some(format!("{FOREIGN_RECORD}: record of MeetingBot {uid}"));
    }
    stalled.map(|reason| format!("Stalled: {reason}"))
}

/// A step a person can take: what it does, and the command.
#[derive(Debug, PartialEq, Eq)]
pub struct Step {
    pub when: String,
    pub command: String,
}

/// When the MeetingBot needs a person, what is wrong and the commands that
/// get it going; `None` when it needs nobody.
pub fn needs_you(bot: &MeetingBot, namespace: &str) -> Option<(String, Vec<Step>)> {
    let name = bot.metadata.name.as_deref().unwrap_or_default();
    let mbot = |rest: &str| format!("kubectl mbot {rest} {name} -n {namespace}");
    if let Some(uid) = foreign_uid(bot) {
        let bot_id = recorded_bot_id(bot);
        let mut steps = vec![];
        if let Some(id) = &bot_id {
            steps.push(Step {
                when: format!(
                    "if bot {id} is this MeetingBot's now (the original is gone or no longer \
                     manages it)"
                ),
                command: format!("{} --bot-id {id}", mbot("adopt")),
            });
        }
        steps.push(Step {
            when: "to drop the copied record (no leave: its bot is the other MeetingBot's) \
                   and join afresh"
                .into(),
            command: mbot("discard-record"),
        });
        let what = format!(
            "this MeetingBot carries the bot record of another MeetingBot (uid {uid}{}): it is a \
             copy or a restore, so the operator makes no vendor call for it until you choose",
            bot_id.map(|id| format!(", bot {id}")).unwrap_or_default()
        );
        return Some((what, steps));
    }
    match stalled_reason(bot)? {
        JOIN_OUTCOME_UNKNOWN => Some((
            "a join was sent and its answer never came: a bot may be in the meeting, and the \
             operator will not join again on its own until LemonSlice says the session ended. \
             Look at the meeting first."
                .into(),
            vec![
                Step {
                    when: "if the avatar is there and you know its id".into(),
                    command: format!("{} --bot-id <ID>", mbot("adopt")),
                },
                Step {
                    when: "if it is not there: allow exactly one new join (the meeting may get \
                           a second avatar)"
                        .into(),
                    command: mbot("retry-join"),
                },
            ],
        )),
        LEAVE_FAILED => Some((
            "LemonSlice refused the leave, or the API key Secret it needs is gone; the \
             MeetingBot waits for the leave. Fix the API key: a change to a Secret the \
             MeetingBot references makes the operator try the leave again at once (otherwise it \
             tries again every 30 minutes)"
                .into(),
            vec![Step {
                when: "or let it go without leave (the avatar stays until its session ends)".into(),
                command: format!(
                    "kubectl annotate mbot {name} -n {namespace} {}=true",
                    annotation::SKIP_LEAVE
                ),
            }],
        )),
        RECORD_CONFLICT => Some((
            "the annotation that holds the operator's record names another bot than status \
             does, and was not written by the operator (or cannot be read): it calls nothing \
             until you remove it"
                .into(),
            vec![Step {
                when: "remove it: the operator writes its record again from status".into(),
                command: format!(
                    "kubectl annotate mbot {name} -n {namespace} {}-",
                    annotation::RECORD
                ),
            }],
        )),
        other => {
            let message = bot
                .condition(STALLED)
                .map(|c| c.message.clone())
                .unwrap_or_default();
            Some((
                format!(
                    "Stalled ({other}): {message}. Fix what it names: the operator tries again \
                     when the spec or a Secret the MeetingBot references changes"
                ),
                vec![],
            ))
        }
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
    use meetingbot_operator::api::{MeetingBotSpec, MeetingBotStatus};

    /// The record annotation's value for a bot joined by the object `uid`.
    pub fn record(bot_id: &str, uid: &str) -> String {
        serde_json::to_string(&RecordedBot {
            meeting_bot_id: bot_id.into(),
            session_id: "s1".into(),
            joined_spec: None,
            joined_at: None,
            uid: Some(uid.into()),
            api_key: None,
            install: None,
        })
        .unwrap()
    }

    pub fn bot(annotations: &[(&str, &str)], stalled: Option<&str>) -> MeetingBot {
        let mut bot = MeetingBot::new(
            "standup",
            MeetingBotSpec::new(
                "s1",
                "https://meet.google.com/abc-defg-hij",
                "wss://x.livekit.cloud",
                "t",
            ),
        );
        bot.metadata.uid = Some("own-uid".into());
        bot.metadata.resource_version = Some("42".into());
        bot.metadata.annotations = Some(
            annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        let conditions = stalled
            .map(|reason| Condition {
                type_: STALLED.into(),
                status: "True".into(),
                reason: reason.into(),
                message: format!("because {reason}"),
                last_transition_time: Time(Timestamp::UNIX_EPOCH),
                observed_generation: None,
            })
            .into_iter()
            .collect();
        bot.status = Some(MeetingBotStatus {
            conditions,
            ..Default::default()
        });
        bot
    }

    #[test]
    fn a_record_is_foreign_only_when_it_names_another_uid() {
        assert_eq!(foreign_uid(&bot(&[], None)), None);
        let own = bot(&[(annotation::RECORD, &record("b", "own-uid"))], None);
        assert_eq!(foreign_uid(&own), None);
        let copy = bot(&[(annotation::RECORD, &record("b", "other-uid"))], None);
        assert_eq!(foreign_uid(&copy).as_deref(), Some("other-uid"));
        let mut restored = bot(&[], None);
        let status = restored.status.as_mut().unwrap();
        status.meeting_bot_id = Some("b".into());
        status.record_uid = Some("other-uid".into());
        assert_eq!(foreign_uid(&restored).as_deref(), Some("other-uid"));
    }

    #[test]
    fn a_record_conflict_offers_removing_the_annotation() {
        let (_, steps) = needs_you(&bot(&[], Some(RECORD_CONFLICT)), "team").unwrap();
        assert_eq!(
            steps[0].command,
            "kubectl annotate mbot standup -n team liveai.lemonslice.com/record-"
        );
    }

    #[test]
    fn an_unknown_join_offers_adopt_and_retry_join() {
        let (_, steps) = needs_you(&bot(&[], Some(JOIN_OUTCOME_UNKNOWN)), "team").unwrap();
        let commands: Vec<_> = steps.iter().map(|s| s.command.as_str()).collect();
        assert_eq!(
            commands,
            [
                "kubectl mbot adopt standup -n team --bot-id <ID>",
                "kubectl mbot retry-join standup -n team"
            ]
        );
        assert!(needs_you(&bot(&[], None), "team").is_none());
    }

    #[test]
    fn a_foreign_record_offers_adopt_with_its_bot_and_discard() {
        let copy = bot(
            &[(annotation::RECORD, &record("meeting-bot-7", "other-uid"))],
            Some(FOREIGN_RECORD),
        );
        let (what, steps) = needs_you(&copy, "team").unwrap();
        assert!(what.contains("other-uid"), "{what}");
        assert_eq!(
            steps[0].command,
            "kubectl mbot adopt standup -n team --bot-id meeting-bot-7"
        );
        assert_eq!(
            steps[1].command,
            "kubectl mbot discard-record standup -n team"
        );
        assert_eq!(
            attention(&copy, Timestamp::now()).as_deref(),
            Some("Stalled: ForeignRecord")
        );
    }

    #[test]
    fn a_deletion_is_stuck_after_a_minute_or_when_stalled() {
        let now = Timestamp::now();
        let mut deleting = bot(&[], None);
        deleting.metadata.deletion_timestamp = Some(Time(now));
        assert_eq!(attention(&deleting, now), None);
        let later = now + jiff::SignedDuration::from_secs(120);
        assert_eq!(
            attention(&deleting, later).as_deref(),
            Some("Deleting for 2m: waiting for the operator")
        );
        let mut refused = bot(&[], Some(LEAVE_FAILED));
        refused.metadata.deletion_timestamp = Some(Time(now));
        assert_eq!(
            attention(&refused, now).as_deref(),
            Some("Deleting for 0s: LeaveFailed")
        );
    }
}
