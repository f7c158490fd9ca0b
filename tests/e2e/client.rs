//! The LemonSlice client against the fake (and, for answers the fake never
//! gives, against canned HTTP answers): every outcome class, and no secret in
//! any error or request.

use crate::support::{API_KEY, BROADCAST_TOKEN};
use fake_lemonslice::{Config as FakeConfig, FakeServer, Faults};
use meetingbot_operator::lemonslice::{
    Admission, Client, ClientConfig, FailureKind, JoinOutcome, JoinRequest, LeaveOutcome,
    SecretString, SessionOutcome, SessionStatus,
};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn client_for(base_url: &str) -> Client {
    Client::new(&ClientConfig {
        base_url: base_url.into(),
        connect_timeout: Duration::from_secs(2),
        timeout: Duration::from_secs(2),
        calls_per_second: None,
    })
    .expect("client builds")
}

fn key() -> SecretString {
    SecretString::new(API_KEY)
}

fn request() -> JoinRequest {
    JoinRequest {
        meeting_url: "https://meet.google.com/abc-defg-hij".into(),
        livekit_url: "wss://lemonslice-pb123.livekit.cloud".into(),
        broadcast_token: SecretString::new(BROADCAST_TOKEN),
        bot_name: Some("LemonSlice Avatar".into()),
    }
}

async fn fake_with(faults: Faults) -> FakeServer {
    FakeServer::start(FakeConfig {
        api_keys: vec![API_KEY.into()],
        faults,
        ..Default::default()
    })
    .await
    .expect("fake starts")
}

fn injected(status: u16) -> Faults {
    Faults {
        error_rate: 1.0,
        error_statuses: vec![status],
        retry_after_secs: Some(3),
        ..Default::default()
    }
}

#[tokio::test]
async fn join_and_leave_succeed() {
    let fake = fake_with(Faults::default()).await;
    let client = client_for(&format!("{}/api", fake.url()));
    let JoinOutcome::Joined(joined) = client
        .join(Admission::unbounded(), &key(), "session-a", &request())
        .await
    else {
        panic!("joined");
    };
    let live = fake.admin().bots().await.unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].meeting_bot_id, joined.meeting_bot_id);
    assert!(
        joined
            .websocket_url
            .as_ref()
            .expect("a websocket URL")
            .expose()
            .contains("/agent-audio/session-a?token=")
    );
    assert_eq!(
        client
            .leave(
                Admission::unbounded(),
                &key(),
                "session-a",
                &joined.meeting_bot_id
            )
            .await,
        LeaveOutcome::Left
    );
    assert!(fake.admin().bots().await.unwrap().is_empty());
    // A bot that is already gone: 404, which the caller believes once the
    // account answers with the same key.
    let again = client
        .leave(
            Admission::unbounded(),
            &key(),
            "session-a",
            &joined.meeting_bot_id,
        )
        .await;
    assert!(
        matches!(&again, LeaveOutcome::NotFound(failure) if failure.status == Some(404)),
        "{again:?}"
    );
    assert_eq!(client.check_account(&key()).await, Ok(()));
}

