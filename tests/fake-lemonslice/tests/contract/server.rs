//! The fake as a whole: reset, stopping, and the binary.

use crate::support::*;
use fake_lemonslice::{Admin, Faults};
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::test]
async fn reset_forgets_everything_but_the_keys() {
    let fake = fake().await;
    let admin = fake.admin();
    let vendor = Vendor::new(&fake.url());
    let (_, joined) = vendor.join(SESSION).await;
    vendor
        .leave(SESSION, joined["meeting_bot_id"].as_str().unwrap())
        .await;
    vendor.join(SESSION).await;
    admin.set_session_status("queued", "QUEUED").await.unwrap();
    admin
        .set_faults(&Faults {
            latency_ms: 1,
            ..Faults::default()
        })
        .await
        .unwrap();

    admin.reset().await.unwrap();
    assert!(admin.bots().await.unwrap().is_empty());
    assert!(admin.joins().await.unwrap().is_empty());
    assert!(admin.leaves().await.unwrap().is_empty());
    assert!(admin.requests().await.unwrap().is_empty());
    let calls = admin.calls().await.unwrap();
    assert!(
        ["join", "leave", "session"]
            .iter()
            .all(|endpoint| calls.total(endpoint) == 0)
    );
    assert_eq!(
        serde_json::to_value(&calls).unwrap(),
        json!({ "join": {}, "leave": {}, "session": {} })
    );
    assert_eq!(
        vendor.status("queued").await.1,
        json!({ "session_status": "ACTIVE" })
    );
    assert_eq!(
        vendor.join(SESSION).await.0,
        StatusCode::OK,
        "the key still works"
    );
}

#[tokio::test]
async fn dropping_the_server_stops_it() {
    let fake = fake().await;
    let url = fake.url();
    drop(fake);
    let vendor = Vendor::new(&url);
    // The accept loop ends on its task; give it the moment it needs.
    let deadline = Instant::now() + Duration::from_secs(2);
    while vendor.join_raw(SESSION, &join_body()).await.is_ok() {
        assert!(Instant::now() < deadline, "still serving");
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn the_binary_prints_its_url_then_serves() {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_fake-lemonslice"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--api-key",
            KEY,
            "--session",
            "cli-session",
        ])
        .args([
            "--only-known-sessions",
            "--latency-ms",
            "1",
            "--error-status",
            "502",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary runs");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(5), stdout.read_line(&mut line))
        .await
        .expect("the ready line in time")
        .unwrap();
    let url = line
        .trim_end()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{line:?}"));
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    let vendor = Vendor::new(url);
    assert_eq!(vendor.join("cli-session").await.0, StatusCode::OK);
    assert_eq!(vendor.join("other").await.0, StatusCode::NOT_FOUND);
    let admin = Admin::new(url);
    assert_eq!(admin.bots().await.unwrap().len(), 1);
    let faults = faults_at(url.to_owned()).await;
    assert_eq!((faults.latency_ms, faults.error_statuses), (1, vec![502]));

    child.kill().await.unwrap();
    let mut logs = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut child.stderr.take().unwrap(), &mut logs)
        .await
        .unwrap();
    assert!(logs.contains("vendor call"), "{logs}");
    assert!(!logs.contains(KEY) && !logs.contains(TOKEN), "{logs}");
}
