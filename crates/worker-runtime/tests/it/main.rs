//! The worker runtime over the embedded queue: dead letters, retries, crashes and shutdown.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use adapters_embedded::{EmbeddedQueue, QueueConfig};
use chrono::Utc;
use docclass_types::{
    BatchResults, Classification, DeadLetterReason, Document, Envelope, MessageSink, MessageSource, OutgoingMessage,
    QueueError, Receipt, ReceivedMessage, Stage, attributes,
};
use tokio_util::sync::CancellationToken;
use worker_runtime::{Backoff, Forward, ForwardError, Handler, HandlerError, ToQueue, WorkerConfig, WorkerPool};

/// What a test handler does to a document, by id.
#[derive(Clone, Copy)]
enum Behaviour {
    Succeed,
    /// Panics on the first delivery, succeeds afterwards.
    PanicOnce,
    /// Fails retriably every time.
    AlwaysFail,
    /// Refuses for good.
    Refuse,
    /// Takes this long (on the blocking pool).
    Slow(Duration),
    /// Waits at the handler's gate until the test opens it.
    Gated,
}

#[derive(Default)]
struct TestHandler {
    behaviours: HashMap<String, Behaviour>,
    calls: Mutex<HashMap<String, u32>>,
    /// Where [`Behaviour::Gated`] documents wait; the test passes it too to let them go.
    gate: Option<Arc<Barrier>>,
}

impl TestHandler {
    fn with(behaviours: &[(&str, Behaviour)]) -> Self {
        Self { behaviours: behaviours.iter().map(|(id, b)| (id.to_string(), *b)).collect(), ..Self::default() }
    }
}

impl Handler for TestHandler {
    fn stage(&self) -> Stage {
        Stage::Topic
    }

    fn handle(&self, mut envelope: Envelope) -> Result<Envelope, HandlerError> {
        let id = envelope.document.id.clone();
        let call = {
            let mut calls = self.calls.lock().unwrap();
            let call = calls.entry(id.clone()).or_default();
            *call += 1;
            *call
        };
        match self.behaviours.get(&id).copied().unwrap_or(Behaviour::Succeed) {
            Behaviour::PanicOnce if call == 1 => panic!("injected panic for {id}"),
            Behaviour::AlwaysFail => return Err(HandlerError::Retriable(format!("injected failure {call}"))),
            Behaviour::Refuse => {
                return Err(HandlerError::Permanent {
                    reason: DeadLetterReason::UnknownTopic,
                    detail: "refused".into(),
                });
            }
            Behaviour::Slow(duration) => std::thread::sleep(duration),
            Behaviour::Gated => {
                self.gate.as_ref().expect("a gated handler has a gate").wait();
            }
            _ => {}
        }
        envelope.topic = Some(Classification {
            label: "t".into(),
            score: 1.0,
            model_version: "test".into(),
            classified_at: Utc::now(),
            top: Vec::new(),
        });
        Ok(envelope)
    }
}

struct Pipeline {
    input: Arc<EmbeddedQueue>,
    output: Arc<EmbeddedQueue>,
    dead_letters: Arc<EmbeddedQueue>,
}

fn queues() -> Pipeline {
    let dead_letters = Arc::new(EmbeddedQueue::new("input-dlq", QueueConfig::default()));
    let config = QueueConfig { max_receive_count: 100, ..QueueConfig::default() };
    Pipeline {
        input: Arc::new(EmbeddedQueue::with_dead_letters("input", config, dead_letters.clone())),
        output: Arc::new(EmbeddedQueue::new("output", QueueConfig::default())),
        dead_letters,
    }
}

fn config() -> WorkerConfig {
    WorkerConfig {
        workers: 2,
        visibility_timeout: Duration::from_secs(5),
        wait_time: Duration::from_millis(50),
        max_attempts: 3,
        retry_backoff: Backoff::new(Duration::from_millis(10), Duration::from_millis(100)),
        shutdown_timeout: Duration::from_secs(5),
        ..WorkerConfig::default()
    }
}

fn envelope(id: &str, text: &str) -> String {
    Envelope::new(Document {
        id: id.into(),
        title: String::new(),
        text: text.into(),
        source: "test".into(),
        url: None,
        published: None,
        ingested_at: Utc::now(),
        labels: None,
    })
    .encode()
}

