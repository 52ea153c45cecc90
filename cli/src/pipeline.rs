//! The whole pipeline in one process: ingest → topic → subtopic → table, on embedded queues and the
//! SQLite table.
//!
//! Each stage is the same [`WorkerPool`] the services run, wired exactly as on AWS: a source queue with its
//! own dead-letter queue, a handler, and a destination. Only the queues live in memory.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use adapters_embedded::{DeadLetterRecord, EmbeddedQueue, QueueConfig, RunStatistics, SqliteTable};
use chrono::Utc;
use docclass_types::{DeadLetter, Document, MessageSource, Queue};
use feed_ingest::{IngestStats, enqueue};
use feeds::ReadError;
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use worker_runtime::{Handler, MetricsSnapshot, ToQueue, ToTable, WorkerConfig, WorkerPool};

/// How the embedded pipeline runs.
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// Worker settings shared by the three stages (their `workers` is per stage).
    pub worker: WorkerConfig,
    /// Capacity of each queue; a full queue slows its producer down.
    pub queue_capacity: usize,
    /// Deliveries before a queue moves a message to its dead-letter queue.
    pub max_receive_count: u32,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        Self {
            worker: WorkerConfig {
                // In one process a long poll only delays shutdown; messages arrive in microseconds.
                wait_time: Duration::from_millis(100),
                ..WorkerConfig::default()
            },
            queue_capacity: 2_000,
            max_receive_count: 10,
        }
    }
}

/// The three handlers of a pipeline.
pub struct Handlers<T, S, W> {
    /// Adds the topic.
    pub topic: T,
    /// Adds the subtopic.
    pub subtopic: S,
    /// Checks before writing.
    pub write: W,
}

/// The queues of the embedded pipeline, each with its dead-letter queue.
pub struct Queues {
    /// Documents from the ingestor.
    pub ingest: Arc<EmbeddedQueue>,
    /// Documents with a topic.
    pub subtopic: Arc<EmbeddedQueue>,
    /// Fully classified documents.
    pub results: Arc<EmbeddedQueue>,
    /// Dead letters of the three queues, in the same order.
    pub dead_letters: [Arc<EmbeddedQueue>; 3],
}

impl Queues {
    /// Fresh, empty queues.
    pub fn new(options: &PipelineOptions) -> Self {
        let config = QueueConfig {
            capacity: options.queue_capacity,
            max_receive_count: options.max_receive_count,
            ..QueueConfig::default()
        };
        let dead_letter_config = QueueConfig { capacity: usize::MAX, ..config.clone() };
        let dead_letters = Queue::ALL
            .map(|queue| Arc::new(EmbeddedQueue::new(queue.dead_letter_suffix(), dead_letter_config.clone())));
        let queue = |queue: Queue| {
            let dead_letters = dead_letters[queue as usize].clone();
            Arc::new(EmbeddedQueue::with_dead_letters(queue.suffix(), config.clone(), dead_letters))
        };
        Self {
            ingest: queue(Queue::Ingest),
            subtopic: queue(Queue::Subtopic),
            results: queue(Queue::Results),
            dead_letters,
        }
    }
}

/// Where a run stands, for progress displays.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    /// Documents enqueued so far.
    pub ingested: u64,
    /// Results written so far (redeliveries counted again).
    pub written: u64,
    /// Messages dead-lettered so far.
    pub dead_lettered: u64,
    /// Messages each stage (topic, subtopic, write) has handled so far.
    pub handled: [u64; 3],
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct PipelineReport {
    /// Documents enqueued.
    pub documents_in: u64,
    /// Distinct documents whose row this run wrote.
    pub results_written: u64,
    /// Messages that ended in a dead-letter queue (kept in the `dead_letters` table).
    pub dead_lettered: u64,
    /// Dead letters by reason.
    pub dead_letter_reasons: BTreeMap<String, u64>,
    /// Records that could not be read from the input.
    pub unreadable: u64,
    /// Documents too large to enqueue.
    pub refused_at_ingest: u64,
    /// Wall-clock seconds from start to the last write.
    pub seconds: f64,
    /// Documents in per second of wall-clock time.
    pub docs_per_second: f64,
    /// Rows per predicted topic.
    pub per_topic: BTreeMap<String, u64>,
    /// Share of labelled rows whose topic matches the label, when any are labelled.
    pub topic_accuracy: Option<f64>,
    /// Share of labelled rows whose subtopic matches the label.
    pub subtopic_accuracy: Option<f64>,
    /// Share of labelled rows whose subtopic is the label or one of the document's listed categories.
    pub subtopic_listed_accuracy: Option<f64>,
    /// True when a shutdown signal cut the run short.
    pub interrupted: bool,
    /// Counters of each stage.
    pub stages: BTreeMap<String, MetricsSnapshot>,
}

