//! Injected faults: error statuses, dropped and hung joins, latency, an
//! echoing vendor, and the control API that sets them.

use crate::support::*;
use fake_lemonslice::Faults;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

#[tokio::test]
async fn an_injected_error_changes_nothing_and_throttles_carry_retry_after() {
    let fake = fake_with_faults(Faults {
        error_rate: 1.0,
        error_statuses: vec![429],
        retry_after_secs: Some(3),
        ..Faults::default()
    })
    .await;
    let admin = fake.admin();
    let vendor = Vendor::new(&fake.url());
    let response = vendor.join_raw(SESSION, &join_body()).await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "3");
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({ "detail": "injected 429" })
    );
    assert!(admin.bots().await.unwrap().is_empty() && admin.joins().await.unwrap().is_empty());
    assert_eq!(admin.calls().await.unwrap().count("join", "429"), 1);

    // Retry-After is for throttling answers only; other statuses come without it.
    admin
        .set_faults(&Faults {
            error_rate: 1.0,
            error_statuses: vec![502],
            retry_after_secs: Some(3),
            ..Faults::default()
        })
        .await
        .unwrap();
    let response = vendor.join_raw(SESSION, &join_body()).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert!(response.headers().get("retry-after").is_none());

    // Faults apply only to the endpoints listed.
    admin
        .set_faults(&Faults {
            error_rate: 1.0,
            endpoints: vec!["leave".into(), "session".into()],
            ..Faults::default()
        })
        .await
        .unwrap();
    let (status, joined) = vendor.join(SESSION).await;
    assert_eq!(status, StatusCode::OK);
    let bot_id = joined["meeting_bot_id"].as_str().unwrap();
    assert_eq!(
        vendor.leave(SESSION, bot_id).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        vendor.status(SESSION).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        admin.bots().await.unwrap().len(),
        1,
        "the failed leave left the bot in"
    );
}

#[tokio::test]
async fn a_dropped_join_makes_the_bot_and_breaks_the_connection() {
    let fake = fake_with_faults(Faults {
        drop_join_rate: 1.0,
        ..Faults::default()
    })
    .await;
    let sent = Vendor::new(&fake.url())
        .join_raw(SESSION, &join_body())
        .await;
    let error = sent.expect_err("no answer, not even a status line");
    assert!(!error.is_timeout(), "{error:?}");

    let admin = fake.admin();
    let bots = admin.bots().await.unwrap();
    assert_eq!(bots.len(), 1, "the bot exists though nobody learned its id");
    assert_eq!(admin.calls().await.unwrap().count("join", "dropped"), 1);
    let requests = admin.requests().await.unwrap();
    assert_eq!(requests[0].status, "dropped");
    assert_eq!(
        requests[0].meeting_bot_id.as_deref(),
        Some(bots[0].meeting_bot_id.as_str())
    );
}

#[tokio::test]
async fn a_hung_join_makes_the_bot_and_never_answers() {
    let fake = fake_with_faults(Faults {
        hang_rate: 1.0,
        hang_secs: 30,
        endpoints: vec!["join".into()],
        ..Faults::default()
    })
    .await;
    let vendor = Vendor::with_timeout(&fake.url(), Duration::from_millis(300));
    let error = vendor
        .join_raw(SESSION, &join_body())
        .await
        .expect_err("no answer");
    assert!(error.is_timeout(), "{error:?}");
    assert_eq!(
        fake.admin().bots().await.unwrap().len(),
        1,
        "the bot was created first"
    );
    assert_eq!(fake.admin().calls().await.unwrap().count("join", "hung"), 1);
    // The other endpoints answer meanwhile.
    assert_eq!(vendor.status(SESSION).await.0, StatusCode::OK);
}

#[tokio::test]
async fn over_http2_a_dropped_join_breaks_only_its_own_stream() {
    let fake = fake().await;
    let http = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let vendor = Vendor {
        http,
        base: fake.url(),
        key: Some(KEY.to_owned()),
    };
    let (status, joined) = vendor.join(SESSION).await;
    assert_eq!(status, StatusCode::OK);
    let websocket_url = joined["websocket_url"].as_str().unwrap();
    assert!(
        websocket_url.starts_with(&fake.url().replace("http://", "wss://")),
        "{websocket_url}"
    );

    fake.admin()
        .set_faults(&Faults {
            drop_join_rate: 1.0,
            ..Faults::default()
        })
        .await
        .unwrap();
    vendor
        .join_raw(SESSION, &join_body())
        .await
        .expect_err("no answer");
    assert_eq!(
        vendor.status(SESSION).await.0,
        StatusCode::OK,
        "other calls still answer"
    );
    assert_eq!(fake.admin().bots().await.unwrap().len(), 2);
}