async fn send(queue: &EmbeddedQueue, bodies: Vec<String>) {
    for chunk in bodies.chunks(10) {
        let batch: Vec<_> =
            chunk.iter().enumerate().map(|(i, b)| OutgoingMessage::new(i.to_string(), b.clone())).collect();
        assert!(queue.send_batch(&batch).await.iter().all(Result::is_ok));
    }
}

/// Polls `done` until it holds, failing the test after 20 s: a regression fails CI instead of hanging it.
async fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn ids(queue: &EmbeddedQueue) -> Vec<String> {
    let mut ids: Vec<String> =
        queue.drain_visible().into_iter().map(|(body, _)| Envelope::decode(&body).unwrap().document.id).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn poison_messages_are_dead_lettered_with_their_reason() {
    let q = queues();
    let mut unknown_version: serde_json::Value = serde_json::from_str(&envelope("v", "text")).unwrap();
    unknown_version["schema_version"] = 2.into();
    send(
        &q.input,
        vec![
            "{not json".into(),
            envelope("empty", "   "),
            envelope("huge", &"x".repeat(200 * 1024)),
            unknown_version.to_string(),
            envelope("good", "fine text"),
        ],
    )
    .await;
    let handler = TestHandler::with(&[("refused", Behaviour::Refuse)]);
    let worker = WorkerPool::new(
        q.input.clone(),
        Arc::new(handler),
        Arc::new(ToQueue(q.output.clone())),
        q.dead_letters.clone(),
        config(),
    );
    let outcome = worker.process_one_batch().await;
    assert_eq!((outcome.completed, outcome.dead_lettered, outcome.retried), (1, 4, 0));
    assert!(q.input.is_empty(), "dead-lettered messages are acknowledged, never retried");
    assert_eq!(ids(&q.output), ["good"]);

    let mut reasons: Vec<String> = q
        .dead_letters
        .drain_visible()
        .into_iter()
        .map(|(_, attrs)| {
            assert_eq!(attrs[attributes::DEAD_LETTER_SOURCE_QUEUE], "input");
            assert!(!attrs[attributes::DEAD_LETTER_DETAIL].is_empty());
            attrs[attributes::DEAD_LETTER_REASON].clone()
        })
        .collect();
    reasons.sort();
    assert_eq!(reasons, ["empty_text", "invalid_json", "text_too_large", "unsupported_schema_version"]);
}

#[tokio::test]
async fn a_panicking_handler_fails_only_its_message_which_is_retried() {
    let q = queues();
    send(&q.input, vec![envelope("boom", "a"), envelope("calm", "b")]).await;
    let handler = TestHandler::with(&[("boom", Behaviour::PanicOnce)]);
    let worker = WorkerPool::new(
        q.input.clone(),
        Arc::new(handler),
        Arc::new(ToQueue(q.output.clone())),
        q.dead_letters.clone(),
        config(),
    );
    let first = worker.process_one_batch().await;
    assert_eq!((first.completed, first.retried), (1, 1));
    // The retry comes back after its (short) backoff.
    let mut second = worker.process_one_batch().await;
    for _ in 0..200 {
        if second.received > 0 {
            break;
        }
        second = worker.process_one_batch().await;
    }
    assert_eq!(second.completed, 1);
    assert_eq!(ids(&q.output), ["boom", "calm"]);
    assert!(q.input.is_empty());
    assert_eq!(worker.metrics().snapshot().failed, 1);
}

#[tokio::test]
async fn permanent_and_repeated_failures_end_in_the_dead_letter_queue() {
    let q = queues();
    send(&q.input, vec![envelope("refused", "a"), envelope("flaky", "b")]).await;
    let handler = TestHandler::with(&[("refused", Behaviour::Refuse), ("flaky", Behaviour::AlwaysFail)]);
    let worker = WorkerPool::new(
        q.input.clone(),
        Arc::new(handler),
        Arc::new(ToQueue(q.output.clone())),
        q.dead_letters.clone(),
        config(),
    );
    for _ in 0..200 {
        if q.input.is_empty() {
            break;
        }
        worker.process_one_batch().await;
    }
    assert!(q.input.is_empty(), "messages still circling after 200 batches");
    let dead: HashMap<String, String> = q
        .dead_letters
        .drain_visible()
        .into_iter()
        .map(|(body, attrs)| {
            (Envelope::decode(&body).unwrap().document.id, attrs[attributes::DEAD_LETTER_REASON].clone())
        })
        .collect();
    assert_eq!(dead["refused"], "unknown_topic");
    assert_eq!(dead["flaky"], "handler_failed");
    assert_eq!(worker.metrics().snapshot().received, 1 + config().max_attempts as u64);
}

/// A destination that is there but fails every send (as a queue whose policy denies the sender would), or
/// only asks to slow down.
struct FailingForward {
    throttle: bool,
}

impl Forward for FailingForward {
    fn destination(&self) -> &str {
        "failing"
    }

    async fn forward_batch(&self, envelopes: &[Envelope]) -> Vec<Result<(), ForwardError>> {
        let error = if self.throttle {
            QueueError::Throttled { queue: "failing".into() }
        } else {
            QueueError::Transport { queue: "failing".into(), detail: "injected failure".into(), retriable: true }
        };
        envelopes.iter().map(|_| Err(error.clone().into())).collect()
    }
}

#[tokio::test]
async fn a_forward_that_keeps_failing_is_dead_lettered_after_max_attempts_with_its_reason() {
    let q = queues();
    send(&q.input, vec![envelope("stuck", "a")]).await;
    let worker = WorkerPool::new(
        q.input.clone(),
        Arc::new(TestHandler::default()),
        Arc::new(FailingForward { throttle: false }),
        q.dead_letters.clone(),
        config(),
    );
    // Bounded: the input queue's own redrive (100 receives) is far away; only the worker can end this.
    for _ in 0..50 {
        if q.input.is_empty() {
            break;
        }
        worker.process_one_batch().await;
    }
    assert!(q.input.is_empty(), "the message is still circling after 50 batches");
    let dead = q.dead_letters.drain_visible();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].1[attributes::DEAD_LETTER_REASON], "forward_failed");
    assert!(dead[0].1[attributes::DEAD_LETTER_DETAIL].contains("injected failure"), "{:?}", dead[0].1);
    assert_eq!(worker.metrics().snapshot().received, config().max_attempts as u64);
}

