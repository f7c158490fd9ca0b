//! Logs: JSON (for clusters) or text, filtered by level. Secrets never reach a
//! log line because the types that hold them print `[redacted]`.

use super::config::LogFormat;
use tracing_subscriber::EnvFilter;

/// kube's controller opens an info span per reconcile, also while the
/// reconcile waits for its turn: under a burst, thousands of spans held in
/// memory (about 0.9 MiB per 1000 MeetingBots) and entered on every poll. The
/// operator's own `reconcile` span names the object, so kube's is off unless
/// `--log-level` asks for `kube_runtime` itself.
const QUIET_KUBE_SPANS: &str = "kube_runtime::controller=warn";

pub fn init(format: LogFormat, level: &str) -> Result<(), String> {
    let mut filter =
        EnvFilter::try_new(level).map_err(|error| format!("--log-level {level:?}: {error}"))?;
    if !level.contains("kube_runtime") {
        filter = filter.add_directive(QUIET_KUBE_SPANS.parse().expect("a valid directive"));
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
    result.map_err(|error| error.to_string())
}
