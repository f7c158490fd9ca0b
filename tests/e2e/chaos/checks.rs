//! The end state a scenario is judged by: every MeetingBot settled, each
//! Ready one the one live bot of its session, nothing left behind after
//! deletion but bots whose join outcome was unknown, and no secret anywhere.

use super::session_of;
use crate::support::*;
use fake_lemonslice::Admin;
use kube::api::{DeleteParams, ListParams};
use kube::{Api, Client, ResourceExt};
use meetingbot_operator::api::MeetingBot;
use std::collections::HashSet;
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(180);

/// Waits until every MeetingBot has settled on its latest spec: Ready or Stalled.
pub(super) async fn wait_settled(client: &Client, ns: &str) -> Vec<MeetingBot> {
    let bots: Api<MeetingBot> = Api::namespaced(client.clone(), ns);
    wait_until(
        "every MeetingBot to be Ready or Stalled, and a recorded bot's finalizer back",
        SETTLE,
        || async {
            let list = bots.list(&ListParams::default()).await.ok()?.items;
            let settled = |bot: &MeetingBot| {
                let status = bot.status.as_ref();
                let observed = status.and_then(|s| s.observed_generation);
                // A `kubectl replace` keeps status and generation but drops the
                // finalizer: settled only once the operator has put it back.
                let recorded = status.is_some_and(|s| s.meeting_bot_id.is_some());
                observed == bot.metadata.generation
                    && (!recorded || bot.has_finalizer())
                    && ["Ready", "Stalled"]
                        .iter()
                        .any(|t| bot.condition(t).is_some_and(|c| c.status == "True"))
            };
            list.iter().all(settled).then_some(list)
        },
    )
    .await
}

/// Checks the end state against the fake: a Ready bot is the one live bot of
/// its session; a Stalled one says why. Returns the sessions whose join
/// outcome stayed unknown.
pub(super) async fn check_end_state(bots: &[MeetingBot], admin: &Admin) -> HashSet<String> {
    let live = admin.bots().await.unwrap();
    let mut unknown = HashSet::new();
    for bot in bots {
        let session = &bot.spec.session_id;
        if let Some(stalled) = bot.condition("Stalled").filter(|c| c.status == "True") {
            assert!(
                !stalled.reason.is_empty(),
                "{} is Stalled without a reason",
                bot.name_any()
            );
            if stalled.reason == "JoinOutcomeUnknown" {
                unknown.insert(session.clone());
            }
            continue;
        }
        let held: Vec<_> = live.iter().filter(|b| &b.session_id == session).collect();
        let shown = bot
            .status
            .as_ref()
            .and_then(|s| s.meeting_bot_id.as_deref());
        assert_eq!(held.len(), 1, "{}: live bots {held:?}", bot.name_any());
        assert_eq!(
            shown,
            Some(held[0].meeting_bot_id.as_str()),
            "{}",
            bot.name_any()
        );
    }
    unknown
}

/// Sessions of MeetingBots that were deleted while their join's outcome was
/// unknown: the operator says so in a Warning Event as it lets them go.
fn unknown_at_deletion(ns: &str) -> HashSet<String> {
    let events: serde_json::Value = serde_json::from_str(&kubectl(&[
        "get",
        "events.events.k8s.io",
        "-n",
        ns,
        "-o",
        "json",
    ]))
    .unwrap();
    events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| event["reason"] == "JoinOutcomeUnknown")
        .filter_map(|event| {
            event["regarding"]["name"]
                .as_str()?
                .strip_prefix("bot-")?
                .parse()
                .ok()
        })
        .map(|i| session_of(ns, i))
        .collect()
}

/// Deletes every MeetingBot and waits until all are gone. Returns how many
/// live bots are left in this namespace's sessions — each must belong to a
/// MeetingBot whose join outcome was unknown — and how many such MeetingBots
/// there were.
pub(super) async fn delete_all(
    client: &Client,
    ns: &str,
    admin: &Admin,
    mut unknown: HashSet<String>,
) -> (usize, usize) {
    let bots: Api<MeetingBot> = Api::namespaced(client.clone(), ns);
    bots.delete_collection(&DeleteParams::default(), &ListParams::default())
        .await
        .unwrap();
    wait_until("every MeetingBot to be gone", SETTLE, || async {
        bots.list(&ListParams::default())
            .await
            .ok()?
            .items
            .is_empty()
            .then_some(())
    })
    .await;
    unknown.extend(unknown_at_deletion(ns));
    let left: Vec<_> = admin
        .bots()
        .await
        .unwrap()
        .into_iter()
        .filter(|b| b.session_id.starts_with(&format!("{ns}-")))
        .collect();
    for bot in &left {
        assert!(
            unknown.contains(&bot.session_id),
            "bot {} was left behind though its id was known",
            bot.meeting_bot_id
        );
    }
    (left.len(), unknown.len())
}

/// Searches the operators' logs, the namespace's Events and the MeetingBots'
/// status messages for every secret the scenario used.
pub(super) async fn secrets_found(
    client: &Client,
    ns: &str,
    logs: &[String],
    secrets: &[&str],
) -> usize {
    let events = kubectl(&["get", "events.events.k8s.io", "-n", ns, "-o", "json"]);
    let statuses: String = Api::<MeetingBot>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .flat_map(|bot| {
            bot.status
                .iter()
                .flat_map(|s| s.conditions.iter().map(|c| c.message.clone()))
        })
        .collect();
    let places: Vec<&str> = logs
        .iter()
        .map(String::as_str)
        .chain([events.as_str(), statuses.as_str()])
        .collect();
    secrets
        .iter()
        .map(|secret| places.iter().filter(|place| place.contains(secret)).count())
        .sum()
}