/// A destination that throttles its first `refusals` batches, then takes everything.
struct ThrottlingForward {
    refusals: AtomicU32,
    forwarded: Mutex<Vec<String>>,
}

impl Forward for ThrottlingForward {
    fn destination(&self) -> &str {
        "throttling"
    }

    async fn forward_batch(&self, envelopes: &[Envelope]) -> Vec<Result<(), ForwardError>> {
        let refused = self.refusals.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
        if refused {
            return envelopes
                .iter()
                .map(|_| Err(QueueError::Throttled { queue: "throttling".into() }.into()))
                .collect();
        }
        self.forwarded.lock().unwrap().extend(envelopes.iter().map(|e| e.document.id.clone()));
        envelopes.iter().map(|_| Ok(())).collect()
    }
}

/// Throttling says nothing about the message: the worker holds its batch and tries again, so the message
/// is received once, forwarded once, and never dead-lettered — however long the throttling lasts.
#[tokio::test]
async fn a_throttled_forward_is_held_not_redelivered() {
    let q = queues();
    send(&q.input, vec![envelope("patient", "a")]).await;
    let refusals = 3 * config().max_attempts;
    let forward = Arc::new(ThrottlingForward { refusals: AtomicU32::new(refusals), forwarded: Mutex::default() });
    let worker = WorkerPool::new(
        q.input.clone(),
        Arc::new(TestHandler::default()),
        forward.clone(),
        q.dead_letters.clone(),
        config(),
    );
    let outcome = worker.process_one_batch().await;
    assert_eq!((outcome.received, outcome.completed, outcome.throttled), (1, 1, 1), "{outcome:?}");
    assert_eq!(*forward.forwarded.lock().unwrap(), ["patient"]);
    assert!(q.dead_letters.is_empty(), "throttling is not the message's failure");
    assert!(q.input.is_empty(), "forwarded and acknowledged");
    assert_eq!(worker.metrics().snapshot().received, 1, "one delivery, however many refusals");
}

