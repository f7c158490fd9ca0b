//! The control API under `/_fake/`: what tests read and set. It needs no
//! API key, and no fault applies to it.

use crate::faults::Faults;
use crate::reply::detail;
use crate::state::{SessionStatus, Store};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub(crate) fn routes() -> Router<Arc<Store>> {
    Router::new()
        .route("/bots", show(Store::bots))
        .route("/joins", show(Store::joins))
        .route("/leaves", show(Store::leaves))
        .route("/peaks", show(Store::peaks))
        .route("/calls", show(Store::calls))
        .route("/requests", show(Store::requests))
        .route("/faults", show(Store::faults).post(set_faults))
        .route("/sessions/{session_id}", post(set_session_status))
        .route("/api-keys", post(set_api_keys))
        .route("/reset", post(reset))
}

/// `GET` of what `view` reads from the store, as JSON.
fn show<T: Serialize + Send + 'static>(view: fn(&Store) -> T) -> MethodRouter<Arc<Store>> {
    get(move |State(store): State<Arc<Store>>| async move { Json(view(&store)) })
}

/// Replaces the whole fault configuration.
async fn set_faults(State(store): State<Arc<Store>>, body: Bytes) -> Response {
    let faults: Faults = match serde_json::from_slice(&body) {
        Ok(faults) => faults,
        Err(error) => {
            return detail(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("invalid faults: {error}"),
            );
        }
    };
    if let Err(problems) = faults.validate() {
        return detail(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("invalid faults: {problems}"),
        );
    }
    tracing::info!(?faults, "faults set");
    store.set_faults(faults);
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct SessionStatusBody {
    session_status: SessionStatus,
}

async fn set_session_status(
    State(store): State<Arc<Store>>,
    Path(session_id): Path<String>,
    body: Bytes,
) -> Response {
    let status = match serde_json::from_slice::<SessionStatusBody>(&body) {
        Ok(body) => body.session_status,
        Err(error) => {
            return detail(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("invalid body: {error}"),
            );
        }
    };
    tracing::info!(session_id, %status, "session status set");
    store.set_session_status(&session_id, status);
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct ApiKeysBody {
    api_keys: Vec<String>,
}

/// Replaces the accepted keys. An empty list is allowed: every vendor call
/// is then refused, which is how tests revoke a key.
async fn set_api_keys(State(store): State<Arc<Store>>, body: Bytes) -> Response {
    match serde_json::from_slice::<ApiKeysBody>(&body) {
        Ok(ApiKeysBody { api_keys }) if api_keys.iter().all(|key| !key.is_empty()) => {
            tracing::info!(count = api_keys.len(), "API keys replaced");
            store.set_api_keys(api_keys);
            StatusCode::NO_CONTENT.into_response()
        }
        // A fixed message: serde's could quote a key.
        _ => detail(
            StatusCode::UNPROCESSABLE_ENTITY,
            r#"invalid body: expected {"api_keys": ["<non-empty key>", ...]}"#,
        ),
    }
}

async fn reset(State(store): State<Arc<Store>>) -> StatusCode {
    tracing::info!("reset");
    store.reset();
    StatusCode::NO_CONTENT
}
