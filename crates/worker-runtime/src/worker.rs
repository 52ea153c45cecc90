//! The receive → handle → forward → ack loop, and the pool that runs several of them.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use docclass_types::{DeadLetterReason, Envelope, MessageSink, MessageSource, Receipt, ReceivedMessage, Rejection};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::outage::{Outage, RECEIVE_BACKOFF};
use crate::{Forward, Handler, HandlerError, Metrics, MetricsSnapshot, Protection, WorkerConfig};

/// A pool of workers moving messages from one source, through one handler, to one destination.
pub struct WorkerPool<S, H, F, D> {
    source: Arc<S>,
    handler: Arc<H>,
    forward: Arc<F>,
    /// Receives messages that can never succeed, with their reason.
    dead_letters: Arc<D>,
    config: WorkerConfig,
    metrics: Arc<Metrics>,
    protection: Arc<Protection>,
    /// Receives failing in a row, across the pool's workers.
    receive_outage: Outage,
}

/// What happened to the messages of one batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Messages received.
    pub received: usize,
    /// Forwarded and acknowledged.
    pub completed: usize,
    /// Sent to the dead-letter queue and acknowledged.
    pub dead_lettered: usize,
    /// Left for another delivery.
    pub retried: usize,
    /// Held back at least once because the destination was full or throttling (and then forwarded,
    /// or given back at shutdown): never counted against the message.
    pub throttled: usize,
}

/// How a pool's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunReport {
    /// Counters at the end of the run.
    pub metrics: MetricsSnapshot,
    /// True when workers were still busy at the shutdown deadline and were abandoned; their messages
    /// come back after their visibility timeout.
    pub timed_out: bool,
}

/// Why one message is going to the dead-letter queue.
struct DeadLetter {
    reason: DeadLetterReason,
    detail: String,
}

/// Where each message of a batch stands as it moves through the steps.
enum Disposition {
    Forward(Box<Envelope>),
    DeadLetter(DeadLetter),
    Retry,
    /// Held for a full or throttling destination until the shutdown: back to the queue at once.
    GiveBack,
}

/// Pauses between tries of a batch whose destination is full or throttling: short at first (an embedded
/// queue makes room in milliseconds), never longer than a second or two, so a drained destination is
/// used again at once.
const HOLD_BACKOFF: crate::Backoff = crate::Backoff::new(Duration::from_millis(20), Duration::from_secs(2));

