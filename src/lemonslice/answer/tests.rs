//! How answers are classified: the vendor's own words against a proxy's,
//! successes with and without what they must carry, and cleaned details.

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
fn only_a_success_that_says_left_is_a_leave() {
    let key = SecretString::new("sk-secret-key");
    let secrets = Scrubber::of(&[&key]);
    let leave = |status: u16, body: Body| leave_outcome(&head(status), &body, &secrets);
    assert_eq!(
        leave(200, whole(br#"{"status": "left"}"#)),
        LeaveOutcome::Left
    );
    assert_eq!(
        leave(200, whole(br#"{"status":"left","note":"bye"}"#)),
        LeaveOutcome::Left
    );
    let proving_nothing: [&[u8]; 6] = [
        b"",
        b"<html><body>Service maintenance</body></html>",
        br#"{"meeting_bot_id": "meeting-bot-abc123"}"#,
        br#"{"status": "leaving"}"#,
        br#"{"status": null}"#,
        br#"{"status": "left", "x-api-key": "sk-secret-key"#,
    ];
    for body in proving_nothing {
        let LeaveOutcome::Retryable(failure) = leave(200, whole(body)) else {
            panic!("{} taken as left", String::from_utf8_lossy(body));
        };
        assert_eq!(failure.kind, FailureKind::NoAnswer);
        assert!(
            !failure.detail.contains("sk-secret-key"),
            "{}",
            failure.detail
        );
    }
    let cut = Body {
        bytes: br#"{"status": "left"}"#.to_vec(),
        truncated: true,
    };
    assert!(
        matches!(leave(200, cut), LeaveOutcome::Retryable(_)),
        "never taken from a part"
    );
    assert!(matches!(
        leave(404, whole(br#"{"detail": "Not Found"}"#)),
        LeaveOutcome::NotFound(_)
    ));
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
