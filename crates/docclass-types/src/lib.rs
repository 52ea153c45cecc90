//! The vocabulary of docclass: message types and the ports (traits) through which every stage talks to
//! queues and the result table.
//!
//! # Layout of the workspace
//!
//! ```text
//! feed-ingest ──▶ ingest queue ──▶ topic-classifier ──▶ subtopic queue ──▶ subtopic-classifier
//!                                                                                   │
//!                          result table ◀── table-writer ◀── results queue ◀────────┘
//! ```
//!
//! - `docclass-types` (this crate): [`Envelope`] and friends, the [`MessageSource`], [`MessageSink`] and
//!   [`ResultTable`] ports and their errors, the pipeline's layout ([`topology`]: queue and table names,
//!   environment variables, timeouts) and the [`DeadLetterReason`]s. It knows nothing about AWS or SQLite, so every other crate can
//!   depend on it cheaply.
//! - `worker-runtime`: the one receive → handle → forward → ack loop that every service runs, with
//!   dead-lettering, shutdown and telemetry.
//! - `adapters-embedded`: the in-process queue and the SQLite result table (no AWS, no Docker).
//! - `text-model`: tokenizer, features, linear classifiers, model files, training and evaluation.
//! - `feed-ingest`, `topic-classifier`, `subtopic-classifier`, `table-writer`: the services; each is a
//!   thin binary over a library that holds its stage, so tests and the `docclass` CLI can reuse it.
//! - `cli` (the `docclass` binary): train, eval, bench and the one-process embedded `run`.
#![warn(missing_docs)]

mod dead_letter;
pub mod default_ports;
mod message;
mod queue;
mod seen;
mod table;
pub mod topology;

pub use dead_letter::{DeadLetter, DeadLetterReason, MAX_DETAIL_BYTES, dead_letter};
pub use message::{
    CategoryScore, Classification, Document, Envelope, Labels, Limits, Rejection, SCHEMA_VERSION, Stage, UNKNOWN_LABEL,
    printable, without_control_characters,
};
pub use queue::{
    BatchResults, MAX_BATCH, MAX_MESSAGE_ATTRIBUTES, MAX_MESSAGE_BYTES, MessageSink, MessageSource, OutgoingMessage,
    QueueError, Receipt, ReceivedMessage, attributes,
};
pub use seen::SeenDocuments;
pub use table::{ResultRow, ResultTable, TableError};
pub use topology::Queue;
