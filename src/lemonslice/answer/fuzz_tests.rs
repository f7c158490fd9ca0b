//! A bounded fuzz run over what the vendor may answer: random bytes, broken
//! and wrongly typed JSON, huge bodies. No answer may panic, a join is Joined
//! and a leave Left only for a complete answer, and no detail carries a
//! secret or a line break.

use super::*;
use crate::lemonslice::{LeaveOutcome, SecretString};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const CASES: usize = 5_000;

/// A body that is random bytes, a JSON value of random shape, or a near-miss
/// of the real answer.
fn body(rng: &mut StdRng, secret: &str) -> Vec<u8> {
    let text = |rng: &mut StdRng| -> String {
        let len = rng.random_range(0..40);
        (0..len).map(|_| rng.random_range(' '..='~')).collect()
    };
    match rng.random_range(0..7) {
        0 => (0..rng.random_range(0..300)).map(|_| rng.random()).collect(),
        6 => {
            let status = ["left", "leaving", "", "LEFT"][rng.random_range(0..4)];
            serde_json::json!({ "status": status }).to_string().into_bytes()
        }
        1 => serde_json::json!({ "meeting_bot_id": text(rng), "websocket_url": text(rng) }).to_string().into_bytes(),
        2 => serde_json::json!({ "meeting_bot_id": rng.random::<i64>(), "websocket_url": [text(rng)] }).to_string().into_bytes(),
        3 => serde_json::json!({ "detail": format!("{} {secret}\n{}", text(rng), text(rng)) }).to_string().into_bytes(),
        4 => serde_json::json!({ "detail": { "loc": [text(rng)], "msg": secret } }).to_string().into_bytes(),
        _ => {
            let valid = serde_json::json!({ "meeting_bot_id": "b", "websocket_url": "wss://x/y?token=t" }).to_string();
            let cut = rng.random_range(0..valid.len());
            valid.as_bytes()[..cut].to_vec()
        }
    }
}

/// Whether the body names a bot: a success with it is Joined, with or without a websocket URL.
fn names_a_bot(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .is_ok_and(|v| v["meeting_bot_id"].as_str().is_some_and(|s| !s.is_empty()))
}

#[test]
fn every_answer_is_classified_without_panic_or_leak() {
    let secret = SecretString::new("sk-live-5ecret-key");
    let mut rng = StdRng::seed_from_u64(20261124);
    let statuses = [
        200, 201, 204, 400, 401, 404, 409, 422, 429, 500, 502, 503, 504, 418, 302, 307,
    ];
    for _ in 0..CASES {
        let status = StatusCode::from_u16(statuses[rng.random_range(0..statuses.len())]).unwrap();
        let bytes = body(&mut rng, secret.expose());
        let head = Head {
            status,
            retry_after: None,
            location_host: Some("elsewhere.test".into()),
        };
        let truncated = rng.random_bool(0.1);
        let answer = Body {
            bytes: bytes.clone(),
            truncated,
        };
        match join_outcome(&head, &answer, &Scrubber::of(&[&secret])) {
            JoinOutcome::Joined(_) => {
                assert!(
                    status.is_success() && !truncated && names_a_bot(&bytes),
                    "{status} {bytes:?}"
                )
            }
            JoinOutcome::NotJoined(failure) | JoinOutcome::Unknown(failure) => {
                assert!(
                    !(status.is_success() && !truncated && names_a_bot(&bytes)),
                    "{status} {bytes:?}"
                );
                assert!(
                    !failure.detail.contains(secret.expose()),
                    "{}",
                    failure.detail
                );
                assert!(!failure.detail.contains('\n'));
                assert!(failure.detail.chars().count() <= MAX_DETAIL_CHARS);
                if let Some(id) = &failure.meeting_bot_id {
                    assert!(
                        !id.contains(secret.expose()) && !id.contains("token"),
                        "{id}"
                    );
                }
            }
        }
        // Only the vendor's own refusal is NotJoined.
        if let JoinOutcome::NotJoined(_) = join_outcome(&head, &answer, &Scrubber::new()) {
            assert!(
                !status.is_success() && !status.is_redirection() && vendor_error(&bytes).is_some(),
                "{status} {bytes:?}"
            );
        }
        // Only a whole success that says so is a leave.
        match leave_outcome(&head, &answer, &Scrubber::of(&[&secret])) {
            LeaveOutcome::Left => assert!(
                status.is_success() && !truncated && says_left(&bytes),
                "{status} {bytes:?}"
            ),
            LeaveOutcome::NotFound(failure)
            | LeaveOutcome::Retryable(failure)
            | LeaveOutcome::Refused(failure) => {
                assert!(
                    !failure.detail.contains(secret.expose()),
                    "{}",
                    failure.detail
                );
                assert!(!failure.detail.contains('\n'));
            }
        }
    }
}

/// Whether the body says what the contract's only success of a leave says.
fn says_left(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| v["status"] == "left")
}

#[test]
fn a_huge_error_body_is_cut_to_one_short_line() {
    let body = "x\n".repeat(1 << 16);
    let head = Head {
        status: StatusCode::BAD_REQUEST,
        retry_after: None,
        location_host: None,
    };
    let failure = http_failure(&head, body.as_bytes(), &Scrubber::new());
    assert_eq!(failure.detail.chars().count(), MAX_DETAIL_CHARS);
    assert!(!failure.detail.contains('\n'));
}

#[test]
fn the_platform_parser_takes_any_text() {
    let mut rng = StdRng::seed_from_u64(7);
    let pieces = [
        "https://",
        "http://",
        "zoom.us",
        "meet.google.com",
        "webex.com",
        ".",
        "/",
        "@",
        ":",
        "%2F",
        "evil",
        "?",
        "#",
        "\u{0}",
        "é",
        "teams.live.com",
        "..",
        "-",
        "443",
        "\r\n",
    ];
    for _ in 0..CASES {
        let url: String = (0..rng.random_range(0..8))
            .map(|_| pieces[rng.random_range(0..pieces.len())])
            .collect();
        if let Ok(platform) = crate::api::Platform::from_meeting_url(&url) {
            let host = url::Url::parse(&url)
                .unwrap()
                .host_str()
                .unwrap()
                .to_owned();
            let allowed = [
                "zoom.us",
                "zoom.com",
                "meet.google.com",
                "teams.microsoft.com",
                "teams.live.com",
                "webex.com",
            ];
            assert!(
                allowed
                    .iter()
                    .any(|domain| host == *domain || host.ends_with(&format!(".{domain}"))),
                "{url:?} accepted as {platform:?}"
            );
        }
    }
}