#[tokio::test]
async fn refusals_prove_that_no_bot_was_created() {
    let cases = [
        (429, FailureKind::RateLimited, true),
        (503, FailureKind::Unavailable, true),
    ];
    for (status, kind, retryable) in cases {
        let fake = fake_with(injected(status)).await;
        let outcome = client_for(&fake.url())
            .join(Admission::unbounded(), &key(), "s", &request())
            .await;
        let JoinOutcome::NotJoined(failure) = outcome else {
            panic!("{status} is NotJoined: {outcome:?}");
        };
        assert_eq!(
            (failure.kind, failure.kind.retryable()),
            (kind, retryable),
            "{status}"
        );
        assert_eq!(
            failure.retry_after,
            Some(Duration::from_secs(3)),
            "{status} carries Retry-After"
        );
        assert!(fake.admin().bots().await.unwrap().is_empty());
    }

    let fake = fake_with(Faults::default()).await;
    let client = client_for(&fake.url());
    let wrong_key = SecretString::new("not-the-key-9876");
    let JoinOutcome::NotJoined(failure) = client
        .join(Admission::unbounded(), &wrong_key, "s", &request())
        .await
    else {
        panic!("401 is NotJoined");
    };
    assert_eq!(
        (failure.kind, failure.status),
        (FailureKind::Unauthorized, Some(401))
    );
    assert!(!failure.kind.retryable());

    let mut bad = request();
    bad.livekit_url = "https://not-websocket.example".into();
    let JoinOutcome::NotJoined(failure) =
        client.join(Admission::unbounded(), &key(), "s", &bad).await
    else {
        panic!("422 is NotJoined");
    };
    assert_eq!(failure.kind, FailureKind::InvalidRequest);
    assert!(failure.detail.contains("livekit_url"), "{}", failure.detail);

    fake.admin()
        .set_session_status("queued", "QUEUED")
        .await
        .unwrap();
    let JoinOutcome::NotJoined(failure) = client
        .join(Admission::unbounded(), &key(), "queued", &request())
        .await
    else {
        panic!("409 is NotJoined");
    };
    assert_eq!(failure.kind, FailureKind::Conflict);
    assert!(fake.admin().bots().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_unknown_session_is_not_found() {
    let fake = FakeServer::start(FakeConfig {
        api_keys: vec![API_KEY.into()],
        sessions: vec!["known".into()],
        only_known_sessions: true,
        ..Default::default()
    })
    .await
    .unwrap();
    let client = client_for(&fake.url());
    let JoinOutcome::NotJoined(failure) = client
        .join(Admission::unbounded(), &key(), "unknown", &request())
        .await
    else {
        panic!("404 is NotJoined");
    };
    assert_eq!(failure.kind, FailureKind::NotFound);
    assert_eq!(
        client
            .session_status(Admission::unbounded(), &key(), "known")
            .await,
        SessionOutcome::Status(SessionStatus::Active)
    );
}

#[tokio::test]
async fn a_connection_refused_before_sending_is_not_joined_and_retryable() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let client = client_for(&url);
    let JoinOutcome::NotJoined(failure) = client
        .join(Admission::unbounded(), &key(), "s", &request())
        .await
    else {
        panic!("connection refused is NotJoined");
    };
    assert_eq!(failure.kind, FailureKind::ConnectFailed);
    assert!(failure.kind.retryable());
    assert!(matches!(
        client.leave(Admission::unbounded(), &key(), "s", "b").await,
        LeaveOutcome::Retryable(_)
    ));
}

#[tokio::test]
async fn server_errors_and_broken_answers_leave_the_outcome_unknown() {
    for status in [500, 502, 504] {
        let fake = fake_with(injected(status)).await;
        let outcome = client_for(&fake.url())
            .join(Admission::unbounded(), &key(), "s", &request())
            .await;
        assert!(
            matches!(outcome, JoinOutcome::Unknown(_)),
            "{status}: {outcome:?}"
        );
    }

    // The bot is created, then the connection drops before any answer.
    let fake = fake_with(Faults {
        drop_join_rate: 1.0,
        ..Default::default()
    })
    .await;
    let outcome = client_for(&fake.url())
        .join(Admission::unbounded(), &key(), "s", &request())
        .await;
    assert!(matches!(outcome, JoinOutcome::Unknown(_)), "{outcome:?}");
    assert_eq!(
        fake.admin().bots().await.unwrap().len(),
        1,
        "the bot exists though nobody learned its id"
    );

    // The bot is created and the answer never comes: the client's timeout ends the call.
    let fake = fake_with(Faults {
        hang_rate: 1.0,
        hang_secs: 30,
        ..Default::default()
    })
    .await;
    let outcome = client_for(&fake.url())
        .join(Admission::unbounded(), &key(), "s", &request())
        .await;
    let JoinOutcome::Unknown(failure) = outcome else {
        panic!("a timeout after sending is Unknown");
    };
    assert_eq!(failure.kind, FailureKind::NoAnswer);
    assert!(
        failure.detail.starts_with("timed out"),
        "{}",
        failure.detail
    );
}

/// Serves one canned HTTP answer on a fresh port.
async fn canned(answer: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buffer = vec![0; 64 * 1024];
        let _ = socket.read(&mut buffer).await;
        let _ = socket.write_all(answer.as_bytes()).await;
        let _ = socket.shutdown().await;
    });
    url
}

