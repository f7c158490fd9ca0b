//! How a scenario runs and ends: the churn of MeetingBots a disruption runs
//! alongside, and the conclusion — settle, check, delete, read the fake's
//! count of duplicate bots, search for secrets, write the table's row and
//! assert the invariants.

use super::checks::{check_end_state, delete_all, secrets_found, wait_settled};
use super::create_bots;
use crate::support::*;
use fake_lemonslice::{Admin, CallCounts};
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, Client};
use meetingbot_operator::api::MeetingBot;
use rand::Rng;
use serde_json::json;
use std::io::Write;
use std::time::Duration;

/// How many bots more than one the worst session had live at once, as the
/// fake counted them at every join, leave and session end since it started
/// (every MeetingBot has a session of its own): 0 when none ever had two.
async fn duplicates(admin: &Admin) -> usize {
    let peaks = admin.peaks().await.expect("the fake answers");
    peaks.worst_session().saturating_sub(1)
}

/// Appends a scenario's row to target/chaos/table.md, which `make chaos` prints.
pub(super) fn append_row(line: &str) {
    let dir = repo_root().join("target/chaos");
    std::fs::create_dir_all(&dir).unwrap();
    let mut table = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("table.md"))
        .unwrap();
    writeln!(table, "{line}").unwrap();
}

/// A scenario's name and size, for its row in the table, and its namespace.
pub(super) struct Scenario {
    name: &'static str,
    bots: usize,
    ns: String,
}

impl Scenario {
    pub(super) fn new(name: &'static str, bots: usize, ns: &str) -> Scenario {
        Scenario {
            name,
            bots,
            ns: ns.to_owned(),
        }
    }
}

/// Lets the scenario's MeetingBots settle and checks them against the fake,
/// deletes them, searches for secrets, then prints the scenario's row (and
/// appends it to target/chaos/table.md) and asserts the invariants.
/// `injected` describes what was done to the system, from the fake's counts.
/// Returns how many MeetingBots said JoinOutcomeUnknown.
pub(super) async fn conclude(
    scenario: Scenario,
    client: &Client,
    admin: &Admin,
    logs: impl FnOnce() -> Vec<String>,
    injected: impl FnOnce(&CallCounts) -> String,
) -> usize {
    let ns = &scenario.ns;
    let settled = wait_settled(client, ns).await;
    let unknown = check_end_state(&settled, admin).await;
    let (left_behind, unknown) = delete_all(client, ns, admin, unknown).await;
    let duplicates = duplicates(admin).await;
    let secrets = secrets_found(client, ns, &logs(), &[API_KEY, BROADCAST_TOKEN]).await;
    let injected = injected(&admin.calls().await.unwrap());
    let line = format!(
        "| {} | {} | {injected} | {duplicates} | {left_behind} | {unknown} | {secrets} |",
        scenario.name, scenario.bots
    );
    println!(
        "| scenario | MeetingBots | faults or kills | duplicate bots | bots left behind | JoinOutcomeUnknown | secrets found |\n|---|---|---|---|---|---|---|\n{line}"
    );
    append_row(&line);
    assert_eq!(duplicates, 0, "never two live bots for one MeetingBot");
    assert!(left_behind <= unknown);
    assert_eq!(secrets, 0, "no secret in logs, Events or status");
    unknown
}

/// Creates `bots` MeetingBots, then changes and deletes some of them at random.
async fn churn(client: &Client, ns: &str, bots: usize) {
    let api: Api<MeetingBot> = Api::namespaced(client.clone(), ns);
    create_bots(client, ns, 0..bots).await;
    for round in 0..bots / 4 {
        let i = rand::rng().random_range(0..bots);
        let name = format!("bot-{i}");
        let patch = Patch::Merge(json!({"spec": {"botName": format!("Avatar {round}")}}));
        let _ = api.patch(&name, &PatchParams::default(), &patch).await;
        if round % 3 == 0 {
            let _ = api
                .delete(
                    &format!("bot-{}", rand::rng().random_range(0..bots)),
                    &DeleteParams::default(),
                )
                .await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What a disruption that ran alongside churn leaves behind.
pub(super) struct Disrupted {
    /// What was done to the system, for the table's "faults or kills" column.
    pub(super) injected: String,
    /// The operators still running: they settle the MeetingBots, and their
    /// logs are searched when the scenario concludes.
    pub(super) running: Vec<Operator>,
    /// The logs of the operators stopped on the way.
    pub(super) stopped: Vec<String>,
}

/// Runs `disruption` while the scenario's MeetingBots are created, changed
/// and deleted at random, then [`conclude`]s with the logs of every operator
/// that ran. Returns how many MeetingBots said JoinOutcomeUnknown.
pub(super) async fn alongside_churn(
    scenario: Scenario,
    client: &Client,
    admin: &Admin,
    disruption: impl Future<Output = Disrupted>,
) -> usize {
    let churned = churn(client, &scenario.ns, scenario.bots);
    let (disrupted, ()) = tokio::join!(disruption, churned);
    let Disrupted {
        injected,
        running,
        mut stopped,
    } = disrupted;
    let logs = || {
        stopped.extend(running.iter().map(Operator::log_text));
        stopped
    };
    conclude(scenario, client, admin, logs, |_| injected).await
}
