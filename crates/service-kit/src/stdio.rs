//! Serving one stage over standard input and output.

use std::sync::Arc;
use std::time::Duration;

use adapters_embedded::{DeadLetterFile, EmbeddedQueue, QueueConfig};
use anyhow::Context;
use docclass_types::{DeadLetterReason, MessageSink, OutgoingMessage, Receipt, ReceivedMessage, dead_letter};
use tokio::io::AsyncBufReadExt;
use tokio_util::sync::CancellationToken;
use worker_runtime::{Forward, Handler, RunReport, WorkerConfig, WorkerPool, send_until_accepted};

use crate::WorkerArgs;

/// Runs `handler` over the envelopes arriving on standard input (one JSON object per line) and sends
/// its results to `forward`, until standard input ends and every message is finished, or until
/// `shutdown` (the caller's: [`crate::shutdown_on_signal`] in a binary) is cancelled.
///
/// # Errors
/// When the dead-letter file cannot be opened or standard input cannot be read.
pub async fn serve_stdio<H: Handler, F: Forward>(
    name: &str,
    default_metrics_port: u16,
    handler: H,
    forward: F,
    args: &WorkerArgs,
    shutdown: CancellationToken,
) -> anyhow::Result<RunReport> {
    args.common.init_logging();
    let dead_letters = Arc::new(
        DeadLetterFile::open(&args.dead_letters)
            .with_context(|| format!("opening the dead-letter file {}", args.dead_letters.display()))?,
    );
    let refused = dead_letters.clone();
    let queue = Arc::new(EmbeddedQueue::new(
        format!("{name}-stdin"),
        QueueConfig { capacity: 1_000, ..QueueConfig::default() },
    ));
    let config =
        WorkerConfig { workers: args.workers.max(1), wait_time: Duration::from_millis(100), ..WorkerConfig::default() };
    let worker = Arc::new(WorkerPool::new(queue.clone(), Arc::new(handler), Arc::new(forward), dead_letters, config));

    let mut registry = prometheus_client::registry::Registry::default();
    worker.register_metrics(&mut registry);
    crate::serve_health(args.common.metrics_addr_or(default_metrics_port), registry, shutdown.clone()).await?;
    let pool = tokio::spawn(worker.run(shutdown.clone()));

    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut batch = Vec::with_capacity(docclass_types::MAX_BATCH);
    loop {
        let line = tokio::select! {
            () = shutdown.cancelled() => break,
            line = lines.next_line() => line.context("reading standard input")?,
        };
        let end = line.is_none();
        if let Some(line) = line.filter(|line| !line.trim().is_empty()) {
            batch.push(OutgoingMessage::new(batch.len().to_string(), line));
        }
        if batch.len() == docclass_types::MAX_BATCH || (end && !batch.is_empty()) {
            feed(&queue, &refused, std::mem::take(&mut batch), &shutdown).await;
        }
        if end {
            break;
        }
    }
    // Standard input is done: let the workers empty the queue, then stop them.
    while !queue.is_empty() && !shutdown.is_cancelled() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shutdown.cancel();
    let report = pool.await?;
    tracing::info!(metrics = ?report.metrics, "{name} finished");
    Ok(report)
}

/// Puts lines on the in-process queue, waiting while it is full; a line the queue can never take (too
/// large for a message) goes to the dead letters.
async fn feed(
    queue: &EmbeddedQueue,
    dead_letters: &DeadLetterFile,
    pending: Vec<OutgoingMessage>,
    shutdown: &CancellationToken,
) {
    for (line, error) in send_until_accepted(queue, pending, shutdown).await.refused {
        tracing::warn!(%error, "line refused by the queue; dead-lettering it");
        // The line never was a queue message: it goes to the dead letters as one read from stdin.
        let original = ReceivedMessage {
            message_id: line.entry_id.clone(),
            receipt: Receipt(line.entry_id),
            body: line.body,
            receive_count: 0,
            attributes: line.attributes,
        };
        let letter = dead_letter(
            original.message_id.clone(),
            &original,
            "stdin",
            DeadLetterReason::MessageTooLarge,
            &error.to_string(),
        );
        if let Some(Err(error)) = dead_letters.send_batch(&[letter]).await.pop() {
            tracing::error!(%error, "cannot write the dead-letter file; the line is lost");
        }
    }
}
