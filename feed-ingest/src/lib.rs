//! feed-ingest: turns document sources into envelopes on the ingest queue.
//!
//! Sources today: JSON Lines files (gzipped or not, the labelled-corpus format), folders of text files,
//! and standard input. Each becomes a stream of [`Document`]s; [`enqueue`] sends them in batches with
//! backpressure.
#![warn(missing_docs)]

mod enqueue;
mod read;

pub use enqueue::{IngestStats, enqueue};
pub use read::{ReadError, read_documents};
