//! feed-ingest: turns document sources into envelopes on the ingest queue.
//!
//! Sources: RSS and Atom feeds over HTTP ([`feed`]), JSON Lines files (gzipped or not, the
//! labelled-corpus format), folders of text files, and standard input. Each becomes a stream of
//! [`Document`]s; [`enqueue`] sends them in batches with backpressure.
#![warn(missing_docs)]

mod enqueue;
pub mod feed;
pub mod harvest;
mod read;

pub use enqueue::{IngestStats, enqueue, until_stopped};
pub use read::{ReadError, read_documents};

/// Fetches and parses every feed once, concurrently and without conditional GET; each answers on its
/// own, so one bad feed costs the others nothing. Answers in the order of `feeds`.
pub async fn fetch_feeds_once(
    fetcher: &feed::Fetcher,
    feeds: &[feed::FeedSpec],
) -> Vec<anyhow::Result<Vec<feed::FeedEntry>>> {
    let fetches = feeds.iter().map(|feed| async move {
        match fetcher.fetch(&feed.url, &feed::Validators::default()).await {
            Ok(feed::Fetched::Body { bytes, charset, .. }) => {
                feed::parse_feed_as(&bytes, charset.as_deref(), &feed.url).map_err(anyhow::Error::from)
            }
            Ok(feed::Fetched::NotModified) => Ok(Vec::new()),
            Err(error) => Err(error.into()),
        }
    });
    futures_util::future::join_all(fetches).await
}
