//! Feeds: fetching RSS and Atom documents over HTTP safely, turning their entries into documents, and
//! polling them into the queue, each document once.
//!
//! One job each: [`fetch`] knows HTTP (timeouts, size caps, redirects, conditional GET), [`parse`] knows
//! feed formats (RSS 0.9–2.0, Atom, arXiv's listing and API feeds), [`arxiv`] what arXiv's
//! feeds say in their own way, [`config`] the feed list,
//! [`poll`] schedules and de-duplicates, [`status`] counts, [`seen`] picks the de-duplication store.

pub mod arxiv;
pub mod config;
pub mod fetch;
mod normalize;
pub mod parse;
pub mod poll;
pub mod seen;
pub mod status;

pub use config::{FeedDefaults, FeedList, FeedSpec, LabelMap, MAX_INTERVAL, MIN_INTERVAL, Unmapped, check_interval};
pub use fetch::{FetchError, Fetched, Fetcher, FetcherConfig, PrivateAddresses, Validators, install_tls_provider};
pub use parse::{FeedEntry, ParseError, parse_feed, parse_feed_as};
pub use poll::{FeedPoller, FeedState, PollSettings, next_wait};
pub use seen::SeenStore;
pub use status::{FeedMetrics, FeedStatus, PollOutcome, PollReport};
