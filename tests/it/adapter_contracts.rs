//! One contract, every adapter: the embedded queue and SQLite table, and SQS and DynamoDB over the wire
//! against moto server (started by the test itself, see `emulator.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use adapters_aws::infra::{self, QueueSettings, StackNames};
use adapters_aws::{DynamoSeen, DynamoTable, SqsQueue, load_sdk_config};
use adapters_embedded::{EmbeddedQueue, QueueConfig, SqliteSeen, SqliteTable};
use docclass_types::{
    Classification, Document, Envelope, Labels, MessageSink, MessageSource, OutgoingMessage, ResultRow, ResultTable,
    SeenDocuments, attributes,
};
use table_writer::PassToTable;
use test_support::contract::{queue_contract, seen_contract, table_contract};
use test_support::emulator;
use test_support::faulty::Faulty;
use test_support::throttling_proxy::{Behaviour, ThrottlingProxy};
use tokio_util::sync::CancellationToken;
use worker_runtime::{Backoff, ToTable, WorkerConfig, WorkerPool};

/// Clients of an emulator (or of a proxy in front of one) at `endpoint`.
async fn clients(endpoint: String) -> (aws_sdk_sqs::Client, aws_sdk_dynamodb::Client) {
    let config = load_sdk_config(&emulator::settings(&endpoint)).await;
    (aws_sdk_sqs::Client::new(&config), aws_sdk_dynamodb::Client::new(&config))
}

async fn aws() -> (aws_sdk_sqs::Client, aws_sdk_dynamodb::Client) {
    clients(emulator::endpoint()).await
}

#[tokio::test]
async fn embedded_queue_keeps_the_contract() {
    let dead_letters = Arc::new(EmbeddedQueue::new("contract-dlq", QueueConfig::default()));
    let queue = EmbeddedQueue::with_dead_letters("contract", QueueConfig::default(), dead_letters);
    queue_contract(&queue).await;
}

#[tokio::test]
async fn sqlite_table_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    table_contract(&SqliteTable::open(&dir.path().join("contract.sqlite")).unwrap()).await;
}

