//! Session status: set through the control API, and what it allows.

use crate::support::*;
use fake_lemonslice::Config;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn session_status_is_settable_and_only_an_active_session_joins() {
    let fake = fake().await;
    let admin = fake.admin();
    let vendor = Vendor::new(&fake.url());

    admin.set_session_status("s", "QUEUED").await.unwrap();
    assert_eq!(
        vendor.status("s").await,
        (StatusCode::OK, json!({ "session_status": "QUEUED" }))
    );
    let (status, body) = vendor.join("s").await;
    assert_eq!(
        (status, detail(&body)),
        (StatusCode::CONFLICT, "session s is QUEUED, not ACTIVE")
    );
    assert!(
        admin.bots().await.unwrap().is_empty(),
        "a refused join makes no bot"
    );

    admin.set_session_status("s", "ACTIVE").await.unwrap();
    vendor.join("s").await;
    vendor.join("s").await;
    vendor.join("other").await;
    assert_eq!(admin.bots().await.unwrap().len(), 3);

    for (ended, session) in [("COMPLETED", "s"), ("TIMED_OUT", "other")] {
        admin.set_session_status(session, ended).await.unwrap();
        assert_eq!(
            vendor.status(session).await.1,
            json!({ "session_status": ended })
        );
        assert!(
            admin
                .bots()
                .await
                .unwrap()
                .iter()
                .all(|bot| bot.session_id != session),
            "{ended}"
        );
    }
    assert!(
        admin.bots().await.unwrap().is_empty(),
        "the bots left with their sessions"
    );
    assert_eq!(vendor.join("s").await.0, StatusCode::CONFLICT);

    // Odd session ids travel intact, and a status must be one the vendor has.
    admin
        .set_session_status("a session/with?odd#chars", "FAILED")
        .await
        .unwrap();
    assert!(admin.set_session_status("s", "queued").await.is_err());
}

#[tokio::test]
async fn with_only_known_sessions_the_others_are_not_found() {
    let fake = fake_with(Config {
        sessions: vec!["known".into()],
        only_known_sessions: true,
        ..Config::default()
    })
    .await;
    let vendor = Vendor::new(&fake.url());
    for (status, body) in [
        vendor.join("unknown").await,
        vendor.leave("unknown", "meeting-bot-000000000000").await,
        vendor.status("unknown").await,
    ] {
        assert_eq!(
            (status, detail(&body)),
            (StatusCode::NOT_FOUND, "session not found")
        );
    }
    assert_eq!(vendor.join("known").await.0, StatusCode::OK);
    assert_eq!(
        vendor.status("known").await.1,
        json!({ "session_status": "ACTIVE" })
    );

    fake.admin()
        .set_session_status("later", "QUEUED")
        .await
        .unwrap();
    assert_eq!(
        vendor.status("later").await.1,
        json!({ "session_status": "QUEUED" })
    );
}
