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
mod tests {
    use super::*;
    use crate::lemonslice::{LeaveOutcome, SecretString};

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

    fn head(status: u16) -> Head {
        Head {
            status: StatusCode::from_u16(status).unwrap(),
            retry_after: None,
            location_host: None,
        }
    }

    fn whole(bytes: &[u8]) -> Body {
        Body {
            bytes: bytes.to_vec(),
            truncated: false,
        }
    }

    fn join(status: u16, body: &[u8]) -> JoinOutcome {
        join_outcome(&head(status), &whole(body), &Scrubber::new())
    }

    const PROXY_RESET: &[u8] =
        b"upstream connect error or disconnect/reset before headers. reset reason: connection termination";

    #[test]
    fn only_the_vendors_own_refusal_proves_that_no_bot_was_made() {
        let vendor = br#"{"detail": "Service temporarily unavailable"}"#;
        let html = b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>";
        for status in [400, 401, 403, 404, 409, 422, 429, 503] {
            assert!(
                matches!(join(status, vendor), JoinOutcome::NotJoined(_)),
                "LemonSlice's own {status}"
            );
        }
        for status in [500, 502, 504] {
            assert!(
                matches!(join(status, vendor), JoinOutcome::Unknown(_)),
                "{status} may follow the bot's making even in the vendor's words"
            );
        }
        for body in [
            PROXY_RESET,
            html,
            b"",
            b"{}",
            br#"{"detail": null}"#,
            br#"["detail"]"#,
        ] {
            for status in [400, 401, 404, 429, 500, 502, 503, 504] {
                let outcome = join(status, body);
                assert!(
                    matches!(outcome, JoinOutcome::Unknown(_)),
                    "{status} {:?}: {outcome:?}",
                    String::from_utf8_lossy(body)
                );
            }
        }
        let JoinOutcome::Unknown(failure) = join(503, PROXY_RESET) else {
            unreachable!()
        };
        assert_eq!(
            (failure.kind, failure.status),
            (FailureKind::Unavailable, Some(503))
        );
        assert!(
            failure
                .describe()
                .starts_with("HTTP 503: not LemonSlice's error answer: upstream connect error"),
            "{}",
            failure.describe()
        );
    }