#[tokio::test]
async fn sqlite_seen_store_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    seen_contract(&SqliteSeen::open(&dir.path().join("seen.sqlite")).unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_seen_store_keeps_the_contract() {
    let (sqs, dynamodb) = aws().await;
    let names = StackNames::new(&emulator::unique_name("seen"));
    let stack = infra::up(&sqs, &dynamodb, &names, &QueueSettings::default()).await.unwrap();
    seen_contract(&DynamoSeen::new(dynamodb.clone(), &stack.seen_table)).await;
    infra::down(&sqs, &dynamodb, &names).await.unwrap();
    let tables = dynamodb.list_tables().send().await.unwrap();
    assert!(!tables.table_names().contains(&stack.seen_table), "infra down removes the seen table too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_queue_keeps_the_contract() {
    let (sqs, dynamodb) = aws().await;
    let names = StackNames::new(&emulator::unique_name("contract"));
    let stack = infra::up(&sqs, &dynamodb, &names, &QueueSettings::default()).await.unwrap();
    queue_contract(&SqsQueue::new(sqs.clone(), &stack.ingest_url)).await;
    infra::down(&sqs, &dynamodb, &names).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_table_keeps_the_contract() {
    let (sqs, dynamodb) = aws().await;
    let names = StackNames::new(&emulator::unique_name("contract"));
    let stack = infra::up(&sqs, &dynamodb, &names, &QueueSettings::default()).await.unwrap();
    table_contract(&DynamoTable::new(dynamodb.clone(), &stack.table)).await;
    infra::down(&sqs, &dynamodb, &names).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infra_up_is_idempotent_and_sets_the_redrive_policy() {
    let (sqs, dynamodb) = aws().await;
    let names = StackNames::new(&emulator::unique_name("infra"));
    let settings = QueueSettings { max_receive_count: 3, ..QueueSettings::default() };
    let first = infra::up(&sqs, &dynamodb, &names, &settings).await.unwrap();
    let second = infra::up(&sqs, &dynamodb, &names, &settings).await.unwrap();
    assert_eq!(first, second);

    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&first.subtopic_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let attributes = attributes.attributes().unwrap();
    let redrive: serde_json::Value =
        serde_json::from_str(&attributes[&aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy]).unwrap();
    assert_eq!(redrive["maxReceiveCount"].to_string().trim_matches('"'), "3");
    assert!(redrive["deadLetterTargetArn"].as_str().unwrap().ends_with(&StackNames::dead_letters_of(&names.subtopic)));

    let table = dynamodb.describe_table().table_name(&first.table).send().await.unwrap();
    let indexes = table.table().unwrap().global_secondary_indexes();
    assert_eq!(indexes[0].index_name(), Some(adapters_aws::dynamodb::TOPIC_INDEX));

    infra::down(&sqs, &dynamodb, &names).await.unwrap();
    infra::down(&sqs, &dynamodb, &names).await.unwrap();
}

/// The table writer behind a DynamoDB that throttles: a cold start refuses every `BatchWriteItem` for a
/// while (longer than the SDK's retries and the adapter's rounds together, so the worker itself meets
/// the throttling), then calls are refused or half-done at random. Every result
/// must still land exactly once, none dead-lettered, and the writer must have slowed down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_writer_under_throttling_loses_nothing() {
    const RESULTS: usize = 300;
    let (sqs, dynamodb) = aws().await;
    let names = StackNames::new(&emulator::unique_name("throttle"));
    let stack = infra::up(&sqs, &dynamodb, &names, &QueueSettings::default()).await.unwrap();
    let behaviour = Behaviour { refuse_first: 80, refuse: 0.3, halve: 0.4 };
    let proxy = ThrottlingProxy::start(&emulator::endpoint(), behaviour).await;
    let (_, throttled_dynamodb) = clients(proxy.endpoint.clone()).await;
    let throttled_table = DynamoTable::new(throttled_dynamodb, &stack.table);

    let results = SqsQueue::new(sqs.clone(), &stack.results_url);
    let messages = result_messages(RESULTS, "throttle-test");
    for chunk in messages.chunks(10) {
        assert!(results.send_batch(chunk).await.iter().all(Result::is_ok));
    }

    let config = WorkerConfig {
        workers: 4,
        wait_time: Duration::from_secs(1),
        retry_backoff: Backoff::new(Duration::from_millis(50), Duration::from_secs(2)),
        ..WorkerConfig::default()
    };
    let writer = Arc::new(WorkerPool::new(
        Arc::new(results.clone()),
        Arc::new(PassToTable),
        Arc::new(ToTable(throttled_table)),
        Arc::new(SqsQueue::new(sqs.clone(), &stack.dead_letter_urls[2])),
        config,
    ));
    let metrics = writer.metrics();
    let shutdown = CancellationToken::new();
    let run = tokio::spawn(writer.run(shutdown.clone()));

    // Read back through moto directly, not through the proxy.
    let table = DynamoTable::new(dynamodb.clone(), &stack.table);
    let started = Instant::now();
    while metrics.snapshot().acknowledged < RESULTS as u64 {
        assert!(started.elapsed() < Duration::from_secs(240), "stalled: {:?} {:?}", metrics.snapshot(), proxy.counts);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    shutdown.cancel();
    let report = run.await.unwrap();

    eprintln!("writer: {:?}; proxy: {:?}", report.metrics, proxy.counts);
    let rows = table.list(RESULTS * 2).await.unwrap();
    let ids: std::collections::BTreeSet<&str> = rows.iter().map(|row| row.id.as_str()).collect();
    assert_eq!((rows.len(), ids.len()), (RESULTS, RESULTS), "every result exactly once");
    assert_eq!(report.metrics.dead_lettered, 0, "throttling is not a reason to dead-letter");
    assert!(report.metrics.throttled > 0, "the writer met throttling itself: {:?}", report.metrics);
    assert!(proxy.counts.refused.load(Ordering::Relaxed) >= behaviour.refuse_first);
    assert!(proxy.counts.halved.load(Ordering::Relaxed) > 0, "{:?}", proxy.counts);
    for queue in [&stack.results_url, &stack.dead_letter_urls[2]] {
        assert_eq!(emulator::messages_left(&sqs, queue).await, 0, "{queue} is empty");
    }
    infra::down(&sqs, &dynamodb, &names).await.unwrap();
}

/// `count` envelopes as the subtopic classifier sends them to the table writer: both levels decided.
fn result_messages(count: usize, source: &str) -> Vec<OutgoingMessage> {
    let now = chrono::Utc::now();
    let decided = |label: &str| Classification {
        label: label.into(),
        score: 0.9,
        model_version: source.into(),
        classified_at: now,
        top: Vec::new(),
    };
    (0..count)
        .map(|n| {
            let mut envelope = Envelope::new(Document {
                id: format!("doc-{n}"),
                title: String::new(),
                text: format!("document {n}"),
                source: source.into(),
                url: None,
                published: None,
                ingested_at: now,
                labels: None,
            });
            envelope.topic = Some(decided("sci"));
            envelope.subtopic = Some(decided("sci.med"));
            OutgoingMessage::new(n.to_string(), envelope.encode())
        })
        .collect()
}

/// A worker on SQS told to stop while its long polls wait on an empty queue, then messages arrive:
/// the polls bring them, and the stopping worker must give them back at once. Dropping the polls
/// instead would leave whatever SQS had handed them hidden until their visibility timeout (moto, like
/// SQS, goes on serving a request whose caller has gone).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_worker_gives_back_what_its_last_long_poll_brought() {
    const RESULTS: usize = 20;
    let (sqs, dynamodb) = aws().await;
    let names = StackNames::new(&emulator::unique_name("stopping"));
    let stack = infra::up(&sqs, &dynamodb, &names, &QueueSettings::default()).await.unwrap();
    let results = SqsQueue::new(sqs.clone(), &stack.results_url);
    let config = WorkerConfig {
        workers: 2,
        wait_time: Duration::from_secs(5),
        visibility_timeout: Duration::from_secs(120),
        ..WorkerConfig::default()
    };
    let receives = Arc::new(AtomicUsize::new(0));
    let writer = Arc::new(WorkerPool::new(
        // Counting the receive calls: the test waits for the polls it needs, not for a guess at how long
        // they take to start.
        Arc::new(Faulty::new(Arc::new(results.clone())).before_receive({
            let receives = receives.clone();
            move || {
                receives.fetch_add(1, Ordering::SeqCst);
            }
        })),
        Arc::new(PassToTable),
        Arc::new(ToTable(DynamoTable::new(dynamodb.clone(), &stack.table))),
        Arc::new(SqsQueue::new(sqs.clone(), &stack.dead_letter_urls[2])),
        config,
    ));
    let shutdown = CancellationToken::new();
    let run = tokio::spawn(writer.run(shutdown.clone()));
    // Both workers in a long poll (the queue is empty, and a poll waits 5 s).
    let started = Instant::now();
    while receives.load(Ordering::SeqCst) < 2 {
        assert!(started.elapsed() < Duration::from_secs(30), "the workers never polled");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    shutdown.cancel();
    for chunk in result_messages(RESULTS, "stopping-test").chunks(10) {
        assert!(results.send_batch(chunk).await.iter().all(Result::is_ok));
    }
    let report = run.await.unwrap();

    assert!(!report.timed_out, "the polls ended within the shutdown deadline");
    assert_eq!(report.metrics.acknowledged, 0, "nothing is handled after the signal: {:?}", report.metrics);
    let (visible, in_flight) = emulator::queue_depth(&sqs, &stack.results_url).await;
    assert_eq!(
        (visible, in_flight),
        (RESULTS as u64, 0),
        "every message is visible again at once, not hidden for the 120 s visibility timeout: {:?}",
        report.metrics
    );
    assert!(report.metrics.returned > 0, "the polls brought messages and gave them back: {:?}", report.metrics);
    infra::down(&sqs, &dynamodb, &names).await.unwrap();
}

/// An SDK failure reads as one line with the service's code and message, not the SDK's Debug dump of the
/// raw response (about 2 KB).
#[tokio::test]
async fn sdk_errors_read_as_one_line() {
    let (sqs, _) = aws().await;
    let missing =
        SqsQueue::new(sqs, format!("{}/123456789012/no-such-queue-{}", emulator::endpoint(), std::process::id()));
    let results = missing.send_batch(&[OutgoingMessage::new("0", "body")]).await;
    let error = results[0].as_ref().expect_err("the queue does not exist").to_string();
    assert!(!error.contains('\n') && error.len() < 300, "not one short line: {error}");
    assert!(error.contains("NonExistentQueue") || error.contains("QueueDoesNotExist"), "no service code: {error}");
    assert!(!error.contains("HttpResponse") && !error.contains("headers"), "a Debug dump: {error}");
}

/// `rows` result rows as the writer makes them, ids `prefix-0`, `prefix-1`, …
fn rows(count: usize, prefix: &str) -> Vec<ResultRow> {
    let now = chrono::Utc::now();
    (0..count)
        .map(|n| ResultRow {
            id: format!("{prefix}-{n}"),
            title: String::new(),
            source: "isolation-test".into(),
            url: None,
            published: None,
            topic: "sci".into(),
            topic_score: 0.9,
            topic_model: "m".into(),
            subtopic: "sci.med".into(),
            subtopic_score: 0.8,
            subtopic_model: "m".into(),
            top_categories: Vec::new(),
            labels: Labels::default(),
            ingested_at: now,
            topic_at: now,
            subtopic_at: now,
            written_at: now,
        })
        .collect()
}

/// DynamoDB refuses a whole `BatchWriteItem` for one key over 2,048 bytes; the adapter must find that
/// item and fail it alone, with the store's message, and write its neighbours.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_table_fails_only_the_item_it_refuses() {
    let (sqs, dynamodb) = aws().await;
    let names = StackNames::new(&emulator::unique_name("isolate"));
    let stack = infra::up(&sqs, &dynamodb, &names, &QueueSettings::default()).await.unwrap();
    let table = DynamoTable::new(dynamodb.clone(), &stack.table);
    let mut batch = rows(40, "good");
    batch[7].id = "k".repeat(3000);
    batch[31].id = "é".repeat(1100);
    let results = table.put_batch(&batch).await;
    let failed: Vec<usize> = results.iter().enumerate().filter(|(_, r)| r.is_err()).map(|(i, _)| i).collect();
    assert_eq!(failed, [7, 31], "only the culprits fail: {results:?}");
    let error = results[7].as_ref().unwrap_err();
    assert!(!error.is_retriable(), "{error}");
    assert!(error.to_string().contains("ValidationException"), "the store's own message: {error}");
    assert_eq!(emulator::item_count(&dynamodb, &stack.table).await, 38, "every neighbour written");
    infra::down(&sqs, &dynamodb, &names).await.unwrap();
}

/// The same long id on the seen store skips its entry and no other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_seen_store_skips_only_the_id_it_refuses() {
    let (sqs, dynamodb) = aws().await;
    let names = StackNames::new(&emulator::unique_name("seenlong"));
    let stack = infra::up(&sqs, &dynamodb, &names, &QueueSettings::default()).await.unwrap();
    let seen = DynamoSeen::new(dynamodb.clone(), &stack.seen_table);
    let ids = vec!["before".to_owned(), "g".repeat(3000), "after".to_owned()];
    let won = seen.claim(&ids, Duration::from_secs(60)).await.expect("one bad id does not fail the claim");
    assert_eq!(won, [true, false, true]);
    infra::down(&sqs, &dynamodb, &names).await.unwrap();
}

/// What DynamoDB would refuse never reaches it: on the results queue, ids too long, empty topic labels
/// and scores that are not numbers in [0, 1] are dead-lettered each with its own reason, and every good
/// result is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_dead_letters_only_the_bad_results_each_with_its_reason() {
    const RESULTS: usize = 60;
    let (sqs, dynamodb) = aws().await;
    let names = StackNames::new(&emulator::unique_name("badresults"));
    let stack = infra::up(&sqs, &dynamodb, &names, &QueueSettings::default()).await.unwrap();
    let results = SqsQueue::new(sqs.clone(), &stack.results_url);
    let mut messages = result_messages(RESULTS, "bad-results");
    let mut spoil = |n: usize, change: &dyn Fn(&mut serde_json::Value)| {
        let mut value: serde_json::Value = serde_json::from_str(&messages[n].body).unwrap();
        change(&mut value);
        messages[n].body = value.to_string();
    };
    for n in [3, 13] {
        spoil(n, &|v| v["document"]["id"] = "x".repeat(2100).into());
    }
    for n in [4, 24] {
        spoil(n, &|v| v["topic"]["label"] = "".into());
    }
    for n in [5, 35] {
        spoil(n, &|v| v["subtopic"]["score"] = serde_json::json!(1e39));
    }
    for chunk in messages.chunks(10) {
        assert!(results.send_batch(chunk).await.iter().all(Result::is_ok));
    }
    let dead_letters = SqsQueue::new(sqs.clone(), &stack.dead_letter_urls[2]);
    let writer = WorkerPool::new(
        Arc::new(results.clone()),
        Arc::new(PassToTable),
        Arc::new(ToTable(DynamoTable::new(dynamodb.clone(), &stack.table))),
        Arc::new(dead_letters.clone()),
        WorkerConfig { wait_time: Duration::from_secs(1), ..WorkerConfig::default() },
    );
    let mut outcome = (0, 0);
    let started = Instant::now();
    while outcome.0 + outcome.1 < RESULTS {
        assert!(started.elapsed() < Duration::from_secs(60), "stalled at {outcome:?}");
        let batch = writer.process_one_batch().await;
        outcome = (outcome.0 + batch.completed, outcome.1 + batch.dead_lettered);
    }
    assert_eq!(outcome, (RESULTS - 6, 6), "(written, dead-lettered)");
    assert_eq!(emulator::item_count(&dynamodb, &stack.table).await, RESULTS - 6);
    let mut reasons = std::collections::BTreeMap::<String, usize>::new();
    for letter in dead_letters.receive(10, Duration::from_secs(30), Duration::from_secs(1)).await.unwrap() {
        *reasons.entry(letter.attributes[attributes::DEAD_LETTER_REASON].clone()).or_default() += 1;
    }
    let expected = [("empty_label", 2), ("id_too_long", 2), ("score_out_of_range", 2)];
    assert_eq!(reasons, expected.into_iter().map(|(r, n)| (r.to_owned(), n)).collect());
    infra::down(&sqs, &dynamodb, &names).await.unwrap();
}
