//! The recording of a join, driven in-process: each way out of
//! `persist_join` against a scripted API server (kube's client over a service
//! of the test's own, as controller-rs's fixtures do) and the fake LemonSlice.

use super::Reconciler;
use crate::api::{MeetingBot, MeetingBotSpec, MeetingBotStatus, Phase, RecordedBot, reason};
use crate::lemonslice::{self, ClientConfig, JoinOutcome, JoinRequest, Priority, SecretString};
use crate::reconcile::cluster::OperatorApiKey;
use crate::reconcile::context::{Context, Gate, Settings};
use crate::reconcile::decide::plan::{Ending, JustJoined};
use crate::reconcile::metrics::Metrics;
use crate::reconcile::schedule::{Lane, Lanes};
use fake_lemonslice::{Config as FakeConfig, FakeServer};
use http::{Method, Request, Response, StatusCode};

/// The install these tests run as.
const INSTALL: &str = "install-a";
use jiff::Timestamp;
use kube::client::Body;
use kube::runtime::controller::Action;
use parking_lot::Mutex;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const KEY: &str = "test-key";
const SESSION: &str = "session-1";
const PATH: &str = "/apis/liveai.lemonslice.com/v1alpha1/namespaces/team/meetingbots/standup";
const SECRETS: &str = "/api/v1/namespaces/team/secrets/";

/// What the scripted API server answers to one request: its status and body.
type Answer = (StatusCode, Value);

/// The answer to the nth request (from 0) of a method to a path.
type Script = dyn Fn(&Method, &str, usize) -> Answer + Send + Sync;

/// An API server that answers MeetingBot requests from a script (the nth
/// request of each method and path gets the script's nth answer for it),
/// Secret reads with a broadcast token, and everything else (Events) with
/// 201, and keeps a line per request.
#[derive(Clone)]
struct ApiServer {
    script: Arc<Script>,
    seen: Arc<Mutex<Vec<(Method, String)>>>,
}

impl ApiServer {
    fn new(script: impl Fn(&Method, &str, usize) -> Answer + Send + Sync + 'static) -> ApiServer {
        ApiServer {
            script: Arc::new(script),
            seen: Arc::default(),
        }
    }

    fn client(&self) -> kube::Client {
        let server = self.clone();
        let service = tower::service_fn(move |request: Request<Body>| {
            let server = server.clone();
            async move {
                let method = request.method().clone();
                let path = request.uri().path().to_owned();
                let (status, body) = if path.starts_with(PATH) {
                    let mut seen = server.seen.lock();
                    let nth = seen
                        .iter()
                        .filter(|(m, p)| *m == method && *p == path)
                        .count();
                    seen.push((method.clone(), path.clone()));
                    (server.script)(&method, &path, nth)
                } else if let Some(name) = path.strip_prefix(SECRETS) {
                    // Every Secret holds the broadcast token "t".
                    let secret = json!({ "apiVersion": "v1", "kind": "Secret",
                        "metadata": { "name": name, "namespace": "team", "resourceVersion": "1" },
                        "data": { "token": "dA==" } });
                    (StatusCode::OK, secret)
                } else {
                    (StatusCode::CREATED, json!({}))
                };
                let response = Response::builder()
                    .status(status)
                    .header("content-type", "application/json")
                    .body(Body::from(serde_json::to_vec(&body).unwrap()))
                    .unwrap();
                Ok::<_, std::convert::Infallible>(response)
            }
        });
        kube::Client::new(service, "team")
    }

    /// How many requests of `method` reached `path`.
    fn count(&self, method: Method, path: &str) -> usize {
        let seen = self.seen.lock();
        seen.iter()
            .filter(|(m, p)| *m == method && p == path)
            .count()
    }
}

fn status_path() -> String {
    format!("{PATH}/status")
}

/// The MeetingBot whose join is being recorded, at `resource_version`,
/// with `status`.
fn standup(resource_version: &str, status: Option<MeetingBotStatus>) -> MeetingBot {
    let spec = MeetingBotSpec::new(
        SESSION,
        "https://meet.google.com/abc-defg-hij",
        "wss://lk",
        "t",
    );
    let mut bot = MeetingBot::new("standup", spec);
    bot.metadata.namespace = Some("team".into());
    bot.metadata.uid = Some("uid-1".into());
    bot.metadata.resource_version = Some(resource_version.into());
    bot.metadata.generation = Some(1);
    bot.status = status;
    bot
}

fn conflict() -> Answer {
    (
        StatusCode::CONFLICT,
        json!({ "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Conflict",
                "message": "the object has been modified", "code": 409 }),
    )
}