#[tokio::test]
async fn latency_delays_the_answer_and_requests_record_the_arrival() {
    let fake = fake_with_faults(Faults {
        latency_ms: 300,
        ..Faults::default()
    })
    .await;
    let sent_at = jiff::Timestamp::now();
    let started = Instant::now();
    assert_eq!(
        Vendor::new(&fake.url()).status(SESSION).await.0,
        StatusCode::OK
    );
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );

    let requests = fake.admin().requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let record = &requests[0];
    assert_eq!(
        (record.endpoint.as_str(), record.session_id.as_str()),
        ("session", SESSION)
    );
    assert_eq!(
        (record.status.as_str(), record.meeting_bot_id.as_deref()),
        ("200", None)
    );
    let lag = record.at.duration_since(sent_at);
    assert!(
        lag < jiff::SignedDuration::from_millis(200),
        "recorded {lag} after sending, not on arrival"
    );
}

#[tokio::test]
async fn faults_are_replaced_whole_and_checked() {
    let fake = fake().await;
    let admin = fake.admin();
    let http = control_http();
    let faults_url = format!("{}/_fake/faults", fake.url());
    let current = || faults_at(fake.url());
    assert_eq!(current().await, Faults::default());

    let slow = Faults {
        latency_ms: 5,
        jitter_ms: 5,
        error_rate: 0.5,
        error_statuses: vec![500, 504],
        retry_after_secs: Some(1),
        ..Faults::default()
    };
    admin.set_faults(&slow).await.unwrap();
    assert_eq!(current().await, slow);

    let error = admin
        .set_faults(&Faults {
            hang_rate: 2.0,
            ..Faults::default()
        })
        .await
        .unwrap_err();
    assert!(error.to_string().contains("hang_rate"), "{error}");
    let misspelt = http
        .post(&faults_url)
        .json(&json!({ "latency": 5 }))
        .send()
        .await
        .unwrap();
    assert_eq!(misspelt.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        current().await,
        slow,
        "a refused configuration changes nothing"
    );

    // A partial configuration replaces everything, the rest taking defaults.
    http.post(&faults_url)
        .json(&json!({ "latency_ms": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        current().await,
        Faults {
            latency_ms: 1,
            ..Faults::default()
        }
    );
}

#[tokio::test]
async fn an_echoing_vendor_answers_422_quoting_every_field_and_the_key() {
    let fake = fake_with_faults(Faults {
        echo_rate: 1.0,
        sessions: vec![SESSION.into()],
        ..Faults::default()
    })
    .await;
    let admin = fake.admin();
    let vendor = Vendor::new(&fake.url());
    let body = join_body();
    let (status, answer) = answer(vendor.join_raw(SESSION, &body).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let items = answer["detail"].as_array().expect("a FastAPI detail list");
    let input = |loc: &[&str]| {
        items
            .iter()
            .find(|item| item["loc"] == json!(loc))
            .unwrap_or_else(|| panic!("no item at {loc:?} in {answer}"))["input"]
            .clone()
    };
    assert_eq!(input(&["header", "x-api-key"]), json!(KEY));
    for field in ["meeting_url", "livekit_url", "broadcast_token", "bot_name"] {
        assert_eq!(input(&["body", field]), body[field], "{field}");
    }
    assert_eq!(input(&["body"]), body, "the whole body is echoed too");
    assert_eq!(input(&["path", "session_id"]), json!(SESSION));
    let msgs: String = items.iter().map(|i| i["msg"].to_string()).collect();
    assert!(
        msgs.contains("https%3A%2F%2Fmeet.google.com%2Fabc-defg-hij"),
        "the meeting URL is echoed URL-encoded in a msg: {msgs}"
    );
    for item in items {
        assert!(item["loc"].is_array() && item["msg"].is_string(), "{item}");
    }
    assert!(admin.bots().await.unwrap().is_empty(), "nothing was joined");
    assert_eq!(admin.calls().await.unwrap().count("join", "422"), 1);

    // Only the sessions listed: another session joins as usual.
    let (status, _) = vendor.join("another-session").await;
    assert_eq!(status, StatusCode::OK);
}
