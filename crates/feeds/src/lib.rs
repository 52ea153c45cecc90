//! feeds: where documents come from, as a library with no queue, no table and no cloud in it.
//!
//! One job each: [`config`] is the feed list (URLs, intervals, label mappings — what `deploy` checks in
//! a stack file), [`fetch`] knows HTTP (timeouts, size caps, redirects, conditional GET, no private
//! addresses), `normalize` repairs what the wild serves before [`parse`] reads feed formats (RSS
//! 0.9–2.0, Atom, JSON Feed, arXiv's listing and API feeds), [`arxiv`] what arXiv's feeds say in their
//! own way, [`harvest`] pages through arXiv's OAI-PMH interface, and [`read_documents`] reads JSON Lines
//! files, folders of text and standard input.
//!
//! The HTTP side ([`fetch`], the harvest loop) sits behind the default `fetch` feature: without it
//! the crate links no HTTP client. The service that polls feeds into the queue is `feed-ingest`.
#![warn(missing_docs)]

mod addresses;
pub mod arxiv;
pub mod config;
#[cfg(feature = "fetch")]
pub mod fetch;
pub mod harvest;
mod normalize;
pub mod parse;
mod read;

pub use addresses::{IpNet, PrivateAddresses, is_public};
pub use config::{
    FeedDefaults, FeedList, FeedSpec, LabelMap, MAX_INTERVAL, MIN_INTERVAL, Unmapped, check_interval, redact_url,
};
#[cfg(feature = "fetch")]
pub use fetch::{FetchError, Fetched, Fetcher, FetcherConfig, Validators, install_tls_provider};
pub use parse::{FeedEntry, ParseError, parse_feed, parse_feed_as};
pub use read::{ReadError, read_documents};

/// Fetches and parses every feed once, concurrently and without conditional GET; each answers on its
/// own, so one bad feed costs the others nothing. Answers in the order of `feeds`.
#[cfg(feature = "fetch")]
pub async fn fetch_once(fetcher: &Fetcher, feeds: &[FeedSpec]) -> Vec<anyhow::Result<Vec<FeedEntry>>> {
    let fetches = feeds.iter().map(|feed| async move {
        match fetcher.fetch(&feed.url, &Validators::default()).await {
            Ok(Fetched::Body { bytes, charset, .. }) => {
                parse_feed_as(&bytes, charset.as_deref(), &feed.shown()).map_err(anyhow::Error::from)
            }
            Ok(Fetched::NotModified) => Ok(Vec::new()),
            Err(error) => Err(error.into()),
        }
    });
    futures_util::future::join_all(fetches).await
}
