//! Tenants cannot use the operator against each other, and secrets stay
//! secret: a vendor that echoes what it was sent, one namespace's storm
//! against another's joins, (`rbac`) tenants and an operator with less
//! than every right, and (`stolen`) a bot id written into another object.

mod rbac;
mod stolen;

use crate::scene::{Scene, Waits, failing};
use crate::support::*;
use fake_lemonslice::Faults;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, Client};
use meetingbot_operator::api::{MeetingBot, MeetingBotSpec, MeetingUrlSecretRef};
use std::time::Duration;

/// A Zoom meeting whose passcode is in its URL.
const PASSWORD: &str = "Zm9vYmFyUGFzc2NvZGU4Nw";
const MEETING_ID: &str = "81234567890";

fn zoom_url() -> String {
    format!("https://us02web.zoom.us/j/{MEETING_ID}?pwd={PASSWORD}")
}

/// Every place a secret could leak to: the operator's log, the namespace's
/// Events (all of their fields) and the MeetingBots' whole status.
async fn leak_places(client: &Client, ns: &str, log: &str) -> Vec<(String, String)> {
    let events = kubectl(&["get", "events.events.k8s.io", "-n", ns, "-o", "json"]);
    let bots = Api::<MeetingBot>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .unwrap();
    let mut places = vec![("events".to_owned(), events)];
    for bot in bots.items {
        let status = serde_json::to_string(&bot.status).unwrap();
        places.push((format!("status of {}", bot.metadata.name.unwrap()), status));
    }
    for (i, line) in log.lines().enumerate() {
        places.push((format!("log line {}", i + 1), line.to_owned()));
    }
    places
}

#[tokio::test]
async fn an_echoing_vendor_learns_nothing_secret_into_status_events_or_logs() {
    let scene = Scene::builder("tenants-echo")
        .faults(Faults {
            echo_rate: 1.0,
            endpoints: vec!["join".into()],
            ..Faults::default()
        })
        .start()
        .await;
    let session = format!("session-echo-{}", scene.ns);
    scene.put_secret("meeting", "meetingUrl", &zoom_url()).await;
    let spec = MeetingBotSpec {
        meeting_url: None,
        meeting_url_secret_ref: Some(MeetingUrlSecretRef {
            name: "meeting".into(),
            key: "meetingUrl".into(),
        }),
        ..spec(&session)
    };
    scene.create("echoed", spec).await;
    let bot = scene.wait_stalled("echoed", "InvalidRequest").await;
    let message = &bot.condition("Ready").unwrap().message;
    assert!(
        message.contains("x-api-key") && message.contains("[redacted]"),
        "the status still says which field the vendor refused: {message}"
    );
    let calls = scene.calls().await;
    assert!(calls.count("join", "422") >= 1, "the vendor echoed");
    // The Warning Event of the refusal is published after the status: wait for it.
    scene.wait_event("echoed", "JoinFailed").await;

    let encode = |value: &str| -> String {
        url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
    };
    let url = zoom_url();
    let secrets = [
        url.clone(),
        encode(&url),
        PASSWORD.to_owned(),
        BROADCAST_TOKEN.to_owned(),
        API_KEY.to_owned(),
        serde_json::to_string(&url).unwrap().replace('/', "\\/"),
    ];
    let log = scene.operator().log_text();
    let places = leak_places(&scene.client, &scene.ns, &log).await;
    assert!(places.len() > 3, "there is a log to search");
    for secret in &secrets {
        for (place, text) in &places {
            assert!(
                !text.contains(secret.as_str()),
                "{secret:?} leaked into {place}: {text}"
            );
        }
    }
}

/// The fewest seconds the operator may wait before the `n`th retry (1-based)
/// of a failing call: the backoff (1 s doubling, capped at 5 min) at its
/// lowest jitter (0.8), less 100 ms for the clocks.
fn least_gap(n: u32) -> f64 {
    let backoff = (1u64 << (n - 1).min(16)).min(300) as f64;
    backoff * 0.8 - 0.1
}

#[tokio::test]
async fn a_namespace_touching_its_secret_under_a_429_storm_cannot_reset_backoff_or_starve_others() {
    let mut stormy = Scene::builder("tenants-storm")
        .without_operator()
        .deadline(Duration::from_secs(40))
        .start()
        .await;
    let quiet = Scene::builder("tenants-quiet")
        .without_operator()
        .start()
        .await;
    // One operator for both namespaces, with a bound low enough that the start alone exceeds it.
    let mut options = stormy.options();
    options.namespace = format!("{},{}", stormy.ns, quiet.ns);
    options
        .extra_args
        .push("--vendor-calls-per-second=2".into());
    stormy.run_operator(&options).await;
    let storm_sessions: Vec<String> = (0..3).map(|i| format!("storm-{}-{i}", stormy.ns)).collect();
    stormy
        .admin
        .set_faults(&Faults {
            sessions: storm_sessions.clone(),
            ..failing("join", 429)
        })
        .await
        .unwrap();

    for (i, session) in storm_sessions.iter().enumerate() {
        stormy.create(&format!("storm-{i}"), spec(session)).await;
    }
    // The stormy team touches its token Secret once a second (a label change,
    // the data stays), for 20 s.
    let touching = {
        let secrets: Api<Secret> = stormy.secrets();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            for i in 0..20 {
                tick.tick().await;
                let patch =
                    serde_json::json!({"metadata": {"annotations": {"touched": i.to_string()}}});
                secrets
                    .patch("token", &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .unwrap();
            }
        })
    };
    for i in 0..4 {
        let session = format!("quiet-{}-{i}", quiet.ns);
        quiet.create(&format!("quiet-{i}"), spec(&session)).await;
    }
    for i in 0..4 {
        quiet
            .within(Duration::from_secs(40))
            .wait_joined(&format!("quiet-{i}"))
            .await;
    }
    touching.await.unwrap();

    let requests = stormy.admin.requests().await.unwrap();
    for session in &storm_sessions {
        let mut joins: Vec<_> = requests
            .iter()
            .filter(|r| r.endpoint == "join" && &r.session_id == session)
            .map(|r| r.at)
            .collect();
        joins.sort();
        assert!(joins.len() >= 2, "{session} was retried: {joins:?}");
        // Within 20 s, the schedule allows at most 1 + 0.8 (1 + 2 + 4 + 8) ≈ 5 calls; one
        // every second (backoff reset by every touch) would be about 20.
        assert!(
            joins.len() <= 6,
            "{session}: {} joins in the storm",
            joins.len()
        );
        for (n, pair) in joins.windows(2).enumerate() {
            let gap = pair[1].duration_since(pair[0]).as_secs_f64();
            let least = least_gap(n as u32 + 1);
            assert!(
                gap >= least,
                "{session}: retry {} came {gap:.2} s after the last, before the backoff's {least:.2} s",
                n + 1
            );
        }
    }
    let throttled = "meetingbot_operator_lemonslice_throttled_total";
    // The bound of 2 calls/s throttled some calls.
    stormy
        .wait_metric(stormy.operator(), throttled, |n| n > 0.0)
        .await;
}
