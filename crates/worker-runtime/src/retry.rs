//! Capped exponential backoff with full jitter.

use std::time::Duration;

/// Delay before attempt `n` is drawn uniformly from `[0, min(max, base · 2ⁿ)]` ("full jitter"), so that
/// many workers failing together do not retry together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    base: Duration,
    max: Duration,
}

impl Backoff {
    /// A backoff starting at `base` and never above `max`.
    pub const fn new(base: Duration, max: Duration) -> Self {
        Self { base, max }
    }

    /// The delay before retry number `attempt` (1 for the first retry).
    pub fn delay(&self, attempt: u32) -> Duration {
        let cap = self.base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20)).min(self.max);
        cap.mul_f64(fastrand::f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_within_the_cap() {
        let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        for attempt in 1..40 {
            let cap = Duration::from_millis(100 * (1 << (attempt - 1).min(20))).min(Duration::from_secs(1));
            assert!(backoff.delay(attempt) <= cap);
        }
    }
}
