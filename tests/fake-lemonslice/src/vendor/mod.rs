//! The LemonSlice endpoints, as `shared/lemonslice-api.md` describes them,
//! with the configured faults injected: the routes and the path every call
//! takes through the faults here; the bodies checked in `body`, the join's
//! addresses in `address`, the echoing vendor in `echo`.

mod address;
mod body;
mod echo;

use crate::faults::{Endpoint, Fate, PROXY_RESET_BODY};
use crate::model::{RequestRecord, now};
use crate::reply::{abort_connection, detail};
use crate::state::{JoinRefusal, LeaveRefusal, Store};
use address::{request_host, websocket_url};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use body::{parse_join, parse_leave};
use echo::echo;
use serde_json::{Value, json};
use std::sync::Arc;

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
    let handle = |store: &Store, session_id: &str, account: &str| {
        join_meeting(store, session_id, account, host, &body)
    };
    call(&store, Endpoint::Join, session_id, &headers, &body, handle).await
}

async fn leave(
    State(store): State<Arc<Store>>,
    Path(session_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let handle = |store: &Store, session_id: &str, account: &str| {
        leave_meeting(store, session_id, account, &body)
    };
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
        |store, session_id, _| read_session(store, session_id),
    )
    .await
}

fn join_meeting(store: &Store, session_id: &str, account: &str, host: &str, body: &[u8]) -> Answer {
    let request = match parse_join(body) {
        Ok(request) => request,
        Err(problem) => return detail(StatusCode::UNPROCESSABLE_ENTITY, problem).into(),
    };
    match store.join(session_id, account, request) {
        Ok(bot) => Answer {
            response: (
                [(header::CONTENT_TYPE, "application/json")],
                store.faults().join_answer(
                    &bot.meeting_bot_id,
                    &websocket_url(host, store.listen_host(), session_id),
                ),
            )
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

fn leave_meeting(store: &Store, session_id: &str, account: &str, body: &[u8]) -> Answer {
    let meeting_bot_id = match parse_leave(body) {
        Ok(meeting_bot_id) => meeting_bot_id,
        Err(problem) => return detail(StatusCode::UNPROCESSABLE_ENTITY, problem).into(),
    };
    let response = match store.leave(session_id, account, &meeting_bot_id) {
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
/// call (with the key, which names the account), and sends its answer
/// unless the call is to drop or hang.
async fn call(
    store: &Store,
    endpoint: Endpoint,
    session_id: String,
    headers: &HeaderMap,
    body: &[u8],
    handle: impl FnOnce(&Store, &str, &str) -> Answer,
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
        Fate::Redirect => redirect(faults.redirect_to.as_deref().unwrap_or_default()).into(),
        Fate::ProxyPage => proxy_page().into(),
        Fate::Answer | Fate::ProxyReset(_) | Fate::Drop | Fate::Hang(_) => {
            match authenticate(store, headers) {
                Ok(account) => handle(store, &session_id, account),
                Err(refusal) => detail(StatusCode::UNAUTHORIZED, refusal).into(),
            }
        }
    };
    let status = match plan.fate {
        Fate::Drop => "dropped".to_owned(),
        Fate::Hang(_) => "hung".to_owned(),
        Fate::ProxyReset(status) => status.as_str().to_owned(),
        Fate::Answer | Fate::Inject(_) | Fate::Echo | Fate::Redirect | Fate::ProxyPage => {
            answer.response.status().as_str().to_owned()
        }
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
        key_hint: key_hint(headers),
    });
    match plan.fate {
        Fate::Answer | Fate::Inject(_) | Fate::Echo | Fate::Redirect | Fate::ProxyPage => {
            answer.response
        }
        Fate::ProxyReset(status) => (
            status,
            [(header::CONTENT_TYPE, "text/plain")],
            PROXY_RESET_BODY,
        )
            .into_response(),
        Fate::Drop => abort_connection(),
        Fate::Hang(hold) => {
            tokio::time::sleep(hold).await;
            abort_connection()
        }
    }
}

/// Checks `X-API-Key`, and returns it; the refusal never says what key was sent.
/// The last four characters of the call's API key, if it came with one.
fn key_hint(headers: &HeaderMap) -> Option<String> {
    let key = headers.get("x-api-key")?.to_str().ok()?;
    let start = key.char_indices().rev().nth(3).map_or(0, |(at, _)| at);
    Some(key[start..].to_owned())
}

fn authenticate<'h>(store: &Store, headers: &'h HeaderMap) -> Result<&'h str, &'static str> {
    match headers.get("x-api-key").map(HeaderValue::to_str) {
        None => Err("missing X-API-Key header"),
        Some(Ok(key)) if store.accepts_key(key) => Ok(key),
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
/// `307 Temporary Redirect` to `location`, as a moved API or a proxy in
/// front of it may answer; the body is not the vendor's error shape.
fn redirect(location: &str) -> Response {
    let mut response = (StatusCode::TEMPORARY_REDIRECT, "moved").into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// `200 OK` with a front proxy's own page (a maintenance or sign-in page
/// served for every path): a success that is not the vendor's.
fn proxy_page() -> Response {
    axum::response::Html("<html><body><h1>Scheduled maintenance</h1></body></html>").into_response()
}

fn session_not_found() -> Response {
    detail(StatusCode::NOT_FOUND, "session not found")
}
