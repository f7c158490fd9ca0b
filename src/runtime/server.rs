//! The metrics and health server: `/metrics`, `/healthz`, `/readyz`.

use crate::reconcile::Context;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// What `/readyz` reports.
#[derive(Debug, Default)]
pub struct Readiness {
    /// This replica waits for the Lease; it has nothing to sync.
    pub standby: AtomicBool,
    /// Every watch of the running controller has listed.
    pub synced: AtomicBool,
    /// LemonSlice answered with the configured base URL and key.
    pub vendor_checked: AtomicBool,
}

impl Readiness {
    fn ready(&self) -> Result<(), &'static str> {
        if !self.vendor_checked.load(Ordering::Acquire) {
            return Err("LemonSlice not reachable with the configured base URL and API key");
        }
        if self.standby.load(Ordering::Acquire) || self.synced.load(Ordering::Acquire) {
            Ok(())
        } else {
            Err("watches not synced yet")
        }
    }
}

struct ServerState {
    registry: Registry,
    readiness: Arc<Readiness>,
    controller: Arc<Context>,
}

pub fn router(registry: Registry, readiness: Arc<Readiness>, controller: Arc<Context>) -> Router {
    let state = Arc::new(ServerState {
        registry,
        readiness,
        controller,
    });
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(state)
}

/// The exposition in OpenMetrics (what Prometheus asks for first), or in the
/// classic text format 0.0.4 for a scraper whose `Accept` names only that
/// (`promtool check metrics`, older agents).
async fn metrics(State(state): State<Arc<ServerState>>, headers: HeaderMap) -> impl IntoResponse {
    state.controller.count_phases();
    let mut body = String::new();
    if prometheus_client::encoding::text::encode(&mut body, &state.registry).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let (content_type, body) =
        if accept.contains("text/plain") && !accept.contains("application/openmetrics-text") {
            (
                "text/plain; version=0.0.4; charset=utf-8",
                classic_text(&body),
            )
        } else {
            (
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                body,
            )
        };
    (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// The classic Prometheus text format of an OpenMetrics exposition: a
/// counter family is named with its `_total`, an info family with its
/// `_info` (as a gauge), `unknown` is `untyped`; no `# UNIT`, no `# EOF`,
/// no exemplars.
pub fn classic_text(openmetrics: &str) -> String {
    let mut kinds = std::collections::HashMap::new();
    for line in openmetrics.lines() {
        if let Some((name, kind)) = line
            .strip_prefix("# TYPE ")
            .and_then(|rest| rest.split_once(' '))
        {
            kinds.insert(name, kind);
        }
    }
    let family = |name: &str| match kinds.get(name).copied() {
        Some("counter") => format!("{name}_total"),
        Some("info") => format!("{name}_info"),
        _ => name.to_owned(),
    };
    let mut text = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some((name, help)) = line
            .strip_prefix("# HELP ")
            .map(|rest| rest.split_once(' ').unwrap_or((rest, "")))
        {
            // The classic format escapes only backslashes and newlines in help.
            let help = help.replace("\\\"", "\"");
            text.push_str(&format!("# HELP {} {help}\n", family(name)));
        } else if let Some((name, kind)) = line
            .strip_prefix("# TYPE ")
            .and_then(|rest| rest.split_once(' '))
        {
            let kind = match kind {
                "info" | "stateset" => "gauge",
                "unknown" => "untyped",
                kind => kind,
            };
            text.push_str(&format!("# TYPE {} {kind}\n", family(name)));
        } else {
            // A sample, without its exemplar.
            text.push_str(line.split(" # {").next().unwrap_or(line));
            text.push('\n');
        }
    }
    text
}

async fn readyz(State(state): State<Arc<ServerState>>) -> impl IntoResponse {
    match state.readiness.ready() {
        Ok(()) => (StatusCode::OK, "ok"),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why),
    }
}

#[cfg(test)]
mod tests {
    use super::classic_text;

    #[test]
    fn the_classic_text_names_counters_with_their_total() {
        let openmetrics = "# HELP app_calls Calls by \\\"kind\\\".\n\
                           # TYPE app_calls counter\n\
                           app_calls_total{kind=\"a\"} 3 # {trace=\"1\"} 1.0\n\
                           # HELP app_build Build.\n\
                           # TYPE app_build info\n\
                           app_build_info{version=\"1\"} 1\n\
                           # HELP app_latency_seconds Latency.\n\
                           # TYPE app_latency_seconds histogram\n\
                           # UNIT app_latency_seconds seconds\n\
                           app_latency_seconds_sum 0.5\n\
                           app_latency_seconds_count 1\n\
                           app_latency_seconds_bucket{le=\"+Inf\"} 1\n\
                           # EOF\n";
        assert_eq!(
            classic_text(openmetrics),
            "# HELP app_calls_total Calls by \"kind\".\n\
             # TYPE app_calls_total counter\n\
             app_calls_total{kind=\"a\"} 3\n\
             # HELP app_build_info Build.\n\
             # TYPE app_build_info gauge\n\
             app_build_info{version=\"1\"} 1\n\
             # HELP app_latency_seconds Latency.\n\
             # TYPE app_latency_seconds histogram\n\
             app_latency_seconds_sum 0.5\n\
             app_latency_seconds_count 1\n\
             app_latency_seconds_bucket{le=\"+Inf\"} 1\n"
        );
    }
}
