//! Feeds: fetching RSS and Atom documents over HTTP safely, and turning their entries into documents.
//!
//! One job each: [`fetch`] knows HTTP (timeouts, size caps, redirects, conditional GET), [`parse`] knows
//! feed formats (RSS 0.9–2.0, Atom, arXiv's listing and API feeds), and neither knows queues.

pub mod fetch;
pub mod parse;

pub use fetch::{FetchError, Fetched, Fetcher, FetcherConfig, Validators};
pub use parse::{FeedEntry, ParseError, parse_feed};