impl<S, H, F, D> WorkerPool<S, H, F, D>
where
    S: MessageSource,
    H: Handler,
    F: Forward,
    D: MessageSink,
{
    /// A pool over the given ports.
    pub fn new(source: Arc<S>, handler: Arc<H>, forward: Arc<F>, dead_letters: Arc<D>, config: WorkerConfig) -> Self {
        let protection = Arc::new(Protection::none());
        let receive_outage = Outage::new(format!("receive from {}", source.name()));
        let metrics = Arc::new(Metrics::default());
        Self { source, handler, forward, dead_letters, config, metrics, protection, receive_outage }
    }

    /// The same pool, holding ECS task scale-in protection while it holds messages.
    pub fn with_protection(self, protection: Arc<Protection>) -> Self {
        Self { protection, ..self }
    }

    /// The pool's counters, live.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Adds the pool's metrics to a Prometheus registry.
    pub fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        self.metrics.register(registry);
        self.handler.register_metrics(registry);
    }

    /// Runs `config.workers` receive loops until `shutdown` is cancelled, then lets each finish the batch
    /// it holds. A worker that panics outside a handler (where panics are caught per message) is
    /// restarted; its messages come back after their visibility timeout.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) -> RunReport {
        let tracker = TaskTracker::new();
        for index in 0..self.config.workers.max(1) {
            let pool = self.clone();
            let shutdown = shutdown.clone();
            tracker.spawn(async move {
                loop {
                    let worker = tokio::spawn(pool.clone().receive_loop(shutdown.clone()));
                    match worker.await {
                        Ok(()) => break,
                        Err(error) if shutdown.is_cancelled() => {
                            tracing::error!(worker = index, %error, "worker crashed during shutdown");
                            break;
                        }
                        Err(error) => {
                            tracing::error!(worker = index, %error, "worker crashed; restarting it");
                            pool.metrics.add_worker_restarts(1);
                        }
                    }
                }
            });
        }
        tracker.close();

        shutdown.cancelled().await;
        tracing::info!(queue = self.source.name(), "stopping: finishing the batches in hand");
        let timed_out = tokio::time::timeout(self.config.shutdown_timeout, tracker.wait()).await.is_err();
        if timed_out {
            tracing::error!(
                queue = self.source.name(),
                timeout_secs = self.config.shutdown_timeout.as_secs_f64(),
                "workers still busy at the shutdown deadline; their messages return after the visibility timeout"
            );
        }
        RunReport { metrics: self.metrics.snapshot(), timed_out }
    }

    async fn receive_loop(self: Arc<Self>, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            // Only the wait for messages is cancellable: once a batch is in hand it is finished. A receive
            // that cannot be dropped safely (SQS's long poll) runs to its end, and what it brings after
            // the shutdown is given back just below, instead of staying hidden until its visibility
            // timeout; `wait_time` under `shutdown_timeout` keeps that within the deadline.
            let receive = self.receive();
            tokio::pin!(receive);
            let received = tokio::select! {
                () = shutdown.cancelled(), if self.source.receive_is_cancel_safe() => break,
                received = &mut receive => received,
            };
            let Some(messages) = received else {
                self.protection.idle().await;
                continue;
            };
            if shutdown.is_cancelled() {
                self.give_back(&messages).await;
                break;
            }
            let held = self.protection.hold().await;
            self.process(messages, &shutdown).await;
            drop(held);
        }
    }

    /// Receives and processes one batch: what tests call to step a worker by hand.
    pub async fn process_one_batch(&self) -> BatchOutcome {
        match self.receive().await {
            Some(messages) => self.process(messages, &CancellationToken::new()).await,
            None => BatchOutcome::default(),
        }
    }

    async fn receive(&self) -> Option<Vec<ReceivedMessage>> {
        let batch_size = self.config.batch_size.clamp(1, docclass_types::MAX_BATCH);
        match self.source.receive(batch_size, self.config.visibility_timeout, self.config.wait_time).await {
            Ok(messages) => {
                self.receive_outage.succeeded();
                (!messages.is_empty()).then_some(messages)
            }
            Err(error) => {
                let streak = self.receive_outage.failed(&error);
                tokio::time::sleep(RECEIVE_BACKOFF.delay(streak)).await;
                None
            }
        }
    }

    /// Extends the messages' visibility timeout every half timeout, for as long as it is polled.
    async fn keep_hidden(&self, messages: &[ReceivedMessage]) -> std::convert::Infallible {
        let timeout = self.config.visibility_timeout;
        let receipts: Vec<Receipt> = messages.iter().map(|message| message.receipt.clone()).collect();
        let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + timeout / 2, timeout / 2);
        loop {
            beat.tick().await;
            let results = self.source.change_visibility_batch(&receipts, timeout).await;
            let failed = results.iter().filter(|result| result.is_err()).count();
            tracing::debug!(
                queue = self.source.name(),
                extended = results.len() - failed,
                failed,
                "visibility extended"
            );
        }
    }

    /// Makes messages visible again at once, for another worker or another process.
    async fn give_back(&self, messages: &[ReceivedMessage]) {
        let receipts: Vec<Receipt> = messages.iter().map(|message| message.receipt.clone()).collect();
        let results = self.source.change_visibility_batch(&receipts, Duration::ZERO).await;
        self.metrics.add_returned(results.iter().filter(|result| result.is_ok()).count());
    }

    async fn process(&self, messages: Vec<ReceivedMessage>, shutdown: &CancellationToken) -> BatchOutcome {
        let received = messages.len();
        self.metrics.add_received(received);
        self.metrics.observe_batch(received);
        let stage = self.handler.stage();
        let limits = self.config.limits;

        // Decode and validate: what fails here will never succeed.
        let mut dispositions: Vec<Disposition> = messages
            .iter()
            .map(|message| {
                match Envelope::decode(&message.body).and_then(|envelope| {
                    envelope.validate(stage, &limits)?;
                    Ok(envelope)
                }) {
                    Ok(envelope) => Disposition::Forward(Box::new(envelope)),
                    Err(rejection) => rejected(&rejection),
                }
            })
            .collect();

        // While the batch is being worked on, keep it hidden: a slow batch must not reappear and be
        // handled twice at once by another worker.
        let mut held_back = 0;
        let work = async {
            self.handle(&messages, &mut dispositions).await;
            held_back = self.forward(&messages, &mut dispositions, shutdown).await;
            self.dead_letter(&messages, &mut dispositions).await;
        };
        tokio::select! {
            () = work => {}
            never = self.keep_hidden(&messages) => match never {},
        }

        // Acknowledge what reached its destination (the next stage or the dead-letter queue); a failed
        // acknowledgement only means a redelivery, which the idempotent writes absorb.
        let mut outcome = BatchOutcome { received, throttled: held_back, ..BatchOutcome::default() };
        let mut done = Vec::new();
        let mut retry = Vec::new();
        let mut give_back = Vec::new();
        for (message, disposition) in messages.iter().zip(&dispositions) {
            match disposition {
                Disposition::Forward(_) => {
                    outcome.completed += 1;
                    done.push(message.receipt.clone());
                }
                Disposition::DeadLetter(_) => {
                    outcome.dead_lettered += 1;
                    done.push(message.receipt.clone());
                }
                Disposition::Retry => {
                    outcome.retried += 1;
                    retry.push(message);
                }
                Disposition::GiveBack => {
                    outcome.retried += 1;
                    give_back.push(message.clone());
                }
            }
        }
        if !done.is_empty() {
            let results = self.source.ack_batch(&done).await;
            let failed = results.iter().filter(|result| result.is_err()).count();
            self.metrics.add_acknowledged(results.len() - failed);
            if let Some(Err(error)) = results.iter().find(|result| result.is_err()) {
                tracing::warn!(queue = self.source.name(), failed, %error, "some acknowledgements failed; those messages will be redelivered");
            }
        }
        self.schedule_retries(&retry).await;
        if !give_back.is_empty() {
            self.give_back(&give_back).await;
        }
        outcome
    }

    /// Runs the handler over every message still headed forward, on the blocking pool.
    async fn handle(&self, messages: &[ReceivedMessage], dispositions: &mut [Disposition]) {
        let mut work = Vec::new();
        for (index, disposition) in dispositions.iter_mut().enumerate() {
            if let Disposition::Forward(_) = disposition {
                let Disposition::Forward(envelope) = std::mem::replace(disposition, Disposition::Retry) else {
                    unreachable!("matched just above")
                };
                let span = tracing::debug_span!(
                    "message",
                    message_id = %messages[index].message_id,
                    queue = self.source.name(),
                    receive_count = messages[index].receive_count,
                    doc_id = %envelope.document.id,
                    label = tracing::field::Empty,
                );
                work.push((index, *envelope, span));
            }
        }
        if work.is_empty() {
            return;
        }
        let handler = self.handler.clone();
        let metrics = self.metrics.clone();
        let results = tokio::task::spawn_blocking(move || {
            work.into_iter()
                .map(|(index, envelope, span)| {
                    let _entered = span.enter();
                    let started = std::time::Instant::now();
                    // A panicking handler fails its message, not the worker.
                    let result = catch_unwind(AssertUnwindSafe(|| handler.handle(envelope))).unwrap_or_else(|panic| {
                        Err(HandlerError::Retriable(format!("handler panicked: {}", panic_message(&panic))))
                    });
                    metrics.observe_processing(started.elapsed().as_secs_f64());
                    (index, result)
                })
                .collect::<Vec<_>>()
        })
        .in_current_span()
        .await;
        let Ok(results) = results else {
            // The closure catches panics itself; the blocking task can only fail if the runtime is
            // shutting down, in which case the messages stay `Retry` and come back.
            return;
        };
        for (index, result) in results {
            dispositions[index] = match result {
                Ok(envelope) => {
                    self.metrics.add_handled(1);
                    self.metrics.observe_agreement(self.handler.stage(), &envelope);
                    Disposition::Forward(Box::new(envelope))
                }
                Err(HandlerError::Permanent { reason, detail }) => {
                    Disposition::DeadLetter(DeadLetter { reason, detail })
                }
                Err(HandlerError::Retriable(detail)) => {
                    self.metrics.add_failed(1);
                    self.retry_or_give_up(&messages[index], DeadLetterReason::HandlerFailed, detail)
                }
            };
        }
    }

    /// Forwards every handled envelope; failures are retried or, if they never can succeed, dead-lettered.
    ///
    /// A destination that is full (a bounded embedded queue) or throttling (DynamoDB, SQS) says nothing
    /// about the message, so the message does not pay for it: the batch is held here, still hidden
    /// (`keep_hidden` runs beside this), and tried again until the destination takes it. Giving it back
    /// instead would spend one of its receives each time, until the queue's redrive moved a good
    /// document to the dead letters as `max_receive_count_exceeded`; holding also slows this stage to
    /// its destination's pace, which is what backpressure is for. Only a shutdown ends the wait: what is
    /// still held then goes back to its queue at once. Answers how many messages were held back.
    async fn forward(
        &self,
        messages: &[ReceivedMessage],
        dispositions: &mut [Disposition],
        shutdown: &CancellationToken,
    ) -> usize {
        let mut pending: Vec<usize> = dispositions
            .iter()
            .enumerate()
            .filter_map(|(index, disposition)| matches!(disposition, Disposition::Forward(_)).then_some(index))
            .collect();
        let mut held_back = std::collections::BTreeSet::new();
        let mut tries = 0;
        while !pending.is_empty() {
            let envelopes: Vec<Envelope> = pending
                .iter()
                .map(|&index| match &dispositions[index] {
                    Disposition::Forward(envelope) => Envelope::clone(envelope),
                    _ => unreachable!("only envelopes headed forward are pending"),
                })
                .collect();
            let results = self.forward.forward_batch(&envelopes).await;
            let mut forwarded = 0;
            let mut waiting = Vec::new();
            let now = chrono::Utc::now();
            for (position, &index) in pending.iter().enumerate() {
                match results.get(position) {
                    Some(Ok(())) => {
                        forwarded += 1;
                        let age = now - envelopes[position].document.ingested_at;
                        self.metrics.observe_age(age.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6);
                    }
                    Some(Err(error)) if !error.is_retriable() => {
                        dispositions[index] = Disposition::DeadLetter(DeadLetter {
                            reason: DeadLetterReason::ForwardRejected,
                            detail: error.to_string(),
                        });
                    }
                    Some(Err(error)) if error.is_backpressure() => {
                        if error.is_throttled() {
                            self.metrics.add_throttled(1);
                        }
                        held_back.insert(index);
                        waiting.push(index);
                    }
                    failure => {
                        self.metrics.add_failed(1);
                        let detail = match failure {
                            Some(Err(error)) => error.to_string(),
                            _ => "no result for this entry".to_owned(),
                        };
                        tracing::debug!(destination = self.forward.destination(), %detail, "forward failed");
                        // Any other failure counts as one of the message's attempts.
                        dispositions[index] =
                            self.retry_or_give_up(&messages[index], DeadLetterReason::ForwardFailed, detail);
                    }
                }
            }
            self.metrics.add_forwarded(forwarded);
            if waiting.is_empty() {
                break;
            }
            tries += 1;
            if tries == 1 {
                tracing::debug!(
                    destination = self.forward.destination(),
                    held = waiting.len(),
                    "destination full or throttling; holding the batch until it takes it"
                );
            }
            let stopped = tokio::select! {
                () = shutdown.cancelled() => true,
                () = tokio::time::sleep(HOLD_BACKOFF.delay(tries)) => false,
            };
            if stopped {
                for index in waiting {
                    dispositions[index] = Disposition::GiveBack;
                }
                break;
            }
            pending = waiting;
        }
        held_back.len()
    }

    /// Sends dead letters with their reason; one that cannot be sent stays in the source queue.
    async fn dead_letter(&self, messages: &[ReceivedMessage], dispositions: &mut [Disposition]) {
        let mut indices = Vec::new();
        let mut letters = Vec::new();
        for (index, disposition) in dispositions.iter().enumerate() {
            if let Disposition::DeadLetter(DeadLetter { reason, detail }) = disposition {
                let message = &messages[index];
                tracing::warn!(queue = self.source.name(), message_id = %message.message_id, reason = reason.as_str(), %detail, "dead-lettering message");
                let letter =
                    docclass_types::dead_letter(index.to_string(), message, self.source.name(), *reason, detail);
                indices.push(index);
                letters.push(letter);
            }
        }
        if letters.is_empty() {
            return;
        }
        let mut sent = 0;
        for (chunk_indices, chunk) in
            indices.chunks(docclass_types::MAX_BATCH).zip(letters.chunks(docclass_types::MAX_BATCH))
        {
            let results = self.dead_letters.send_batch(chunk).await;
            let mut unsent = 0;
            for (position, index) in chunk_indices.iter().enumerate() {
                if matches!(results.get(position), Some(Ok(()))) {
                    sent += 1;
                } else {
                    unsent += 1;
                    dispositions[*index] = Disposition::Retry;
                }
            }
            if unsent > 0 {
                let error = results.iter().find_map(|r| r.as_ref().err()).map(ToString::to_string).unwrap_or_default();
                tracing::error!(
                    queue = self.dead_letters.name(),
                    unsent,
                    %error,
                    "cannot write to the dead-letter queue; those messages stay in their queue"
                );
            }
        }
        self.metrics.add_dead_lettered(sent);
    }

    /// A message that failed goes back to its queue after a backoff, or to the dead-letter queue once it
    /// has used up its attempts.
    fn retry_or_give_up(&self, message: &ReceivedMessage, reason: DeadLetterReason, detail: String) -> Disposition {
        if message.receive_count >= self.config.max_attempts {
            Disposition::DeadLetter(DeadLetter {
                reason,
                detail: format!("failed on all {} deliveries; last error: {detail}", message.receive_count),
            })
        } else {
            tracing::debug!(message_id = %message.message_id, receive_count = message.receive_count, %detail, "will retry");
            Disposition::Retry
        }
    }

    async fn schedule_retries(&self, messages: &[&ReceivedMessage]) {
        for message in messages {
            let delay = self.config.retry_backoff.delay(message.receive_count);
            let results = self.source.change_visibility_batch(std::slice::from_ref(&message.receipt), delay).await;
            if results.iter().all(Result::is_ok) {
                self.metrics.add_returned(1);
            }
        }
    }
}

fn rejected(rejection: &Rejection) -> Disposition {
    Disposition::DeadLetter(DeadLetter { reason: rejection.reason(), detail: rejection.to_string() })
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("non-string panic payload")
}
