//! The standard `process_*` metrics (as Prometheus' client libraries name
//! them), read from `/proc/self` at each scrape, and the operator's build info.
//! Off Linux, where there is no `/proc`, the process metrics are left out.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;

/// The kernel's USER_HZ: the unit of the CPU times in `/proc/<pid>/stat`,
/// 100 on every architecture Linux supports (as Prometheus' procfs assumes).
const USER_HZ: f64 = 100.0;

/// The operator's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git commit it was built from: `MEETINGBOT_GIT_SHA` at build time (the
/// image build passes it; cargo rebuilds when it changes), else "unknown".
/// Not read from the checkout, so that a commit does not rebuild the crate.
pub const GIT_SHA: &str = match option_env!("MEETINGBOT_GIT_SHA") {
    Some(sha) if !sha.is_empty() => sha,
    _ => "unknown",
};

/// Registers `build_info{version,git_sha} 1` under the registry's prefix.
pub fn register_build_info(registry: &mut Registry) {
    let info: Family<Vec<(&'static str, &'static str)>, Gauge> = Family::default();
    info.get_or_create(&vec![("version", VERSION), ("git_sha", GIT_SHA)])
        .set(1);
    registry.register(
        "build_info",
        "The operator's version and the git commit it was built from; always 1",
        info,
    );
}

/// What `/proc/self` says of this process.
#[derive(Debug, Default, PartialEq)]
pub struct Sample {
    pub cpu_seconds: f64,
    pub resident_memory_bytes: u64,
    pub virtual_memory_bytes: u64,
    pub start_time_seconds: f64,
    pub open_fds: u64,
    pub max_fds: Option<u64>,
    pub threads: u64,
}

impl Sample {
    /// Reads `/proc`; `None` where it cannot (not Linux, or a field missing).
    pub fn read() -> Option<Sample> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let boot_time = boot_time(&std::fs::read_to_string("/proc/stat").ok()?)?;
        let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let mut sample = from_stat(&stat, boot_time)?;
        sample.resident_memory_bytes = resident_bytes(&status)?;
        sample.open_fds = open_fds;
        sample.max_fds = max_open_files(&limits);
        Some(sample)
    }
}

/// The fields of `/proc/self/stat` the metrics need; `boot_time` is the
/// `btime` of `/proc/stat`, in seconds since the epoch.
fn from_stat(stat: &str, boot_time: u64) -> Option<Sample> {
    // The command name, in parentheses, may hold spaces: count from after it.
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split(' ').collect();
    // Field n of proc(5) is fields[n - 3].
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(Sample {
        cpu_seconds: (field(14)? + field(15)?) as f64 / USER_HZ,
        threads: field(20)?,
        start_time_seconds: boot_time as f64 + field(22)? as f64 / USER_HZ,
        virtual_memory_bytes: field(23)?,
        // In pages of a size that varies by machine: `/proc/self/status` says it in kB.
        resident_memory_bytes: 0,
        open_fds: 0,
        max_fds: None,
    })
}

/// `VmRSS` of `/proc/self/status`, in bytes.
fn resident_bytes(status: &str) -> Option<u64> {
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .trim()
        .strip_suffix("kB")?
        .trim();
    Some(kib.parse::<u64>().ok()? * 1024)
}

fn boot_time(proc_stat: &str) -> Option<u64> {
    proc_stat
        .lines()
        .find_map(|line| line.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

fn max_open_files(limits: &str) -> Option<u64> {
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Collects the `process_*` metrics at each scrape.
#[derive(Debug)]
pub struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(sample) = Sample::read() else {
            return Ok(());
        };
        let cpu = ConstCounter::new(sample.cpu_seconds);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            None,
            cpu.metric_type(),
        )?)?;
        let gauges = [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                sample.resident_memory_bytes as f64,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                sample.virtual_memory_bytes as f64,
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since the Unix epoch in seconds",
                sample.start_time_seconds,
            ),
            (
                "process_open_fds",
                "Number of open file descriptors",
                sample.open_fds as f64,
            ),
            (
                "process_threads",
                "Number of OS threads in the process",
                sample.threads as f64,
            ),
        ];
        let max_fds = sample.max_fds.map(|max| {
            (
                "process_max_fds",
                "Maximum number of open file descriptors",
                max as f64,
            )
        });
        for (name, help, value) in gauges.into_iter().chain(max_fds) {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_fields_of_proc_stat() {
        // proc(5)'s layout, with a command name that holds a space and a parenthesis.
        let stat = "4242 (meetingbot (op) S 1 4242 4242 0 -1 4194560 1000 0 0 0 \
                    250 150 0 0 20 0 7 0 123400 104857600 2560 18446744073709551615 \
                    1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        let sample = from_stat(stat, 1_700_000_000).unwrap();
        assert_eq!(
            sample,
            Sample {
                cpu_seconds: 4.0,
                resident_memory_bytes: 0,
                virtual_memory_bytes: 104_857_600,
                start_time_seconds: 1_700_000_000.0 + 1234.0,
                open_fds: 0,
                max_fds: None,
                threads: 7,
            }
        );
        assert_eq!(
            resident_bytes("Name:\tmeetingbot\nVmRSS:\t   10240 kB\nThreads:\t7\n"),
            Some(10240 * 1024)
        );
        assert_eq!(
            boot_time("cpu  1 2 3\nbtime 1700000000\nprocesses 9\n"),
            Some(1_700_000_000)
        );
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(max_open_files(limits), Some(1024));
    }

    #[test]
    fn this_process_has_memory_and_open_files() {
        let sample = Sample::read().expect("/proc is there on Linux");
        assert!(sample.resident_memory_bytes > 1 << 20, "{sample:?}");
        assert!(sample.open_fds >= 3, "{sample:?}");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(
            sample.start_time_seconds <= now + 1.0 && sample.start_time_seconds > now - 86_400.0,
            "{sample:?}"
        );
    }
}
