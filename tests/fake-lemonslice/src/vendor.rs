//! The LemonSlice endpoints, as `shared/lemonslice-api.md` describes them,
//! with the configured faults injected.

use crate::faults::{Endpoint, Fate};
use crate::model::{RequestRecord, now};
use crate::reply::{abort_connection, detail};
use crate::state::{JoinRefusal, JoinRequest, LeaveRefusal, Store, random_hex};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use url::Url;

pub(crate) fn routes() -> Router<Arc<Store>> {
    Router::new()
        .route("/liveai/sessions/{session_id}/join-meeting", post(join))
        .route("/liveai/sessions/{session_id}/leave-meeting", post(leave))
        .route("/liveai/sessions/{session_id}", get(session))
        .route("/liveai/sessions", get(list_sessions))
}

#[derive(serde::Deserialize)]
struct Page {
    page: Option<u32>,
    limit: Option<u32>,
}

/// `GET /liveai/sessions?page=&limit=`: the account's sessions, a page at a
/// time (`limit` at most 100). The operator uses it only to check its base
/// URL and key; it is not subject to faults.
async fn list_sessions(
    State(store): State<Arc<Store>>,
    Query(page): Query<Page>,
    headers: HeaderMap,
) -> Response {
    if let Err(refusal) = authenticate(&store, &headers) {
        return detail(StatusCode::UNAUTHORIZED, refusal);
    }
    let (page, limit) = (page.page.unwrap_or(1).max(1), page.limit.unwrap_or(20));
    if !(1..=100).contains(&limit) {
        return detail(
            StatusCode::UNPROCESSABLE_ENTITY,
            "limit must be between 1 and 100",
        );
    }
    let sessions = store.session_ids();
    let start = ((page - 1) * limit) as usize;
    let items: Vec<Value> = sessions
        .iter()
        .skip(start)
        .take(limit as usize)
        .map(|(id, status)| json!({ "session_id": id, "session_status": status }))
        .collect();
    Json(json!({ "sessions": items, "page": page, "limit": limit, "total": sessions.len() }))
        .into_response()
}

/// The answer to a call that was handled, and what to record of it.
struct Answer {
    response: Response,
    meeting_bot_id: Option<String>,
}

impl From<Response> for Answer {
    fn from(response: Response) -> Answer {
        Answer {
            response,
            meeting_bot_id: None,
        }
    }
}

