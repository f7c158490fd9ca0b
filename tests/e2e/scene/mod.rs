//! A test's scene: its own namespace (with the broadcast token's Secret), a
//! fake LemonSlice, and the operator watching that namespace, set up by one
//! builder. Its waits all have a deadline and say, when they time out, what
//! they awaited and what they last saw. A scene that ends in a panic keeps its
//! namespace and prints where to look (the operator's logs, the MeetingBots'
//! YAML); one that ends well deletes its namespace.

mod builder;
mod within;

pub use builder::{SceneBuilder, failing, proxy_503_after_join};
pub use within::{Waits, Within, sample};

use crate::support::*;
use fake_lemonslice::{Admin, Bot, CallCounts, FakeServer, RequestRecord};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use meetingbot_operator::api::{MeetingBot, MeetingBotSpec, annotation};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// How long a wait lasts unless the scene or the call says otherwise.
const DEADLINE: Duration = Duration::from_secs(30);
/// How long a scene that ended well waits for its MeetingBots to let go.
const CLEANUP: Duration = Duration::from_secs(15);

/// One test's namespace, fake LemonSlice and operator.
pub struct Scene {
    pub client: Client,
    pub ns: String,
    pub fake: FakeServer,
    /// Declared after `fake`: the fake stops before its runtime does.
    _fake_runtime: FakeRuntime,
    pub admin: Admin,
    options: OperatorOptions,
    operator: Option<Operator>,
    logs: Mutex<Vec<PathBuf>>,
    deadline: Duration,
}

impl Scene {
    /// A scene whose namespace is named after `prefix`, to be set up further.
    pub fn builder(prefix: &str) -> SceneBuilder {
        SceneBuilder::new(prefix)
    }

    /// The usual scene: namespace, token Secret, fake, operator.
    pub async fn start(prefix: &str) -> Scene {
        Scene::builder(prefix).start().await
    }

    /// The options the scene's operator runs with, to start more like it.
    pub fn options(&self) -> OperatorOptions {
        self.options.clone()
    }

    /// Starts an operator (another replica, other flags), whose log the scene
    /// names if the test fails.
    pub async fn start_operator(&self, options: &OperatorOptions) -> Operator {
        let operator = self.spawn_operator(options);
        operator.wait_ready().await;
        operator
    }

    /// Starts an operator without waiting for it to be ready.
    pub fn spawn_operator(&self, options: &OperatorOptions) -> Operator {
        let operator = Operator::spawn(options);
        self.logs.lock().unwrap().push(operator.log.clone());
        operator
    }

    /// Another fake LemonSlice (another vendor or account), on the scene's
    /// fake runtime: declare it after the scene, so that it stops first.
    pub async fn another_fake(&self, config: fake_lemonslice::Config) -> FakeServer {
        self._fake_runtime
            .handle()
            .spawn(FakeServer::start(config))
            .await
            .expect("the fake's task runs")
            .expect("the fake starts")
    }

    /// The operator the scene started.
    pub fn operator(&self) -> &Operator {
        self.operator.as_ref().expect("the scene's operator runs")
    }

    /// SIGKILLs the scene's operator.
    pub async fn kill_operator(&mut self) {
        if let Some(operator) = self.operator.take() {
            operator.kill().await;
        }
    }

    /// Makes an operator with `options` the scene's own (in place of any),
    /// e.g. one that watches another scene's namespace too: declare that
    /// scene after this one, so that the operator outlives its cleanup.
    pub async fn run_operator(&mut self, options: &OperatorOptions) {
        self.kill_operator().await;
        self.options = options.clone();
        self.operator = Some(self.start_operator(options).await);
    }

    /// SIGKILLs the scene's operator and starts a new one with the same options.
    pub async fn restart_operator(&mut self) {
        self.kill_operator().await;
        self.operator = Some(self.start_operator(&self.options).await);
    }

    pub fn bots(&self) -> Api<MeetingBot> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    pub async fn put_secret(&self, name: &str, key: &str, value: &str) {
        put_secret(&self.client, &self.ns, name, key, value).await;
    }

    pub fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    /// Waits until Secret `name` is gone (the garbage collector's work, mostly).
    pub async fn wait_secret_gone(&self, name: &str) {
        self.within(self.deadline).wait_secret_gone(name).await
    }

    pub async fn create(&self, name: &str, spec: MeetingBotSpec) -> MeetingBot {
        self.create_object(&MeetingBot::new(name, spec)).await
    }

    pub async fn create_object(&self, bot: &MeetingBot) -> MeetingBot {
        self.bots()
            .create(&PostParams::default(), bot)
            .await
            .unwrap_or_else(|error| panic!("MeetingBot {} creates: {error}", bot.name_any()))
    }

    pub async fn bot(&self, name: &str) -> MeetingBot {
        self.bots()
            .get(name)
            .await
            .unwrap_or_else(|error| panic!("MeetingBot {name} reads: {error}"))
    }

    pub async fn delete(&self, name: &str) {
        self.bots()
            .delete(name, &DeleteParams::default())
            .await
            .unwrap_or_else(|error| panic!("MeetingBot {name} deletes: {error}"));
    }

    pub async fn patch_spec(&self, name: &str, spec: serde_json::Value) -> MeetingBot {
        self.merge(name, json!({ "spec": spec })).await
    }

