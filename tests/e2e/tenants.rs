//! Tenants cannot use the operator against each other, and secrets stay
//! secret: a vendor that echoes what it was sent, connection Secrets that
//! belong to someone else, and one namespace's storm against another's joins.

use crate::support::*;
use fake_lemonslice::Faults;
use k8s_openapi::api::core::v1::Secret;
use kube::api::ListParams;
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
    let (client, ns, fake) = prepared("tenants-echo").await;
    let session = format!("session-echo-{ns}");
    fake.admin()
        .set_faults(&Faults {
            echo_rate: 1.0,
            endpoints: vec!["join".into()],
            ..Faults::default()
        })
        .await
        .unwrap();
    put_secret(&client, &ns, "meeting", "meetingUrl", &zoom_url()).await;
    let operator = Operator::start(&OperatorOptions::new(&ns, &fake)).await;
    let spec = MeetingBotSpec {
        meeting_url: None,
        meeting_url_secret_ref: Some(MeetingUrlSecretRef {
            name: "meeting".into(),
            key: "meetingUrl".into(),
        }),
        ..spec(&session)
    };
    create_bot(&client, &ns, "echoed", spec).await;
    let bot = wait_for_condition(
        &client,
        &ns,
        "echoed",
        "Stalled",
        Some("InvalidRequest"),
        Duration::from_secs(30),
    )
    .await;
    let message = &condition(&bot, "Ready").unwrap().message;
    assert!(
        message.contains("x-api-key") && message.contains("[redacted]"),
        "the status still says which field the vendor refused: {message}"
    );
    let calls = fake.admin().calls().await.unwrap();
    assert!(calls.count("join", "422") >= 1, "the vendor echoed");
    // The Warning Event of the refusal is published after the status: wait for it.
    wait_until("the refusal's Event", Duration::from_secs(10), || async {
        let events = kubectl(&["get", "events.events.k8s.io", "-n", &ns, "-o", "json"]);
        events.contains("InvalidRequest").then_some(())
    })
    .await;

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
    let places = leak_places(&client, &ns, &operator.log_text()).await;
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
