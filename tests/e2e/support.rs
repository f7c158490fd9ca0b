//! Shared harness of the integration tests: the local control plane's
//! kubeconfig, a namespace per test, the fake LemonSlice, and the operator
//! binary as a real process.

use fake_lemonslice::{Config as FakeConfig, FakeServer};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client, CustomResourceExt};
use meetingbot_operator::api::{MeetingBot, MeetingBotSpec};
use rustix::process::{Pid, Signal, kill_process};
use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};
use tokio::sync::OnceCell;

/// The API key the fake accepts and the operator uses by default.
pub const API_KEY: &str = "test-operator-key-5d1c9e";
/// The broadcast token tests put in Secrets.
pub const BROADCAST_TOKEN: &str = "test-broadcast-token-7f2a0b";

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn kubeconfig_path() -> PathBuf {
    std::env::var_os("KUBECONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/cluster/kubeconfig"))
}

/// The admin kubeconfig's `server:` line.
fn server_line(admin: &str) -> &str {
    admin
        .lines()
        .find(|line| line.trim_start().starts_with("server:"))
        .expect("the kubeconfig names its server")
}

/// Where the local API server listens.
pub fn api_server_address() -> std::net::SocketAddr {
    let admin = std::fs::read_to_string(kubeconfig_path()).unwrap();
    let server = server_line(&admin)
        .trim_start()
        .trim_start_matches("server:");
    let authority = server.trim().trim_start_matches("https://");
    authority
        .parse()
        .expect("the API server's address is an IP and port")
}

/// A copy of the admin kubeconfig, written in `dir`, that talks to `server`.
pub fn kubeconfig_for_server(server: &str, dir: &std::path::Path) -> PathBuf {
    let admin = std::fs::read_to_string(kubeconfig_path()).unwrap();
    let path = dir.join("elsewhere.kubeconfig");
    let elsewhere = admin.replace(server_line(&admin), &format!("    server: {server}"));
    std::fs::write(&path, elsewhere).unwrap();
    path
}

/// The admin configuration of the local control plane.
pub async fn config() -> kube::Config {
    meetingbot_operator::lemonslice::install_crypto_provider();
    let path = kubeconfig_path();
    assert!(
        path.exists(),
        "no kubeconfig at {}: run the tests with `make test`, which starts the local control plane",
        path.display()
    );
    let kubeconfig = kube::config::Kubeconfig::read_from(&path).expect("kubeconfig parses");
    kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("kubeconfig is usable")
}

/// A client for the local control plane, with the CRD installed.
pub async fn client() -> Client {
    static CRD: OnceCell<()> = OnceCell::const_new();
    let client = Client::try_from(config().await).expect("client builds");
    CRD.get_or_init(|| install_crd(client.clone())).await;
    client
}

async fn install_crd(client: Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client);
    crds.patch(
        "meetingbots.liveai.lemonslice.com",
        &PatchParams::apply("e2e-tests").force(),
        &Patch::Apply(MeetingBot::crd()),
    )
    .await
    .expect("CRD applies");
    wait_until(
        "the CRD is established",
        Duration::from_secs(30),
        || async {
            let crd = crds.get("meetingbots.liveai.lemonslice.com").await.ok()?;
            let established = crd
                .status?
                .conditions?
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            established.then_some(())
        },
    )
    .await;
}

/// Polls `check` until it returns `Ok`, or fails the test after `deadline`
/// with what it awaited and the last `Err` it saw.
pub async fn poll<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let start = Instant::now();
    loop {
        let seen = match check().await {
            Ok(value) => return value,
            Err(seen) => seen,
        };
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}; last seen: {seen}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls `check` until it returns `Some`, or fails the test after `deadline`;
/// for checks with nothing to say about what they saw.
pub async fn wait_until<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    poll(what, deadline, || {
        let checked = check();
        async { checked.await.ok_or_else(|| "not yet".to_owned()) }
    })
    .await
}

/// A fresh namespace for one test.
pub async fn namespace(client: &Client, prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let namespaces: Api<Namespace> = Api::all(client.clone());
    loop {
        let name = format!(
            "{prefix}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut namespace = Namespace::default();
        namespace.metadata.name = Some(name.clone());
        match namespaces.create(&PostParams::default(), &namespace).await {
            Ok(_) => return name,
            // Left by an earlier run whose process had the same id (the bench
            // keeps its namespaces): the next name.
            Err(kube::Error::Api(status)) if status.code == 409 => continue,
            Err(error) => panic!("namespace creates: {error}"),
        }
    }
}

/// Creates or replaces a Secret with one key.
pub async fn put_secret(client: &Client, namespace: &str, name: &str, key: &str, value: &str) {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name},
        "data": {key: base64(value)},
    });
    secrets
        .patch(
            name,
            &PatchParams::apply("e2e-tests").force(),
            &Patch::Apply(&secret),
        )
        .await
        .expect("secret applies");
}

fn base64(value: &str) -> String {
    let bytes = k8s_openapi::ByteString(value.as_bytes().to_vec());
    serde_json::to_value(bytes)
        .expect("bytes serialize")
        .as_str()
        .expect("a string")
        .to_owned()
}

/// A valid spec for a Google Meet meeting, with its token in Secret `token`.
pub fn spec(session_id: &str) -> MeetingBotSpec {
    MeetingBotSpec {
        bot_name: Some("LemonSlice Avatar".into()),
        ..MeetingBotSpec::new(
            session_id,
            "https://meet.google.com/abc-defg-hij",
            "wss://lemonslice-pb123.livekit.cloud",
            "token",
        )
    }
}

