//! The one worker runtime every docclass service runs: receive a batch → decode and validate → handle →
//! forward → acknowledge, with dead-lettering, retries, graceful shutdown and metrics.
//!
//! A service supplies only a [`Handler`] (a pure `Envelope → Envelope` step, such as "add the topic") and
//! a [`Forward`] destination (the next queue, or the result table). The runtime owns everything that
//! makes delivery safe:
//!
//! - **At least once.** A message is acknowledged only after its result was forwarded; a crash anywhere
//!   before that leaves it in the queue, to come back after its visibility timeout. Downstream writes are
//!   idempotent by document id, so a redelivery overwrites rather than duplicates.
//! - **Never retried forever.** A message that cannot be decoded or fails validation goes to the
//!   dead-letter queue at once with a machine-readable reason; one whose handler keeps failing goes there
//!   after `max_attempts` deliveries.
//! - **Graceful shutdown.** On cancellation, workers stop receiving, finish the batch they hold, give back
//!   messages they had not started (also those a long poll brings after the signal), and the runtime
//!   returns within `shutdown_timeout`.
//! - **Busy tasks are not the ones scaled in.** On ECS, a task holding messages carries task scale-in
//!   protection ([`Protection`]), cleared when it goes idle.
#![warn(missing_docs)]

mod config;
mod forward;
mod handler;
mod metrics;
mod outage;
mod protection;
mod retry;
mod send;
mod signal;
pub mod telemetry;
mod worker;

pub use config::WorkerConfig;
pub use forward::{Forward, ForwardError, ToQueue, ToTable};
pub use handler::{Handler, HandlerError};
pub use metrics::{Metrics, MetricsSnapshot, ScrapedGauges};
pub use protection::{Protection, ProtectionPort, SetFuture};
pub use retry::Backoff;
pub use send::{Sent, send_until_accepted};
pub use signal::{cancel_on_shutdown_signal, shutdown_signal};
pub use worker::{BatchOutcome, RunReport, WorkerPool};
