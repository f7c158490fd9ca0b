//! The padded-objects memory figure (part of `make bench`): the operator's
//! peak RSS with N MeetingBots that each carry 200 KiB of a tenant's
//! annotations, against N plain ones (BENCH_PADDED_N, default 200). The
//! operator keeps only what it reads, and lists a page at a time, so padding
//! must not multiply its memory: the padded run stays within 1.5x.

use super::measure::process_usage;
use super::{CREATE_PARALLELISM, PHASE_DEADLINE, env_or, out_dir};
use crate::support::*;
use futures::{StreamExt, stream};
use kube::api::PostParams;
use kube::{Api, Client};
use meetingbot_operator::api::{MeetingBot, Phase};
use serde_json::json;
use std::time::Duration;

/// What a tenant adds to each padded MeetingBot.
const PADDING: usize = 200 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by make bench"]
async fn padded_memory() {
    let n = env_or("BENCH_PADDED_N", 200);
    let client = client().await;
    let plain = peak_rss(&client, n, 0).await;
    let padded = peak_rss(&client, n, PADDING).await;
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    let ratio = padded as f64 / plain as f64;
    println!(
        "padded objects, N = {n}: peak RSS {:.1} MiB plain, {:.1} MiB with 200 KiB of foreign \
         annotations each ({ratio:.2}x)",
        mib(plain),
        mib(padded)
    );
    let figures = json!({
        "n": n,
        "padding_bytes": PADDING,
        "peak_rss_plain_bytes": plain,
        "peak_rss_padded_bytes": padded,
        "ratio": ratio,
    });
    std::fs::write(
        out_dir().join("padded.json"),
        serde_json::to_string_pretty(&figures).unwrap(),
    )
    .unwrap();
    assert!(
        ratio <= 1.5,
        "padded objects cost {ratio:.2}x the plain ones' memory"
    );
}

/// The operator's peak RSS once it has settled `n` suspended MeetingBots
/// (no vendor call but its start-up check), each padded with `padding` bytes.
async fn peak_rss(client: &Client, n: u64, padding: usize) -> u64 {
    let ns = namespace(client, "bench-padded").await;
    let bots: Api<MeetingBot> = Api::namespaced(client.clone(), &ns);
    stream::iter(0..n)
        .map(|i| {
            let bots = bots.clone();
            async move {
                let mut bot = MeetingBot::new(&format!("bot-{i}"), spec(&format!("session-{i}")));
                bot.spec.suspend = true;
                bot.metadata.labels = Some([("team".to_owned(), "a".to_owned())].into());
                if padding > 0 {
                    let annotations =
                        [("tenant.example.com/padding".to_owned(), "x".repeat(padding))];
                    bot.metadata.annotations = Some(annotations.into());
                }
                bots.create(&PostParams::default(), &bot)
                    .await
                    .expect("MeetingBot creates");
            }
        })
        .buffer_unordered(CREATE_PARALLELISM)
        .collect::<Vec<()>>()
        .await;
    let fake = fake().await;
    let operator = Operator::start(&OperatorOptions::new(&ns, &fake)).await;
    poll(
        "every MeetingBot to show Suspended",
        PHASE_DEADLINE,
        || async {
            let listed = bots
                .list(&Default::default())
                .await
                .map_err(|e| e.to_string())?;
            let suspended = listed
                .items
                .iter()
                .filter(|bot| bot.status.as_ref().and_then(|s| s.phase) == Some(Phase::Suspended))
                .count() as u64;
            (suspended == n)
                .then_some(())
                .ok_or(format!("{suspended} of {n}"))
        },
    )
    .await;
    let (peak, _, _) = process_usage(operator.pid());
    operator.kill().await;
    delete_namespace(client, &ns, Duration::from_secs(300)).await;
    peak
}
