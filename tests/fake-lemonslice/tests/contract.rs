//! The fake against the vendor contract (`shared/lemonslice-api.md`): the
//! documented requests sent as plain HTTP, the answers checked field by field.

use fake_lemonslice::{Admin, Config, FakeServer, Faults};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};

const KEY: &str = "contract-key-3b9e71";
const TOKEN: &str = "contract-broadcast-token-a41c0f";
const SESSION: &str = "livekit-3f7c2b91-9e1f-4a6a-8e9d-2c7c3e7d9b5a";

async fn fake() -> FakeServer {
    fake_with(Config::default()).await
}

async fn fake_with(config: Config) -> FakeServer {
    FakeServer::start(Config {
        api_keys: vec![KEY.into()],
        ..config
    })
    .await
    .expect("the fake starts")
}

async fn fake_with_faults(faults: Faults) -> FakeServer {
    fake_with(Config {
        faults,
        ..Config::default()
    })
    .await
}

/// A plain HTTP client of the vendor API, key and all, as the operator's would be.
struct Vendor {
    http: reqwest::Client,
    base: String,
    key: Option<String>,
}

impl Vendor {
    fn new(base: &str) -> Vendor {
        Vendor::with_timeout(base, Duration::from_secs(5))
    }

    fn with_timeout(base: &str, timeout: Duration) -> Vendor {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(timeout)
            .build()
            .unwrap();
        Vendor {
            http,
            base: base.to_owned(),
            key: Some(KEY.to_owned()),
        }
    }

    fn keyed(mut self, key: Option<&str>) -> Vendor {
        self.key = key.map(str::to_owned);
        self
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self
            .http
            .request(method, format!("{}/liveai/sessions/{path}", self.base));
        match &self.key {
            Some(key) => request.header("X-API-Key", key),
            None => request,
        }
    }

    async fn join_raw(&self, session_id: &str, body: &Value) -> reqwest::Result<reqwest::Response> {
        self.request(reqwest::Method::POST, &format!("{session_id}/join-meeting"))
            .json(body)
            .send()
            .await
    }

    async fn join(&self, session_id: &str) -> (StatusCode, Value) {
        answer(self.join_raw(session_id, &join_body()).await).await
    }

    async fn leave(&self, session_id: &str, meeting_bot_id: &str) -> (StatusCode, Value) {
        let body = json!({ "meeting_bot_id": meeting_bot_id });
        let sent = self
            .request(
                reqwest::Method::POST,
                &format!("{session_id}/leave-meeting"),
            )
            .json(&body)
            .send()
            .await;
        answer(sent).await
    }

    async fn status(&self, session_id: &str) -> (StatusCode, Value) {
        answer(self.request(reqwest::Method::GET, session_id).send().await).await
    }
}

/// The status and JSON body of an answer that must have come.
async fn answer(sent: reqwest::Result<reqwest::Response>) -> (StatusCode, Value) {
    let response = sent.expect("an answer");
    let status = response.status();
    let text = response.text().await.expect("a body");
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: not JSON: {text}"));
    (status, body)
}

/// The documented example join.
fn join_body() -> Value {
    json!({
        "meeting_url": "https://meet.google.com/abc-defg-hij",
        "livekit_url": "wss://lemonslice-pb123.livekit.cloud",
        "broadcast_token": TOKEN,
        "bot_name": "LemonSlice Avatar",
    })
}

fn is_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f'))
}

fn detail(body: &Value) -> &str {
    body["detail"]
        .as_str()
        .unwrap_or_else(|| panic!("no detail in {body}"))
}