/// A full destination (a stalled downstream stage) never costs a message its receives: behind a queue
/// whose redrive moves a message after 2 receives, a pool whose destination holds one message at a time
/// and drains slowly still forwards every document, and none reaches the dead letters as
/// `max_receive_count_exceeded`. (Giving held messages back, as this runtime once did, dead-lettered
/// good documents whenever a downstream stalled: the dashboard's readers were enough to do it.)
#[tokio::test]
async fn a_full_destination_never_costs_a_message_its_receives() {
    let dead_letters = Arc::new(EmbeddedQueue::new("input-dlq", QueueConfig::default()));
    let strict = QueueConfig { max_receive_count: 2, ..QueueConfig::default() };
    let input = Arc::new(EmbeddedQueue::with_dead_letters("input", strict, dead_letters.clone()));
    let output = Arc::new(EmbeddedQueue::new("output", QueueConfig { capacity: 1, ..QueueConfig::default() }));
    let ids: Vec<String> = (0..30).map(|n| format!("doc-{n}")).collect();
    send(&input, ids.iter().map(|id| envelope(id, "a")).collect()).await;
    let worker = Arc::new(WorkerPool::new(
        input.clone(),
        Arc::new(TestHandler::default()),
        Arc::new(ToQueue(output.clone())),
        dead_letters.clone(),
        config(),
    ));
    let shutdown = CancellationToken::new();
    let run = tokio::spawn(worker.clone().run(shutdown.clone()));
    // The slow consumer downstream: one message every 20 ms.
    let mut drained = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while drained.len() < ids.len() {
        assert!(Instant::now() < deadline, "only {} of {} forwarded", drained.len(), ids.len());
        tokio::time::sleep(Duration::from_millis(20)).await;
        for (body, _) in output.drain_visible() {
            drained.push(Envelope::decode(&body).unwrap().document.id);
        }
    }
    shutdown.cancel();
    run.await.unwrap();
    assert!(dead_letters.is_empty(), "{:?}", dead_letters.drain_visible());
    drained.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(drained, expected, "every document once");
    assert_eq!(worker.metrics().snapshot().received, ids.len() as u64, "each received once");
}

/// A source whose first acknowledgement "crashes" the worker: the result is already forwarded, the
/// message is not yet deleted.
struct CrashBeforeFirstAck {
    queue: Arc<EmbeddedQueue>,
    crashes_left: AtomicU32,
}

impl MessageSource for CrashBeforeFirstAck {
    fn name(&self) -> &str {
        MessageSource::name(&*self.queue)
    }

    async fn receive(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        MessageSource::receive(&*self.queue, max, visibility, wait).await
    }

    async fn ack_batch(&self, receipts: &[Receipt]) -> BatchResults {
        if self.crashes_left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            panic!("injected crash between forward and acknowledge");
        }
        self.queue.ack_batch(receipts).await
    }

    async fn change_visibility_batch(&self, receipts: &[Receipt], visibility: Duration) -> BatchResults {
        self.queue.change_visibility_batch(receipts, visibility).await
    }
}

#[tokio::test]
async fn a_crash_between_forward_and_ack_redelivers_and_loses_nothing() {
    let q = queues();
    send(&q.input, (0..5).map(|i| envelope(&format!("d{i}"), "text")).collect()).await;
    let source = Arc::new(CrashBeforeFirstAck { queue: q.input.clone(), crashes_left: AtomicU32::new(1) });
    let config = WorkerConfig { workers: 1, visibility_timeout: Duration::from_millis(300), ..config() };
    let worker = Arc::new(WorkerPool::new(
        source,
        Arc::new(TestHandler::default()),
        Arc::new(ToQueue(q.output.clone())),
        q.dead_letters.clone(),
        config,
    ));
    let shutdown = CancellationToken::new();
    let run = tokio::spawn(worker.clone().run(shutdown.clone()));
    wait_until("the input queue is empty", || q.input.is_empty()).await;
    shutdown.cancel();
    let report = run.await.unwrap();
    assert_eq!(report.metrics.worker_restarts, 1, "the crashed worker was restarted");
    let delivered = ids(&q.output);
    // At least once: each document forwarded twice (before and after the crash), none missing.
    assert_eq!(delivered, ["d0", "d0", "d1", "d1", "d2", "d2", "d3", "d3", "d4", "d4"]);
}