    pub async fn annotate(&self, name: &str, key: &str, value: &str) -> MeetingBot {
        self.merge(name, json!({"metadata": {"annotations": {key: value}}}))
            .await
    }

    /// A JSON merge patch of MeetingBot `name`.
    pub async fn merge(&self, name: &str, patch: serde_json::Value) -> MeetingBot {
        self.bots()
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap_or_else(|error| panic!("MeetingBot {name} patches: {error}"))
    }

    /// Asks for a reconcile with a value of its own and waits for the
    /// operator's echo of it: proof that the operator has acted since.
    pub async fn reconcile(&self, name: &str) -> MeetingBot {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let value = format!("e2e-{}", COUNTER.fetch_add(1, Ordering::Relaxed));
        self.annotate(name, annotation::RECONCILE_REQUESTED_AT, &value)
            .await;
        let what = format!("status.lastHandledReconcileAt to echo {value}");
        self.wait_bot(name, &what, |bot| {
            let handled = bot.status.as_ref()?.last_handled_reconcile_at.as_deref();
            (handled == Some(value.as_str())).then(|| bot.clone())
        })
        .await
    }

    /// The live bots the fake holds for a session.
    pub async fn live_bots(&self, session: &str) -> Vec<Bot> {
        let bots = self.admin.bots().await.expect("the fake answers");
        bots.into_iter()
            .filter(|b| b.session_id == session)
            .collect()
    }

    /// The requests the fake has had for `endpoint` (join, leave, session), in order.
    pub async fn requests_to(&self, endpoint: &str) -> Vec<RequestRecord> {
        let requests = self.admin.requests().await.expect("the fake answers");
        requests
            .into_iter()
            .filter(|r| r.endpoint == endpoint)
            .collect()
    }

    /// The fake's count of calls, by endpoint and status.
    pub async fn calls(&self) -> CallCounts {
        self.admin.calls().await.expect("the fake answers")
    }

    /// `kubectl apply --dry-run=server --warnings-as-errors` of `manifests`
    /// into the namespace: what the API server (and its admission) says.
    pub fn dry_run_apply(&self, manifests: &str) -> String {
        let args = [
            "apply",
            "--dry-run=server",
            "--warnings-as-errors",
            "-n",
            &self.ns,
            "-f",
            "-",
        ];
        succeed("kubectl", &args, manifests)
    }

    /// The Events in the namespace.
    pub async fn events(&self) -> Vec<Event> {
        Api::<Event>::namespaced(self.client.clone(), &self.ns)
            .list(&Default::default())
            .await
            .expect("Events list")
            .items
    }

    /// The scene's waits with another deadline.
    pub fn within(&self, deadline: Duration) -> Within<'_> {
        Within {
            scene: self,
            deadline,
        }
    }

    fn dump(&self) {
        eprintln!("--- scene {} failed; its namespace is kept", self.ns);
        for log in self.logs.lock().unwrap().iter() {
            eprintln!("operator log: {}", log.display());
            // Where CI keeps only this output, the log's warnings say why.
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let warnings: Vec<&str> = text
                .lines()
                .filter(|line| {
                    line.contains(r#""level":"WARN""#) || line.contains(r#""level":"ERROR""#)
                })
                .collect();
            for line in &warnings[warnings.len().saturating_sub(20)..] {
                eprintln!("  {line}");
            }
        }
        let yaml = scene_kubectl(&["get", "meetingbots", "-n", &self.ns, "-o", "yaml"]);
        eprintln!("MeetingBots in {}:\n{yaml}", self.ns);
        let events = scene_kubectl(&["get", "events", "-n", &self.ns]);
        eprintln!("Events in {}:\n{events}", self.ns);
    }
}

impl Drop for Scene {
    fn drop(&mut self) {
        self.clean_up();
    }
}

/// The fake's own runtime, shut down without blocking (the test's runtime
/// may not block) when it is dropped.
struct FakeRuntime(Option<tokio::runtime::Runtime>);

impl FakeRuntime {
    fn new() -> FakeRuntime {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("the fake's runtime builds");
        FakeRuntime(Some(runtime))
    }

    fn handle(&self) -> &tokio::runtime::Handle {
        self.0.as_ref().expect("the runtime runs").handle()
    }
}

impl Drop for FakeRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl Scene {
    fn clean_up(&self) {
        if std::thread::panicking() {
            self.dump();
            return;
        }
        // The operator still runs here: deleted MeetingBots leave and lose
        // its finalizer at once (the namespace controller would ask later
        // than the operator lives), then the namespace controller does the rest.
        scene_kubectl(&[
            "delete",
            "meetingbots",
            "--all",
            "-n",
            &self.ns,
            &format!("--timeout={}s", CLEANUP.as_secs()),
        ]);
        scene_kubectl(&[
            "delete",
            "namespace",
            &self.ns,
            "--wait=false",
            "--ignore-not-found",
        ]);
    }
}

/// kubectl for the scene's own bookkeeping: what it printed, or why it failed.
fn scene_kubectl(args: &[&str]) -> String {
    match std::process::Command::new("kubectl").args(args).output() {
        Ok(output) if output.status.success() => String::from_utf8_lossy(&output.stdout).into(),
        Ok(output) => format!(
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(error) => format!("kubectl {args:?}: {error}"),
    }
}
