//! The echoing vendor (`Faults::echo_rate`): a 422 that quotes back every
//! credential the request carried, as FastAPI's validation errors do.

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// A FastAPI-style 422 that echoes everything the request carried: each body
/// field as an `input` (and URL-encoded in its `msg`), the `X-API-Key` header,
/// the session id and the whole body.
pub(super) fn echo(session_id: &str, headers: &HeaderMap, body: &[u8]) -> Response {
    let encode = |value: &str| -> String {
        url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
    };
    let mut items = vec![json!({
        "type": "value_error",
        "loc": ["path", "session_id"],
        "msg": "Value error, rejected",
        "input": session_id,
    })];
    if let Some(key) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        items.push(json!({
            "type": "value_error",
            "loc": ["header", "x-api-key"],
            "msg": format!("Value error, key {} is not allowed here", encode(key)),
            "input": key,
        }));
    }
    let parsed: Option<Map<String, Value>> = serde_json::from_slice(body).ok();
    for (name, value) in parsed.iter().flatten() {
        let text = value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_owned);
        items.push(json!({
            "type": "value_error",
            "loc": ["body", name],
            "msg": format!("Value error, {name} {} rejected", encode(&text)),
            "input": value,
            "ctx": { "error": format!("{text} rejected") },
        }));
    }
    if let Some(fields) = parsed {
        items.push(json!({
            "type": "model_attributes_type",
            "loc": ["body"],
            "msg": "Input should be a valid dictionary or object to extract fields from",
            "input": Value::Object(fields),
        }));
    }
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({ "detail": items })),
    )
        .into_response()
}