/// Whether an outcome is the expected one.
type Expectation = fn(&JoinOutcome) -> bool;

#[tokio::test]
async fn answers_outside_the_contract_are_classified() {
    let cases: [(&str, Expectation); 6] = [
        // The bot exists and is named: recorded, though no websocket URL came.
        (
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 29\r\n\r\n{\"meeting_bot_id\":\"bot-only\"}",
            |o| matches!(o, JoinOutcome::Joined(bot) if bot.meeting_bot_id == "bot-only" && bot.websocket_url.is_none()),
        ),
        (
            "HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nnot json!",
            |o| matches!(o, JoinOutcome::Unknown(_)),
        ),
        (
            "HTTP/1.1 418 I'm a teapot\r\ncontent-length: 5\r\n\r\nshort",
            |o| matches!(o, JoinOutcome::Unknown(_)),
        ),
        // Not LemonSlice's `{"detail": ...}`: a proxy's words prove nothing.
        (
            "HTTP/1.1 400 Bad Request\r\ncontent-length: 20\r\n\r\nplain text, no JSON.",
            |o| matches!(o, JoinOutcome::Unknown(f) if f.detail == "not LemonSlice's error answer: plain text, no JSON."),
        ),
        (
            "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 19\r\n\r\n{\"detail\":\"no way\"}",
            |o| matches!(o, JoinOutcome::NotJoined(f) if f.detail == "no way"),
        ),
        // Not followed: the key and the token would go with it.
        (
            "HTTP/1.1 308 Permanent Redirect\r\nlocation: https://elsewhere.test/api?sig=s3cret\r\ncontent-length: 0\r\n\r\n",
            |o| {
                matches!(o, JoinOutcome::Unknown(f)
                if f.kind == FailureKind::Redirected && f.detail.contains("elsewhere.test") && !f.detail.contains("s3cret"))
            },
        ),
    ];
    for (answer, expected) in cases {
        let outcome = client_for(&canned(answer).await)
            .join(Admission::unbounded(), &key(), "s", &request())
            .await;
        assert!(expected(&outcome), "{answer:?} → {outcome:?}");
    }
}

#[tokio::test]
async fn no_secret_appears_in_errors_or_requests() {
    // An answer that echoes everything it was sent, including the credentials.
    let body = format!(
        "{{\"detail\":\"bad request with key {API_KEY} and token {BROADCAST_TOKEN} in it\"}}"
    );
    let echo = format!(
        "HTTP/1.1 422 Unprocessable Entity\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let echo: &'static str = Box::leak(echo.into_boxed_str());
    let outcome = client_for(&canned(echo).await)
        .join(Admission::unbounded(), &key(), "s", &request())
        .await;
    let JoinOutcome::NotJoined(failure) = &outcome else {
        panic!("422 is NotJoined: {outcome:?}");
    };
    assert!(failure.detail.contains("[redacted]"), "{}", failure.detail);

    let fake = fake_with(Faults::default()).await;
    let joined = client_for(&fake.url())
        .join(Admission::unbounded(), &key(), "s", &request())
        .await;
    let JoinOutcome::Joined(bot) = &joined else {
        panic!("joined")
    };
    let websocket_url = bot.websocket_url.as_ref().expect("a websocket URL");
    let websocket_token = websocket_url
        .expose()
        .split("token=")
        .nth(1)
        .unwrap()
        .to_owned();

    let printed = [
        format!("{outcome:?}"),
        format!("{joined:?}"),
        format!("{:?}", request()),
        failure.describe(),
        websocket_url.to_string(),
        format!("{:?}", key()),
    ];
    for text in printed {
        for secret in [API_KEY, BROADCAST_TOKEN, websocket_token.as_str()] {
            assert!(!text.contains(secret), "{secret} leaked into {text}");
        }
    }
}
