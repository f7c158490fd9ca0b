//! The MeetingBot API as the real API server enforces it: what it accepts,
//! what it refuses (naming the field), and what `kubectl` shows.

use crate::scene::Scene;
use crate::support::{kubectl, repo_root, run, spec};
use kube::api::{DynamicObject, PostParams};
use kube::core::ApiResource;
use kube::{Api, Client};
use meetingbot_operator::api::{MeetingBot, Platform};
use serde_json::{Value, json};

fn bot_json(spec: Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "liveai.lemonslice.com/v1alpha1",
        "kind": "MeetingBot",
        "metadata": { "name": "candidate" },
        "spec": spec,
    }))
    .expect("a MeetingBot object")
}

fn valid_spec() -> Value {
    serde_json::to_value(spec("livekit-3f7c2b91-9e1f-4a6a-8e9d-2c7c3e7d9b5a")).unwrap()
}

/// Creates `spec` as a dry run; the API server's error message, if refused.
async fn dry_run(client: &Client, ns: &str, spec: Value) -> Result<(), String> {
    let resource = ApiResource::erase::<MeetingBot>(&());
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &resource);
    let params = PostParams {
        dry_run: true,
        ..Default::default()
    };
    match api.create(&params, &bot_json(spec)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) => Err(status.message),
        Err(other) => panic!("unexpected error: {other}"),
    }
}

fn with(field: &str, value: Value) -> Value {
    let mut spec = valid_spec();
    spec[field] = value;
    spec
}

fn without(field: &str) -> Value {
    let mut spec = valid_spec();
    spec.as_object_mut().unwrap().remove(field);
    spec
}

#[tokio::test]
async fn real_meeting_urls_of_every_platform_are_accepted() {
    let scene = Scene::builder("api-valid").bare().start().await;
    let (client, ns) = (&scene.client, &scene.ns);
    let urls = [
        "https://zoom.us/j/1234567890?pwd=AbC123",
        "https://us05web.zoom.us/j/85412345678",
        "https://acme.zoom.us/my/jdoe",
        "https://zoom.com/j/1234567890",
        "https://meet.google.com/abc-defg-hij",
        "https://teams.microsoft.com/l/meetup-join/19%3ameeting_N2Ex%40thread.v2/0?context=%7b%22Tid%22%3a%22t%22%7d",
        "https://teams.live.com/meet/9876543210123?p=Secret1",
        "https://acme.webex.com/meet/jdoe",
        "https://acme.webex.com/acme/j.php?MTID=m1234abcd",
    ];
    for url in urls {
        let result = dry_run(client, ns, with("meetingUrl", json!(url))).await;
        assert_eq!(result, Ok(()), "{url}");
    }
    let others = [
        with("sessionId", json!("a")),
        with(
            "sessionId",
            json!("A1._:-z".repeat(36).chars().take(256).collect::<String>()),
        ),
        with("botName", json!("Ünïcode Avatar 🍋")),
        with("apiKeySecretRef", json!({"name": "lemonslice"})),
        with("deletionPolicy", json!("Orphan")),
        without("botName"),
    ];
    for spec in others {
        assert_eq!(dry_run(client, ns, spec.clone()).await, Ok(()), "{spec}");
    }
}

#[tokio::test]
async fn invalid_meeting_bots_are_refused_naming_the_field() {
    let scene = Scene::builder("api-invalid").bare().start().await;
    let (client, ns) = (&scene.client, &scene.ns);
    let long_url = format!("https://zoom.us/j/{}", "1".repeat(2048));
    let cases = [
        (
            with("meetingUrl", json!("http://zoom.us/j/1")),
            "spec.meetingUrl",
        ),
        (
            with("meetingUrl", json!("https://zoom.us.evil.com/j/1")),
            "spec.meetingUrl",
        ),
        (
            with("meetingUrl", json!("https://evilzoom.us/j/1")),
            "spec.meetingUrl",
        ),
        (
            with("meetingUrl", json!("https://webex.com.evil.com/x")),
            "spec.meetingUrl",
        ),
        (
            with("meetingUrl", json!("https://meet.google.com.evil.com/x")),
            "spec.meetingUrl",
        ),
        (
            with("meetingUrl", json!("https://user:pw@zoom.us/j/1")),
            "spec.meetingUrl",
        ),
        (
            with("meetingUrl", json!("https://meet.google.com@evil.com/x")),
            "spec.meetingUrl",
        ),
        (with("meetingUrl", json!(long_url)), "spec.meetingUrl"),
        (
            with("livekitUrl", json!("https://x.livekit.cloud")),
            "spec.livekitUrl",
        ),
        (with("sessionId", json!("a/b")), "spec.sessionId"),
        (with("sessionId", json!("..")), "spec.sessionId"),
        (with("sessionId", json!("a b")), "spec.sessionId"),
        (with("sessionId", json!("a\r\nb")), "spec.sessionId"),
        (with("sessionId", json!("a%2Fb")), "spec.sessionId"),
        (with("sessionId", json!("")), "spec.sessionId"),
        (with("sessionId", json!("x".repeat(257))), "spec.sessionId"),
        (with("botName", json!("bad\u{7}name")), "spec.botName"),
        (with("botName", json!("x".repeat(101))), "spec.botName"),
        (with("botName", json!("")), "spec.botName"),
        (
            with("deletionPolicy", json!("Delete")),
            "spec.deletionPolicy",
        ),
        (
            with("broadcastTokenSecretRef", json!({"name": "Not_A_Name"})),
            "spec.broadcastTokenSecretRef.name",
        ),
        (without("meetingUrl"), "spec.meetingUrl"),
        (without("sessionId"), "spec.sessionId"),
        (without("livekitUrl"), "spec.livekitUrl"),
        (
            without("broadcastTokenSecretRef"),
            "spec.broadcastTokenSecretRef",
        ),
    ];
    for (spec, field) in cases {
        let refused = dry_run(client, ns, spec.clone()).await;
        let message = refused.expect_err(&format!("{spec} must be refused"));
        assert!(
            message.contains(field),
            "the error for {spec} names {field}: {message}"
        );
    }
}

