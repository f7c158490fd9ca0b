//! The operator's memory of vendor calls, per MeetingBot: failures (how many in
//! a row, and when to try again) and when the session was last read. Kept in
//! memory only: a restart forgets it, which costs at most one early retry per object.

use crate::lemonslice::Failure;
use jiff::Timestamp;
use std::time::Duration;

/// First retry delay after a retryable failure; doubles each time.
const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// Longest delay between retries of a retryable failure.
const BACKOFF_CAP: Duration = Duration::from_secs(5 * 60);
/// After a refusal that only a change can cure, how long until one more try anyway.
const GAVE_UP_RETRY: Duration = Duration::from_secs(30 * 60);

/// Which vendor call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    Join,
    Leave,
    Session,
}

/// Failures of one call on one MeetingBot.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Memo {
    /// The spec generation the failures were met with: a new spec starts afresh.
    generation: Option<i64>,
    call: Option<Call>,
    pub consecutive_failures: u32,
    /// When the first of these consecutive failures happened.
    pub first_failed_at: Timestamp,
    pub failure: Option<Failure>,
    /// True when retrying as is cannot help.
    pub gave_up: bool,
    pub retry_at: Timestamp,
    /// When the session's status was last read.
    pub session_checked_at: Option<Timestamp>,
    /// The start of a join attempt whose in-flight record may have been
    /// written although its write failed: the join itself was never sent.
    pub unsent_join: Option<Timestamp>,
}

impl Memo {
    /// Forgets the failures (something changed that may cure them), not what
    /// is known of the session and of unsent joins.
    pub fn clear_failures(&mut self) {
        *self = Memo {
            session_checked_at: self.session_checked_at,
            unsent_join: self.unsent_join,
            ..Memo::default()
        };
    }

    /// The memo, if it is about `call` on this generation of the spec.
    pub fn current(&self, generation: Option<i64>, call: Call) -> Option<&Memo> {
        (self.failure.is_some() && self.generation == generation && self.call == Some(call))
            .then_some(self)
    }

    /// Records a failure and computes when to try again: exponential backoff
    /// with `jitter` (a factor in 0.8..1.2 chosen by the caller), never sooner
    /// than the vendor's Retry-After.
    pub fn record(
        &mut self,
        generation: Option<i64>,
        call: Call,
        failure: Failure,
        now: Timestamp,
        jitter: f64,
    ) {
        let same_run = self.current(generation, call).is_some();
        self.consecutive_failures = if same_run {
            self.consecutive_failures + 1
        } else {
            self.first_failed_at = now;
            1
        };
        self.generation = generation;
        self.call = Some(call);
        self.gave_up = !failure.kind.retryable();
        let delay = if self.gave_up {
            GAVE_UP_RETRY
        } else {
            let exponent = self.consecutive_failures.saturating_sub(1).min(16);
            let backoff = BACKOFF_BASE.saturating_mul(1 << exponent).min(BACKOFF_CAP);
            backoff
                .mul_f64(jitter)
                .max(failure.retry_after.unwrap_or_default())
        };
        self.retry_at = now.checked_add(delay).unwrap_or(Timestamp::MAX);
        self.failure = Some(failure);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lemonslice::FailureKind;

    fn failure(kind: FailureKind, retry_after: Option<u64>) -> Failure {
        Failure {
            kind,
            status: None,
            detail: String::new(),
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_honours_retry_after() {
        let now = Timestamp::now();
        let mut memo = Memo::default();
        let delays: Vec<i64> = (0..12)
            .map(|_| {
                memo.record(
                    Some(1),
                    Call::Join,
                    failure(FailureKind::Unavailable, None),
                    now,
                    1.0,
                );
                memo.retry_at.duration_since(now).as_secs()
            })
            .collect();
        assert_eq!(&delays[..5], &[1, 2, 4, 8, 16]);
        assert_eq!(delays[11], 300);
        memo.record(
            Some(2),
            Call::Join,
            failure(FailureKind::RateLimited, Some(7)),
            now,
            1.0,
        );
        assert_eq!(
            memo.consecutive_failures, 1,
            "a new generation starts afresh"
        );
        assert_eq!(memo.retry_at.duration_since(now).as_secs(), 7);
    }

    #[test]
    fn a_refusal_gives_up_until_something_changes() {
        let now = Timestamp::now();
        let mut memo = Memo::default();
        memo.record(
            Some(3),
            Call::Join,
            failure(FailureKind::Unauthorized, None),
            now,
            1.0,
        );
        assert!(memo.gave_up);
        assert!(memo.current(Some(3), Call::Join).is_some());
        assert!(memo.current(Some(4), Call::Join).is_none());
        assert!(memo.current(Some(3), Call::Leave).is_none());
    }
}
