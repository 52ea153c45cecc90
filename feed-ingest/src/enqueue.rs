//! Sending documents to the ingest queue in batches, slowing down when the queue pushes back.

use docclass_types::{Document, Envelope, MessageSink, OutgoingMessage};
use tokio_util::sync::CancellationToken;
use worker_runtime::send_until_accepted;

use feeds::ReadError;

/// What one ingest did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct IngestStats {
    /// Documents sent to the queue.
    pub enqueued: u64,
    /// Records that could not be read (malformed lines); logged, not sent.
    pub unreadable: u64,
    /// Documents the queue refused for good (too large for a message); logged, not sent.
    pub refused: u64,
}

/// Sends every document to `sink` in batches of ten (the SQS batch limit). Entries the queue refuses
/// for now (full, throttled) are retried with backoff until accepted, which is how a slow pipeline
/// slows its ingestor down; entries it refuses for good are counted and logged. `on_progress` is called
/// after each batch with the totals so far.
pub async fn enqueue<S: MessageSink>(
    documents: impl Iterator<Item = Result<Document, ReadError>>,
    sink: &S,
    mut on_progress: impl FnMut(&IngestStats),
) -> IngestStats {
    let mut stats = IngestStats::default();
    let mut batch: Vec<OutgoingMessage> = Vec::with_capacity(docclass_types::MAX_BATCH);
    for item in documents {
        match item {
            Ok(document) => {
                batch.push(OutgoingMessage::new(batch.len().to_string(), Envelope::new(document).encode()));
                if batch.len() == docclass_types::MAX_BATCH {
                    send_all(sink, std::mem::take(&mut batch), &mut stats).await;
                    on_progress(&stats);
                }
            }
            Err(error) => {
                // With its causes: "cannot read a.txt: Permission denied", not only the first half.
                let error = format!("{:#}", anyhow::Error::from(error));
                tracing::warn!(%error, "skipping unreadable record");
                stats.unreadable += 1;
            }
        }
    }
    if !batch.is_empty() {
        send_all(sink, batch, &mut stats).await;
        on_progress(&stats);
    }
    stats
}

async fn send_all<S: MessageSink>(sink: &S, pending: Vec<OutgoingMessage>, stats: &mut IngestStats) {
    // An ingest runs until its input ends: nothing stops a send half-way.
    let sent = send_until_accepted(sink, pending, &CancellationToken::new()).await;
    stats.enqueued += sent.accepted as u64;
    for (_, error) in sent.refused {
        tracing::error!(%error, "queue refused a document; it is not enqueued");
        stats.refused += 1;
    }
}

/// `documents`, read on a thread of their own, until `stop` is cancelled: then the iterator ends at
/// once, even while a read blocks (standard input with nothing to read, a slow disk), so the caller
/// sends the batch in hand and reports what it did. Bounded: the reader runs at most 64 documents ahead.
pub fn until_stopped(
    documents: impl Iterator<Item = Result<Document, ReadError>> + Send + 'static,
    stop: CancellationToken,
) -> impl Iterator<Item = Result<Document, ReadError>> {
    let (sender, receiver) = std::sync::mpsc::sync_channel(64);
    std::thread::spawn(move || {
        for document in documents {
            if sender.send(document).is_err() {
                return;
            }
        }
    });
    std::iter::from_fn(move || {
        loop {
            if stop.is_cancelled() {
                return None;
            }
            // Polled rather than woken: a tenth of a second is soon enough for a stop, and it keeps this
            // a plain iterator over a plain channel.
            match receiver.recv_timeout(std::time::Duration::from_millis(100)) {
                Ok(document) => return Some(document),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return None,
            }
        }
    })
}
