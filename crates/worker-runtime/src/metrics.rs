//! Counters a worker pool keeps, cheap enough to bump per message.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters shared by the workers of one pool.
#[derive(Debug, Default)]
pub struct Metrics {
    received: AtomicU64,
    handled: AtomicU64,
    forwarded: AtomicU64,
    acknowledged: AtomicU64,
    dead_lettered: AtomicU64,
    failed: AtomicU64,
    returned: AtomicU64,
    worker_restarts: AtomicU64,
}

/// A point-in-time copy of [`Metrics`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct MetricsSnapshot {
    /// Deliveries received.
    pub received: u64,
    /// Messages the handler finished.
    pub handled: u64,
    /// Results forwarded downstream.
    pub forwarded: u64,
    /// Messages deleted from the source queue.
    pub acknowledged: u64,
    /// Messages sent to the dead-letter queue.
    pub dead_lettered: u64,
    /// Handler errors and panics, and failed forwards.
    pub failed: u64,
    /// Messages given back to the queue (for a retry, or at shutdown).
    pub returned: u64,
    /// Workers restarted after a crash.
    pub worker_restarts: u64,
}

macro_rules! counters {
    ($($field:ident => $method:ident),* $(,)?) => {
        impl Metrics {
            $(
                pub(crate) fn $method(&self, n: usize) {
                    self.$field.fetch_add(n as u64, Ordering::Relaxed);
                }
            )*

            /// Reads every counter.
            pub fn snapshot(&self) -> MetricsSnapshot {
                MetricsSnapshot { $($field: self.$field.load(Ordering::Relaxed)),* }
            }
        }
    };
}

counters! {
    received => add_received,
    handled => add_handled,
    forwarded => add_forwarded,
    acknowledged => add_acknowledged,
    dead_lettered => add_dead_lettered,
    failed => add_failed,
    returned => add_returned,
    worker_restarts => add_worker_restarts,
}
