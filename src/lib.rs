//! The MeetingBot operator: makes LemonSlice avatars join and leave meetings
//! declared as `MeetingBot` resources.
//!
//! Imports flow one way: `reconcile` uses `api` and `lemonslice`; `runtime`
//! uses `reconcile`; the binary uses `runtime`. `api` knows nothing of HTTP,
//! `lemonslice` nothing of Kubernetes.

pub mod api;
pub mod lemonslice;
pub(crate) mod reconcile;
pub mod runtime;

use api::reason;

/// Errors that end a reconcile or the process. Messages never carry a secret.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),

    #[error("MeetingBot has no namespace")]
    MissingNamespace,

    #[error("configuration: {0}")]
    Config(String),

    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),

    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// The category users see as the Event reason and the Ready condition's
    /// reason when a reconcile ends with this error.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Kube(kube::Error::Api(status)) => match status.code {
                401 | 403 => reason::KUBERNETES_FORBIDDEN,
                400 | 422 => reason::KUBERNETES_WRITE_REFUSED,
                404 => reason::KUBERNETES_NOT_FOUND,
                _ => reason::KUBERNETES_ERROR,
            },
            Error::Kube(_) => reason::KUBERNETES_ERROR,
            Error::MissingNamespace => reason::INVALID_OBJECT,
            Error::Config(_) | Error::Io(_) => reason::OPERATOR_CONFIG_ERROR,
            Error::Http(_) => reason::HTTP_CLIENT_ERROR,
        }
    }
}

/// Whether a Kubernetes error is a refused precondition (the object changed).
pub(crate) fn is_conflict(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 409)
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
