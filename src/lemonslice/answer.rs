//! What LemonSlice answered: the bodies it sends, read within a bound, and
//! their classification into outcomes, with every detail cleaned of secrets.

use super::{
    Failure, FailureKind, JoinOutcome, JoinedBot, MAX_DETAIL_CHARS, Scrubber, SessionStatus,
    WebsocketUrl,
};
use reqwest::{Response, StatusCode, header};
use serde::Deserialize;
use std::time::Duration;

/// Largest body read from any answer; the rest is dropped.
const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Deserialize)]
struct JoinAnswer {
    meeting_bot_id: String,
    websocket_url: String,
}

#[derive(Deserialize)]
pub(super) struct SessionAnswer {
    pub(super) session_status: SessionStatus,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    detail: serde_json::Value,
}

/// True when the request never left this process, so the vendor did nothing.
pub(super) fn request_not_sent(error: &reqwest::Error) -> bool {
    error.is_connect() || error.is_builder()
}

pub(super) fn transport_kind(error: &reqwest::Error) -> FailureKind {
    if request_not_sent(error) {
        FailureKind::ConnectFailed
    } else {
        FailureKind::NoAnswer
    }
}

pub(super) fn transport_failure(
    kind: FailureKind,
    error: &reqwest::Error,
    secrets: &Scrubber,
) -> Failure {
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
pub(super) fn join_outcome(
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

pub(super) fn http_failure(
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
pub(super) fn clean_detail(detail: &str, secrets: &Scrubber) -> String {
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
pub(super) fn retry_after(response: &Response) -> Option<Duration> {
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
pub(super) async fn read_bounded(mut response: Response) -> Result<Vec<u8>, reqwest::Error> {
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
    use crate::lemonslice::SecretString;

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
