//! Answers shared by the vendor and control routes.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error in the vendor's shape: `{"detail": "..."}`.
pub(crate) fn detail(status: StatusCode, detail: impl Into<String>) -> Response {
    (status, Json(json!({ "detail": detail.into() }))).into_response()
}

/// Marks a response that must never be sent: the server closes the
/// connection instead, so that the client sees a broken call, not an answer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AbortConnection;

pub(crate) fn abort_connection() -> Response {
    let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
    response.extensions_mut().insert(AbortConnection);
    response
}
