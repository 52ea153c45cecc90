//! feed-ingest: turns document sources into envelopes on the ingest queue.
//!
//! Sources: RSS and Atom feeds over HTTP ([`feed`]), JSON Lines files (gzipped or not, the
//! labelled-corpus format), folders of text files, and standard input. Each becomes a stream of
//! [`Document`]s; [`enqueue`] sends them in batches with backpressure.
#![warn(missing_docs)]

mod enqueue;
pub mod feed;
mod read;

pub use enqueue::{IngestStats, enqueue};
pub use read::{ReadError, read_documents};

/// Fetches and parses every feed in `urls` once, concurrently; each answers on its own, so one bad feed
/// costs the others nothing. Answers in the order of `urls`.
pub async fn fetch_feeds_once(
    fetcher: &feed::Fetcher,
    urls: &[String],
) -> Vec<(String, anyhow::Result<Vec<feed::FeedEntry>>)> {
    let fetches = urls.iter().map(|url| async move {
        let entries = match fetcher.fetch(url, &feed::Validators::default()).await {
            Ok(feed::Fetched::Body { bytes, .. }) => feed::parse_feed(&bytes, url).map_err(anyhow::Error::from),
            Ok(feed::Fetched::NotModified) => Ok(Vec::new()),
            Err(error) => Err(error.into()),
        };
        (url.clone(), entries)
    });
    futures_util::future::join_all(fetches).await
}
