//! How a scene is set up: faults and sessions on the fake, the operator's
//! flags, and what the namespace starts with.

use super::{DEADLINE, FakeRuntime, Scene};
use crate::support::*;
use fake_lemonslice::Faults;
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;
use std::sync::Mutex;
use std::time::Duration;

/// A fake that answers every call to `endpoint` with `status`.
pub fn failing(endpoint: &str, status: u16) -> Faults {
    Faults {
        error_rate: 1.0,
        error_statuses: vec![status],
        endpoints: vec![endpoint.into()],
        ..Faults::default()
    }
}

/// A fake whose vendor makes every joined bot, behind a proxy that then
/// answers the join 503 in its own words: an answer that proves nothing.
pub fn proxy_503_after_join() -> Faults {
    Faults {
        proxy_reset_rate: 1.0,
        proxy_status: 503,
        endpoints: vec!["join".into()],
        ..Faults::default()
    }
}

/// What a scene is made of; [`Scene::builder`] begins one.
pub struct SceneBuilder {
    prefix: String,
    faults: Option<Faults>,
    sessions: Vec<(String, String)>,
    args: Vec<String>,
    token: bool,
    restricted: bool,
    operator: bool,
    deadline: Duration,
}

impl SceneBuilder {
    pub(super) fn new(prefix: &str) -> SceneBuilder {
        SceneBuilder {
            prefix: prefix.into(),
            faults: None,
            sessions: Vec::new(),
            args: Vec::new(),
            token: true,
            restricted: false,
            operator: true,
            deadline: DEADLINE,
        }
    }

    /// Faults the fake injects from the start.
    pub fn faults(mut self, faults: Faults) -> Self {
        self.faults = Some(faults);
        self
    }

    /// A session the fake reports with `status` (QUEUED, FAILED, ...) from the start.
    pub fn session(mut self, id: &str, status: &str) -> Self {
        self.sessions.push((id.into(), status.into()));
        self
    }

    /// An operator flag added to the defaults.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// No Secret `token` in the namespace.
    pub fn without_token(mut self) -> Self {
        self.token = false;
        self
    }

    /// No operator at the start: the test starts its own.
    pub fn without_operator(mut self) -> Self {
        self.operator = false;
        self
    }

    /// A namespace and nothing else in it.
    pub fn bare(self) -> Self {
        self.without_token().without_operator()
    }

    /// The namespace enforces (and warns of) the restricted Pod Security level.
    pub fn restricted(mut self) -> Self {
        self.restricted = true;
        self
    }

    /// The scene's default deadline for its waits.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    pub async fn start(self) -> Scene {
        let client = client().await;
        let ns = namespace(&client, &self.prefix).await;
        // The fake runs on a runtime of its own, so that it keeps answering
        // the operator while the scene's cleanup blocks the test's thread.
        let fake_runtime = FakeRuntime::new();
        let fake = fake_runtime
            .handle()
            .spawn(fake())
            .await
            .expect("the fake starts");
        let admin = fake.admin();
        if let Some(faults) = &self.faults {
            admin
                .set_faults(faults)
                .await
                .expect("the fake takes faults");
        }
        for (id, status) in &self.sessions {
            admin
                .set_session_status(id, status)
                .await
                .expect("the fake takes a session status");
        }
        if self.restricted {
            let levels = json!({"metadata": {"labels": {
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/warn": "restricted",
            }}});
            Api::<Namespace>::all(client.clone())
                .patch(&ns, &PatchParams::default(), &Patch::Merge(&levels))
                .await
                .expect("the namespace takes the Pod Security labels");
        }
        if self.token {
            put_secret(&client, &ns, "token", "token", BROADCAST_TOKEN).await;
        }
        let mut options = OperatorOptions::new(&ns, &fake);
        options.extra_args.extend(self.args);
        let mut scene = Scene {
            client,
            ns,
            fake,
            _fake_runtime: fake_runtime,
            admin,
            options,
            operator: None,
            logs: Mutex::default(),
            deadline: self.deadline,
        };
        if self.operator {
            scene.operator = Some(scene.start_operator(&scene.options).await);
        }
        scene
    }
}
