//! Turning the ending of a reconcile into the MeetingBot's status, in the shape kstatus
//! (and through it Flux and `kubectl wait`) reads without help.

use super::plan::{Ending, Health};
use crate::api::condition::{READY, RECONCILING, STALLED};
use crate::api::{MeetingBot, MeetingBotStatus, annotation};
use crate::lemonslice::redact_query;
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::ResourceExt;

/// The status that `ending` describes. Conditions are merged into the
/// current ones (see `api::conditions`), and fields the plan does not touch keep their
/// value, so that an unchanged state yields an equal status and no write.
/// With `redact_token`, the websocket URL's query (its token) is kept out of
/// status, also one written there before the operator redacted it.
pub fn build(
    bot: &MeetingBot,
    ending: &Ending,
    now: Timestamp,
    redact_token: bool,
    install: &str,
) -> MeetingBotStatus {
    let current = bot.status.clone().unwrap_or_default();
    let generation = bot.metadata.generation;
    let recorded = ending.recorded.as_ref();
    let same_bot = recorded.is_some()
        && current.meeting_bot_id.as_deref() == recorded.map(|b| b.meeting_bot_id.as_str());
    let shown = |url: &str| match redact_token {
        true => redact_query(url),
        false => url.to_owned(),
    };
    let (websocket_url, joined_platform) = match (&ending.joined, same_bot) {
        (Some(joined), _) => {
            let url = joined.websocket_url.as_ref().map(|url| shown(url.expose()));
            (url, joined.platform)
        }
        (None, true) => (
            current.websocket_url.as_deref().map(shown),
            current.platform,
        ),
        (None, false) => (None, None),
    };
    let joined_at = recorded
        .and_then(|b| b.joined_at.map(Time))
        .or_else(|| current.joined_at.clone().filter(|_| same_bot));

    let condition = |type_: &str, status: bool| Condition {
        type_: type_.to_owned(),
        status: if status { "True" } else { "False" }.to_owned(),
        reason: ending.reason.to_owned(),
        message: ending.message.clone(),
        observed_generation: generation,
        last_transition_time: Time(now),
    };
    // Reconciling and Stalled are "abnormal-true" conditions: present only while true.
    let mut conditions = MeetingBotStatus {
        conditions: current.conditions.clone(),
        ..MeetingBotStatus::default()
    };
    conditions.set_condition(condition(READY, ending.health == Health::Ready));
    for (abnormal, health) in [
        (RECONCILING, Health::Reconciling),
        (STALLED, Health::Stalled),
    ] {
        if ending.health == health {
            conditions.set_condition(condition(abnormal, true));
        } else {
            conditions.remove_condition(abnormal);
        }
    }

    MeetingBotStatus {
        phase: Some(ending.phase),
        // A URL kept in a Secret shows its platform once a bot joined it.
        platform: bot.platform().and_then(Result::ok).or(joined_platform),
        meeting_bot_id: recorded.map(|b| b.meeting_bot_id.clone()),
        websocket_url,
        session_id: recorded.map(|b| b.session_id.clone()),
        joined_at,
        record_uid: recorded.and_then(|b| b.uid.clone()),
        joined_spec: recorded.and_then(|b| b.joined_spec.clone()),
        joined_api_key: recorded.and_then(|b| b.api_key.clone()),
        // Only the acting install writes status.
        install: Some(install.to_owned()),
        observed_generation: generation,
        conditions: conditions.conditions,
        last_handled_reconcile_at: bot
            .annotations()
            .get(annotation::RECONCILE_REQUESTED_AT)
            .cloned(),
    }
}