/// The embedded pipeline, ready to run.
pub struct Pipeline<T, S, W, Wrap> {
    stages: Handlers<T, S, W>,
    table: SqliteTable,
    queues: Queues,
    options: PipelineOptions,
    /// Wraps each queue before a stage consumes it: the identity in production; tests use it to inject
    /// crashes.
    wrap_sources: Wrap,
}

/// What a queue looks like to its consuming stage unless wrapped.
pub type Unwrapped = fn(Arc<EmbeddedQueue>) -> Arc<EmbeddedQueue>;

impl<T: Handler, S: Handler, W: Handler> Pipeline<T, S, W, Unwrapped> {
    /// A pipeline with fresh queues writing to `table`.
    pub fn new(stages: Handlers<T, S, W>, table: SqliteTable, options: PipelineOptions) -> Self {
        Self { stages, table, queues: Queues::new(&options), options, wrap_sources: |queue| queue }
    }
}

impl<T, S, W, Wrap, Src> Pipeline<T, S, W, Wrap>
where
    T: Handler,
    S: Handler,
    W: Handler,
    Wrap: Fn(Arc<EmbeddedQueue>) -> Arc<Src>,
    Src: MessageSource,
{
    /// The same pipeline with each stage consuming `wrap(queue)` instead of the queue itself.
    pub fn wrap_sources<Wrap2, Src2>(self, wrap: Wrap2) -> Pipeline<T, S, W, Wrap2>
    where
        Wrap2: Fn(Arc<EmbeddedQueue>) -> Arc<Src2>,
    {
        Pipeline {
            stages: self.stages,
            table: self.table,
            queues: self.queues,
            options: self.options,
            wrap_sources: wrap,
        }
    }

    /// The queues, for sending to them directly.
    pub fn queues(&self) -> &Queues {
        &self.queues
    }

    /// Runs over `documents` until every one is written or dead-lettered, or until `shutdown` is
    /// cancelled (then each stage finishes the batches it holds and the run stops early).
    ///
    /// # Errors
    /// When the table cannot be read back for the summary, or a stage's task fails.
    pub async fn run(
        self,
        documents: impl Iterator<Item = Result<Document, ReadError>> + Send + 'static,
        shutdown: CancellationToken,
        mut on_progress: impl FnMut(Progress),
    ) -> anyhow::Result<PipelineReport> {
        let Self { stages, table, queues, options, wrap_sources: sources } = self;
        let options = &options;
        let started_at = Utc::now();
        let started = Instant::now();
        let [ingest_dlq, subtopic_dlq, results_dlq] = &queues.dead_letters;

        let topic = Arc::new(WorkerPool::new(
            sources(queues.ingest.clone()),
            Arc::new(stages.topic),
            Arc::new(ToQueue(queues.subtopic.clone())),
            ingest_dlq.clone(),
            options.worker.clone(),
        ));
        let subtopic = Arc::new(WorkerPool::new(
            sources(queues.subtopic.clone()),
            Arc::new(stages.subtopic),
            Arc::new(ToQueue(queues.results.clone())),
            subtopic_dlq.clone(),
            options.worker.clone(),
        ));
        let writer = Arc::new(WorkerPool::new(
            sources(queues.results.clone()),
            Arc::new(stages.write),
            Arc::new(ToTable(table.clone())),
            results_dlq.clone(),
            options.worker.clone(),
        ));
        let metrics = [("topic", topic.metrics()), ("subtopic", subtopic.metrics()), ("write", writer.metrics())];

        // Each stage stops on its own token: when the run is interrupted, or when everything upstream of it
        // is finished and its queue is empty.
        let tokens = [shutdown.child_token(), shutdown.child_token(), shutdown.child_token()];
        let topic_run = tokio::spawn(topic.run(tokens[0].clone()));
        let subtopic_run = tokio::spawn(subtopic.run(tokens[1].clone()));
        let writer_run = tokio::spawn(writer.run(tokens[2].clone()));

        let ingested = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let ingest = tokio::spawn({
            let queue = queues.ingest.clone();
            let ingested = ingested.clone();
            let shutdown = shutdown.clone();
            async move {
                let documents = documents.take_while(move |_| !shutdown.is_cancelled());
                enqueue(documents, &queue, |stats| ingested.store(stats.enqueued, std::sync::atomic::Ordering::Relaxed))
                    .await
            }
        });

        let progress = |on_progress: &mut dyn FnMut(Progress)| {
            on_progress(Progress {
                ingested: ingested.load(std::sync::atomic::Ordering::Relaxed),
                written: metrics[2].1.snapshot().forwarded,
                dead_lettered: metrics.iter().map(|(_, m)| m.snapshot().dead_lettered).sum(),
                handled: [0, 1, 2].map(|stage| metrics[stage].1.snapshot().handled),
            });
        };
        let mut ticker = tokio::time::interval(Duration::from_millis(100));
        let ingest_stats: IngestStats = wait_for(ingest, &mut ticker, &mut || progress(&mut on_progress)).await?;
        let mut upstream_done = true;
        let pools = [(topic_run, &queues.ingest), (subtopic_run, &queues.subtopic), (writer_run, &queues.results)];
        for ((pool, queue), token) in pools.into_iter().zip(&tokens) {
            // Drain: once upstream is finished and this queue is empty (nothing visible, nothing in flight,
            // no retry pending), no more work can arrive.
            while upstream_done && !queue.is_empty() && !shutdown.is_cancelled() {
                ticker.tick().await;
                progress(&mut on_progress);
            }
            token.cancel();
            let report = pool.await?;
            upstream_done = !report.timed_out;
        }
        progress(&mut on_progress);
        let seconds = started.elapsed().as_secs_f64();

        // Keep the dead letters: the in-memory queues die with the process.
        let mut dead_letter_reasons = BTreeMap::new();
        let mut records = Vec::new();
        for dlq in &queues.dead_letters {
            for (body, attrs) in dlq.drain_visible() {
                let letter = DeadLetter::from_attributes(&attrs);
                *dead_letter_reasons.entry(letter.reason.clone()).or_insert(0) += 1;
                records.push(DeadLetterRecord {
                    queue: letter.source_queue.unwrap_or_default(),
                    reason: letter.reason,
                    detail: letter.detail,
                    body,
                });
            }
        }
        let dead_lettered = records.len() as u64;
        table.store_dead_letters(records).await?;

        let stats: RunStatistics = table.statistics_since(started_at).await?;
        let accuracy = |correct: u64| (stats.labelled > 0).then(|| correct as f64 / stats.labelled as f64);
        Ok(PipelineReport {
            documents_in: ingest_stats.enqueued,
            results_written: stats.rows,
            dead_lettered,
            dead_letter_reasons,
            unreadable: ingest_stats.unreadable,
            refused_at_ingest: ingest_stats.refused,
            seconds,
            docs_per_second: ingest_stats.enqueued as f64 / seconds.max(1e-9),
            topic_accuracy: accuracy(stats.topic_correct),
            subtopic_accuracy: accuracy(stats.subtopic_correct),
            subtopic_listed_accuracy: accuracy(stats.subtopic_listed),
            per_topic: stats.per_topic.into_iter().collect(),
            interrupted: shutdown.is_cancelled(),
            stages: metrics.iter().map(|(name, m)| (name.to_string(), m.snapshot())).collect(),
        })
    }
}

/// Awaits `task`, reporting progress on every tick meanwhile.
async fn wait_for<T>(
    mut task: tokio::task::JoinHandle<T>,
    ticker: &mut tokio::time::Interval,
    progress: &mut dyn FnMut(),
) -> anyhow::Result<T> {
    loop {
        tokio::select! {
            result = &mut task => return Ok(result?),
            _ = ticker.tick() => progress(),
        }
    }
}
