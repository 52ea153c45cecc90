//! How a worker pool behaves.

use std::time::Duration;

use docclass_types::Limits;
use docclass_types::topology::{self, timeouts};

use crate::Backoff;

/// Settings of a [`crate::WorkerPool`] pool.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Concurrent receive loops.
    pub workers: usize,
    /// Messages received per call, at most [`docclass_types::MAX_BATCH`].
    pub batch_size: usize,
    /// How long a received message stays hidden from other consumers while we work on it.
    pub visibility_timeout: Duration,
    /// Long-poll wait per receive call. Keep it well under `shutdown_timeout`: a stopping worker lets a
    /// long poll that is not cancel-safe (SQS's) run to its end.
    pub wait_time: Duration,
    /// Deliveries after which a message whose handler or forward keeps failing is dead-lettered.
    pub max_attempts: u32,
    /// Delay before a failed message is offered again.
    pub retry_backoff: Backoff,
    /// How long shutdown may take; keep it below ECS's `stopTimeout` (30 s by default), after which the
    /// task is killed.
    pub shutdown_timeout: Duration,
    /// Size limits checked before handling.
    pub limits: Limits,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            workers: 2,
            batch_size: docclass_types::MAX_BATCH,
            visibility_timeout: timeouts::VISIBILITY,
            // Half of SQS's longest (20 s): a stop waits for at most this much of a poll, and an idle
            // worker makes six calls a minute instead of three.
            wait_time: timeouts::RECEIVE_WAIT,
            max_attempts: topology::MAX_ATTEMPTS,
            retry_backoff: Backoff::new(Duration::from_millis(200), Duration::from_secs(20)),
            shutdown_timeout: timeouts::DRAIN,
            limits: Limits::default(),
        }
    }
}
