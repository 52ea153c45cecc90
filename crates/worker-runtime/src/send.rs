//! Sending a batch to a queue that may push back: what every producer (feed-ingest, the stdio mode's
//! reader) does before a worker ever sees a message.

use std::time::Duration;

use docclass_types::{MessageSink, OutgoingMessage, QueueError};
use tokio_util::sync::CancellationToken;

use crate::Backoff;
use crate::outage::Outage;

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
    // Sends failing for want of the queue (not of room in it): logged when they begin and when they pass
    // again, however many attempts lie between.
    let outage = Outage::new(format!("send to {}", sink.name()));
    while !pending.is_empty() {
        if stop.is_cancelled() {
            sent.unsent = pending;
            break;
        }
        let results = sink.send_batch(&pending).await;
        let mut retry = Vec::new();
        let mut unreachable = None;
        for (message, result) in pending.into_iter().zip(results) {
            match result {
                Ok(()) => sent.accepted += 1,
                Err(error) if error.is_retriable() => {
                    if matches!(error, QueueError::Transport { .. }) {
                        unreachable.get_or_insert(error);
                    }
                    retry.push(message);
                }
                Err(error) => sent.refused.push((message, error)),
            }
        }
        pending = retry;
        match &unreachable {
            Some(error) => {
                outage.failed(error);
            }
            None if pending.is_empty() => outage.succeeded(),
            None => {}
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
