//! The LemonSlice client: join, leave and session status, each call classified
//! into an outcome the controller must match on. Knows nothing of Kubernetes.
//!
//! The client never retries: retry policy belongs to the controller, so that a
//! join whose outcome is unknown is never repeated by accident.

mod outcome;
mod scrub;
mod secret;
mod throttle;

pub use outcome::{
    Answered, Failure, FailureKind, JoinOutcome, JoinedBot, LeaveOutcome, MAX_DETAIL_CHARS,
    SessionOutcome, SessionStatus,
};
pub use scrub::{REDACTED, Scrubber};
pub use secret::{SecretString, WebsocketUrl, redact_query, scrub};
pub use throttle::{Admission, DEFAULT_CALLS_PER_SECOND, Throttle};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::{Response, StatusCode, header};
use serde::Deserialize;
use std::time::Duration;

/// The production API.
pub const DEFAULT_BASE_URL: &str = "https://lemonslice.com/api";

/// Largest body read from any answer; the rest is dropped.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// Characters left as they are in a path segment; everything else is percent-encoded.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// How to reach LemonSlice.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub base_url: String,
    pub connect_timeout: Duration,
    /// Bound on a whole call, from connecting to the last byte of the answer.
    pub timeout: Duration,
    /// Process-wide bound on calls per second (all endpoints, all objects); `None`: unbounded.
    pub calls_per_second: Option<std::num::NonZeroU32>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            base_url: DEFAULT_BASE_URL.into(),
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            calls_per_second: std::num::NonZeroU32::new(DEFAULT_CALLS_PER_SECOND),
        }
    }
}

/// What join sends, besides the session id. Its `Debug` shows neither the
/// token nor the meeting URL (which may carry a password, or come from a Secret).
#[derive(Clone)]
pub struct JoinRequest {
    pub meeting_url: String,
    pub livekit_url: String,
    pub broadcast_token: SecretString,
    pub bot_name: Option<String>,
}

impl std::fmt::Debug for JoinRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinRequest")
            .field("meeting_url", &REDACTED)
            .field("livekit_url", &redact_query(&self.livekit_url))
            .field("broadcast_token", &self.broadcast_token)
            .field("bot_name", &self.bot_name)
            .finish()
    }
}

impl JoinRequest {
    /// Everything secret a join sends: the key, the token and the meeting URL
    /// with each of its query values.
    fn scrubber(&self, api_key: &SecretString) -> Scrubber {
        Scrubber::of(&[api_key, &self.broadcast_token]).meeting_url(&self.meeting_url)
    }
}

/// A client of the LemonSlice API. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    base_url: String,
    throttle: Option<std::sync::Arc<Throttle>>,
}

#[derive(Deserialize)]
struct JoinAnswer {
    meeting_bot_id: String,
    websocket_url: String,
}

#[derive(Deserialize)]
struct SessionAnswer {
    session_status: SessionStatus,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    detail: serde_json::Value,
}

