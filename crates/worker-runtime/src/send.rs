//! Sending a batch to a queue that may push back: what every producer (feed-ingest, the stdio mode's
//! reader) does before a worker ever sees a message.

use std::time::Duration;

use docclass_types::{MessageSink, OutgoingMessage, QueueError};
use tokio_util::sync::CancellationToken;

use crate::Backoff;

/// What [`send_until_accepted`] did with a batch.
#[derive(Debug, Default)]
pub struct Sent {
    /// Messages the queue took.
    pub accepted: usize,
    /// Messages it refused for good (too large, say), with why: the caller counts or dead-letters them.
    pub refused: Vec<(OutgoingMessage, QueueError)>,
    /// Messages still unsent when `stop` was cancelled.
    pub unsent: Vec<OutgoingMessage>,
}

/// Sends `pending` to `sink`, sending again what it refuses for now (full, throttled, a failure that may
/// pass) after a capped backoff, until every message is accepted or refused for good, or `stop` is
/// cancelled. This is how a slow pipeline slows its producer down instead of losing what it is given.
pub async fn send_until_accepted<S: MessageSink>(
    sink: &S,
    mut pending: Vec<OutgoingMessage>,
    stop: &CancellationToken,
) -> Sent {
    let backoff = Backoff::new(Duration::from_millis(5), Duration::from_secs(2));
    let mut sent = Sent::default();
    let mut attempt = 0;
    // When sends began to fail for want of the queue (not of room in it): logged once, and once more
    // when they pass again, however many attempts lie between.
    let mut unreachable_since: Option<std::time::Instant> = None;
    while !pending.is_empty() {
        if stop.is_cancelled() {
            sent.unsent = pending;
            break;
        }
        let results = sink.send_batch(&pending).await;
        let mut retry = Vec::new();
        for (message, result) in pending.into_iter().zip(results) {
            match result {
                Ok(()) => sent.accepted += 1,
                Err(error) if error.is_retriable() => {
                    if unreachable_since.is_none() && matches!(error, QueueError::Transport { .. }) {
                        tracing::warn!(queue = sink.name(), %error, "cannot send; retrying with backoff until the queue answers (logged once)");
                        unreachable_since = Some(std::time::Instant::now());
                    }
                    retry.push(message);
                }
                Err(error) => sent.refused.push((message, error)),
            }
        }
        pending = retry;
        if pending.is_empty()
            && let Some(since) = unreachable_since
        {
            tracing::info!(
                queue = sink.name(),
                after_secs = since.elapsed().as_secs_f64().round(),
                attempts = attempt + 1,
                "sending again"
            );
        }
        if !pending.is_empty() {
            attempt += 1;
            tokio::select! {
                () = stop.cancelled() => {}
                () = tokio::time::sleep(backoff.delay(attempt)) => {}
            }
        }
    }
    sent
}
