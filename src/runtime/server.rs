//! The metrics and health server: `/metrics`, `/healthz`, `/readyz`.

use crate::reconcile::Context;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
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

async fn metrics(State(state): State<Arc<ServerState>>) -> impl IntoResponse {
    state.controller.count_phases();
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, &state.registry) {
        Ok(()) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn readyz(State(state): State<Arc<ServerState>>) -> impl IntoResponse {
    match state.readiness.ready() {
        Ok(()) => (StatusCode::OK, "ok"),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why),
    }
}