impl Client {
    pub fn new(config: &ClientConfig) -> Result<Client, reqwest::Error> {
        install_crypto_provider();
        let http = reqwest::Client::builder()
            .user_agent(concat!("meetingbot-operator/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .build()?;
        Ok(Client {
            http,
            base_url: config.base_url.trim_end_matches('/').to_owned(),
            throttle: config
                .calls_per_second
                .map(|rate| std::sync::Arc::new(Throttle::new(rate))),
        })
    }

    /// The count of calls that waited for the process-wide bound, for `/metrics`.
    pub fn throttled_calls(&self) -> Option<prometheus_client::metrics::counter::Counter> {
        self.throttle.as_ref().map(|throttle| throttle.throttled())
    }

    /// Waits until the process-wide bound lets one more call go out. Taken
    /// before a call is recorded as in flight, so that a recorded call never
    /// waits here (where a stopping replica could no longer see it go out).
    pub async fn admit(&self) -> Admission {
        match &self.throttle {
            Some(throttle) => throttle.acquire().await,
            None => Admission::unbounded(),
        }
    }

    /// `POST /liveai/sessions/{session_id}/join-meeting`.
    pub async fn join(
        &self,
        admission: Admission,
        api_key: &SecretString,
        session_id: &str,
        request: &JoinRequest,
    ) -> JoinOutcome {
        let body = serde_json::json!({
            "meeting_url": request.meeting_url,
            "livekit_url": request.livekit_url,
            "broadcast_token": request.broadcast_token.expose(),
            "bot_name": request.bot_name,
        });
        let secrets = request.scrubber(api_key);
        let response = match self
            .send(admission, api_key, session_id, "join-meeting", Some(&body))
            .await
        {
            Ok(response) => response,
            Err(error) if request_not_sent(&error) => {
                return JoinOutcome::NotJoined(transport_failure(
                    FailureKind::ConnectFailed,
                    &error,
                    &secrets,
                ));
            }
            Err(error) => {
                return JoinOutcome::Unknown(transport_failure(
                    FailureKind::NoAnswer,
                    &error,
                    &secrets,
                ));
            }
        };
        let status = response.status();
        let retry_after = retry_after(&response);
        let body = match read_bounded(response).await {
            Ok(body) => body,
            Err(error) => {
                return JoinOutcome::Unknown(transport_failure(
                    FailureKind::NoAnswer,
                    &error,
                    &secrets,
                ));
            }
        };
        join_outcome(status, &body, retry_after, &secrets)
    }

    /// `POST /liveai/sessions/{session_id}/leave-meeting`.
    pub async fn leave(
        &self,
        admission: Admission,
        api_key: &SecretString,
        session_id: &str,
        meeting_bot_id: &str,
    ) -> LeaveOutcome {
        let body = serde_json::json!({ "meeting_bot_id": meeting_bot_id });
        let secrets = Scrubber::of(&[api_key]);
        let response = match self
            .send(admission, api_key, session_id, "leave-meeting", Some(&body))
            .await
        {
            Ok(response) => response,
            Err(error) => {
                return LeaveOutcome::Retryable(transport_failure(
                    transport_kind(&error),
                    &error,
                    &secrets,
                ));
            }
        };
        let status = response.status();
        let retry_after = retry_after(&response);
        let body = read_bounded(response).await.unwrap_or_default();
        if status.is_success() {
            return LeaveOutcome::Left;
        }
        LeaveOutcome::from_status(http_failure(status, &body, retry_after, &secrets))
    }

    /// `GET /liveai/sessions/{session_id}`.
    pub async fn session_status(
        &self,
        admission: Admission,
        api_key: &SecretString,
        session_id: &str,
    ) -> SessionOutcome {
        let secrets = Scrubber::of(&[api_key]);
        let failed = |error: reqwest::Error| {
            SessionOutcome::Failed(transport_failure(transport_kind(&error), &error, &secrets))
        };
        let response = match self.send(admission, api_key, session_id, "", None).await {
            Ok(response) => response,
            Err(error) => return failed(error),
        };
        let status = response.status();
        let retry_after = retry_after(&response);
        let body = match read_bounded(response).await {
            Ok(body) => body,
            Err(error) => return failed(error),
        };
        if !status.is_success() {
            return SessionOutcome::Failed(http_failure(status, &body, retry_after, &secrets));
        }
        match serde_json::from_slice::<SessionAnswer>(&body) {
            Ok(answer) => SessionOutcome::Status(answer.session_status),
            Err(_) => SessionOutcome::Failed(Failure {
                kind: FailureKind::NoAnswer,
                status: Some(status.as_u16()),
                detail: "the answer lacks a known session_status".into(),
                retry_after: None,
            }),
        }
    }

    /// `GET /liveai/sessions?page=1&limit=1`: whether this base URL reaches
    /// LemonSlice and accepts this key. A wrong base URL answers 404 to
    /// everything, which would make every leave look like "already gone".
    pub async fn check_account(&self, api_key: &SecretString) -> Result<(), Failure> {
        let secrets = Scrubber::of(&[api_key]);
        let url = format!("{}/liveai/sessions?page=1&limit=1", self.base_url);
        let sent = self
            .http
            .get(url)
            .header("X-API-Key", api_key.expose())
            .header(header::ACCEPT, "application/json")
            .send()
            .await;
        let response =
            sent.map_err(|error| transport_failure(transport_kind(&error), &error, &secrets))?;
        let status = response.status();
        let retry_after = retry_after(&response);
        let body = read_bounded(response)
            .await
            .map_err(|error| transport_failure(transport_kind(&error), &error, &secrets))?;
        if !status.is_success() {
            return Err(http_failure(status, &body, retry_after, &secrets));
        }
        match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(_) => Ok(()),
            Err(_) => Err(Failure {
                kind: FailureKind::NoAnswer,
                status: Some(status.as_u16()),
                detail: "the session list is not JSON: is this LemonSlice's API base URL?".into(),
                retry_after: None,
            }),
        }
    }

    /// Sends one call: a POST with `body` to `…/sessions/{id}/{action}`, or
    /// a GET of the session. The admission is spent here.
    async fn send(
        &self,
        _admission: Admission,
        api_key: &SecretString,
        session_id: &str,
        action: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Response, reqwest::Error> {
        let mut url = format!(
            "{}/liveai/sessions/{}",
            self.base_url,
            path_segment(session_id)
        );
        let request = match body {
            Some(body) => {
                url.push('/');
                url.push_str(action);
                self.http.post(url).json(body)
            }
            None => self.http.get(url),
        };
        request
            .header("X-API-Key", api_key.expose())
            .header(header::ACCEPT, "application/json")
            .send()
            .await
    }
}

/// Makes ring the process-wide TLS provider, as kube uses it too: with two
/// providers compiled in, rustls cannot choose one by itself.
pub fn install_crypto_provider() {
    // Fails only when a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Percent-encodes a session id as exactly one path segment.
fn path_segment(value: &str) -> String {
    match value {
        // Dot segments would be resolved away by URL normalisation.
        "." | ".." => value.replace('.', "%2E"),
        _ => utf8_percent_encode(value, PATH_SEGMENT).to_string(),
    }
}

/// True when the request never left this process, so the vendor did nothing.
fn request_not_sent(error: &reqwest::Error) -> bool {
    error.is_connect() || error.is_builder()
}

fn transport_kind(error: &reqwest::Error) -> FailureKind {
    if request_not_sent(error) {
        FailureKind::ConnectFailed
    } else {
        FailureKind::NoAnswer
    }
}

fn transport_failure(kind: FailureKind, error: &reqwest::Error, secrets: &Scrubber) -> Failure {
    // reqwest's own Display names the URL; the kind and the chain of sources
    // say what went wrong (refused, timed out, reset).
    let mut detail = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "the request failed"
    }
    .to_owned();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        detail.push_str(": ");
        detail.push_str(&cause.to_string());
        source = cause.source();
    }
    Failure {
        kind,
        status: None,
        detail: clean_detail(&detail, secrets),
        retry_after: None,
    }
}

/// Classifies a join's answer: only a complete success is Joined, only the
/// statuses that prove nothing was created are NotJoined.
fn join_outcome(
    status: StatusCode,
    body: &[u8],
    retry_after: Option<Duration>,
    secrets: &Scrubber,
) -> JoinOutcome {
    if !status.is_success() {
        return JoinOutcome::from_error_status(http_failure(status, body, retry_after, secrets));
    }
    match serde_json::from_slice::<JoinAnswer>(body) {
        Ok(answer) if !answer.meeting_bot_id.is_empty() && !answer.websocket_url.is_empty() => {
            JoinOutcome::Joined(JoinedBot {
                meeting_bot_id: answer.meeting_bot_id,
                websocket_url: WebsocketUrl::new(answer.websocket_url),
            })
        }
        _ => JoinOutcome::Unknown(Failure {
            kind: FailureKind::NoAnswer,
            status: Some(status.as_u16()),
            detail: "the answer lacks meeting_bot_id or websocket_url".into(),
            retry_after: None,
        }),
    }
}

fn http_failure(
    status: StatusCode,
    body: &[u8],
    retry_after: Option<Duration>,
    secrets: &Scrubber,
) -> Failure {
    let detail = match serde_json::from_slice::<ErrorAnswer>(body) {
        Ok(ErrorAnswer { detail }) => secrets.detail(&detail),
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    };
    Failure {
        kind: FailureKind::from_status(status.as_u16()),
        status: Some(status.as_u16()),
        detail: clean_detail(&detail, secrets),
        retry_after,
    }
}

/// One line, no secret, at most [`MAX_DETAIL_CHARS`] characters.
fn clean_detail(detail: &str, secrets: &Scrubber) -> String {
    let scrubbed = secrets.scrub(detail);
    let one_line: String = scrubbed
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let trimmed = one_line.trim();
    if trimmed.chars().count() > MAX_DETAIL_CHARS {
        let mut cut: String = trimmed.chars().take(MAX_DETAIL_CHARS - 1).collect();
        cut.push('…');
        cut
    } else {
        trimmed.to_owned()
    }
}

/// `Retry-After` in seconds or as an HTTP date.
fn retry_after(response: &Response) -> Option<Duration> {
    let value = response
        .headers()
        .get(header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    Duration::try_from(at.duration_since(jiff::Timestamp::now())).ok()
}

/// Reads at most [`MAX_BODY_BYTES`] of a body.
async fn read_bounded(mut response: Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_BODY_BYTES - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() == MAX_BODY_BYTES {
            break;
        }
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_become_one_path_segment() {
        assert_eq!(path_segment("livekit-3f7c:a.b_c"), "livekit-3f7c%3Aa.b_c");
        assert_eq!(path_segment("a/../b"), "a%2F..%2Fb");
        assert_eq!(path_segment(".."), "%2E%2E");
        assert_eq!(path_segment("x y\r\n"), "x%20y%0D%0A");
    }

    #[test]
    fn details_are_cleaned_and_bounded() {
        let key = SecretString::new("sk-secret-key");
        assert_eq!(
            clean_detail("bad\nkey sk-secret-key\r", &Scrubber::of(&[&key])),
            "bad key [redacted]"
        );
        let long = "x".repeat(1000);
        assert_eq!(
            clean_detail(&long, &Scrubber::new()).chars().count(),
            MAX_DETAIL_CHARS
        );
    }
}

#[cfg(test)]
mod fuzz_tests;