#[tokio::test]
async fn join_status_and_leave_follow_the_contract_at_the_root_and_under_api() {
    let fake = fake().await;
    let admin = fake.admin();
    let host = fake.url().trim_start_matches("http://").to_owned();
    for base in [fake.url(), format!("{}/api", fake.url())] {
        let vendor = Vendor::new(&base);

        let (status, joined) = vendor.join(SESSION).await;
        assert_eq!(status, StatusCode::OK, "{base}: {joined}");
        assert_eq!(
            joined.as_object().unwrap().len(),
            2,
            "only the documented fields: {joined}"
        );
        let bot_id = joined["meeting_bot_id"].as_str().unwrap();
        assert!(
            is_hex(bot_id.strip_prefix("meeting-bot-").unwrap(), 12),
            "{bot_id}"
        );
        let websocket_url = joined["websocket_url"].as_str().unwrap();
        let token = websocket_url
            .strip_prefix(&format!("wss://{host}/agent-audio/{SESSION}?token="))
            .unwrap_or_else(|| panic!("{websocket_url}"));
        assert!(is_hex(token, 32), "{websocket_url}");

        let bots = admin.bots().await.unwrap();
        assert_eq!(bots.len(), 1);
        assert_eq!(bots[0].meeting_bot_id, bot_id);
        assert_eq!(bots[0].session_id, SESSION);
        assert_eq!(bots[0].meeting_url, "https://meet.google.com/abc-defg-hij");
        assert_eq!(bots[0].bot_name.as_deref(), Some("LemonSlice Avatar"));

        assert_eq!(
            vendor.status(SESSION).await,
            (StatusCode::OK, json!({ "session_status": "ACTIVE" }))
        );

        assert_eq!(
            vendor.leave(SESSION, bot_id).await,
            (StatusCode::OK, json!({ "status": "left" }))
        );
        assert!(admin.bots().await.unwrap().is_empty());
        let leaves = admin.leaves().await.unwrap();
        assert_eq!(leaves.last().unwrap().meeting_bot_id, bot_id);
        assert_eq!(leaves.last().unwrap().session_id, SESSION);

        // Leaving again: the bot is gone.
        let (status, body) = vendor.leave(SESSION, bot_id).await;
        assert_eq!(
            (status, detail(&body)),
            (StatusCode::NOT_FOUND, "meeting bot not found")
        );
    }
    assert_eq!(
        admin.joins().await.unwrap().len(),
        2,
        "one join at each base URL"
    );
    let calls = admin.calls().await.unwrap();
    assert_eq!(
        (calls.count("join", "200"), calls.count("leave", "200")),
        (2, 2)
    );
    assert_eq!(
        (calls.count("leave", "404"), calls.total("session")),
        (2, 2)
    );
}

#[tokio::test]
async fn every_join_is_one_more_bot_and_a_bot_name_is_optional() {
    let fake = fake().await;
    let vendor = Vendor::new(&fake.url());
    let mut body = join_body();
    body.as_object_mut().unwrap().remove("bot_name");
    for _ in 0..2 {
        assert_eq!(
            answer(vendor.join_raw(SESSION, &body).await).await.0,
            StatusCode::OK
        );
    }
    let bots = fake.admin().bots().await.unwrap();
    assert_eq!(bots.len(), 2, "join is not idempotent");
    assert!(bots.iter().all(|bot| bot.bot_name.is_none()));
    assert_ne!(bots[0].meeting_bot_id, bots[1].meeting_bot_id);
}

