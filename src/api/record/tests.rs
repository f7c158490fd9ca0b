//! Reading the record from its copies: which one counts, and whose it is.

use super::*;
use crate::api::{MeetingBotSpec, joined_annotations};
use std::collections::BTreeMap;

fn bot(annotations: &[(&str, &str)]) -> MeetingBot {
    let mut bot = MeetingBot::new("b", MeetingBotSpec::example());
    bot.metadata.annotations = Some(
        annotations
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    bot
}

#[test]
fn an_adopt_request_is_a_bot_id_or_json_with_its_session() {
    let plain = bot(&[(annotation::ADOPT, " meeting-bot-1 ")]).adopt_request();
    assert_eq!(
        plain,
        Some(Ok(AdoptRequest {
            meeting_bot_id: "meeting-bot-1".into(),
            session_id: None
        }))
    );
    let json = r#"{"meetingBotId":"meeting-bot-1","sessionId":"s9"}"#;
    let with_session = bot(&[(annotation::ADOPT, json)]).adopt_request();
    assert_eq!(
        with_session.unwrap().unwrap().session_id.as_deref(),
        Some("s9")
    );
    let broken = bot(&[(annotation::ADOPT, "{not json")]).adopt_request();
    assert!(matches!(broken, Some(Err(message)) if message.contains(annotation::ADOPT)));
    assert_eq!(bot(&[]).adopt_request(), None);
}

#[test]
fn a_bot_id_written_into_the_record_by_hand_is_not_a_record_of_its_own() {
    // An unreadable annotation loses to status, and without status is a conflict.
    let mut b = bot(&[(annotation::RECORD, "meeting-bot-1")]);
    b.metadata.uid = Some("u1".into());
    assert_eq!(
        b.bot_record(),
        BotRecord::Conflict {
            annotated: None,
            in_status: None
        }
    );
    let recorded = stamped("bot-1", "u1", "2026-01-01T00:00:00Z");
    assert_eq!(
        with_status(b, &recorded).bot_record(),
        BotRecord::Joined(recorded)
    );
}

#[test]
fn an_unreadable_join_record_still_counts_as_in_flight() {
    let record = bot(&[(annotation::JOIN_IN_FLIGHT, "garbage")]).bot_record();
    assert!(matches!(record, BotRecord::JoinInFlight(attempt) if attempt.session_id == "s1"));
    assert_eq!(bot(&[]).bot_record(), BotRecord::None);
}

fn stamped(id: &str, uid: &str, joined_at: &str) -> RecordedBot {
    RecordedBot {
        meeting_bot_id: id.into(),
        session_id: "s1".into(),
        joined_spec: None,
        joined_at: Some(joined_at.parse().unwrap()),
        uid: Some(uid.into()),
        api_key: None,
        install: None,
    }
}

fn with_status(mut bot: MeetingBot, recorded: &RecordedBot) -> MeetingBot {
    bot.status = Some(super::super::MeetingBotStatus {
        meeting_bot_id: Some(recorded.meeting_bot_id.clone()),
        session_id: Some(recorded.session_id.clone()),
        joined_at: recorded
            .joined_at
            .map(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time),
        record_uid: recorded.uid.clone(),
        ..Default::default()
    });
    bot
}

fn with_annotations(mut bot: MeetingBot, recorded: &RecordedBot) -> MeetingBot {
    let annotations = bot.metadata.annotations.get_or_insert_default();
    for (key, value) in joined_annotations(recorded) {
        if let Some(value) = value {
            annotations.insert(key.into(), value);
        }
    }
    bot
}

#[test]
fn either_copy_alone_is_the_record() {
    let mut b = bot(&[]);
    b.metadata.uid = Some("u1".into());
    let recorded = stamped("bot-1", "u1", "2026-01-01T00:00:00Z");
    let only_status = with_status(b.clone(), &recorded);
    assert_eq!(
        only_status.bot_record(),
        BotRecord::Joined(recorded.clone())
    );
    let only_annotations = with_annotations(b, &recorded);
    assert_eq!(only_annotations.bot_record(), BotRecord::Joined(recorded));
}

#[test]
fn a_copy_stamped_with_another_uid_is_foreign_until_adopted_or_discarded() {
    let mut b = bot(&[]);
    b.metadata.uid = Some("copy".into());
    let original = stamped("bot-1", "original", "2026-01-01T00:00:00Z");
    let copy = with_status(with_annotations(b, &original), &original);
    assert_eq!(
        copy.bot_record(),
        BotRecord::Foreign {
            uid: "original".into(),
            recorded: Some(original.clone())
        }
    );
    let mut adopted = copy.clone();
    adopted
        .metadata
        .annotations
        .get_or_insert_default()
        .insert(annotation::ADOPT_RECORD.into(), "original".into());
    assert_eq!(adopted.bot_record(), BotRecord::Joined(original));
    let mut discarded = copy;
    discarded
        .metadata
        .annotations
        .get_or_insert_default()
        .insert(annotation::DISCARD_RECORD.into(), "original".into());
    assert_eq!(discarded.bot_record(), BotRecord::None);
}

#[test]
fn status_wins_over_an_older_annotation_conflicts_with_a_newer_one_and_outcomes_follow_the_attempt()
{
    let mut b = bot(&[]);
    b.metadata.uid = Some("u1".into());
    let older = stamped("bot-old", "u1", "2026-01-01T00:00:00Z");
    let newer = stamped("bot-new", "u1", "2026-01-02T00:00:00Z");
    let stale_annotations = with_status(with_annotations(b.clone(), &older), &newer);
    assert_eq!(
        stale_annotations.bot_record(),
        BotRecord::Joined(newer.clone())
    );
    // Status is written first: an annotation newer than it was not the operator's.
    let forged = with_status(with_annotations(b.clone(), &newer), &older);
    assert_eq!(
        forged.bot_record(),
        BotRecord::Conflict {
            annotated: Some("bot-new".into()),
            in_status: Some(older.clone())
        }
    );
    let attempt = JoinAttempt {
        session_id: "s1".into(),
        retry_join: None,
        started_at: "2026-01-01T12:00:00Z".parse().unwrap(),
        uid: Some("u1".into()),
        answer: None,
        seen_meeting_bot_id: None,
        install: None,
    };
    let mut joining = b.clone();
    joining.metadata.annotations = Some(BTreeMap::from([(
        annotation::JOIN_IN_FLIGHT.to_owned(),
        serde_json::to_string(&attempt).unwrap(),
    )]));
    assert_eq!(
        with_status(joining.clone(), &newer).bot_record(),
        BotRecord::Joined(newer)
    );
    assert_eq!(
        with_status(joining, &older).bot_record(),
        BotRecord::JoinInFlight(attempt)
    );
}
