//! What a vendor call ended in. The first question for every join is whether a
//! bot may now exist: the types make the caller answer it.

use super::secret::WebsocketUrl;
use std::time::Duration;

/// The result of a join call.
#[derive(Clone, Debug, PartialEq)]
pub enum JoinOutcome {
    /// The avatar is joining; leave needs `meeting_bot_id`.
    Joined(JoinedBot),
    /// The answer proves that no bot was created.
    NotJoined(Failure),
    /// A bot may exist, but its id was not learned: joining again could put a
    /// second avatar in the meeting.
    Unknown(Failure),
}

/// What a successful join returned.
#[derive(Clone, Debug, PartialEq)]
pub struct JoinedBot {
    pub meeting_bot_id: String,
    /// `None` when the answer carried none (null, empty or absent): the bot
    /// is in the meeting all the same, and must be recorded.
    pub websocket_url: Option<WebsocketUrl>,
}

/// The result of a leave call.
#[derive(Clone, Debug, PartialEq)]
pub enum LeaveOutcome {
    /// The bot left now.
    Left,
    /// The vendor answered 404: the bot is gone, if this base URL and key
    /// reach the account that made it (which the caller checks before
    /// believing it: a wrong base URL answers 404 to everything).
    NotFound(Failure),
    /// The call may succeed later (connection failure, timeout, 429, 5xx).
    Retryable(Failure),
    /// The vendor refused the call; retrying as is will not help.
    Refused(Failure),
}

/// The result of a session status read.
#[derive(Clone, Debug, PartialEq)]
pub enum SessionOutcome {
    Status(SessionStatus),
    Failed(Failure),
}

/// The state of a LemonSlice session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SessionStatus {
    Queued,
    Active,
    Completed,
    TimedOut,
    Failed,
}

/// Why a call did not succeed, cleaned of secrets and bounded in size.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    pub kind: FailureKind,
    /// The HTTP status, when an answer arrived.
    pub status: Option<u16>,
    /// The vendor's detail (or the transport error), at most [`MAX_DETAIL_CHARS`] characters.
    pub detail: String,
    /// How long the vendor asked us to wait (429 and 503 with `Retry-After`).
    pub retry_after: Option<Duration>,
    /// A bot id seen in a join's answer that could not be used whole (over
    /// the read limit, or not the answer's shape): the bot it names may be in
    /// the meeting. Ids are not secrets; this one is logged and shown.
    pub meeting_bot_id: Option<String>,
}

/// Longest vendor detail kept.
pub const MAX_DETAIL_CHARS: usize = 256;

/// Classes of failure; the reconciler names each with a condition reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// The connection failed before the request was sent.
    ConnectFailed,
    /// 400 or 422: the request was malformed.
    InvalidRequest,
    /// 401 or 403: the API key was refused.
    Unauthorized,
    /// 404: the session (or bot) is unknown.
    NotFound,
    /// 409: the session is not in a state that allows the call.
    Conflict,
    /// 429: too many requests.
    RateLimited,
    /// 503: the vendor is unavailable.
    Unavailable,
    /// 5xx other than 503, or any other unexpected status.
    ServerError,
    /// 3xx: the call was redirected elsewhere, which the client does not
    /// follow (the key and the body would go with it).
    Redirected,
    /// The request was sent but no usable answer came back (timeout, broken
    /// connection, a success without the required fields, a 404 that is not
    /// in LemonSlice's error shape).
    NoAnswer,
}

impl FailureKind {
    /// Whether the same call may succeed later without anything changing.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            FailureKind::ConnectFailed
                | FailureKind::RateLimited
                | FailureKind::Unavailable
                | FailureKind::ServerError
                | FailureKind::NoAnswer
        )
    }

    /// Classifies an HTTP error status.
    pub fn from_status(status: u16) -> FailureKind {
        match status {
            400 | 422 => FailureKind::InvalidRequest,
            401 | 403 => FailureKind::Unauthorized,
            404 => FailureKind::NotFound,
            300..=399 => FailureKind::Redirected,
            409 => FailureKind::Conflict,
            429 => FailureKind::RateLimited,
            503 => FailureKind::Unavailable,
            _ => FailureKind::ServerError,
        }
    }
}

impl Failure {
    /// A one-line description for conditions, Events and logs (never holds a secret).
    pub fn describe(&self) -> String {
        match self.status {
            Some(status) if self.detail.is_empty() => format!("HTTP {status}"),
            Some(status) => format!("HTTP {status}: {}", self.detail),
            None => self.detail.clone(),
        }
    }
}

impl JoinOutcome {
    /// Classifies LemonSlice's own error answer (its `{"detail": ...}`
    /// shape) to a join; any other error answer is Unknown already.
    pub(super) fn from_error_status(failure: Failure) -> JoinOutcome {
        // Only refusals that prove that nothing was created are NotJoined;
        // 500, 502, 504 and anything unexpected may come after the bot was
        // made, even in the vendor's words.
        match failure.status {
            Some(400 | 401 | 403 | 404 | 409 | 422 | 429 | 503) => JoinOutcome::NotJoined(failure),
            _ => JoinOutcome::Unknown(failure),
        }
    }
}

impl LeaveOutcome {
    /// Classifies an HTTP answer to a leave. Only LemonSlice's own 404 (kind
    /// NotFound: see `answer::http_failure`) says the bot is gone; a proxy's
    /// 404 page or 503 says nothing of the bot, and is tried again.
    pub(super) fn from_status(failure: Failure) -> LeaveOutcome {
        match failure.status {
            Some(404) if failure.kind == FailureKind::NotFound => LeaveOutcome::NotFound(failure),
            _ if failure.kind.retryable() => LeaveOutcome::Retryable(failure),
            _ => LeaveOutcome::Refused(failure),
        }
    }
}

/// The HTTP status code that an outcome came with, for counting calls: 200
/// for a success, `None` when no answer arrived.
pub trait Answered {
    fn http_code(&self) -> Option<u16>;
}

impl Answered for JoinOutcome {
    fn http_code(&self) -> Option<u16> {
        match self {
            JoinOutcome::Joined(_) => Some(200),
            JoinOutcome::NotJoined(failure) | JoinOutcome::Unknown(failure) => failure.status,
        }
    }
}

impl Answered for LeaveOutcome {
    fn http_code(&self) -> Option<u16> {
        match self {
            LeaveOutcome::Left => Some(200),
            LeaveOutcome::NotFound(failure)
            | LeaveOutcome::Retryable(failure)
            | LeaveOutcome::Refused(failure) => failure.status,
        }
    }
}

impl Answered for SessionOutcome {
    fn http_code(&self) -> Option<u16> {
        match self {
            SessionOutcome::Status(_) => Some(200),
            SessionOutcome::Failed(failure) => failure.status,
        }
    }
}
