//! The most bots ever live at once, counted by the fake at every join,
//! leave and session end: what tests assert "never two live bots" with.

use crate::support::*;
use fake_lemonslice::Peaks;
use std::collections::BTreeMap;

/// The id of the bot a join created.
async fn joined(vendor: &Vendor, session_id: &str) -> String {
    let (status, body) = vendor.join(session_id).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    body["meeting_bot_id"].as_str().unwrap().to_owned()
}

/// Takes a bot out, which must succeed.
async fn left(vendor: &Vendor, session_id: &str, meeting_bot_id: &str) {
    let (status, body) = vendor.leave(session_id, meeting_bot_id).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
}

#[tokio::test]
async fn two_joins_then_a_leave_peak_at_two() {
    let fake = fake().await;
    let (admin, vendor) = (fake.admin(), Vendor::new(&fake.url()));
    let first = joined(&vendor, "overlap").await;
    joined(&vendor, "overlap").await;
    left(&vendor, "overlap", &first).await;
    assert_eq!(admin.peak_live("overlap").await.unwrap(), 2);
    assert_eq!(admin.bots().await.unwrap().len(), 1, "one bot still live");
}

#[tokio::test]
async fn join_leave_join_peaks_at_one() {
    let fake = fake().await;
    let (admin, vendor) = (fake.admin(), Vendor::new(&fake.url()));
    let first = joined(&vendor, "one-at-a-time").await;
    left(&vendor, "one-at-a-time", &first).await;
    joined(&vendor, "one-at-a-time").await;
    assert_eq!(admin.peak_live("one-at-a-time").await.unwrap(), 1);
    assert_eq!(admin.joins().await.unwrap().len(), 2);
    assert_eq!(admin.peak_live("never-joined").await.unwrap(), 0);
}

#[tokio::test]
async fn a_session_end_counts_its_bots_out_and_a_refused_leave_none() {
    let fake = fake().await;
    let (admin, vendor) = (fake.admin(), Vendor::new(&fake.url()));
    joined(&vendor, "ends").await;
    joined(&vendor, "ends").await;
    joined(&vendor, "other").await;
    admin.set_session_status("ends", "COMPLETED").await.unwrap();
    admin.set_session_status("ends", "ACTIVE").await.unwrap();
    // Two again, not four: the end took the first two out.
    joined(&vendor, "ends").await;
    joined(&vendor, "ends").await;
    // A leave refused (the bot is another session's) takes none out.
    let third = joined(&vendor, "third").await;
    let (status, _) = vendor.leave("ends", &third).await;
    assert_eq!(status, reqwest::StatusCode::NOT_FOUND);
    joined(&vendor, "third").await;

    let peaks = admin.peaks().await.unwrap();
    assert_eq!(
        peaks,
        Peaks {
            // At the end: two of "ends", one of "other", two of "third".
            all: 5,
            sessions: BTreeMap::from([
                ("ends".into(), 2),
                ("other".into(), 1),
                ("third".into(), 2),
            ]),
        }
    );
    assert_eq!(peaks.worst_session(), 2);
    assert_eq!(admin.bots().await.unwrap().len(), 5);

    admin.reset().await.unwrap();
    assert_eq!(
        admin.peaks().await.unwrap(),
        Peaks::default(),
        "reset forgets them"
    );
}

#[tokio::test]
async fn concurrent_joins_and_leaves_are_each_counted() {
    let fake = fake().await;
    let (admin, vendor) = (fake.admin(), std::sync::Arc::new(Vendor::new(&fake.url())));
    let joins: Vec<_> = (0..50)
        .map(|_| {
            let vendor = vendor.clone();
            tokio::spawn(async move { joined(&vendor, "crowd").await })
        })
        .collect();
    let mut bots = Vec::new();
    for join in joins {
        bots.push(join.await.unwrap());
    }
    assert_eq!(admin.peak_live("crowd").await.unwrap(), 50);
    let leaves: Vec<_> = bots
        .into_iter()
        .map(|bot| {
            let vendor = vendor.clone();
            tokio::spawn(async move { left(&vendor, "crowd", &bot).await })
        })
        .collect();
    for leave in leaves {
        leave.await.unwrap();
    }
    assert!(admin.bots().await.unwrap().is_empty());
    // Counted out to none: 50 more at once make 50 again, not 100.
    let joins: Vec<_> = (0..50)
        .map(|_| {
            let vendor = vendor.clone();
            tokio::spawn(async move { joined(&vendor, "crowd").await })
        })
        .collect();
    for join in joins {
        join.await.unwrap();
    }
    let peaks = admin.peaks().await.unwrap();
    assert_eq!((peaks.session("crowd"), peaks.all), (50, 50));
}