#[tokio::test]
async fn shutdown_finishes_work_in_hand_and_returns_the_rest() {
    let q = queues();
    let total = 40;
    send(&q.input, (0..total).map(|i| envelope(&format!("d{i:02}"), "text")).collect()).await;
    let slow: Vec<(String, Behaviour)> =
        (0..total).map(|i| (format!("d{i:02}"), Behaviour::Slow(Duration::from_millis(30)))).collect();
    let handler = TestHandler { behaviours: slow.into_iter().collect(), ..TestHandler::default() };
    let worker = Arc::new(WorkerPool::new(
        q.input.clone(),
        Arc::new(handler),
        Arc::new(ToQueue(q.output.clone())),
        q.dead_letters.clone(),
        WorkerConfig { batch_size: 5, ..config() },
    ));
    let shutdown = CancellationToken::new();
    let run = tokio::spawn(worker.clone().run(shutdown.clone()));
    wait_until("a first batch is forwarded", || q.output.depth().visible > 0).await;
    shutdown.cancel();
    let report = tokio::time::timeout(Duration::from_secs(5), run).await.expect("shutdown is bounded").unwrap();
    assert!(!report.timed_out);

    let depth = q.input.depth();
    assert_eq!(depth.in_flight, 0, "nothing is left hidden: finished or given back");
    let forwarded = q.output.depth().visible;
    assert!(forwarded > 0 && forwarded < total, "stopped part-way: {forwarded} forwarded");
    assert_eq!(forwarded + depth.visible, total, "every message is either forwarded or back in the queue");
    assert_eq!(report.metrics.acknowledged as usize, forwarded);
}

#[tokio::test]
async fn a_slow_batch_stays_hidden_until_it_is_done() {
    let q = queues();
    send(&q.input, vec![envelope("slow", "text")]).await;
    let gate = Arc::new(Barrier::new(2));
    let handler = TestHandler { gate: Some(gate.clone()), ..TestHandler::with(&[("slow", Behaviour::Gated)]) };
    let config = WorkerConfig { visibility_timeout: Duration::from_secs(1), ..config() };
    let worker = Arc::new(WorkerPool::new(
        q.input.clone(),
        Arc::new(handler),
        Arc::new(ToQueue(q.output.clone())),
        q.dead_letters.clone(),
        config,
    ));
    let slow = tokio::spawn({
        let worker = worker.clone();
        async move { worker.process_one_batch().await }
    });
    // Past the 1 s visibility timeout (time must pass for that), the message is still being handled — the
    // handler waits at its gate — so it must not be offered again.
    wait_until("the message is in work", || q.input.depth().in_flight == 1).await;
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    let stolen = q.input.receive(10, Duration::from_secs(30), Duration::ZERO).await.unwrap();
    assert!(stolen.is_empty(), "a message in work reappeared: {stolen:?}");
    tokio::task::spawn_blocking(move || gate.wait()).await.unwrap();
    assert_eq!(slow.await.unwrap().completed, 1);
    assert_eq!(ids(&q.output), ["slow"], "handled once, forwarded once");
    assert!(q.input.is_empty());
}

/// Near SQS's 256 KiB, with the most attributes SQS takes: every poison message still reaches the
/// dead-letter queue with its reason — a stub of its body where the whole would not fit, marked so.
#[tokio::test]
async fn a_dead_letter_keeps_its_reason_whatever_the_size_and_attributes_of_its_message() {
    let q = queues();
    let near_limit = format!("{{not json{}", "x".repeat(docclass_types::MAX_MESSAGE_BYTES - 100));
    let mut crowded = OutgoingMessage::new("0", "{also not json");
    crowded.attributes = (0..10).map(|n| (format!("a{n}"), "v".to_owned())).collect();
    let whole = OutgoingMessage::new("1", near_limit.clone());
    assert!(q.input.send_batch(&[crowded, whole]).await.iter().all(Result::is_ok));
    let worker = WorkerPool::new(
        q.input.clone(),
        Arc::new(TestHandler::default()),
        Arc::new(ToQueue(q.output.clone())),
        q.dead_letters.clone(),
        config(),
    );
    let outcome = worker.process_one_batch().await;
    assert_eq!((outcome.dead_lettered, outcome.retried), (2, 0), "{outcome:?}");
    let letters = q.dead_letters.drain_visible();
    assert_eq!(letters.len(), 2);
    for (body, attrs) in letters {
        assert_eq!(attrs[attributes::DEAD_LETTER_REASON], "invalid_json");
        assert!(attrs.len() <= docclass_types::MAX_MESSAGE_ATTRIBUTES, "{attrs:?}");
        if body.len() > 1000 {
            assert_eq!(attrs[attributes::DEAD_LETTER_TRUNCATED], near_limit.len().to_string());
            assert!(near_limit.starts_with(&body));
        } else {
            assert!(attrs[attributes::DEAD_LETTER_DETAIL].starts_with("5 of the message's attributes dropped"));
        }
    }
}
