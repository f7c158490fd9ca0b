//! Refused calls: a missing or wrong key (401) and bad bodies (422), which
//! name what is wrong and never echo a credential.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

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