fn not_found() -> Answer {
    (
        StatusCode::NOT_FOUND,
        json!({ "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
                "message": "not found", "code": 404 }),
    )
}

fn ok(bot: &MeetingBot) -> Answer {
    (StatusCode::OK, serde_json::to_value(bot).unwrap())
}

/// The fake LemonSlice and a bot it really made, to be recorded.
struct World {
    fake: FakeServer,
    ctx: Arc<Context>,
    joined: JustJoined,
}

async fn world(api: &ApiServer) -> World {
    let fake = FakeServer::start(FakeConfig {
        api_keys: vec![KEY.into()],
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    let vendor = lemonslice::Client::new(&ClientConfig {
        base_url: fake.url(),
        connect_timeout: Duration::from_secs(2),
        timeout: Duration::from_secs(5),
        calls_per_second: None,
    })
    .unwrap();
    let ctx = Context::new(
        api.client(),
        vendor,
        OperatorApiKey::Value(SecretString::new(KEY)),
        Settings {
            concurrency: 4,
            install: INSTALL.into(),
            ..Settings::default()
        },
        Metrics::default(),
        Gate::default(),
    );
    let request = JoinRequest {
        meeting_url: "https://meet.google.com/abc-defg-hij".into(),
        livekit_url: "wss://lk".into(),
        broadcast_token: SecretString::new("t"),
        bot_name: None,
    };
    let admission = ctx.vendor.admit(Priority::Meeting).await;
    let JoinOutcome::Joined(bot) = ctx
        .vendor
        .join(admission, &SecretString::new(KEY), SESSION, &request)
        .await
    else {
        panic!("the fake joins");
    };
    let joined_at = Timestamp::now();
    let joined = JustJoined {
        recorded: RecordedBot {
            meeting_bot_id: bot.meeting_bot_id,
            session_id: SESSION.into(),
            joined_spec: Some(standup("1", None).spec.join_fingerprint()),
            joined_at: Some(joined_at),
            uid: Some("uid-1".into()),
            api_key: None,
            install: Some(INSTALL.into()),
        },
        websocket_url: bot.websocket_url,
        joined_at,
        platform: None,
    };
    World { fake, ctx, joined }
}

impl World {
    /// Settles the join on `seen`, as the join step does.
    async fn record(&self, seen: &MeetingBot) -> Action {
        let lanes = Lanes::new(4);
        let turn = lanes.turn(Lane::Path).await;
        let reconciler = Reconciler::new(seen, &self.ctx, &turn).unwrap();
        let ending = Ending::ready(Phase::Joined, reason::JOINED, "joined".into())
            .showing(Some(self.joined.recorded.clone()));
        let ending = Ending {
            joined: Some(self.joined.clone()),
            ..ending
        };
        reconciler.settle(ending).await.unwrap()
    }

    /// The leaves the fake saw of the bot being recorded.
    async fn leaves(&self) -> usize {
        let id = &self.joined.recorded.meeting_bot_id;
        let leaves = self.fake.admin().leaves().await.unwrap();
        leaves.iter().filter(|l| l.meeting_bot_id == *id).count()
    }
}

/// Status that records `bot_id` as made by this object.
fn recording(bot_id: &str) -> MeetingBotStatus {
    MeetingBotStatus {
        phase: Some(Phase::Joined),
        meeting_bot_id: Some(bot_id.into()),
        session_id: Some(SESSION.into()),
        record_uid: Some("uid-1".into()),
        ..MeetingBotStatus::default()
    }
}

#[tokio::test]
async fn a_status_write_that_lands_records_the_bot_and_leaves_nothing() {
    let api = ApiServer::new(|method, path, _| match (method, path) {
        (&Method::PATCH, p) if p == status_path() => ok(&standup("2", None)),
        _ => not_found(),
    });
    let world = world(&api).await;
    let action = world.record(&standup("1", None)).await;
    assert_eq!(
        action,
        Action::requeue(Duration::ZERO),
        "the annotation copy follows"
    );
    assert_eq!(api.count(Method::PATCH, &status_path()), 1);
    assert_eq!(world.leaves().await, 0);
}

#[tokio::test]
async fn a_conflict_then_a_read_of_the_same_record_writes_again_and_leaves_nothing() {
    let api = ApiServer::new(|method, path, nth| match (method, path, nth) {
        (&Method::PATCH, p, 0) if p == status_path() => conflict(),
        (&Method::PATCH, p, _) if p == status_path() => ok(&standup("3", None)),
        (&Method::GET, PATH, _) => ok(&standup("2", None)),
        _ => not_found(),
    });
    let world = world(&api).await;
    let action = world.record(&standup("1", None)).await;
    assert_eq!(action, Action::requeue(Duration::ZERO));
    assert_eq!(
        api.count(Method::PATCH, &status_path()),
        2,
        "written on the object as it is now"
    );
    assert_eq!(world.leaves().await, 0);
}

#[tokio::test]
async fn a_conflict_then_a_read_that_shows_another_bot_of_ours_takes_this_one_out() {
    let api = ApiServer::new(|method, path, _| match (method, path) {
        (&Method::PATCH, p) if p == status_path() => conflict(),
        (&Method::GET, PATH) => ok(&standup("2", Some(recording("bot-other")))),
        _ => not_found(),
    });
    let world = world(&api).await;
    let action = world.record(&standup("1", None)).await;
    assert_eq!(action, Action::requeue(Duration::from_millis(200)));
    assert_eq!(
        world.leaves().await,
        1,
        "one leave for the bot no object records"
    );
    assert_eq!(
        api.count(Method::PATCH, &status_path()),
        1,
        "the other record is not overwritten"
    );
}

#[tokio::test]
async fn a_conflict_then_a_read_that_finds_the_object_gone_takes_the_bot_out() {
    let api = ApiServer::new(|method, path, _| match (method, path) {
        (&Method::PATCH, p) if p == status_path() => conflict(),
        _ => not_found(),
    });
    let world = world(&api).await;
    let action = world.record(&standup("1", None)).await;
    assert_eq!(action, Action::requeue(Duration::from_millis(200)));
    assert_eq!(world.leaves().await, 1);
}

#[tokio::test]
async fn a_conflict_then_a_read_that_finds_a_new_object_of_the_name_takes_the_bot_out() {
    let api = ApiServer::new(|method, path, _| match (method, path) {
        (&Method::PATCH, p) if p == status_path() => conflict(),
        (&Method::GET, PATH) => {
            let mut successor = standup("9", None);
            successor.metadata.uid = Some("uid-2".into());
            ok(&successor)
        }
        _ => not_found(),
    });
    let world = world(&api).await;
    world.record(&standup("1", None)).await;
    assert_eq!(
        world.leaves().await,
        1,
        "a new object by the same name is not this bot's record"
    );
}

#[tokio::test]
async fn a_failed_status_write_is_tried_again_and_leaves_nothing() {
    let api = ApiServer::new(|method, path, nth| match (method, path, nth) {
        (&Method::PATCH, p, 0) if p == status_path() => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 503,
                    "message": "the server is restarting", "reason": "ServiceUnavailable" }),
        ),
        (&Method::PATCH, p, _) if p == status_path() => ok(&standup("3", None)),
        (&Method::GET, PATH, _) => ok(&standup("1", None)),
        _ => not_found(),
    });
    let world = world(&api).await;
    let action = world.record(&standup("1", None)).await;
    assert_eq!(action, Action::requeue(Duration::ZERO));
    assert_eq!(api.count(Method::PATCH, &status_path()), 2);
    assert_eq!(world.leaves().await, 0);
}

