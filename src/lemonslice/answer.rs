//! What LemonSlice answered: the bodies it sends, read within a bound, and
//! their classification into outcomes, with every detail cleaned of secrets.

use super::{
    Failure, FailureKind, JoinOutcome, JoinedBot, LeaveOutcome, MAX_DETAIL_CHARS, Scrubber,
    SessionStatus, WebsocketUrl,
};
use reqwest::{Response, StatusCode, header};
use serde::Deserialize;
use std::time::Duration;

/// Largest body read from any answer; the rest is dropped.
const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Deserialize)]
pub(super) struct SessionAnswer {
    pub(super) session_status: SessionStatus,
}

/// What came back before the body: what the classification needs of the
/// status line and the headers.
pub(super) struct Head {
    pub(super) status: StatusCode,
    pub(super) retry_after: Option<Duration>,
    /// Where a redirect points: its host and port only (its path and query
    /// may carry a signature or a token).
    pub(super) location_host: Option<String>,
}

impl Head {
    pub(super) fn of(response: &Response) -> Head {
        let location_host = response
            .headers()
            .get(header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .map(|location| {
                // Relative to the URL called, as a client following it would read it.
                match response.url().join(location) {
                    Ok(url) => match (url.host_str(), url.port()) {
                        (Some(host), Some(port)) => format!("{host}:{port}"),
                        (Some(host), None) => host.to_owned(),
                        (None, _) => "a Location without a host".to_owned(),
                    },
                    Err(_) => "an unreadable Location".to_owned(),
                }
            });
        Head {
            status: response.status(),
            retry_after: retry_after(response),
            location_host,
        }
    }
}

/// An answer's body, read within [`MAX_BODY_BYTES`].
pub(super) struct Body {
    pub(super) bytes: Vec<u8>,
    /// Whether the answer went on past the bound (the rest was not read).
    pub(super) truncated: bool,
}

/// The vendor's own error answer: a JSON object with a `detail` (a string,
/// or FastAPI's list of problems), as the contract says its errors look. A
/// front proxy's page, plain text or any other body is not LemonSlice
/// speaking, and proves nothing about what LemonSlice did.
fn vendor_error(body: &[u8]) -> Option<serde_json::Value> {
    match serde_json::from_slice::<serde_json::Value>(body).ok()? {
        serde_json::Value::Object(mut fields) => match fields.remove("detail")? {
            serde_json::Value::Null => None,
            detail => Some(detail),
        },
        _ => None,
    }
}

/// Longest bot id taken from an answer that could not be read whole.
const MAX_SEEN_ID_CHARS: usize = 128;

/// A `"meeting_bot_id": "…"` found in a body that is not a usable answer (cut
/// at the read limit, or not JSON at all): the bot it names may be in the
/// meeting. Only a whole, plain id is taken (the closing quote seen, no
/// escapes, letters, digits and `-_.:` only), so that nothing else of the
/// body (a token) rides along.
pub(super) fn seen_bot_id(body: &[u8]) -> Option<String> {
    const KEY: &[u8] = b"\"meeting_bot_id\"";
    let at = body.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let rest = &body[at..];
    let skip_space =
        |bytes: &[u8]| -> usize { bytes.iter().take_while(|b| b.is_ascii_whitespace()).count() };
    let mut i = skip_space(rest);
    if rest.get(i) != Some(&b':') {
        return None;
    }
    i += 1;
    i += skip_space(&rest[i..]);
    if rest.get(i) != Some(&b'"') {
        return None;
    }
    let value = &rest[i + 1..];
    let len = value.iter().position(|b| *b == b'"')?;
    let id = std::str::from_utf8(&value[..len]).ok()?;
    let plain = id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    (plain && !id.is_empty() && id.chars().count() <= MAX_SEEN_ID_CHARS).then(|| id.to_owned())
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
        meeting_bot_id: None,
    }
}

