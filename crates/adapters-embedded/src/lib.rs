//! Embedded adapters: the queue and table ports implemented inside one process, so the whole pipeline
//! runs with no AWS account and no Docker.
//!
//! - [`EmbeddedQueue`] keeps SQS's delivery contract (visibility timeout, receive counts, redrive to a
//!   dead-letter queue after a maximum receive count), so the worker runtime behaves the same on it as on
//!   SQS and tests of at-least-once delivery mean something.
//! - [`SqliteTable`] stores one row per document id in a SQLite file a user can open with `sqlite3`.
//! - [`SqliteSeen`] remembers which documents feed-ingest has enqueued, across restarts.
//! - [`StdoutSink`] and [`DeadLetterFile`] are the sinks of the services' stdio mode.
#![warn(missing_docs)]

mod queue;
mod seen;
mod sqlite;
mod stdio;

pub use queue::{EmbeddedQueue, QueueConfig, QueueDepth};
pub use seen::SqliteSeen;
pub use sqlite::{DeadLetterGroup, DeadLetterRecord, RunStatistics, SqliteTable};
pub use stdio::{DeadLetterFile, StdoutSink};