async fn join(
    State(store): State<Arc<Store>>,
    Path(session_id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let host = request_host(&uri, &headers).unwrap_or(store.listen_host());
    let handle = |store: &Store, session_id: &str| join_meeting(store, session_id, host, &body);
    call(&store, Endpoint::Join, session_id, &headers, &body, handle).await
}

async fn leave(
    State(store): State<Arc<Store>>,
    Path(session_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let handle = |store: &Store, session_id: &str| leave_meeting(store, session_id, &body);
    call(&store, Endpoint::Leave, session_id, &headers, &body, handle).await
}

async fn session(
    State(store): State<Arc<Store>>,
    Path(session_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    call(
        &store,
        Endpoint::Session,
        session_id,
        &headers,
        &[],
        read_session,
    )
    .await
}

fn join_meeting(store: &Store, session_id: &str, host: &str, body: &[u8]) -> Answer {
    let request = match parse_join(body) {
        Ok(request) => request,
        Err(problem) => return detail(StatusCode::UNPROCESSABLE_ENTITY, problem).into(),
    };
    match store.join(session_id, request) {
        Ok(bot) => Answer {
            response: Json(json!({
                "meeting_bot_id": bot.meeting_bot_id,
                "websocket_url": websocket_url(host, store.listen_host(), session_id),
            }))
            .into_response(),
            meeting_bot_id: Some(bot.meeting_bot_id),
        },
        Err(JoinRefusal::SessionNotFound) => session_not_found().into(),
        Err(JoinRefusal::SessionNotActive(status)) => {
            let problem = format!("session {session_id} is {status}, not ACTIVE");
            detail(StatusCode::CONFLICT, problem).into()
        }
    }
}

fn leave_meeting(store: &Store, session_id: &str, body: &[u8]) -> Answer {
    let meeting_bot_id = match parse_leave(body) {
        Ok(meeting_bot_id) => meeting_bot_id,
        Err(problem) => return detail(StatusCode::UNPROCESSABLE_ENTITY, problem).into(),
    };
    let response = match store.leave(session_id, &meeting_bot_id) {
        Ok(()) => Json(json!({ "status": "left" })).into_response(),
        Err(LeaveRefusal::SessionNotFound) => session_not_found(),
        Err(LeaveRefusal::BotNotFound) => detail(StatusCode::NOT_FOUND, "meeting bot not found"),
    };
    Answer {
        response,
        meeting_bot_id: Some(meeting_bot_id),
    }
}

fn read_session(store: &Store, session_id: &str) -> Answer {
    match store.session_status(session_id) {
        Some(status) => Json(json!({ "session_status": status })).into_response(),
        None => session_not_found(),
    }
    .into()
}

/// Runs one vendor call through the faults: waits the injected latency,
/// then answers with an injected error, or checks the key and `handle`s the
/// call, and sends its answer unless the call is to drop or hang.
async fn call(
    store: &Store,
    endpoint: Endpoint,
    session_id: String,
    headers: &HeaderMap,
    body: &[u8],
    handle: impl FnOnce(&Store, &str) -> Answer,
) -> Response {
    let arrived = now();
    let faults = store.faults();
    let plan = faults.plan(endpoint, &session_id);
    if !plan.delay.is_zero() {
        tokio::time::sleep(plan.delay).await;
    }
    let answer = match plan.fate {
        Fate::Inject(status) => injected(status, faults.retry_after(status)).into(),
        Fate::Echo => echo(&session_id, headers, body).into(),
        Fate::Answer | Fate::Drop | Fate::Hang(_) => match authenticate(store, headers) {
            Ok(()) => handle(store, &session_id),
            Err(refusal) => detail(StatusCode::UNAUTHORIZED, refusal).into(),
        },
    };
    let status = match plan.fate {
        Fate::Drop => "dropped".to_owned(),
        Fate::Hang(_) => "hung".to_owned(),
        Fate::Answer | Fate::Inject(_) | Fate::Echo => answer.response.status().as_str().to_owned(),
    };
    tracing::info!(
        endpoint = endpoint.name(),
        session_id,
        status,
        "vendor call"
    );
    store.record(RequestRecord {
        endpoint: endpoint.name().to_owned(),
        session_id,
        status,
        at: arrived,
        meeting_bot_id: answer.meeting_bot_id,
    });
    match plan.fate {
        Fate::Answer | Fate::Inject(_) | Fate::Echo => answer.response,
        Fate::Drop => abort_connection(),
        Fate::Hang(hold) => {
            tokio::time::sleep(hold).await;
            abort_connection()
        }
    }
}

/// Checks `X-API-Key`; the refusal never says what key was sent.
fn authenticate(store: &Store, headers: &HeaderMap) -> Result<(), &'static str> {
    match headers.get("x-api-key").map(HeaderValue::to_str) {
        None => Err("missing X-API-Key header"),
        Some(Ok(key)) if store.accepts_key(key) => Ok(()),
        Some(_) => Err("invalid API key"),
    }
}

fn injected(status: StatusCode, retry_after: Option<u64>) -> Response {
    let mut response = detail(status, format!("injected {}", status.as_u16()));
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// A FastAPI-style 422 that echoes everything the request carried: each body
/// field as an `input` (and URL-encoded in its `msg`), the `X-API-Key` header,
/// the session id and the whole body.
fn echo(session_id: &str, headers: &HeaderMap, body: &[u8]) -> Response {
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

fn session_not_found() -> Response {
    detail(StatusCode::NOT_FOUND, "session not found")
}

/// The host the client called, from the URI (HTTP/2) or the `Host` header,
/// when it is a plain `host[:port]` that can go into a URL as it is.
fn request_host<'a>(uri: &'a Uri, headers: &'a HeaderMap) -> Option<&'a str> {
    let host = match uri.authority() {
        Some(authority) => authority.as_str(),
        None => headers.get(header::HOST)?.to_str().ok()?,
    };
    let plain = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '[' | ']'));
    plain.then_some(host)
}

/// `wss://HOST/agent-audio/SESSION?token=...`: where the vendor would stream
/// the meeting's audio. Nothing listens there; the token is fresh each time.
fn websocket_url(host: &str, listen_host: &str, session_id: &str) -> String {
    let mut url = Url::parse(&format!("wss://{host}/"))
        .or_else(|_| Url::parse(&format!("wss://{listen_host}/")))
        .expect("the address the fake listens on makes a URL");
    url.path_segments_mut()
        .expect("a wss URL has a path")
        .pop_if_empty()
        .extend(["agent-audio", session_id]);
    url.query_pairs_mut()
        .append_pair("token", &random_hex::<16>());
    url.into()
}

/// The join body, or what is wrong with it, naming every faulty field and
/// never quoting a value (the broadcast token is a credential).
fn parse_join(body: &[u8]) -> Result<JoinRequest, String> {
    let fields = parse_object(body)?;
    let mut problems = Vec::new();
    let meeting_url = required_url(&fields, "meeting_url", "https", &mut problems);
    let livekit_url = required_url(&fields, "livekit_url", "wss", &mut problems);
    let broadcast_token = required_string(&fields, "broadcast_token", &mut problems);
    let bot_name = optional_string(&fields, "bot_name", &mut problems);
    match (meeting_url, livekit_url, broadcast_token) {
        (Some(meeting_url), Some(_), Some(_)) if problems.is_empty() => Ok(JoinRequest {
            meeting_url,
            bot_name,
        }),
        _ => Err(invalid_body(&problems)),
    }
}

/// The `meeting_bot_id` of a leave body, or what is wrong with it.
fn parse_leave(body: &[u8]) -> Result<String, String> {
    let fields = parse_object(body)?;
    let mut problems = Vec::new();
    required_string(&fields, "meeting_bot_id", &mut problems).ok_or_else(|| invalid_body(&problems))
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(fields)) => Ok(fields),
        Ok(_) => Err("invalid body: not a JSON object".to_owned()),
        // serde_json's message says where parsing failed, not what it read.
        Err(error) => Err(format!("invalid body: not JSON ({error})")),
    }
}

