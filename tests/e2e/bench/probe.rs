//! What the bench reads besides MeetingBots: the API server's request
//! counters, other clients' MeetingBot changes, the operator's /proc figures
//! and the machine.

use futures::StreamExt;
use kube::api::PartialObjectMeta;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use meetingbot_operator::api::MeetingBot;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::task::JoinHandle;

/// Verbs of `apiserver_request_total` that only read.
const READS: [&str; 3] = ["GET", "LIST", "WATCH"];
/// Verbs only the bench itself uses on MeetingBots: the operator and the
/// baseline writer never create or delete one. (The bench's deletecollection
/// is counted as DELETE, with scope "namespace".)
const BENCH_OWN: [&str; 2] = ["POST", "DELETE"];

/// Write requests to MeetingBots that the API server handled (whatever it
/// answered), from its own `apiserver_request_total`, by verb and
/// subresource: "PATCH", "PATCH status", "APPLY status".
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Writes {
    pub by_kind: BTreeMap<String, u64>,
    /// Those answered 409 Conflict, which the writer then retried.
    pub conflicts: u64,
}

impl Writes {
    /// The counters now. They are cluster-wide: they cannot tell this
    /// bench's namespaces from others (see [`Foreign`]).
    pub async fn read(client: &Client) -> Writes {
        let request = http::Request::get("/metrics")
            .body(Vec::new())
            .expect("a valid request");
        let metrics = client
            .request_text(request)
            .await
            .expect("the API server serves /metrics to the admin");
        let mut writes = Writes::default();
        for sample in metrics.lines().filter_map(MeetingBotWrite::parse) {
            *writes.by_kind.entry(sample.kind).or_default() += sample.count;
            if sample.code == "409" {
                writes.conflicts += sample.count;
            }
        }
        writes
    }

    /// The writes made since `before`.
    pub fn since(&self, before: &Writes) -> Writes {
        let by_kind = self
            .by_kind
            .iter()
            .map(|(kind, &count)| {
                let earlier = before.by_kind.get(kind).copied().unwrap_or(0);
                // Counters only go down when the API server restarted: every
                // figure of this run would then be wrong.
                assert!(
                    count >= earlier,
                    "the API server restarted during the bench: run it again"
                );
                (kind.clone(), count - earlier)
            })
            .filter(|(_, count)| *count > 0)
            .collect();
        Writes {
            by_kind,
            conflicts: self.conflicts - before.conflicts,
        }
    }

    pub fn total(&self) -> u64 {
        self.by_kind.values().sum()
    }

    /// The writes of a controller (the operator or the baseline writer):
    /// all but the bench's own creates and deletes.
    pub fn by_controller(&self) -> Writes {
        Writes {
            by_kind: self
                .by_kind
                .iter()
                .filter(|(kind, _)| !BENCH_OWN.contains(&kind.as_str()))
                .map(|(kind, count)| (kind.clone(), *count))
                .collect(),
            conflicts: self.conflicts,
        }
    }
}

/// One sample of `apiserver_request_total` that counts writes to MeetingBots.
struct MeetingBotWrite {
    kind: String,
    code: String,
    count: u64,
}

impl MeetingBotWrite {
    /// Reads a line such as `apiserver_request_total{code="200",...,
    /// resource="meetingbots",scope="resource",subresource="status",
    /// verb="PATCH",version="v1alpha1"} 12`; no label value of this metric
    /// holds a comma or a quote.
    fn parse(line: &str) -> Option<MeetingBotWrite> {
        let (labels, count) = line
            .strip_prefix("apiserver_request_total{")?
            .rsplit_once("} ")?;
        let label = |name: &str| {
            labels.split(',').find_map(|pair| {
                let (key, value) = pair.split_once('=')?;
                (key == name).then(|| value.trim_matches('"'))
            })
        };
        let verb = label("verb")?;
        if label("resource")? != "meetingbots" || READS.contains(&verb) {
            return None;
        }
        let kind = match label("subresource") {
            Some(subresource) if !subresource.is_empty() => format!("{verb} {subresource}"),
            _ => verb.to_owned(),
        };
        Some(MeetingBotWrite {
            kind,
            code: label("code")?.to_owned(),
            // Counters are printed as floats, and exact below 2^53.
            count: count.parse::<f64>().ok()? as u64,
        })
    }
}

