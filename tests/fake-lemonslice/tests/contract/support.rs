//! What every contract test uses: the fake with the test's key, a plain
//! HTTP client of the vendor API, and readers of its answers.

use fake_lemonslice::{Config, FakeServer, Faults};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

pub(crate) const KEY: &str = "contract-key-3b9e71";
pub(crate) const TOKEN: &str = "contract-broadcast-token-a41c0f";
pub(crate) const SESSION: &str = "livekit-3f7c2b91-9e1f-4a6a-8e9d-2c7c3e7d9b5a";

pub(crate) async fn fake() -> FakeServer {
    fake_with(Config::default()).await
}

pub(crate) async fn fake_with(config: Config) -> FakeServer {
    FakeServer::start(Config {
        api_keys: vec![KEY.into()],
        ..config
    })
    .await
    .expect("the fake starts")
}

pub(crate) async fn fake_with_faults(faults: Faults) -> FakeServer {
    fake_with(Config {
        faults,
        ..Config::default()
    })
    .await
}

/// A plain HTTP client of the vendor API, key and all, as the operator's would be.
pub(crate) struct Vendor {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
    pub(crate) key: Option<String>,
}

impl Vendor {
    pub(crate) fn new(base: &str) -> Vendor {
        Vendor::with_timeout(base, Duration::from_secs(5))
    }

    pub(crate) fn with_timeout(base: &str, timeout: Duration) -> Vendor {
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

    pub(crate) fn keyed(mut self, key: Option<&str>) -> Vendor {
        self.key = key.map(str::to_owned);
        self
    }

    pub(crate) fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self
            .http
            .request(method, format!("{}/liveai/sessions/{path}", self.base));
        match &self.key {
            Some(key) => request.header("X-API-Key", key),
            None => request,
        }
    }

    pub(crate) async fn join_raw(
        &self,
        session_id: &str,
        body: &Value,
    ) -> reqwest::Result<reqwest::Response> {
        self.request(reqwest::Method::POST, &format!("{session_id}/join-meeting"))
            .json(body)
            .send()
            .await
    }

    pub(crate) async fn join(&self, session_id: &str) -> (StatusCode, Value) {
        answer(self.join_raw(session_id, &join_body()).await).await
    }

    pub(crate) async fn leave(
        &self,
        session_id: &str,
        meeting_bot_id: &str,
    ) -> (StatusCode, Value) {
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

    pub(crate) async fn status(&self, session_id: &str) -> (StatusCode, Value) {
        answer(self.request(reqwest::Method::GET, session_id).send().await).await
    }
}

/// The status and JSON body of an answer that must have come.
pub(crate) async fn answer(sent: reqwest::Result<reqwest::Response>) -> (StatusCode, Value) {
    let response = sent.expect("an answer");
    let status = response.status();
    let text = response.text().await.expect("a body");
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: not JSON: {text}"));
    (status, body)
}

/// The documented example join.
pub(crate) fn join_body() -> Value {
    json!({
        "meeting_url": "https://meet.google.com/abc-defg-hij",
        "livekit_url": "wss://lemonslice-pb123.livekit.cloud",
        "broadcast_token": TOKEN,
        "bot_name": "LemonSlice Avatar",
    })
}

pub(crate) fn is_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f'))
}

pub(crate) fn detail(body: &Value) -> &str {
    body["detail"]
        .as_str()
        .unwrap_or_else(|| panic!("no detail in {body}"))
}

/// A client of the fake's control API (`/_fake/`), as plain HTTP.
pub(crate) fn control_http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// The faults the fake at `base` injects now, as its control API reports them.
pub(crate) async fn faults_at(base: String) -> Faults {
    control_http()
        .get(format!("{base}/_fake/faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}
