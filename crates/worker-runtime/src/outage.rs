//! Waiting out an unreachable queue or table: one line in the log when calls start failing and one when
//! they succeed again, with how long it took and how many attempts failed in between — not a line per
//! attempt, which during an outage of SQS is dozens a second across a pool — and a backoff that grows
//! with the streak, so a pool waiting out an outage costs next to no CPU.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::Backoff;

/// Between receive attempts that failed in a row: from a tenth of a second, doubling, to at most 5 s —
/// short enough that a pool resumes within seconds of the end of an outage.
pub(crate) const RECEIVE_BACKOFF: Backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));

/// A streak of failed calls of one kind, shared by the workers of a pool.
#[derive(Debug)]
pub(crate) struct Outage {
    /// What fails, for the log: `receive from docclass-ingest`.
    what: String,
    /// Since when, and how many attempts failed.
    streak: Mutex<Option<(Instant, u32)>>,
}

impl Outage {
    pub(crate) fn new(what: String) -> Self {
        Self { what, streak: Mutex::new(None) }
    }

    /// Counts a failure; logs the first of a streak. Answers the streak's length so far.
    pub(crate) fn failed(&self, error: &dyn std::fmt::Display) -> u32 {
        let mut streak = self.streak.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (_, failures) = streak.get_or_insert_with(|| {
            tracing::warn!(call = %self.what, %error, "failing; backing off and retrying until it answers (logged once)");
            (Instant::now(), 0)
        });
        *failures += 1;
        *failures
    }

    /// Ends a streak, if there was one, with a line saying how long it lasted.
    pub(crate) fn succeeded(&self) {
        let ended = self.streak.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some((since, failures)) = ended {
            tracing::info!(
                call = %self.what,
                after_secs = since.elapsed().as_secs_f64().round(),
                failed_attempts = failures,
                "answering again"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streak_counts_until_a_success_ends_it() {
        let outage = Outage::new("receive from q".into());
        assert_eq!(outage.failed(&"refused"), 1);
        assert_eq!(outage.failed(&"refused"), 2);
        outage.succeeded();
        assert_eq!(outage.failed(&"refused"), 1, "a new streak");
    }
}