/// Starts the fake LemonSlice, accepting [`API_KEY`].
pub async fn fake() -> FakeServer {
    FakeServer::start(FakeConfig {
        api_keys: vec![API_KEY.into()],
        ..Default::default()
    })
    .await
    .expect("fake starts")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// The operator binary, running as its own process against the local control plane.
pub struct Operator {
    child: Child,
    pub metrics_url: String,
    pub log: PathBuf,
}

/// How to start an operator.
#[derive(Clone)]
pub struct OperatorOptions {
    pub namespace: String,
    pub lemonslice_url: String,
    pub extra_args: Vec<String>,
    /// Another cluster to talk to (default: the local control plane).
    pub kubeconfig: Option<PathBuf>,
}

impl OperatorOptions {
    pub fn new(namespace: &str, fake: &FakeServer) -> OperatorOptions {
        OperatorOptions {
            namespace: namespace.into(),
            lemonslice_url: fake.url(),
            extra_args: vec![
                "--leader-election=false".into(),
                "--log-level=info,meetingbot_operator=debug".into(),
            ],
            kubeconfig: None,
        }
    }
}

impl Operator {
    pub async fn start(options: &OperatorOptions) -> Operator {
        let operator = Operator::spawn(options);
        operator.wait_ready().await;
        operator
    }

    /// Starts the process without waiting for it to be ready.
    pub fn spawn(options: &OperatorOptions) -> Operator {
        let port = free_port();
        let log_dir = repo_root().join("target/e2e-logs");
        std::fs::create_dir_all(&log_dir).expect("log folder");
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let log = log_dir.join(format!(
            "{}-{}.log",
            options.namespace,
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let log_file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_meetingbot-operator"))
            .arg("run")
            .args(["--lemonslice-url", &options.lemonslice_url])
            .args(["--namespaces", &options.namespace])
            .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
            .args(["--log-format", "json"])
            .args(["--call-timeout", "5s"])
            .args(&options.extra_args)
            .env(
                "KUBECONFIG",
                options.kubeconfig.clone().unwrap_or_else(kubeconfig_path),
            )
            .env("LEMONSLICE_API_KEY", API_KEY)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .expect("operator starts");
        Operator {
            child,
            metrics_url: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&self) {
        wait_until(
            "the operator to be ready",
            Duration::from_secs(30),
            || async { (self.get("/readyz").await?.0 == 200).then_some(()) },
        )
        .await;
    }

    /// GETs a path of the metrics and health server: status and body.
    pub async fn get(&self, path: &str) -> Option<(u16, String)> {
        let response = reqwest::get(format!("{}{path}", self.metrics_url))
            .await
            .ok()?;
        let status = response.status().as_u16();
        Some((status, response.text().await.ok()?))
    }

    /// GET with an `Accept` header: the status, the content type and the body.
    pub async fn get_accepting(&self, path: &str, accept: &str) -> Option<(u16, String, String)> {
        let response = reqwest::Client::new()
            .get(format!("{}{path}", self.metrics_url))
            .header("accept", accept)
            .send()
            .await
            .ok()?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Some((status, content_type, response.text().await.ok()?))
    }

    pub fn pid(&self) -> i32 {
        self.child.id().expect("operator runs") as i32
    }

    pub fn signal(&self, signal: Signal) {
        let pid = Pid::from_raw(self.pid()).expect("a child's pid is positive");
        kill_process(pid, signal).expect("signal delivered");
    }

    /// Waits for the process to exit and returns its exit code.
    pub async fn wait_exit(&mut self, deadline: Duration) -> Option<i32> {
        let status = tokio::time::timeout(deadline, self.child.wait())
            .await
            .expect("operator exits in time")
            .expect("wait works");
        status.code()
    }

    pub async fn kill(mut self) {
        self.signal(SIGKILL);
        let _ = self.child.wait().await;
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

pub const SIGKILL: Signal = Signal::KILL;
pub const SIGTERM: Signal = Signal::TERM;

/// Runs kubectl (on PATH under `make test`) and returns its output; fails the test when kubectl does.
pub fn kubectl(args: &[&str]) -> String {
    succeed("kubectl", args, "")
}

/// Runs a program from the repository's root, feeding it `stdin`.
pub fn run(program: &str, args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = std::process::Command::new(program)
        .args(args)
        .current_dir(repo_root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("{program} runs (make test puts it on PATH): {error}"));
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

/// Runs a program that must succeed, and returns what it printed.
pub fn succeed(program: &str, args: &[&str], stdin: &str) -> String {
    let output = run(program, args, stdin);
    assert!(
        output.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Deletes a namespace and waits until kube-controller-manager's namespace
/// controller has removed it and everything in it.
pub async fn delete_namespace(client: &Client, ns: &str, deadline: Duration) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .delete(ns, &kube::api::DeleteParams::default())
        .await
        .expect("the namespace deletes");
    wait_until("the namespace to be gone", deadline, || async {
        namespaces.get_opt(ns).await.ok()?.is_none().then_some(())
    })
    .await;
}

/// The bot id in the operator's record annotation, when it holds a record.
pub fn annotated_bot_id(bot: &MeetingBot) -> Option<String> {
    let annotated = bot.record_copies().annotated?.ok()?;
    Some(annotated.meeting_bot_id)
}
