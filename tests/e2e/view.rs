//! What kubectl shows of MeetingBots, through the real kubectl on the local
//! control plane: `explain`'s description, `get`'s columns (and `-o wide`'s),
//! and the selectable fields.

use crate::scene::{Scene, Waits};
use crate::support::*;
use meetingbot_operator::api::ApiKeySecretRef;

/// The header of a `kubectl get` table: its column names (columns are at
/// least two spaces apart; a name may hold one, as "BOT ID" does).
fn header(table: &str) -> Vec<String> {
    table
        .lines()
        .next()
        .expect("a header line")
        .split("  ")
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect()
}

fn row<'t>(table: &'t str, name: &str) -> &'t str {
    table
        .lines()
        .find(|line| line.starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("a row for {name} in\n{table}"))
}

#[tokio::test]
async fn kubectl_explains_lists_and_selects_meetingbots() {
    // First: the scene installs the CRD on a control plane that has none
    // yet, and its schema reaches the API server's OpenAPI a moment later.
    let scene = Scene::start("kubectl-view").await;
    let explained = poll(
        "kubectl explain to know MeetingBots",
        std::time::Duration::from_secs(30),
        || async {
            let out = run("kubectl", &["explain", "meetingbot"], "");
            match out.status.success() {
                true => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
                false => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
            }
        },
    )
    .await;
    assert!(
        explained.contains("A LemonSlice avatar in a Zoom, Google Meet"),
        "{explained}"
    );
    assert!(!explained.contains("Auto-generated"), "{explained}");

    scene.create("joins", spec("session-kubectl-view")).await;
    // A MeetingBot whose API key LemonSlice refuses stalls: Failed, Unauthorized.
    scene
        .put_secret("lemonslice", "apiKey", "wrong-key-123456")
        .await;
    let mut refused = spec("session-kubectl-refused");
    refused.api_key_secret_ref = Some(ApiKeySecretRef {
        name: "lemonslice".into(),
        key: "apiKey".into(),
    });
    scene.create("refused", refused).await;
    scene.wait_stalled("refused", "Unauthorized").await;
    let joined = scene.wait_joined("joins").await;
    let bot_id = joined.status.unwrap().meeting_bot_id.unwrap();
    let ns = scene.ns.as_str();

    let table = kubectl(&["get", "mbot", "-n", ns]);
    assert_eq!(
        header(&table),
        [
            "NAME", "PHASE", "READY", "REASON", "PLATFORM", "BOT ID", "AGE"
        ],
        "{table}"
    );
    let joins = row(&table, "joins");
    for cell in ["Joined", "True", "GoogleMeet", &bot_id] {
        assert!(joins.contains(cell), "{cell} in {joins}");
    }
    let stalled = row(&table, "refused");
    for cell in ["Failed", "False", "Unauthorized"] {
        assert!(stalled.contains(cell), "{cell} in {stalled}");
    }

    let wide = kubectl(&["get", "mbot", "-n", ns, "-o", "wide"]);
    assert_eq!(
        header(&wide),
        [
            "NAME", "PHASE", "READY", "REASON", "PLATFORM", "BOT ID", "AGE", "SESSION", "JOINED",
            "INSTALL", "MESSAGE"
        ],
        "{wide}"
    );
    for cell in ["session-kubectl-view", " default "] {
        assert!(row(&wide, "joins").contains(cell), "{cell} in {wide}");
    }
    assert!(
        row(&wide, "refused").contains("session-kubectl-refused"),
        "{wide}"
    );

    let select = |selector: &str| {
        kubectl(&[
            "get",
            "mbot",
            "-n",
            ns,
            "--field-selector",
            selector,
            "-o",
            "name",
        ])
    };
    assert_eq!(
        select("status.phase=Failed"),
        "meetingbot.liveai.lemonslice.com/refused\n"
    );
    assert_eq!(
        select("status.phase=Joined,status.platform=GoogleMeet"),
        "meetingbot.liveai.lemonslice.com/joins\n"
    );
    assert_eq!(
        select("spec.sessionId=session-kubectl-refused"),
        "meetingbot.liveai.lemonslice.com/refused\n"
    );
    assert_eq!(select("status.platform=Zoom"), "");
    // The operator install acting on them (the scene's runs without --install-id).
    assert_eq!(
        select("status.install=default").lines().count(),
        2,
        "both are this install's"
    );
    assert_eq!(select("status.install=team-b/meetingbot"), "");

    // The Events name their action and the group-qualified controller.
    let joined_event = poll(
        "a Joined Event",
        std::time::Duration::from_secs(20),
        || async {
            scene
                .events()
                .await
                .into_iter()
                .find(|event| event.reason.as_deref() == Some("Joined"))
                .ok_or_else(|| "no Joined Event yet".to_owned())
        },
    )
    .await;
    assert_eq!(joined_event.action.as_deref(), Some("Join"));
    assert_eq!(
        joined_event.reporting_controller.as_deref(),
        Some("liveai.lemonslice.com/meetingbot-operator")
    );
}
