//! `make chaos`: the promise under stress. Whatever fails — the vendor, the
//! operator process, the API server, the leader — no MeetingBot ever has two
//! avatars, every MeetingBot ends Joined or Stalled with a reason, a deletion
//! leaves nothing behind but bots whose id was never learned (each one a
//! MeetingBot that said JoinOutcomeUnknown), and no secret leaks.
//!
//! Small versions run in `make test`; the full sizes, the API-server restart
//! and the two-replica failover are `#[ignore]`d and run by `make chaos`.
//! Each scenario appends its row to target/chaos/table.md.
//!
//! The scenario families each have a file: `vendor` (vendor faults),
//! `processes` (killed operator, leader failover, rolling updates), `writers`
//! (other writers replacing and copying MeetingBots), `apiserver` (a
//! restarted API server) and `hostile` (hostile input). What they share:
//! `harness` runs a disruption alongside churn and concludes with the
//! table's row; `checks` holds the end-state checks it concludes with.

mod apiserver;
mod checks;
mod harness;
mod hostile;
mod processes;
mod vendor;
mod writers;

use futures::StreamExt;
use kube::api::PostParams;
use kube::{Api, Client};
use meetingbot_operator::api::{MeetingBot, MeetingBotSpec};

/// The session of MeetingBot `bot-{i}`: every MeetingBot has one of its own.
fn session_of(ns: &str, i: usize) -> String {
    format!("{ns}-s{i}")
}

fn bot_spec(ns: &str, i: usize) -> MeetingBotSpec {
    crate::support::spec(&session_of(ns, i))
}

/// Creates MeetingBots `bot-{i}` for every `i` in `range`, 16 at a time.
async fn create_bots(client: &Client, ns: &str, range: std::ops::Range<usize>) {
    let bots: Api<MeetingBot> = Api::namespaced(client.clone(), ns);
    futures::stream::iter(range)
        .for_each_concurrent(16, |i| {
            let bots = bots.clone();
            async move {
                let bot = MeetingBot::new(&format!("bot-{i}"), bot_spec(ns, i));
                bots.create(&PostParams::default(), &bot)
                    .await
                    .expect("the MeetingBot is created");
            }
        })
        .await;
}

/// A scenario's scene: a fake that injects `faults` from the start, and no
/// operator (the scenario starts, kills and replaces its own).
async fn scene_with(prefix: &str, faults: fake_lemonslice::Faults) -> crate::scene::Scene {
    crate::scene::Scene::builder(prefix)
        .faults(faults)
        .without_operator()
        .start()
        .await
}
