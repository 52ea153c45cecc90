//! Sending documents to the ingest queue in batches, slowing down when the queue pushes back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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

/// `documents`, read on a thread of their own, until `stop` is cancelled: then the iterator ends promptly,
/// even while a read blocks (standard input with nothing to read, a slow disk), so the caller sends the
/// batch in hand and reports what it did. What the reader had already read when the stop came is still
/// yielded: it was taken from the input (from a pipe, for good), so dropping it would lose it. The reader
/// starts no read after the stop. Bounded: the reader runs at most 64 documents ahead.
pub fn until_stopped(
    documents: impl Iterator<Item = Result<Document, ReadError>> + Send + 'static,
    stop: CancellationToken,
) -> impl Iterator<Item = Result<Document, ReadError>> {
    let (sender, receiver) = std::sync::mpsc::sync_channel(64);
    let stopping = Arc::new(AtomicBool::new(false));
    let reader_stopping = stopping.clone();
    std::thread::spawn(move || {
        let mut documents = documents;
        while !reader_stopping.load(Ordering::Acquire) {
            let Some(document) = documents.next() else { return };
            if sender.send(document).is_err() {
                return;
            }
        }
    });
    std::iter::from_fn(move || {
        loop {
            if stop.is_cancelled() {
                stopping.store(true, Ordering::Release);
                // Drain: the reader sends at most the one document it was reading, then ends (the channel
                // disconnects); if it is blocked on a read, a short wait gives up on it.
                return receiver.recv_timeout(std::time::Duration::from_millis(50)).ok();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn document(id: &str) -> Document {
        Document {
            id: id.into(),
            title: String::new(),
            text: "text".into(),
            source: "test".into(),
            url: None,
            published: None,
            ingested_at: chrono::Utc::now(),
            labels: None,
        }
    }

    /// Standard input that gave five documents and then waits for ever: a stop that comes once the
    /// reader has taken the five (from the pipe, for good) still yields all five — it used to yield
    /// none, and under load a SIGTERM lost them.
    #[test]
    fn a_stop_yields_what_was_already_read() {
        let (produced, all_read) = std::sync::mpsc::channel();
        let (_never, silent) = std::sync::mpsc::channel::<()>();
        let mut next = 0;
        let input = std::iter::from_fn(move || {
            if next == 5 {
                produced.send(()).unwrap();
                let _ = silent.recv();
                return None;
            }
            next += 1;
            Some(Ok(document(&format!("d{next}"))))
        });
        let stop = CancellationToken::new();
        let documents = until_stopped(input, stop.clone());
        all_read.recv().unwrap();
        stop.cancel();
        let ids: Vec<String> = documents.map(|document| document.unwrap().id).collect();
        assert_eq!(ids, ["d1", "d2", "d3", "d4", "d5"]);
    }
}