/// Counts changes to MeetingBots outside this run's namespaces, as they
/// happen. Other engineers' tests share the control plane, and [`Writes`]
/// would count their writes as the operator's: a figure measured while this
/// count moved is suspect.
pub struct Foreign {
    changes: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl Foreign {
    pub fn watch(client: &Client, own_namespaces: &[&str]) -> Foreign {
        let selector = own_namespaces
            .iter()
            .map(|ns| format!("metadata.namespace!={ns}"))
            .collect::<Vec<_>>()
            .join(",");
        // Metadata is enough to see a change, and cheaper for the API server.
        let bots: Api<PartialObjectMeta<MeetingBot>> = Api::all(client.clone());
        let changes = Arc::new(AtomicU64::new(0));
        let counter = changes.clone();
        let task = tokio::spawn(async move {
            let config = watcher::Config::default().fields(&selector);
            let mut events = std::pin::pin!(watcher(bots, config).default_backoff());
            while let Some(event) = events.next().await {
                // The initial list is what existed before; only later events are changes.
                if let Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_)) = event {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Foreign { changes, task }
    }

    pub fn changes(&self) -> u64 {
        self.changes.load(Ordering::Relaxed)
    }
}

impl Drop for Foreign {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A process's memory and CPU, from /proc.
#[derive(Clone, Copy, Debug)]
pub struct Usage {
    pub peak_rss_mib: f64,
    pub rss_mib: f64,
    pub cpu_secs: f64,
}

/// The unit of utime and stime in /proc/<pid>/stat: USER_HZ, 100 on Linux
/// whatever the kernel's own tick rate.
const TICKS_PER_SEC: f64 = 100.0;

pub fn usage(pid: i32) -> Usage {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the process runs");
    let mib = |field: &str| {
        let kib: f64 = status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("/proc/{pid}/status has {field}"));
        kib / 1024.0
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the process runs");
    // The command name, in parentheses, may hold spaces: count fields after it.
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after it.
    let after_name: Vec<&str> = stat
        .rsplit_once(')')
        .expect("stat names the command")
        .1
        .split_whitespace()
        .collect();
    let ticks = |index: usize| after_name[index].parse::<f64>().expect("a tick count");
    Usage {
        peak_rss_mib: mib("VmHWM:"),
        rss_mib: mib("VmRSS:"),
        cpu_secs: (ticks(11) + ticks(12)) / TICKS_PER_SEC,
    }
}

/// The machine the figures come from.
#[derive(Debug, Serialize)]
pub struct Machine {
    /// What `nproc` says: the CPUs this process may use.
    pub cpus: usize,
    pub cpu_model: String,
    pub memory_gib: f64,
}

impl Machine {
    pub fn this() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let field = |text: &str, name: &str| -> Option<String> {
            text.lines().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                (key.trim() == name).then(|| value.trim().to_owned())
            })
        };
        let memory_kib: f64 = field(&meminfo, "MemTotal")
            .and_then(|value| value.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        Machine {
            cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model: field(&cpuinfo, "model name").unwrap_or_else(|| "unknown CPU".into()),
            memory_gib: memory_kib / (1024.0 * 1024.0),
        }
    }
}

impl std::fmt::Display for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} CPUs ({}), {:.0} GiB",
            self.cpus, self.cpu_model, self.memory_gib
        )
    }
}

/// The parser alone: a plain test, so `make test` runs it.
mod tests {
    use super::*;

    #[test]
    fn only_writes_to_meetingbots_count_by_verb_and_subresource() {
        let metrics = r#"
apiserver_request_total{code="200",component="apiserver",dry_run="",group="liveai.lemonslice.com",resource="meetingbots",scope="resource",subresource="status",verb="APPLY",version="v1alpha1"} 7
apiserver_request_total{code="409",component="apiserver",dry_run="",group="liveai.lemonslice.com",resource="meetingbots",scope="resource",subresource="",verb="PATCH",version="v1alpha1"} 2
apiserver_request_total{code="200",component="apiserver",dry_run="",group="liveai.lemonslice.com",resource="meetingbots",scope="resource",subresource="",verb="PATCH",version="v1alpha1"} 5
apiserver_request_total{code="200",component="apiserver",dry_run="",group="liveai.lemonslice.com",resource="meetingbots",scope="namespace",subresource="",verb="LIST",version="v1alpha1"} 9
apiserver_request_total{code="201",component="apiserver",dry_run="",group="",resource="secrets",scope="resource",subresource="",verb="POST",version="v1"} 3
"#;
        let writes: Vec<_> = metrics.lines().filter_map(MeetingBotWrite::parse).collect();
        let kinds: Vec<_> = writes.iter().map(|w| (w.kind.as_str(), w.count)).collect();
        assert_eq!(kinds, [("APPLY status", 7), ("PATCH", 2), ("PATCH", 5)]);
    }
}
