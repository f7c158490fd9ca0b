//! Other writers of MeetingBots under churn: `kubectl replace` of the
//! original manifest, and copies of joined MeetingBots under new names.

use super::bot_spec;
use super::harness::{Disrupted, Scenario, alongside_churn};
use super::scene_with;
use fake_lemonslice::Faults;
use kube::ResourceExt;
use kube::api::PostParams;
use meetingbot_operator::api::{MeetingBot, annotation};
use rand::Rng;
use std::time::Duration;

/// Other writers under churn: `kubectl replace` of the original manifest
/// (annotations and finalizer gone), and copies of joined MeetingBots
/// created under new names (the record of another object).
async fn replaced_and_copied(bots: usize) {
    let scene = scene_with(
        "chaos-copies",
        Faults {
            latency_ms: 50,
            jitter_ms: 100,
            ..Default::default()
        },
    )
    .await;
    let (client, ns) = (&scene.client, &scene.ns);
    // The harness takes the operator along, for its log.
    let operator = scene.start_operator(&scene.options()).await;
    let api = scene.bots();
    let others = async {
        let (mut replaced, mut copied) = (0, 0);
        // Record annotations are written once no join waits: at N = 200 the
        // first come after the first `bots` rounds, so copying goes on (for at
        // most a minute) until a twentieth of the bots were copied.
        let started = std::time::Instant::now();
        for round in 0.. {
            let copied_enough = copied >= bots / 20 || started.elapsed() > Duration::from_secs(60);
            if round >= bots && copied_enough {
                break;
            }
            tokio::time::sleep(Duration::from_millis(rand::rng().random_range(20..100))).await;
            let i = rand::rng().random_range(0..bots);
            let name = format!("bot-{i}");
            let Ok(current) = api.get(&name).await else {
                continue;
            };
            if current.metadata.deletion_timestamp.is_some() {
                continue;
            }
            if round % 2 == 0 {
                let mut manifest = MeetingBot::new(&name, bot_spec(ns, i));
                manifest.metadata.resource_version = current.resource_version();
                replaced += usize::from(
                    api.replace(&name, &PostParams::default(), &manifest)
                        .await
                        .is_ok(),
                );
            } else {
                // A copy carries another object's record only once the record
                // annotation is written, after Ready: copy one that has it (at
                // N = 200, a random pick had none for the first seconds).
                let Ok(listed) = api.list(&Default::default()).await else {
                    continue;
                };
                let recorded: Vec<&MeetingBot> = listed
                    .items
                    .iter()
                    .filter(|bot| {
                        bot.annotation(annotation::RECORD).is_some()
                            && bot.metadata.deletion_timestamp.is_none()
                            && !bot.name_any().starts_with("copy-")
                    })
                    .collect();
                if recorded.is_empty() {
                    continue;
                }
                let original = recorded[rand::rng().random_range(0..recorded.len())];
                let copy = crate::record::copy_of(original, &format!("copy-{round}"));
                copied += usize::from(api.create(&PostParams::default(), &copy).await.is_ok());
            }
        }
        Disrupted {
            injected: format!("{replaced} replaces, {copied} copies"),
            running: vec![operator],
            stopped: Vec::new(),
        }
    };
    let scenario = Scenario::new("replaced and copied", bots, ns);
    alongside_churn(scenario, client, &scene.admin, others).await;
}

#[tokio::test]
async fn replaced_and_copied_small() {
    replaced_and_copied(16).await;
}

#[tokio::test]
#[ignore = "run by make chaos"]
async fn replaced_and_copied_full() {
    replaced_and_copied(200).await;
}
