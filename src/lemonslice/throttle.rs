//! A process-wide bound on vendor calls per second. One namespace's storm of
//! retries (each bot within its own backoff, but many bots) must not use up
//! the shared API key's rate limit at the vendor: past the bound, calls wait
//! their turn here instead, and the wait is counted.
//!
//! Polls of joined bots' sessions grow with the number of bots (10 000 bots
//! read every 30 s are 333 calls a second), so they may use at most half of
//! the bound: joins and leaves, which users wait for, always keep the rest.

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use prometheus_client::metrics::counter::Counter;
use std::num::NonZeroU32;

/// Calls per second when nothing is configured.
pub const DEFAULT_CALLS_PER_SECOND: u32 = 20;

/// What a call is for, which decides how it shares the bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Priority {
    /// A join, a leave, or the session read before a join.
    Meeting,
    /// The periodic session read of a bot already in its meeting: it only
    /// learns sooner that the session ended, so it can wait.
    Poll,
}

/// Leave for one vendor call, given by the bound (or by a client without
/// one): the client's call methods take it, so no call skips the bound.
#[must_use = "an admission is for one call"]
#[derive(Debug)]
pub struct Admission(());

impl Admission {
    /// Leave for a client built without a bound (tools, tests); the
    /// operator's own calls take theirs from [`Client::admit`](super::Client::admit).
    pub fn unbounded() -> Admission {
        Admission(())
    }
}

/// A token bucket of `calls_per_second`, as deep as one second of calls, and
/// one of half that rate that polls pass first.
pub struct Throttle {
    all: DefaultDirectRateLimiter,
    polls: DefaultDirectRateLimiter,
    throttled: Counter,
}

impl std::fmt::Debug for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Throttle(throttled {})", self.throttled.get())
    }
}

impl Throttle {
    pub fn new(calls_per_second: NonZeroU32) -> Throttle {
        let half = NonZeroU32::new(calls_per_second.get() / 2).unwrap_or(NonZeroU32::MIN);
        Throttle {
            all: RateLimiter::direct(Quota::per_second(calls_per_second)),
            polls: RateLimiter::direct(Quota::per_second(half)),
            throttled: Counter::default(),
        }
    }

    /// Waits until one more call may go out; counts the calls that had to wait.
    pub async fn acquire(&self, priority: Priority) -> Admission {
        let mut waited = false;
        let mut pass = async |limiter: &DefaultDirectRateLimiter| {
            if limiter.check().is_err() {
                waited = true;
                limiter.until_ready().await;
            }
        };
        if priority == Priority::Poll {
            pass(&self.polls).await;
        }
        pass(&self.all).await;
        if waited {
            self.throttled.inc();
        }
        Admission(())
    }

    /// How many calls had to wait, for `/metrics`.
    pub fn throttled(&self) -> Counter {
        self.throttled.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::{Duration, Instant};

    #[tokio::test]
    async fn calls_past_the_rate_wait_and_are_counted() {
        let throttle = Throttle::new(NonZeroU32::new(10).unwrap());
        let start = Instant::now();
        for _ in 0..10 {
            let _ = throttle.acquire(Priority::Meeting).await;
        }
        assert_eq!(
            throttle.throttled().get(),
            0,
            "a second's worth goes at once"
        );
        for _ in 0..5 {
            let _ = throttle.acquire(Priority::Meeting).await;
        }
        assert_eq!(throttle.throttled().get(), 5);
        // Five more at 10 per second take about half a second.
        assert!(
            start.elapsed() >= Duration::from_millis(400),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test]
    async fn polls_leave_half_of_the_bound_to_joins_and_leaves() {
        let throttle = Arc::new(Throttle::new(NonZeroU32::new(10).unwrap()));
        let polled = Arc::new(AtomicU32::new(0));
        // A flood of polls, far more than a second's worth, all waiting.
        let polls: Vec<_> = (0..40)
            .map(|_| {
                let (throttle, polled) = (throttle.clone(), polled.clone());
                tokio::spawn(async move {
                    let _ = throttle.acquire(Priority::Poll).await;
                    polled.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        tokio::task::yield_now().await;
        for _ in 0..5 {
            let _ = throttle.acquire(Priority::Meeting).await;
        }
        let polled_meanwhile = polled.load(Ordering::SeqCst);
        assert!(
            polled_meanwhile < 10,
            "five joins waited for {polled_meanwhile} polls"
        );
        polls.iter().for_each(|poll| poll.abort());
    }
}