    #[test]
    fn a_proxys_404_is_no_proof_that_a_bot_or_session_is_gone() {
        let page = b"default backend - 404";
        let failure = http_failure(&head(404), page, &Scrubber::new());
        assert_eq!(failure.kind, FailureKind::NoAnswer, "not NotFound");
        assert!(matches!(
            LeaveOutcome::from_status(failure),
            LeaveOutcome::Retryable(_)
        ));
        let vendor = http_failure(&head(404), br#"{"detail": "Not Found"}"#, &Scrubber::new());
        assert_eq!(vendor.kind, FailureKind::NotFound);
        assert!(
            matches!(LeaveOutcome::from_status(vendor), LeaveOutcome::NotFound(_)),
            "the vendor's 404, believed once the account answers"
        );
        for status in [502, 503, 504] {
            let failure = http_failure(&head(status), PROXY_RESET, &Scrubber::new());
            assert!(
                matches!(
                    LeaveOutcome::from_status(failure),
                    LeaveOutcome::Retryable(_)
                ),
                "a leave's proxy {status} is tried again, never taken as left"
            );
        }
    }

    #[test]
    fn a_redirect_is_not_followed_names_only_its_host_and_proves_nothing() {
        let redirected = Head {
            status: StatusCode::TEMPORARY_REDIRECT,
            retry_after: None,
            location_host: Some("elsewhere.example:8443".into()),
        };
        // Even with a body in the vendor's shape: the vendor did not act on this call here.
        for body in [&b"moved"[..], br#"{"detail": "moved"}"#] {
            let outcome = join_outcome(&redirected, &whole(body), &Scrubber::new());
            let JoinOutcome::Unknown(failure) = outcome else {
                panic!("a redirected join is Unknown: {outcome:?}");
            };
            assert_eq!(failure.kind, FailureKind::Redirected);
            assert!(!failure.kind.retryable());
            assert!(
                failure
                    .detail
                    .contains("redirected to elsewhere.example:8443"),
                "{}",
                failure.detail
            );
        }
        let leave = http_failure(&redirected, b"", &Scrubber::new());
        assert!(matches!(
            LeaveOutcome::from_status(leave),
            LeaveOutcome::Refused(_)
        ));
    }

    #[test]
    fn the_location_is_shown_by_its_host_alone() {
        let response = |location: &str| -> Response {
            http::Response::builder()
                .status(307)
                .header(header::LOCATION, location)
                .body(Vec::<u8>::new())
                .unwrap()
                .into()
        };
        let head = Head::of(&response(
            "https://evil.example:9443/liveai/sessions/s/join-meeting?sig=secret-signature",
        ));
        assert_eq!(head.location_host.as_deref(), Some("evil.example:9443"));
        let head = Head::of(&response("https://evil.example/x?token=t"));
        assert_eq!(head.location_host.as_deref(), Some("evil.example"));
        let failure = http_failure(&head, b"", &Scrubber::new());
        assert!(!failure.detail.contains("token"), "{}", failure.detail);
    }

    #[test]
    fn an_answer_that_names_a_bot_is_joined_without_a_websocket_url() {
        for body in [
            &br#"{"meeting_bot_id": "bot-1", "websocket_url": null}"#[..],
            br#"{"meeting_bot_id": "bot-1", "websocket_url": ""}"#,
            br#"{"meeting_bot_id": "bot-1"}"#,
            br#"{"meeting_bot_id": "bot-1", "websocket_url": 7}"#,
        ] {
            assert_eq!(
                join(200, body),
                JoinOutcome::Joined(JoinedBot {
                    meeting_bot_id: "bot-1".into(),
                    websocket_url: None,
                }),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let JoinOutcome::Joined(bot) = join(
            200,
            br#"{"meeting_bot_id": "bot-1", "websocket_url": "wss://h/a?token=t"}"#,
        ) else {
            panic!("a whole answer joins");
        };
        assert_eq!(bot.websocket_url.unwrap().expose(), "wss://h/a?token=t");
        for body in [
            &br#"{"meeting_bot_id": "", "websocket_url": "wss://h/a?token=t"}"#[..],
            br#"{"websocket_url": "wss://h/a?token=t"}"#,
            br#"{"meeting_bot_id": 7}"#,
        ] {
            assert!(matches!(join(200, body), JoinOutcome::Unknown(_)));
        }
    }

    #[test]
    fn an_id_in_an_answer_over_the_limit_is_seen_but_not_joined() {
        let mut bytes = br#"{"meeting_bot_id": "meeting-bot-abc123", "padding": ""#.to_vec();
        bytes.resize(MAX_BODY_BYTES, b'x');
        let cut = Body {
            bytes,
            truncated: true,
        };
        let outcome = join_outcome(&head(200), &cut, &Scrubber::new());
        let JoinOutcome::Unknown(failure) = outcome else {
            panic!("a cut answer is never Joined: {outcome:?}");
        };
        assert_eq!(
            failure.meeting_bot_id.as_deref(),
            Some("meeting-bot-abc123")
        );
        assert!(failure.detail.contains("over 64 KiB"), "{}", failure.detail);
        // A body that is no JSON at all still shows the id it carries.
        let JoinOutcome::Unknown(failure) = join(
            200,
            br#"{"meeting_bot_id":"b-2","websocket_url":"wss://x?token=t""#,
        ) else {
            panic!("broken JSON is Unknown");
        };
        assert_eq!(failure.meeting_bot_id.as_deref(), Some("b-2"));
    }

    #[test]
    fn only_a_whole_plain_id_is_taken_from_an_unusable_answer() {
        assert_eq!(
            seen_bot_id(br#"{"meeting_bot_id" :  "a-1_b.c:d""#).as_deref(),
            Some("a-1_b.c:d")
        );
        for body in [
            &br#"{"meeting_bot_id": "unfinish"#[..],
            br#"{"meeting_bot_id": "with\"escape"}"#,
            br#"{"meeting_bot_id": "wss://x?token=t"}"#,
            br#"{"meeting_bot_id": ""}"#,
            br#"{"meeting_bot_id": 7}"#,
            br#"{"other": "meeting_bot_id"}"#,
        ] {
            assert_eq!(seen_bot_id(body), None, "{}", String::from_utf8_lossy(body));
        }
        let long = format!(
            r#"{{"meeting_bot_id": "{}"}}"#,
            "a".repeat(MAX_SEEN_ID_CHARS + 1)
        );
        assert_eq!(seen_bot_id(long.as_bytes()), None);
    }
}

#[cfg(test)]
mod fuzz_tests;
