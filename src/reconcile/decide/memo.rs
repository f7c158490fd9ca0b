//! The operator's memory of vendor calls, per MeetingBot: failures of each
//! kind of call (how many in a row, and when to try again) and when the
//! session was last read. Kept in memory only: a restart forgets it, which
//! costs at most one early retry per object.
//!
//! Failures are kept per call kind, so that a failed session read does not
//! reset the backoff of a failing join or leave. They are forgotten after a
//! success, a new spec generation, or a change of a referenced Secret's data
//! (see `secret_digests`): never because a Secret was merely touched or relisted.

use crate::lemonslice::{Failure, FailureKind};
use jiff::Timestamp;
use prometheus_client::encoding::EncodeLabelValue;
use std::time::Duration;

/// First retry delay after a retryable failure; doubles each time.
pub const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// Longest delay between retries of a retryable failure.
pub const BACKOFF_CAP: Duration = Duration::from_secs(5 * 60);
/// Longest `Retry-After` honoured: a vendor (or a proxy) asking for more is
/// retried after this anyway.
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(10 * 60);
/// After a refusal that only a change can cure, how long until one more try anyway.
const GAVE_UP_RETRY: Duration = Duration::from_secs(30 * 60);
/// How many 404s in a row, over at least `NOT_FOUND_PROOF_AGE`, prove
/// something gone (a joined bot's session, a bot that leave no longer
/// finds): a 404 alone may be a vendor's hiccup.
const NOT_FOUND_PROOF_ANSWERS: u32 = 3;
const NOT_FOUND_PROOF_AGE: Duration = Duration::from_secs(60);

/// A kind of vendor call: what the memo keeps failures of, and the
/// `endpoint` label of the call metrics.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum Call {
    Join,
    Leave,
    Session,
}

impl Call {
    const ALL: [Call; 3] = [Call::Join, Call::Leave, Call::Session];

    fn index(self) -> usize {
        match self {
            Call::Join => 0,
            Call::Leave => 1,
            Call::Session => 2,
        }
    }
}

/// Failures of one kind of call on one MeetingBot.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CallMemo {
    /// The spec generation the failures were met with: a new spec starts afresh.
    generation: Option<i64>,
    pub consecutive_failures: u32,
    /// When the first of these consecutive failures happened.
    pub first_failed_at: Timestamp,
    pub failure: Option<Failure>,
    /// True when retrying as is cannot help.
    pub gave_up: bool,
    pub retry_at: Timestamp,
    /// How many of the latest failures in a row were 404s, and since when:
    /// the evidence that something is gone, which any other answer breaks.
    pub not_found_in_a_row: u32,
    pub not_found_since: Timestamp,
}

impl CallMemo {
    /// Whether the 404s in a row, with `more` answered since, prove the
    /// thing asked about gone: enough of them, over long enough by `now`.
    pub fn not_found_proven(&self, more: u32, now: Timestamp) -> bool {
        self.not_found_in_a_row > 0
            && self.not_found_in_a_row + more >= NOT_FOUND_PROOF_ANSWERS
            && Duration::try_from(now.duration_since(self.not_found_since))
                .is_ok_and(|age| age >= NOT_FOUND_PROOF_AGE)
    }
}

/// Reconciles of one MeetingBot that ended in an error, in a row.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReconcileErrors {
    pub count: u32,
    /// The category last reported on the object, and when.
    pub reported: Option<(&'static str, Timestamp)>,
}

/// What the operator remembers of one MeetingBot.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Memo {
    /// Indexed by [`Call::index`]; allocated at the first failure, since
    /// most bots never meet one and a memo is kept per MeetingBot.
    calls: Option<Box<[CallMemo; 3]>>,
    /// When the session's status was last read.
    pub session_checked_at: Option<Timestamp>,
    /// Allocated when first needed, for the same reason: inline, it would
    /// make every memo several times as large.
    seldom: Option<Box<Seldom>>,
}

/// What few MeetingBots ever need remembered.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Seldom {
    /// Failed reconciles in a row (Kubernetes errors, not vendor answers).
    pub reconcile_errors: ReconcileErrors,
    /// The start of a join attempt whose in-flight record may have been
    /// written although its write failed: the join itself was never sent.
    pub unsent_join: Option<Timestamp>,
    /// A bot this process saw leave (its id, and why it left), until no copy
    /// of the record names it: a refused write of the cleared record must not
    /// bring it back to life.
    pub left: Option<(String, super::plan::LeavePurpose)>,
    /// The last write of the connection Secret, for its status condition.
    pub connection_secret: Option<super::connection_secret::Written>,
    /// The other install that acts on the object, once a Warning said so.
    pub told_other_install: Option<String>,
}