#[tokio::test]
async fn leave_finds_only_a_live_bot_of_its_own_session() {
    let fake = fake().await;
    let vendor = Vendor::new(&fake.url());
    let (_, joined) = vendor.join("session-a").await;
    let bot_id = joined["meeting_bot_id"].as_str().unwrap();

    let (status, body) = vendor.leave("session-b", bot_id).await;
    assert_eq!(
        (status, detail(&body)),
        (StatusCode::NOT_FOUND, "meeting bot not found")
    );
    let (status, body) = vendor.leave("session-a", "meeting-bot-000000000000").await;
    assert_eq!(
        (status, detail(&body)),
        (StatusCode::NOT_FOUND, "meeting bot not found")
    );
    assert_eq!(
        fake.admin().bots().await.unwrap().len(),
        1,
        "the bot is still in its meeting"
    );
    assert!(fake.admin().leaves().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_missing_or_wrong_api_key_is_refused_without_being_echoed() {
    let fake = fake().await;
    let wrong = "wrong-key-58f2c1";
    for key in [None, Some(wrong)] {
        let vendor = Vendor::new(&fake.url()).keyed(key);
        for (status, body) in [
            vendor.join(SESSION).await,
            vendor.leave(SESSION, "meeting-bot-000000000000").await,
            vendor.status(SESSION).await,
        ] {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
            assert!(!detail(&body).is_empty());
            assert!(
                !body.to_string().contains(wrong) && !body.to_string().contains(TOKEN),
                "{body}"
            );
        }
    }
    assert!(fake.admin().bots().await.unwrap().is_empty());
    assert_eq!(fake.admin().calls().await.unwrap().count("join", "401"), 2);

    // Keys can be rotated at run time.
    fake.admin().set_api_keys(&["rotated-key"]).await.unwrap();
    assert_eq!(
        Vendor::new(&fake.url()).join(SESSION).await.0,
        StatusCode::UNAUTHORIZED
    );
    let rotated = Vendor::new(&fake.url()).keyed(Some("rotated-key"));
    assert_eq!(rotated.join(SESSION).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_bad_body_is_422_naming_the_field_and_never_echoing_the_token() {
    let fake = fake().await;
    let vendor = Vendor::new(&fake.url());
    let with = |field: &str, value: Value| {
        let mut body = join_body();
        body[field] = value;
        body
    };
    let without = |field: &str| {
        let mut body = join_body();
        body.as_object_mut().unwrap().remove(field);
        body
    };
    let cases = [
        (without("livekit_url"), "livekit_url"),
        (without("meeting_url"), "meeting_url"),
        (without("broadcast_token"), "broadcast_token"),
        (
            with("meeting_url", json!("http://meet.google.com/abc-defg-hij")),
            "meeting_url",
        ),
        (with("meeting_url", json!("not a url")), "meeting_url"),
        (
            with(
                "livekit_url",
                json!("https://lemonslice-pb123.livekit.cloud"),
            ),
            "livekit_url",
        ),
        (with("broadcast_token", json!("")), "broadcast_token"),
        (with("broadcast_token", json!(42)), "broadcast_token"),
        (with("bot_name", json!({ "name": "x" })), "bot_name"),
        (json!(["a", "list"]), "JSON object"),
    ];
    for (body, named) in cases {
        let (status, answer) = answer(vendor.join_raw(SESSION, &body).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert!(detail(&answer).contains(named), "{body}: {answer}");
        assert!(!answer.to_string().contains(TOKEN), "{answer}");
    }

    // A body that is not JSON at all.
    let sent = vendor
        .request(reqwest::Method::POST, &format!("{SESSION}/join-meeting"))
        .header("Content-Type", "application/json")
        .body(format!("meeting_url=https://x&broadcast_token={TOKEN}"))
        .send()
        .await;
    let (status, body) = answer(sent).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        detail(&body).contains("not JSON") && !body.to_string().contains(TOKEN),
        "{body}"
    );

    for body in [
        json!({}),
        json!({ "meeting_bot_id": 5 }),
        json!({ "meeting_bot_id": "" }),
    ] {
        let sent = vendor
            .request(reqwest::Method::POST, &format!("{SESSION}/leave-meeting"))
            .json(&body)
            .send()
            .await;
        let (status, answer) = answer(sent).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(detail(&answer).contains("meeting_bot_id"), "{answer}");
    }
    assert!(fake.admin().bots().await.unwrap().is_empty());
}

#[tokio::test]
async fn session_status_is_settable_and_only_an_active_session_joins() {
    let fake = fake().await;
    let admin = fake.admin();
    let vendor = Vendor::new(&fake.url());

    admin.set_session_status("s", "QUEUED").await.unwrap();
    assert_eq!(
        vendor.status("s").await,
        (StatusCode::OK, json!({ "session_status": "QUEUED" }))
    );
    let (status, body) = vendor.join("s").await;
    assert_eq!(
        (status, detail(&body)),
        (StatusCode::CONFLICT, "session s is QUEUED, not ACTIVE")
    );
    assert!(
        admin.bots().await.unwrap().is_empty(),
        "a refused join makes no bot"
    );

    admin.set_session_status("s", "ACTIVE").await.unwrap();
    vendor.join("s").await;
    vendor.join("s").await;
    vendor.join("other").await;
    assert_eq!(admin.bots().await.unwrap().len(), 3);

    for (ended, session) in [("COMPLETED", "s"), ("TIMED_OUT", "other")] {
        admin.set_session_status(session, ended).await.unwrap();
        assert_eq!(
            vendor.status(session).await.1,
            json!({ "session_status": ended })
        );
        assert!(
            admin
                .bots()
                .await
                .unwrap()
                .iter()
                .all(|bot| bot.session_id != session),
            "{ended}"
        );
    }
    assert!(
        admin.bots().await.unwrap().is_empty(),
        "the bots left with their sessions"
    );
    assert_eq!(vendor.join("s").await.0, StatusCode::CONFLICT);

    // Odd session ids travel intact, and a status must be one the vendor has.
    admin
        .set_session_status("a session/with?odd#chars", "FAILED")
        .await
        .unwrap();
    assert!(admin.set_session_status("s", "queued").await.is_err());
}

#[tokio::test]
async fn with_only_known_sessions_the_others_are_not_found() {
    let fake = fake_with(Config {
        sessions: vec!["known".into()],
        only_known_sessions: true,
        ..Config::default()
    })
    .await;
    let vendor = Vendor::new(&fake.url());
    for (status, body) in [
        vendor.join("unknown").await,
        vendor.leave("unknown", "meeting-bot-000000000000").await,
        vendor.status("unknown").await,
    ] {
        assert_eq!(
            (status, detail(&body)),
            (StatusCode::NOT_FOUND, "session not found")
        );
    }
    assert_eq!(vendor.join("known").await.0, StatusCode::OK);
    assert_eq!(
        vendor.status("known").await.1,
        json!({ "session_status": "ACTIVE" })
    );

    fake.admin()
        .set_session_status("later", "QUEUED")
        .await
        .unwrap();
    assert_eq!(
        vendor.status("later").await.1,
        json!({ "session_status": "QUEUED" })
    );
}

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
async fn latency_delays_the_answer_and_requests_record_the_arrival() {
    let fake = fake_with_faults(Faults {
        latency_ms: 300,
        ..Faults::default()
    })
    .await;
    let sent_at = chrono::Utc::now();
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
    let lag = record.at - sent_at;
    assert!(
        lag < chrono::Duration::milliseconds(200),
        "recorded {lag} after sending, not on arrival"
    );
}

#[tokio::test]
async fn faults_are_replaced_whole_and_checked() {
    let fake = fake().await;
    let admin = fake.admin();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let faults_url = format!("{}/_fake/faults", fake.url());
    let current = || async {
        http.get(&faults_url)
            .send()
            .await
            .unwrap()
            .json::<Faults>()
            .await
            .unwrap()
    };
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
async fn reset_forgets_everything_but_the_keys() {
    let fake = fake().await;
    let admin = fake.admin();
    let vendor = Vendor::new(&fake.url());
    let (_, joined) = vendor.join(SESSION).await;
    vendor
        .leave(SESSION, joined["meeting_bot_id"].as_str().unwrap())
        .await;
    vendor.join(SESSION).await;
    admin.set_session_status("queued", "QUEUED").await.unwrap();
    admin
        .set_faults(&Faults {
            latency_ms: 1,
            ..Faults::default()
        })
        .await
        .unwrap();

    admin.reset().await.unwrap();
    assert!(admin.bots().await.unwrap().is_empty());
    assert!(admin.joins().await.unwrap().is_empty());
    assert!(admin.leaves().await.unwrap().is_empty());
    assert!(admin.requests().await.unwrap().is_empty());
    let calls = admin.calls().await.unwrap();
    assert!(
        ["join", "leave", "session"]
            .iter()
            .all(|endpoint| calls.total(endpoint) == 0)
    );
    assert_eq!(
        serde_json::to_value(&calls).unwrap(),
        json!({ "join": {}, "leave": {}, "session": {} })
    );
    assert_eq!(
        vendor.status("queued").await.1,
        json!({ "session_status": "ACTIVE" })
    );
    assert_eq!(
        vendor.join(SESSION).await.0,
        StatusCode::OK,
        "the key still works"
    );
}

#[tokio::test]
async fn many_concurrent_joins_each_get_their_own_bot() {
    let fake = fake().await;
    let vendor = std::sync::Arc::new(Vendor::new(&fake.url()));
    let joins: Vec<_> = (0..300)
        .map(|n| {
            let vendor = vendor.clone();
            tokio::spawn(async move { vendor.join(&format!("session-{n}")).await })
        })
        .collect();
    for join in joins {
        assert_eq!(join.await.unwrap().0, StatusCode::OK);
    }
    let bots = fake.admin().bots().await.unwrap();
    let ids: std::collections::HashSet<_> = bots.iter().map(|bot| &bot.meeting_bot_id).collect();
    assert_eq!((bots.len(), ids.len()), (300, 300));
    assert_eq!(fake.admin().calls().await.unwrap().total("join"), 300);
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
async fn dropping_the_server_stops_it() {
    let fake = fake().await;
    let url = fake.url();
    drop(fake);
    let vendor = Vendor::new(&url);
    // The accept loop ends on its task; give it the moment it needs.
    let deadline = Instant::now() + Duration::from_secs(2);
    while vendor.join_raw(SESSION, &join_body()).await.is_ok() {
        assert!(Instant::now() < deadline, "still serving");
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn the_binary_prints_its_url_then_serves() {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_fake-lemonslice"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--api-key",
            KEY,
            "--session",
            "cli-session",
        ])
        .args([
            "--only-known-sessions",
            "--latency-ms",
            "1",
            "--error-status",
            "502",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary runs");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(5), stdout.read_line(&mut line))
        .await
        .expect("the ready line in time")
        .unwrap();
    let url = line
        .trim_end()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{line:?}"));
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    let vendor = Vendor::new(url);
    assert_eq!(vendor.join("cli-session").await.0, StatusCode::OK);
    assert_eq!(vendor.join("other").await.0, StatusCode::NOT_FOUND);
    let admin = Admin::new(url);
    assert_eq!(admin.bots().await.unwrap().len(), 1);
    let faults: Faults = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{url}/_fake/faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((faults.latency_ms, faults.error_statuses), (1, vec![502]));

    child.kill().await.unwrap();
    let mut logs = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut child.stderr.take().unwrap(), &mut logs)
        .await
        .unwrap();
    assert!(logs.contains("vendor call"), "{logs}");
    assert!(!logs.contains(KEY) && !logs.contains(TOKEN), "{logs}");
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
