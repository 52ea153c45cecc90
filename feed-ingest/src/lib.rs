//! feed-ingest: the service that turns document sources into envelopes on the ingest queue.
//!
//! Where documents come from — feeds fetched and parsed, JSON Lines files, folders of text, standard
//! input — is the `feeds` library. This crate is what makes that a service: [`poll`] schedules each
//! feed and claims every entry in the de-duplication store ([`seen`] picks which) before it is
//! enqueued, [`status`] counts what each feed did (`/metrics`, `/feeds`), and [`enqueue`] sends
//! documents in batches with backpressure.
#![warn(missing_docs)]

mod enqueue;
pub mod poll;
pub mod seen;
pub mod status;

pub use enqueue::{IngestStats, enqueue, until_stopped};
pub use poll::{FeedPoller, FeedState, PollSettings, next_wait};
pub use seen::SeenStore;
pub use status::{FeedMetrics, FeedStatus, PollOutcome, PollReport};
