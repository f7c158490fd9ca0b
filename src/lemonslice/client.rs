//! The LemonSlice client: join, leave, session status and the account check,
//! each call sent once and its answer classified (see `answer`).

use super::answer::{
    Body, Head, SessionAnswer, http_failure, join_outcome, leave_outcome, read_bounded,
    request_not_sent, transport_failure, transport_kind,
};
use super::{
    Admission, DEFAULT_CALLS_PER_SECOND, Failure, FailureKind, JoinOutcome, LeaveOutcome, Priority,
    REDACTED, Scrubber, SecretString, SessionOutcome, Throttle, install_crypto_provider,
    redact_query,
};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::{Response, header};
use std::time::Duration;

/// The production API.
pub const DEFAULT_BASE_URL: &str = "https://lemonslice.com/api";

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

impl Client {
    pub fn new(config: &ClientConfig) -> Result<Client, reqwest::Error> {
        install_crypto_provider();
        let http = reqwest::Client::builder()
            .user_agent(concat!("meetingbot-operator/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            // A redirect would carry X-API-Key and the join's body (with the
            // broadcast token) to wherever it points: never followed; the
            // answer is classified as it is (see `answer::http_failure`).
            .redirect(reqwest::redirect::Policy::none())
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
    pub async fn admit(&self, priority: Priority) -> Admission {
        match &self.throttle {
            Some(throttle) => throttle.acquire(priority).await,
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
        let head = Head::of(&response);
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
        join_outcome(&head, &body, &secrets)
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
        let head = Head::of(&response);
        // A body cut short by the connection is read as what came of it.
        let body = read_bounded(response).await.unwrap_or(Body {
            bytes: Vec::new(),
            truncated: true,
        });
        leave_outcome(&head, &body, &secrets)
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
        let head = Head::of(&response);
        let body = match read_bounded(response).await {
            Ok(body) => body.bytes,
            Err(error) => return failed(error),
        };
        if !head.status.is_success() {
            return SessionOutcome::Failed(http_failure(&head, &body, &secrets));
        }
        match serde_json::from_slice::<SessionAnswer>(&body) {
            Ok(answer) => SessionOutcome::Status(answer.session_status),
            Err(_) => SessionOutcome::Failed(Failure {
                kind: FailureKind::NoAnswer,
                status: Some(head.status.as_u16()),
                detail: "the answer lacks a known session_status".into(),
                retry_after: None,
                meeting_bot_id: None,
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
        let head = Head::of(&response);
        let body = read_bounded(response)
            .await
            .map_err(|error| transport_failure(transport_kind(&error), &error, &secrets))?;
        if !head.status.is_success() {
            return Err(http_failure(&head, &body.bytes, &secrets));
        }
        match serde_json::from_slice::<serde_json::Value>(&body.bytes) {
            Ok(_) => Ok(()),
            Err(_) => Err(Failure {
                kind: FailureKind::NoAnswer,
                status: Some(head.status.as_u16()),
                detail: "the session list is not JSON: is this LemonSlice's API base URL?".into(),
                retry_after: None,
                meeting_bot_id: None,
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

/// Percent-encodes a session id as exactly one path segment.
fn path_segment(value: &str) -> String {
    match value {
        // Dot segments would be resolved away by URL normalisation.
        "." | ".." => value.replace('.', "%2E"),
        _ => utf8_percent_encode(value, PATH_SEGMENT).to_string(),
    }
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
}