static NOTHING_SELDOM: Seldom = Seldom {
    reconcile_errors: ReconcileErrors {
        count: 0,
        reported: None,
    },
    unsent_join: None,
    left: None,
    connection_secret: None,
    told_other_install: None,
};

impl Memo {
    /// What few MeetingBots need remembered: nothing, for most.
    pub fn seldom(&self) -> &Seldom {
        self.seldom.as_deref().unwrap_or(&NOTHING_SELDOM)
    }

    pub fn seldom_mut(&mut self) -> &mut Seldom {
        self.seldom.get_or_insert_default()
    }

    /// A reconcile ended without error: the errors in a row are over.
    pub fn reconcile_succeeded(&mut self) {
        if let Some(seldom) = &mut self.seldom {
            seldom.reconcile_errors = ReconcileErrors::default();
        }
    }

    /// Forgets the failures of every call (something changed that may cure
    /// them), not what is known of the session and of unsent joins.
    pub fn clear_failures(&mut self) {
        self.calls = Default::default();
    }

    /// `call` succeeded: its earlier failures are no evidence any more.
    pub fn succeeded(&mut self, call: Call) {
        if let Some(calls) = &mut self.calls {
            calls[call.index()] = CallMemo::default();
        }
    }

    /// The failures of `call` on this generation of the spec, if any.
    pub fn current(&self, generation: Option<i64>, call: Call) -> Option<&CallMemo> {
        let memo = &self.calls.as_ref()?[call.index()];
        (memo.failure.is_some() && memo.generation == generation).then_some(memo)
    }

    /// Every call kind with a failure remembered.
    pub fn failing(&self) -> impl Iterator<Item = (Call, &CallMemo)> {
        let calls = self.calls.as_deref();
        Call::ALL
            .into_iter()
            .filter_map(move |call| Some((call, &calls?[call.index()])))
            .filter(|(_, memo)| memo.failure.is_some())
    }

    /// Records a failure of `call` and computes when to try it again:
    /// exponential backoff with `jitter` (a factor in 0.8..1.2 chosen by the
    /// caller), never sooner than the vendor's Retry-After (up to [`RETRY_AFTER_CAP`]).
    pub fn record(
        &mut self,
        generation: Option<i64>,
        call: Call,
        failure: Failure,
        now: Timestamp,
        jitter: f64,
    ) {
        let same_run = self.current(generation, call).is_some();
        let memo = &mut self.calls.get_or_insert_default()[call.index()];
        memo.consecutive_failures = if same_run {
            memo.consecutive_failures + 1
        } else {
            memo.first_failed_at = now;
            1
        };
        if failure.kind != FailureKind::NotFound {
            memo.not_found_in_a_row = 0;
        } else if same_run && memo.not_found_in_a_row > 0 {
            memo.not_found_in_a_row += 1;
        } else {
            memo.not_found_in_a_row = 1;
            memo.not_found_since = now;
        }
        memo.generation = generation;
        // A leave's 404 is asked again until 404s in a row prove the bot gone (see `leave`).
        let leave_not_found = call == Call::Leave && failure.kind == FailureKind::NotFound;
        memo.gave_up = !(failure.kind.retryable() || leave_not_found);
        let delay = if memo.gave_up {
            GAVE_UP_RETRY
        } else {
            backoff(memo.consecutive_failures, jitter)
                .max(failure.retry_after.unwrap_or_default().min(RETRY_AFTER_CAP))
        };
        memo.retry_at = now.checked_add(delay).unwrap_or(Timestamp::MAX);
        memo.failure = Some(failure);
    }
}

