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
    pub websocket_url: WebsocketUrl,
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
    /// The request was sent but no usable answer came back (timeout, broken
    /// connection, a success without the required fields).
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
    /// Classifies an HTTP answer to a join whose body did not give a bot.
    pub(super) fn from_error_status(failure: Failure) -> JoinOutcome {
        // Only answers that prove that nothing was created are NotJoined; 500,
        // 502, 504 and anything unexpected may come after the bot was made.
        match failure.status {
            Some(400 | 401 | 403 | 404 | 409 | 422 | 429 | 503) => JoinOutcome::NotJoined(failure),
            _ => JoinOutcome::Unknown(failure),
        }
    }
}

impl LeaveOutcome {
    /// Classifies an HTTP answer to a leave.
    pub(super) fn from_status(failure: Failure) -> LeaveOutcome {
        match failure.status {
            Some(404) => LeaveOutcome::NotFound(failure),
            Some(429) | Some(500..) | None => LeaveOutcome::Retryable(failure),
            Some(_) => LeaveOutcome::Refused(failure),
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
