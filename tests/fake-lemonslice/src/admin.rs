//! A typed client of the control API (`/_fake/`), for a fake in the same
//! process or running as the `fake-lemonslice` binary.

use crate::faults::Faults;
use crate::model::{Bot, CallCounts, Leave, Peaks, RequestRecord};
use anyhow::Context;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Admin {
    base: String,
    http: reqwest::Client,
}

impl Admin {
    /// A client of the fake at `base_url` (`http://127.0.0.1:PORT`).
    pub fn new(base_url: &str) -> Admin {
        // reqwest is built without a default TLS provider; building a client
        // still wants one installed. Whoever installed one first wins.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            // The fake is local: a proxy from the environment must not get in the way.
            .no_proxy()
            // The control API answers at once; a stuck fake should fail a test, not hang it.
            .timeout(Duration::from_secs(10))
            .build()
            .expect("a plain-HTTP client builds once a crypto provider is installed");
        Admin {
            base: base_url.trim_end_matches('/').to_owned(),
            http,
        }
    }

    /// The bots in meetings now.
    pub async fn bots(&self) -> anyhow::Result<Vec<Bot>> {
        self.get("bots").await
    }

    /// Every bot any join created, including those gone since.
    pub async fn joins(&self) -> anyhow::Result<Vec<Bot>> {
        self.get("joins").await
    }

    /// Every successful leave.
    pub async fn leaves(&self) -> anyhow::Result<Vec<Leave>> {
        self.get("leaves").await
    }

    /// The most bots ever live at once, by session and in all, counted
    /// exactly at every join, leave and session end.
    pub async fn peaks(&self) -> anyhow::Result<Peaks> {
        self.get("peaks").await
    }

    /// The most bots of `session_id` ever live at once; 0 if it never had one.
    pub async fn peak_live(&self, session_id: &str) -> anyhow::Result<usize> {
        Ok(self.peaks().await?.session(session_id))
    }

    pub async fn calls(&self) -> anyhow::Result<CallCounts> {
        self.get("calls").await
    }

    /// The latest vendor calls, in the order they arrived.
    pub async fn requests(&self) -> anyhow::Result<Vec<RequestRecord>> {
        self.get("requests").await
    }

    /// Replaces the whole fault configuration.
    pub async fn set_faults(&self, faults: &Faults) -> anyhow::Result<()> {
        self.post("faults", faults).await
    }

    /// Sets the status (`QUEUED`, `ACTIVE`, `COMPLETED`, `TIMED_OUT`,
    /// `FAILED`) of a session, making it known.
    pub async fn set_session_status(&self, session_id: &str, status: &str) -> anyhow::Result<()> {
        // Session ids are path segments: encode what could break the path.
        let mut url = reqwest::Url::parse(&self.url("sessions/"))?;
        url.path_segments_mut()
            .map_err(|()| anyhow::anyhow!("{} cannot be a base URL", self.base))?
            .pop_if_empty()
            .push(session_id);
        let body = json!({ "session_status": status });
        check(self.http.post(url).json(&body).send().await?).await
    }

    /// Replaces the accepted API keys.
    pub async fn set_api_keys(&self, keys: &[&str]) -> anyhow::Result<()> {
        self.post("api-keys", &json!({ "api_keys": keys })).await
    }

    /// Forgets bots, records, sessions and faults; the API keys stay.
    pub async fn reset(&self) -> anyhow::Result<()> {
        self.post("reset", &json!({})).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}/_fake/{path}", self.base)
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let response = self.http.get(self.url(path)).send().await?;
        let response = ok(response).await?;
        response
            .json()
            .await
            .with_context(|| format!("reading /_fake/{path}"))
    }

    async fn post<B: Serialize + ?Sized>(&self, path: &str, body: &B) -> anyhow::Result<()> {
        check(self.http.post(self.url(path)).json(body).send().await?).await
    }
}

async fn check(response: reqwest::Response) -> anyhow::Result<()> {
    ok(response).await.map(drop)
}

/// The response if it is a success, else an error with its status and body.
async fn ok(response: reqwest::Response) -> anyhow::Result<reqwest::Response> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let url = response.url().clone();
    let body = response.text().await.unwrap_or_default();
    anyhow::bail!("{url} answered {status}: {body}")
}
