//! A process-wide bound on vendor calls per second. One namespace's storm of
//! retries (each bot within its own backoff, but many bots) must not use up
//! the shared API key's rate limit at the vendor: past the bound, calls wait
//! their turn here instead, and the wait is counted.

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use prometheus_client::metrics::counter::Counter;
use std::num::NonZeroU32;

/// Calls per second when nothing is configured.
pub const DEFAULT_CALLS_PER_SECOND: u32 = 20;

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

/// A token bucket of `calls_per_second`, as deep as one second of calls.
pub struct Throttle {
    limiter: DefaultDirectRateLimiter,
    throttled: Counter,
}

impl std::fmt::Debug for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Throttle(throttled {})", self.throttled.get())
    }
}

impl Throttle {
    pub fn new(calls_per_second: NonZeroU32) -> Throttle {
        Throttle {
            limiter: RateLimiter::direct(Quota::per_second(calls_per_second)),
            throttled: Counter::default(),
        }
    }

    /// Waits until one more call may go out; counts the calls that had to wait.
    pub async fn acquire(&self) -> Admission {
        if self.limiter.check().is_err() {
            self.throttled.inc();
            self.limiter.until_ready().await;
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
    use std::time::{Duration, Instant};

    #[tokio::test]
    async fn calls_past_the_rate_wait_and_are_counted() {
        let throttle = Throttle::new(NonZeroU32::new(10).unwrap());
        let start = Instant::now();
        for _ in 0..10 {
            let _ = throttle.acquire().await;
        }
        assert_eq!(
            throttle.throttled().get(),
            0,
            "a second's worth goes at once"
        );
        assert!(start.elapsed() < Duration::from_millis(90));
        for _ in 0..5 {
            let _ = throttle.acquire().await;
        }
        assert_eq!(throttle.throttled().get(), 5);
        // Five more at 10 per second take about half a second.
        assert!(
            start.elapsed() >= Duration::from_millis(400),
            "{:?}",
            start.elapsed()
        );
    }
}