/// The delay after the `n`th failure in a row (1-based), before jitter is applied
/// when `jitter` is 1: 1 s, 2 s, 4 s, … up to [`BACKOFF_CAP`].
pub fn backoff(n: u32, jitter: f64) -> Duration {
    let exponent = n.saturating_sub(1).min(16);
    BACKOFF_BASE
        .saturating_mul(1 << exponent)
        .min(BACKOFF_CAP)
        .mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(kind: FailureKind, retry_after: Option<u64>) -> Failure {
        Failure {
            kind,
            status: None,
            detail: String::new(),
            retry_after: retry_after.map(Duration::from_secs),
            meeting_bot_id: None,
        }
    }

    #[test]
    fn a_memo_kept_for_every_meeting_bot_stays_small() {
        // 40 bytes; 208 while the seldom-used fields were inline.
        assert!(size_of::<Memo>() <= 48, "{} bytes", size_of::<Memo>());
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
                memo.current(Some(1), Call::Join)
                    .unwrap()
                    .retry_at
                    .duration_since(now)
                    .as_secs()
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
        let join = memo.current(Some(2), Call::Join).unwrap();
        assert_eq!(
            join.consecutive_failures, 1,
            "a new generation starts afresh"
        );
        assert_eq!(join.retry_at.duration_since(now).as_secs(), 7);
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
        assert!(memo.current(Some(3), Call::Join).unwrap().gave_up);
        assert!(memo.current(Some(3), Call::Join).is_some());
        assert!(memo.current(Some(4), Call::Join).is_none());
        assert!(memo.current(Some(3), Call::Leave).is_none());
    }

    #[test]
    fn a_leave_404_is_asked_again_until_404s_in_a_row_over_a_minute_prove_it() {
        let start = Timestamp::now();
        let at = |secs: i64| start + jiff::SignedDuration::from_secs(secs);
        let mut memo = Memo::default();
        let not_found = || failure(FailureKind::NotFound, None);
        memo.record(Some(2), Call::Leave, not_found(), at(0), 1.0);
        let leave = memo.current(Some(2), Call::Leave).unwrap();
        assert!(!leave.gave_up, "asked again, soon");
        assert_eq!(leave.retry_at, at(1));
        // A second 404 would not prove it yet, whenever it comes…
        assert!(!leave.not_found_proven(1, at(120)));
        memo.record(Some(2), Call::Leave, not_found(), at(1), 1.0);
        let leave = memo.current(Some(2), Call::Leave).unwrap();
        // …nor would a third one too soon after the first.
        assert!(!leave.not_found_proven(1, at(30)));
        assert!(leave.not_found_proven(1, at(60)));
        // Any other answer between them starts the count afresh.
        memo.record(
            Some(2),
            Call::Leave,
            failure(FailureKind::Unavailable, None),
            at(2),
            1.0,
        );
        let leave = memo.current(Some(2), Call::Leave).unwrap();
        assert!(!leave.not_found_proven(1, at(120)));
        // A session's 404 is not asked again the same way: it is a refusal for a join.
        memo.record(Some(2), Call::Session, not_found(), at(3), 1.0);
        assert!(memo.current(Some(2), Call::Session).unwrap().gave_up);
    }

    #[test]
    fn each_call_kind_keeps_its_own_backoff() {
        let now = Timestamp::now();
        let mut memo = Memo::default();
        for _ in 0..4 {
            memo.record(
                Some(1),
                Call::Leave,
                failure(FailureKind::RateLimited, None),
                now,
                1.0,
            );
        }
        memo.record(
            Some(1),
            Call::Session,
            failure(FailureKind::Unavailable, None),
            now,
            1.0,
        );
        let leave = memo.current(Some(1), Call::Leave).unwrap();
        assert_eq!(
            leave.consecutive_failures, 4,
            "a session failure does not reset it"
        );
        assert_eq!(leave.retry_at.duration_since(now).as_secs(), 8);
        assert_eq!(
            memo.current(Some(1), Call::Session)
                .unwrap()
                .consecutive_failures,
            1
        );
        assert_eq!(memo.failing().count(), 2);
        memo.clear_failures();
        assert_eq!(memo.failing().count(), 0);
    }

    #[test]
    fn retry_after_is_honoured_up_to_its_cap() {
        let now = Timestamp::now();
        let mut memo = Memo::default();
        memo.record(
            Some(1),
            Call::Join,
            failure(FailureKind::RateLimited, Some(90)),
            now,
            1.0,
        );
        assert_eq!(
            memo.current(Some(1), Call::Join)
                .unwrap()
                .retry_at
                .duration_since(now)
                .as_secs(),
            90
        );
        memo.record(
            Some(1),
            Call::Join,
            failure(FailureKind::RateLimited, Some(365 * 24 * 3600)),
            now,
            1.0,
        );
        assert_eq!(
            memo.current(Some(1), Call::Join)
                .unwrap()
                .retry_at
                .duration_since(now)
                .as_secs(),
            RETRY_AFTER_CAP.as_secs() as i64
        );
    }
}
