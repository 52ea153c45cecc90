//! Serving one stage over standard input and output.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use adapters_embedded::{DeadLetterFile, EmbeddedQueue, QueueConfig};
use anyhow::Context;
use docclass_types::topology::{env, timeouts};
use docclass_types::{DeadLetterReason, MessageSink, OutgoingMessage, Receipt, ReceivedMessage, dead_letter};
use text_model::{Classifier, Model, ModelFormat};
use tokio::io::AsyncBufReadExt;
use tokio_util::sync::CancellationToken;
use worker_runtime::{Forward, Handler, RunReport, Worker, WorkerConfig, send_until_accepted};

/// Flags every service takes.
#[derive(Debug, Clone, clap::Args)]
pub struct ServiceArgs {
    /// Concurrent workers.
    #[arg(long, env = env::WORKERS, default_value_t = 2)]
    pub workers: usize,
    /// Where dead letters are appended, one JSON object per line with `reason`, `detail`, `queue` and the
    /// original `body`.
    #[arg(long, env = env::DEAD_LETTERS, default_value = "dead-letters.jsonl")]
    pub dead_letters: PathBuf,
    /// How long a received message stays hidden from other workers (SQS mode); longer than the slowest
    /// batch takes. A crashed worker's messages come back after it.
    #[arg(long, env = env::VISIBILITY_TIMEOUT_SECS, default_value_t = timeouts::VISIBILITY.as_secs())]
    pub visibility_timeout_secs: u64,
    /// Log format, metrics address and health check.
    #[command(flatten)]
    pub common: crate::CommonArgs,
}

/// The file name, in [`model_cache_dir`], of the default model a service loads when given none: the one
/// `docclass train` and `docclass run` cache for 20 Newsgroups.
pub const DEFAULT_MODEL_FILE: &str = "default-20ng.model";

/// Where default models are cached: `cache_dir` if given, else the user's cache folder
/// (`$XDG_CACHE_HOME/docclass` or `~/.cache/docclass` on Linux), else the temporary folder.
pub fn model_cache_dir(cache_dir: Option<&Path>) -> PathBuf {
    cache_dir
        .map(Path::to_owned)
        .unwrap_or_else(|| dirs::cache_dir().unwrap_or_else(std::env::temp_dir).join("docclass"))
}

/// Loads `path`, or the default model that `docclass train`/`docclass run` cache: a linear model file,
/// or, in a build with the `bert` feature, a transformer head file (`docclass train --backend bert`).
///
/// # Errors
/// When the file is missing, corrupt or incompatible, or needs a feature this build lacks; the message
/// says how to get one.
pub fn load_model(path: Option<&Path>, cache_dir: Option<&Path>) -> anyhow::Result<Arc<dyn Classifier>> {
    let path = path.map(Path::to_owned).unwrap_or_else(|| model_cache_dir(cache_dir).join(DEFAULT_MODEL_FILE));
    let how = || {
        format!(
            "no usable model at {} (train one with `docclass train --out FILE`, or run `docclass run` once to cache the default)",
            path.display()
        )
    };
    // The file says what it is (text_model::ModelFormat); a build without the bert feature still knows
    // a head file when it sees one, and says which build it needs.
    match ModelFormat::detect(&path).with_context(how)? {
        ModelFormat::Linear => Ok(Arc::new(Model::load(&path).with_context(how)?)),
        ModelFormat::BertHead => load_bert(&path).with_context(how),
    }
}

#[cfg(feature = "bert")]
fn load_bert(path: &Path) -> anyhow::Result<Arc<dyn Classifier>> {
    Ok(Arc::new(bert_backend::BertClassifier::load(path)?))
}

#[cfg(not(feature = "bert"))]
fn load_bert(path: &Path) -> anyhow::Result<Arc<dyn Classifier>> {
    anyhow::bail!(
        "{} is a transformer (bert) model, and this build has no `bert` feature: build with `--features bert` (see docs/models.md, 'Transformer backend')",
        path.display()
    )
}

/// Runs `handler` over the envelopes arriving on standard input (one JSON object per line) and sends
/// its results to `forward`, until standard input ends and every message is finished, or until SIGINT or
/// SIGTERM.
///
/// # Errors
/// When the dead-letter file cannot be opened or standard input cannot be read.
pub async fn serve_stdio<H: Handler, F: Forward>(
    name: &str,
    default_metrics_port: u16,
    handler: H,
    forward: F,
    args: &ServiceArgs,
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
    let worker = Arc::new(Worker::new(queue.clone(), Arc::new(handler), Arc::new(forward), dead_letters, config));

    let shutdown = CancellationToken::new();
    worker_runtime::cancel_on_shutdown_signal(shutdown.clone());
    let mut registry = prometheus_client::registry::Registry::default();
    worker.register_metrics(&mut registry);
    crate::serve_health(args.common.metrics_addr_or(default_metrics_port), registry, shutdown.clone()).await?;
    let pool = tokio::spawn(worker.run(shutdown.clone()));

    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut batch = Vec::with_capacity(WorkerConfig::SQS_MAX_BATCH);
    loop {
        let line = tokio::select! {
            () = shutdown.cancelled() => break,
            line = lines.next_line() => line.context("reading standard input")?,
        };
        let end = line.is_none();
        if let Some(line) = line.filter(|line| !line.trim().is_empty()) {
            batch.push(OutgoingMessage::new(batch.len().to_string(), line));
        }
        if batch.len() == WorkerConfig::SQS_MAX_BATCH || (end && !batch.is_empty()) {
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