/// Classifies a join's answer. Only a success that names the bot is
/// Joined (its websocket URL may be missing: the bot is there all the same,
/// and is recorded); only LemonSlice's own refusal, in its error shape and
/// with a status that says nothing was made, is NotJoined. Everything else
/// may have followed a bot's making, and is Unknown.
pub(super) fn join_outcome(head: &Head, body: &Body, secrets: &Scrubber) -> JoinOutcome {
    if !head.status.is_success() {
        let failure = http_failure(head, &body.bytes, secrets);
        // A front proxy answers 502, 503 or 504 in its own words when the
        // upstream reset after it received the request: the vendor may have
        // made the bot. A redirect (not followed: it would carry the key and
        // the join to another host) is no answer of the vendor's to this
        // call either; a 303 is even "done, see there". Neither is proof.
        let refusal = !head.status.is_redirection() && vendor_error(&body.bytes).is_some();
        return if refusal {
            JoinOutcome::from_error_status(failure)
        } else {
            JoinOutcome::Unknown(failure)
        };
    }
    let unusable = |detail: String| {
        JoinOutcome::Unknown(Failure {
            kind: FailureKind::NoAnswer,
            status: Some(head.status.as_u16()),
            detail,
            retry_after: None,
            meeting_bot_id: seen_bot_id(&body.bytes),
        })
    };
    if body.truncated {
        // Never taken from a part: what follows the cut is unknown.
        return unusable(format!(
            "the answer is over {} KiB, more than the operator reads",
            MAX_BODY_BYTES / 1024
        ));
    }
    let answer = serde_json::from_slice::<serde_json::Value>(&body.bytes).unwrap_or_default();
    let text = |field: &str| {
        answer
            .get(field)
            .and_then(serde_json::Value::as_str)
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
    };
    match text("meeting_bot_id") {
        Some(meeting_bot_id) => JoinOutcome::Joined(JoinedBot {
            meeting_bot_id,
            websocket_url: text("websocket_url").map(WebsocketUrl::new),
        }),
        None => unusable("the answer lacks meeting_bot_id".into()),
    }
}

/// Classifies a leave's answer. Only a success that says `"status": "left"`,
/// the contract's only success, is Left: a front proxy's own 200 page, an
/// empty body or one that echoes the request back proves nothing of the
/// bot, and the leave is asked again (a bot that did leave then answers 404).
pub(super) fn leave_outcome(head: &Head, body: &Body, secrets: &Scrubber) -> LeaveOutcome {
    if !head.status.is_success() {
        return LeaveOutcome::from_status(http_failure(head, &body.bytes, secrets));
    }
    let says_left = !body.truncated
        && serde_json::from_slice::<serde_json::Value>(&body.bytes)
            .ok()
            .is_some_and(|answer| answer.get("status").and_then(|s| s.as_str()) == Some("left"));
    if says_left {
        return LeaveOutcome::Left;
    }
    let text = String::from_utf8_lossy(&body.bytes);
    LeaveOutcome::Retryable(Failure {
        kind: FailureKind::NoAnswer,
        status: Some(head.status.as_u16()),
        detail: clean_detail(
            &format!("a success that does not say \"status\": \"left\": {text}"),
            secrets,
        ),
        retry_after: None,
        meeting_bot_id: None,
    })
}

/// A failed answer, described. The kind of a status that would prove
/// something (a 404: the session or the bot is gone) is believed only when
/// LemonSlice says it in its own error shape; a proxy's 404 page is no
/// answer. A redirect names the host it points at.
pub(super) fn http_failure(head: &Head, body: &[u8], secrets: &Scrubber) -> Failure {
    let status = head.status.as_u16();
    if head.status.is_redirection() {
        let to = head.location_host.as_deref().unwrap_or("no Location");
        return Failure {
            kind: FailureKind::Redirected,
            status: Some(status),
            detail: clean_detail(
                &format!(
                    "redirected to {to}; the operator does not follow redirects (is the LemonSlice base URL right?)"
                ),
                secrets,
            ),
            retry_after: None,
            meeting_bot_id: None,
        };
    }
    let (kind, detail) = match vendor_error(body) {
        Some(detail) => (FailureKind::from_status(status), secrets.detail(&detail)),
        None => {
            let kind = match FailureKind::from_status(status) {
                FailureKind::NotFound => FailureKind::NoAnswer,
                kind => kind,
            };
            let text = String::from_utf8_lossy(body);
            (kind, format!("not LemonSlice's error answer: {text}"))
        }
    };
    Failure {
        kind,
        status: Some(status),
        detail: clean_detail(&detail, secrets),
        retry_after: head.retry_after,
        meeting_bot_id: None,
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

/// Reads at most [`MAX_BODY_BYTES`] of a body, saying whether there was more.
pub(super) async fn read_bounded(mut response: Response) -> Result<Body, reqwest::Error> {
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_BODY_BYTES - bytes.len();
        if chunk.len() > room {
            bytes.extend_from_slice(&chunk[..room]);
            return Ok(Body {
                bytes,
                truncated: true,
            });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Body {
        bytes,
        truncated: false,
    })
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod fuzz_tests;
