//! Join, session status and leave as the contract describes them, one bot
//! per join.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn join_status_and_leave_follow_the_contract_at_the_root_and_under_api() {
    let fake = fake().await;
    let admin = fake.admin();
    let host = fake.url().trim_start_matches("http://").to_owned();
    for base in [fake.url(), format!("{}/api", fake.url())] {
        let vendor = Vendor::new(&base);

        let (status, joined) = vendor.join(SESSION).await;
        assert_eq!(status, StatusCode::OK, "{base}: {joined}");
        assert_eq!(
            joined.as_object().unwrap().len(),
            2,
            "only the documented fields: {joined}"
        );
        let bot_id = joined["meeting_bot_id"].as_str().unwrap();
        assert!(
            is_hex(bot_id.strip_prefix("meeting-bot-").unwrap(), 12),
            "{bot_id}"
        );
        let websocket_url = joined["websocket_url"].as_str().unwrap();
        let token = websocket_url
            .strip_prefix(&format!("wss://{host}/agent-audio/{SESSION}?token="))
            .unwrap_or_else(|| panic!("{websocket_url}"));
        assert!(is_hex(token, 32), "{websocket_url}");

        let bots = admin.bots().await.unwrap();
        assert_eq!(bots.len(), 1);
        assert_eq!(bots[0].meeting_bot_id, bot_id);
        assert_eq!(bots[0].session_id, SESSION);
        assert_eq!(bots[0].meeting_url, "https://meet.google.com/abc-defg-hij");
        assert_eq!(bots[0].bot_name.as_deref(), Some("LemonSlice Avatar"));

        assert_eq!(
            vendor.status(SESSION).await,
            (StatusCode::OK, json!({ "session_status": "ACTIVE" }))
        );

        assert_eq!(
            vendor.leave(SESSION, bot_id).await,
            (StatusCode::OK, json!({ "status": "left" }))
        );
        assert!(admin.bots().await.unwrap().is_empty());
        let leaves = admin.leaves().await.unwrap();
        assert_eq!(leaves.last().unwrap().meeting_bot_id, bot_id);
        assert_eq!(leaves.last().unwrap().session_id, SESSION);

        // Leaving again: the bot is gone.
        let (status, body) = vendor.leave(SESSION, bot_id).await;
        assert_eq!(
            (status, detail(&body)),
            (StatusCode::NOT_FOUND, "meeting bot not found")
        );
    }
    assert_eq!(
        admin.joins().await.unwrap().len(),
        2,
        "one join at each base URL"
    );
    let calls = admin.calls().await.unwrap();
    assert_eq!(
        (calls.count("join", "200"), calls.count("leave", "200")),
        (2, 2)
    );
    assert_eq!(
        (calls.count("leave", "404"), calls.total("session")),
        (2, 2)
    );
}

#[tokio::test]
async fn every_join_is_one_more_bot_and_a_bot_name_is_optional() {
    let fake = fake().await;
    let vendor = Vendor::new(&fake.url());
    let mut body = join_body();
    body.as_object_mut().unwrap().remove("bot_name");
    for _ in 0..2 {
        assert_eq!(
            answer(vendor.join_raw(SESSION, &body).await).await.0,
            StatusCode::OK
        );
    }
    let bots = fake.admin().bots().await.unwrap();
    assert_eq!(bots.len(), 2, "join is not idempotent");
    assert!(bots.iter().all(|bot| bot.bot_name.is_none()));
    assert_ne!(bots[0].meeting_bot_id, bots[1].meeting_bot_id);
}

#[tokio::test]
async fn leave_finds_only_a_live_bot_of_its_own_session() {
    let fake = fake().await;
    let vendor = Vendor::new(&fake.url());
    let (_, joined) = vendor.join("session-a").await;
    let bot_id = joined["meeting_bot_id"].as_str().unwrap();

    let (status, body) = vendor.leave("session-b", bot_id).await;
    assert_eq!(
        (status, detail(&body)),
        (StatusCode::NOT_FOUND, "meeting bot not found")
    );
    let (status, body) = vendor.leave("session-a", "meeting-bot-000000000000").await;
    assert_eq!(
        (status, detail(&body)),
        (StatusCode::NOT_FOUND, "meeting bot not found")
    );
    assert_eq!(
        fake.admin().bots().await.unwrap().len(),
        1,
        "the bot is still in its meeting"
    );
    assert!(fake.admin().leaves().await.unwrap().is_empty());
}

#[tokio::test]
async fn many_concurrent_joins_each_get_their_own_bot() {
    let fake = fake().await;
    let vendor = std::sync::Arc::new(Vendor::new(&fake.url()));
    let joins: Vec<_> = (0..300)
        .map(|n| {
            let vendor = vendor.clone();
            tokio::spawn(async move { vendor.join(&format!("session-{n}")).await })
        })
        .collect();
    for join in joins {
        assert_eq!(join.await.unwrap().0, StatusCode::OK);
    }
    let bots = fake.admin().bots().await.unwrap();
    let ids: std::collections::HashSet<_> = bots.iter().map(|bot| &bot.meeting_bot_id).collect();
    assert_eq!((bots.len(), ids.len()), (300, 300));
    assert_eq!(fake.admin().calls().await.unwrap().total("join"), 300);
}
