//! The LemonSlice client: join, leave and session status, each call classified
//! into an outcome the controller must match on. Knows nothing of Kubernetes.
//! `client` sends the calls, `answer` reads and classifies what comes back,
//! `outcome` names the results.
//!
//! The client never retries: retry policy belongs to the controller, so that a
//! join whose outcome is unknown is never repeated by accident.

mod answer;
mod client;
mod outcome;
mod scrub;
mod secret;
mod throttle;

pub use client::{Client, ClientConfig, DEFAULT_BASE_URL, JoinRequest};
pub use outcome::{
    Answered, Failure, FailureKind, JoinOutcome, JoinedBot, LeaveOutcome, MAX_DETAIL_CHARS,
    SessionOutcome, SessionStatus,
};
pub use scrub::{REDACTED, Scrubber};
pub use secret::{SecretString, WebsocketUrl, redact_query, scrub};
pub use throttle::{Admission, DEFAULT_CALLS_PER_SECOND, Priority, Throttle};

/// Makes ring the process-wide TLS provider, as kube uses it too: with two
/// providers compiled in, rustls cannot choose one by itself.
pub fn install_crypto_provider() {
    // Fails only when a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
