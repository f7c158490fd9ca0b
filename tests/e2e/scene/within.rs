//! The scene's waits: each with a deadline, each saying on a timeout what it
//! awaited and what it last saw.

use super::Scene;
use crate::support::Operator;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::{Api, ResourceExt};
use meetingbot_operator::api::MeetingBot;
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::time::{Duration, Instant};

use crate::support::poll;

/// How often kube-controller-manager's garbage collector looks for new resources.
const GARBAGE_COLLECTOR_DISCOVERY: Duration = Duration::from_secs(30);

/// The scene's waits, with one deadline.
pub struct Within<'a> {
    pub(super) scene: &'a Scene,
    pub(super) deadline: Duration,
}

/// The waits of a scene: with its own deadline on the [`Scene`], with
/// another on [`Scene::within`].
// Only this test binary implements and calls it: no Send bound is needed.
#[allow(async_fn_in_trait)]
pub trait Waits {
    fn scene(&self) -> &Scene;
    fn deadline(&self) -> Duration;

    /// Waits until `name` is Ready because it Joined.
    async fn wait_joined(&self, name: &str) -> MeetingBot {
        self.wait_condition(name, "Ready", "True", "Joined").await
    }

    /// Waits until `name` is Stalled for `reason`.
    async fn wait_stalled(&self, name: &str, reason: &str) -> MeetingBot {
        self.wait_condition(name, "Stalled", "True", reason).await
    }

    /// Waits until `name` is Reconciling for `reason`.
    async fn wait_reconciling(&self, name: &str, reason: &str) -> MeetingBot {
        self.wait_condition(name, "Reconciling", "True", reason)
            .await
    }

    /// Waits until `name` has condition `type_` with `status` and `reason`.
    async fn wait_condition(
        &self,
        name: &str,
        type_: &str,
        status: &str,
        reason: &str,
    ) -> MeetingBot {
        let what = format!("{type_}={status} ({reason})");
        self.wait_bot(name, &what, |bot| {
            let condition = bot.condition(type_)?;
            (condition.status == status && condition.reason == reason).then(|| bot.clone())
        })
        .await
    }

    /// Waits until `check` accepts the MeetingBot; a timeout shows the last one read.
    async fn wait_bot<T>(
        &self,
        name: &str,
        what: &str,
        mut check: impl FnMut(&MeetingBot) -> Option<T>,
    ) -> T {
        let bots = self.scene().bots();
        let start = Instant::now();
        loop {
            let seen = match bots.get_opt(name).await {
                Ok(Some(bot)) => match check(&bot) {
                    Some(value) => return value,
                    None => summary(&bot),
                },
                Ok(None) => "no such MeetingBot".into(),
                Err(error) => error.to_string(),
            };
            assert!(
                start.elapsed() < self.deadline(),
                "timed out after {:?} waiting for {}/{name}: {what}; last seen: {seen}",
                self.deadline(),
                self.scene().ns
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn wait_gone(&self, name: &str) {
        let awaited = format!("{}/{name} to be gone", self.scene().ns);
        let bots = self.scene().bots();
        wait_absent(&awaited, self.deadline(), &bots, name, summary).await
    }

    /// Waits until Secret `name` is gone (the garbage collector's work, mostly).
    /// The collector learns of a CRD installed since its start only at its next
    /// discovery sync (every 30 s): on a control plane started for this test
    /// alone, a Secret that a MeetingBot owns can wait that long.
    async fn wait_secret_gone(&self, name: &str) {
        let awaited = format!("Secret {}/{name} to be gone", self.scene().ns);
        let secrets = self.scene().secrets();
        let owners = |secret: &Secret| format!("owners {:?}", secret.owner_references());
        let deadline = self
            .deadline()
            .max(GARBAGE_COLLECTOR_DISCOVERY + Duration::from_secs(30));
        wait_absent(&awaited, deadline, &secrets, name, owners).await
    }

    async fn wait_event(&self, name: &str, reason: &str) -> Event {
        let awaited = format!("an Event {reason} about {}/{name}", self.scene().ns);
        let about = |e: &Event| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name);
        poll(&awaited, self.deadline(), || async {
            let events: Vec<Event> = self
                .scene()
                .events()
                .await
                .into_iter()
                .filter(about)
                .collect();
            match events.iter().find(|e| e.reason.as_deref() == Some(reason)) {
                Some(event) => Ok(event.clone()),
                None => {
                    let reasons: Vec<_> = events.iter().map(|e| e.reason.clone()).collect();
                    Err(format!("Events {reasons:?}"))
                }
            }
        })
        .await
    }

    /// Waits until `operator` exports `series` with a value `check` accepts;
    /// returns the whole exposition.
    async fn wait_metric(
        &self,
        operator: &Operator,
        series: &str,
        check: impl Fn(f64) -> bool,
    ) -> String {
        let awaited = format!("the metric {series}");
        poll(&awaited, self.deadline(), || async {
            let (_, body) = operator.get("/metrics").await.ok_or("no answer")?;
            match sample(&body, series) {
                Some(value) if check(value) => Ok(body),
                Some(value) => Err(format!("{value}")),
                None => Err("not exported".into()),
            }
        })
        .await
    }
}

impl Waits for Scene {
    fn scene(&self) -> &Scene {
        self
    }

    fn deadline(&self) -> Duration {
        self.deadline
    }
}

impl Waits for Within<'_> {
    fn scene(&self) -> &Scene {
        self.scene
    }

    fn deadline(&self) -> Duration {
        self.deadline
    }
}

/// Waits until `api` has no object `name`; a timeout describes the one still there.
async fn wait_absent<K>(
    what: &str,
    deadline: Duration,
    api: &Api<K>,
    name: &str,
    describe: impl Fn(&K) -> String,
) where
    K: Clone + DeserializeOwned + Debug,
{
    poll(what, deadline, || async {
        match api.get_opt(name).await {
            Ok(None) => Ok(()),
            Ok(Some(object)) => Err(describe(&object)),
            Err(error) => Err(error.to_string()),
        }
    })
    .await
}

/// The value of one sample in Prometheus text, e.g. `metric{label="x"}`.
pub fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// A MeetingBot in one line: phase, generations, and every condition.
fn summary(bot: &MeetingBot) -> String {
    let Some(status) = &bot.status else {
        return "no status".into();
    };
    let conditions: Vec<String> = status
        .conditions
        .iter()
        .map(|c| format!("{}={} ({}: {})", c.type_, c.status, c.reason, c.message))
        .collect();
    format!(
        "phase {:?}, generation {:?} observed {:?}, {}",
        status.phase,
        bot.metadata.generation,
        status.observed_generation,
        conditions.join("; ")
    )
}