#[tokio::test]
async fn a_secret_in_another_namespace_cannot_be_referenced() {
    let scene = Scene::builder("api-crossns").bare().start().await;
    let ns = &scene.ns;
    let mut object = serde_json::to_value(bot_json(with(
        "broadcastTokenSecretRef",
        json!({"name": "t", "namespace": "other"}),
    )))
    .unwrap();
    object["metadata"]["namespace"] = json!(ns);
    // kubectl validates fields strictly, as users meet it.
    let output = run(
        "kubectl",
        &["apply", "--dry-run=server", "-f", "-"],
        &object.to_string(),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "refused");
    assert!(
        stderr.contains("unknown field \"spec.broadcastTokenSecretRef.namespace\""),
        "{stderr}"
    );
}

#[tokio::test]
async fn kubectl_shows_columns_and_explains_every_field() {
    let scene = Scene::builder("api-kubectl").bare().start().await;
    let ns = &scene.ns;
    scene.create("shown", spec("s1")).await;
    let table = kubectl(&["get", "mbot", "-n", ns]);
    let header = table.lines().next().unwrap();
    for column in ["NAME", "PHASE", "PLATFORM", "BOT ID", "READY", "AGE"] {
        assert!(header.contains(column), "column {column} in {header:?}");
    }
    assert!(
        !header.contains("WEBSOCKET"),
        "the websocket URL carries a token: no column"
    );

    let fields = [
        "spec.sessionId",
        "spec.meetingUrl",
        "spec.livekitUrl",
        "spec.broadcastTokenSecretRef",
        "spec.broadcastTokenSecretRef.name",
        "spec.broadcastTokenSecretRef.key",
        "spec.botName",
        "spec.apiKeySecretRef",
        "spec.apiKeySecretRef.key",
        "spec.deletionPolicy",
        "status.phase",
        "status.platform",
        "status.meetingBotId",
        "status.websocketUrl",
        "status.sessionId",
        "status.joinedAt",
        "status.observedGeneration",
        "status.conditions",
    ];
    for field in fields {
        let explained = kubectl(&["explain", &format!("meetingbot.{field}")]);
        let description = explained
            .split("DESCRIPTION:")
            .nth(1)
            .unwrap_or_default()
            .trim();
        assert!(
            !description.is_empty() && !description.starts_with("<empty>"),
            "kubectl explain meetingbot.{field} describes it:\n{explained}"
        );
    }
}

#[tokio::test]
async fn the_examples_are_accepted_by_the_api_server() {
    let scene = Scene::builder("examples").bare().start().await;
    let ns = &scene.ns;
    let examples = repo_root().join("examples");
    let mut files: Vec<_> = std::fs::read_dir(&examples)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 5,
        "a Secret and one MeetingBot per platform: {files:?}"
    );
    for file in files {
        let file = file.to_str().unwrap();
        let applied = kubectl(&["apply", "--dry-run=server", "-n", ns, "-f", file]);
        assert!(applied.contains("(server dry run)"), "{file}: {applied}");
    }
}

/// Values at the edge of what the CRD admits, each with the API server's
/// verdict and the operator's: an edit the API server takes is one the
/// operator can act on, so that no admitted edit stalls a joined bot.
#[tokio::test]
async fn what_the_api_server_admits_the_operator_accepts() {
    let scene = Scene::builder("api-agree").bare().start().await;
    let (client, ns) = (&scene.client, &scene.ns);
    let durations = [
        "0s",
        "0.5s",
        "999ms",
        "1s",
        "1000ms",
        "90m",
        "1h30m",
        "1.5h",
        "0.0000001h",
        "2562047h",
        "2562048h",
        "9999999999h",
        "1h0m0s",
    ];
    let urls = [
        "https://zoom.us/j/1",
        "https://zoom.us:443/j/1",
        "https://zoom.us:65535/j/1",
        "https://zoom.us:065535/j/1",
        "https://zoom.us:65536/j/1",
        "https://zoom.us:99999/j/1",
        "https://zoom.us:0/j/1",
        "https://ZOOM.US/j/1",
        "https://acme.zoom.us/j/1?pwd=x",
        "https://teams.live.com/meet/1",
        "https://x.webex.com/meet/y#z",
        "https://meet.google.com",
    ];
    let mut disagreements = Vec::new();
    for text in durations {
        let admitted = dry_run(client, ns, with("maxDuration", json!(text))).await;
        let mut bot = MeetingBot::new("candidate", spec("s"));
        bot.spec.max_duration = Some(text.into());
        let accepted = bot.max_duration().is_some_and(|parsed| parsed.is_ok());
        if admitted.is_ok() != accepted {
            disagreements.push(format!(
                "maxDuration {text}: API server {admitted:?}, operator {:?}",
                bot.max_duration()
            ));
        }
    }
    for url in urls {
        let admitted = dry_run(client, ns, with("meetingUrl", json!(url))).await;
        let accepted = Platform::from_meeting_url(url);
        if admitted.is_ok() != accepted.is_ok() {
            disagreements.push(format!(
                "meetingUrl {url}: API server {admitted:?}, operator {accepted:?}"
            ));
        }
    }
    assert!(
        disagreements.is_empty(),
        "the CRD admits what the operator refuses (or the other way):\n{}",
        disagreements.join("\n")
    );
}
