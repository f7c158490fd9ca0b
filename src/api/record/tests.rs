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
fn a_hand_written_bot_id_adopts_the_bot_of_an_unknown_join() {
    let attempt = r#"{"sessionId":"old","startedAt":"2026-01-01T00:00:00Z"}"#;
    let record = bot(&[
        (annotation::JOIN_IN_FLIGHT, attempt),
        (annotation::MEETING_BOT_ID, "meeting-bot-1"),
    ])
    .bot_record();
    assert_eq!(
        record,
        BotRecord::Joined(RecordedBot {
            meeting_bot_id: "meeting-bot-1".into(),
            session_id: "old".into(),
            joined_spec: None,
            joined_at: None,
            uid: None,
        })
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
fn of_two_different_copies_the_later_join_wins_and_a_status_written_after_the_attempt_is_its_outcome()
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
    let attempt = JoinAttempt {
        session_id: "s1".into(),
        retry_join: None,
        started_at: "2026-01-01T12:00:00Z".parse().unwrap(),
        uid: Some("u1".into()),
        answer: None,
        seen_meeting_bot_id: None,
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