fn invalid_body(problems: &[String]) -> String {
    format!("invalid body: {}", problems.join("; "))
}

fn required_string(
    fields: &Map<String, Value>,
    name: &str,
    problems: &mut Vec<String>,
) -> Option<String> {
    match fields.get(name) {
        None | Some(Value::Null) => problems.push(format!("{name}: field required")),
        Some(Value::String(value)) if value.is_empty() => {
            problems.push(format!("{name}: must not be empty"))
        }
        Some(Value::String(value)) => return Some(value.clone()),
        Some(_) => problems.push(format!("{name}: must be a string")),
    }
    None
}

fn optional_string(
    fields: &Map<String, Value>,
    name: &str,
    problems: &mut Vec<String>,
) -> Option<String> {
    match fields.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(value)) => Some(value.clone()),
        Some(_) => {
            problems.push(format!("{name}: must be a string"));
            None
        }
    }
}

fn required_url(
    fields: &Map<String, Value>,
    name: &str,
    scheme: &str,
    problems: &mut Vec<String>,
) -> Option<String> {
    let value = required_string(fields, name, problems)?;
    let url = Url::parse(&value).ok();
    if url.is_some_and(|url| {
        url.scheme() == scheme && url.host_str().is_some_and(|host| !host.is_empty())
    }) {
        Some(value)
    } else {
        problems.push(format!("{name}: must be a URL starting with {scheme}://"));
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_join_body_keeps_the_meeting_and_name() {
        let request = parse_join(
            br#"{"meeting_url": "https://meet.google.com/abc-defg-hij", "livekit_url": "wss://x.livekit.cloud",
                 "broadcast_token": "t", "bot_name": "Avatar"}"#,
        )
        .unwrap();
        assert_eq!(request.meeting_url, "https://meet.google.com/abc-defg-hij");
        assert_eq!(request.bot_name.as_deref(), Some("Avatar"));
    }

    #[test]
    fn every_faulty_join_field_is_named_and_no_value_quoted() {
        let problem = parse_join(
            br#"{"meeting_url": "http://meet.example", "livekit_url": "not a url",
                 "broadcast_token": 7, "bot_name": ["secret-name"]}"#,
        )
        .err()
        .unwrap();
        for name in ["meeting_url", "livekit_url", "broadcast_token", "bot_name"] {
            assert!(problem.contains(name), "{problem}");
        }
        assert!(
            !problem.contains("meet.example") && !problem.contains("secret-name"),
            "{problem}"
        );
    }

    #[test]
    fn a_body_that_is_not_a_json_object_says_so() {
        assert!(
            parse_join(b"meeting_url=x")
                .err()
                .unwrap()
                .contains("not JSON")
        );
        assert!(
            parse_leave(b"[]")
                .err()
                .unwrap()
                .contains("not a JSON object")
        );
        assert!(
            parse_leave(b"{}")
                .err()
                .unwrap()
                .contains("meeting_bot_id: field required")
        );
    }

    #[test]
    fn the_websocket_url_names_the_host_and_session() {
        let url = websocket_url("fake.test:8080", "127.0.0.1:1", "session a");
        let (base, token) = url.split_once("?token=").unwrap();
        assert_eq!(base, "wss://fake.test:8080/agent-audio/session%20a");
        assert!(
            token.len() == 32 && token.chars().all(|c| c.is_ascii_hexdigit()),
            "{token}"
        );
    }

    #[test]
    fn only_a_plain_host_is_taken_from_the_request() {
        let uri = Uri::from_static("/liveai/sessions/s/join-meeting");
        let mut headers = HeaderMap::new();
        assert_eq!(request_host(&uri, &headers), None);
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:9"));
        assert_eq!(request_host(&uri, &headers), Some("127.0.0.1:9"));
        headers.insert(header::HOST, HeaderValue::from_static("evil/path?x"));
        assert_eq!(request_host(&uri, &headers), None);
    }
}