#[tokio::test]
async fn a_meeting_bot_the_watch_saw_go_during_the_session_read_is_not_joined() {
    // The claim lands (a delete that raced it may still remove the object),
    // no watch holds the object any more, and the API server has it no more.
    let api = ApiServer::new(|method, path, _| match (method, path) {
        (&Method::PATCH, PATH) => ok(&standup("2", None)),
        _ => not_found(),
    });
    let world = world(&api).await;
    let joins_before = world.fake.admin().joins().await.unwrap().len();
    world.ctx.gate.open();
    let lanes = Lanes::new(4);
    let turn = lanes.turn(Lane::Path).await;
    let bot = standup("1", None);
    let reconciler = Reconciler::new(&bot, &world.ctx, &turn).unwrap();
    let attempt = crate::api::JoinAttempt {
        session_id: SESSION.into(),
        retry_join: None,
        started_at: Timestamp::now(),
        uid: Some("uid-1".into()),
        answer: None,
        seen_meeting_bot_id: None,
        install: Some(INSTALL.into()),
    };
    let step = reconciler.join(attempt, true).await.unwrap();

    let admin = world.fake.admin();
    assert_eq!(
        admin.joins().await.unwrap().len(),
        joins_before,
        "no bot joined for an object that is gone"
    );
    assert_eq!(api.count(Method::PATCH, PATH), 1, "the claim was written");
    assert_eq!(
        admin.calls().await.unwrap().total("session"),
        1,
        "the session was read"
    );
    assert!(matches!(step, super::Step::Stop(_)), "the reconcile ends");
}
