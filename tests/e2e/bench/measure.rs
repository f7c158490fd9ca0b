//! What a run cost: the API server's count of MeetingBot writes, the
//! operator's memory and CPU, and the statistics of the figures.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Namespace;
use kube::{Api, Client};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// Namespaces being deleted now: their deletion (the namespace controller
/// listing and deleting every kind, again and again while a finalizer
/// holds) shares the API server with the run and skews its ratios. A
/// control plane kept from earlier test runs can hold such namespaces.
pub(super) async fn namespaces_being_deleted(client: &Client) -> usize {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .list_metadata(&Default::default())
        .await
        .expect("namespaces list")
        .items
        .iter()
        .filter(|ns| ns.metadata.deletion_timestamp.is_some())
        .count()
}

/// Writes to MeetingBots and their subresources (not reads, not the bench's
/// creates and deletes), from the API server's own counters.
pub(super) async fn meetingbot_writes(client: &Client) -> u64 {
    let requests = requests_by_kind(client).await;
    ["PATCH", "PUT", "APPLY"]
        .iter()
        .filter_map(|verb| requests.get(&format!("{verb} meetingbots")))
        .sum::<f64>() as u64
}

/// Requests the API server has answered so far, by verb and resource
/// ("PATCH meetingbots", "POST events"; a resource's subresources counted
/// with it), from its own counters.
pub(super) async fn requests_by_kind(client: &Client) -> BTreeMap<String, f64> {
    let request = http::Request::get("/metrics").body(Vec::new()).unwrap();
    let metrics = client
        .request_text(request)
        .await
        .expect("the API server serves /metrics");
    // A label's value; after a comma, so that `resource` is not `subresource`.
    let label = |line: &str, name: &str| -> Option<String> {
        let from = line.find(&format!(",{name}=\""))? + name.len() + 3;
        let to = from + line[from..].find('"')?;
        Some(line[from..to].to_owned())
    };
    let mut requests = BTreeMap::new();
    for line in metrics
        .lines()
        .filter(|l| l.starts_with("apiserver_request_total{"))
    {
        let (Some(verb), Some(resource)) = (label(line, "verb"), label(line, "resource")) else {
            continue;
        };
        if resource.is_empty() {
            continue;
        }
        let count: f64 = line
            .rsplit(' ')
            .next()
            .and_then(|c| c.parse().ok())
            .unwrap_or(0.0);
        *requests.entry(format!("{verb} {resource}")).or_default() += count;
    }
    requests
}

/// Waits until the operator writes no more (two seconds without a MeetingBot
/// write, at most a minute): the bookkeeping after Ready is done.
pub(super) async fn until_quiet(client: &Client) -> u64 {
    let until = Instant::now() + Duration::from_secs(60);
    let mut last = meetingbot_writes(client).await;
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = meetingbot_writes(client).await;
        if now == last || Instant::now() >= until {
            return now;
        }
        last = now;
    }
}

/// Peak RSS, current RSS (bytes) and CPU seconds of a process, from /proc.
pub(super) fn process_usage(pid: i32) -> (u64, u64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib = |field: &str| -> u64 {
        let line = status.lines().find(|l| l.starts_with(field)).unwrap();
        line.split_whitespace()
            .nth(1)
            .unwrap()
            .parse::<u64>()
            .unwrap()
            * 1024
    };
    let cpu = cpu_secs(pid).unwrap();
    (kib("VmHWM:"), kib("VmRSS:"), cpu)
}

/// CPU seconds (user and system) a process has used, from /proc.
fn cpu_secs(pid: i32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields[11].parse::<f64>().ok()? + fields[12].parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// CPU seconds used so far by the processes a run shares the machine with:
/// the control plane's, the operator's, and this one's (the bench's watches,
/// the baseline's writer and the fake LemonSlice), by name.
pub(super) fn cpu_by_process() -> BTreeMap<&'static str, f64> {
    // Names as /proc shows them (cut at 15 characters).
    const NAMES: [(&str, &str); 4] = [
        ("kube-apiserver", "kube-apiserver"),
        ("etcd", "etcd"),
        ("kube-controller", "kube-controller-manager"),
        ("meetingbot-oper", "operator"),
    ];
    let mut cpu = BTreeMap::new();
    let own = std::process::id() as i32;
    cpu.insert("bench", cpu_secs(own).unwrap_or_default());
    let pids = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok());
    for pid in pids {
        let Ok(comm) = std::fs::read_to_string(format!("/proc/{pid}/comm")) else {
            continue;
        };
        if let Some((_, name)) = NAMES
            .iter()
            .find(|(comm_name, _)| comm.trim() == *comm_name)
            && let Some(secs) = cpu_secs(pid)
        {
            *cpu.entry(*name).or_default() += secs;
        }
    }
    cpu
}

/// What grew from `before` to `after`, per key.
pub(super) fn growth<K: Ord>(
    before: &BTreeMap<K, f64>,
    after: BTreeMap<K, f64>,
) -> BTreeMap<K, f64> {
    after
        .into_iter()
        .map(|(key, value)| {
            let grown = value - before.get(&key).copied().unwrap_or_default();
            (key, grown)
        })
        .collect()
}

pub(super) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Spearman's rank correlation of creation order and join order: 1 when
/// bots join exactly in the order they were created.
pub(super) fn order_correlation(
    created: &HashMap<String, Timestamp>,
    joined: &[(String, Timestamp)],
) -> f64 {
    let rank = |mut items: Vec<(&String, Timestamp)>| -> HashMap<String, f64> {
        items.sort_by_key(|(name, at)| (*at, (*name).clone()));
        items
            .into_iter()
            .enumerate()
            .map(|(i, (name, _))| (name.clone(), i as f64))
            .collect()
    };
    let by_create = rank(created.iter().map(|(n, t)| (n, *t)).collect());
    let by_join = rank(joined.iter().map(|(n, t)| (n, *t)).collect());
    let n = by_join.len() as f64;
    if n < 2.0 {
        return 1.0;
    }
    // Ranks of the bots that joined, among themselves.
    let mut pairs: Vec<(f64, f64)> = by_join
        .iter()
        .filter_map(|(name, j)| Some((*by_create.get(name)?, *j)))
        .collect();
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let d2: f64 = pairs
        .iter()
        .enumerate()
        .map(|(i, (_, j))| (i as f64 - j).powi(2))
        .sum();
    1.0 - 6.0 * d2 / (n * (n * n - 1.0))
}
