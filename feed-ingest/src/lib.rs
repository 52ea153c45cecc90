//! feed-ingest: the service that turns document sources into envelopes on the ingest queue.
//!
//! Where documents come from — feeds fetched and parsed, JSON Lines files, folders of text, standard
//! input — is the `feeds` library. This crate is what makes that a service: [`poll`] schedules each
//! feed and claims every entry in the de-duplication store ([`seen`] picks which) before it is
//! enqueued, [`status`] counts what each feed did (`/metrics`, `/feeds`), and [`enqueue`] sends
//! documents in batches with backpressure. [`Args`] is the command line and [`run`] what it does: the
//! binary only parses, checks health and starts logging.
#![warn(missing_docs)]

mod args;
mod enqueue;
pub mod poll;
mod run;
pub mod seen;
pub mod status;

pub use args::{Args, METRICS_PORT};
pub use enqueue::{IngestStats, enqueue, until_stopped};
pub use poll::{FeedPoller, FeedState, PollSettings, next_wait};
pub use run::{feed_specs, run};
pub use seen::SeenStore;
pub use status::{FeedMetrics, FeedStatus, PollOutcome, PollReport};
