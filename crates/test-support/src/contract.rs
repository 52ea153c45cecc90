//! The contract every queue, table and de-duplication store adapter must keep, run against each of them: what the worker
//! runtime relies on, stated once.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use chrono::{SubsecRound, Utc};
use docclass_types::{
    CategoryScore, Labels, MessageSink, MessageSource, OutgoingMessage, QueueError, ReceivedMessage, ResultRow,
    ResultTable, SeenDocuments,
};

/// Receives until `count` messages arrived or `deadline` passed.
async fn receive_at_least<Q: MessageSource>(queue: &Q, count: usize, visibility: Duration) -> Vec<ReceivedMessage> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut received = Vec::new();
    while received.len() < count && Instant::now() < deadline {
        received.extend(queue.receive(10, visibility, Duration::from_secs(1)).await.expect("receive"));
    }
    received
}

/// The queue contract. `queue` must be empty, with no dead-letter redrive below three receives.
///
/// # Panics
/// When the adapter breaks the contract.
pub async fn queue_contract<Q: MessageSource + MessageSink>(queue: &Q) {
    // A batch larger than one SQS call, with attributes, and one message too large for any queue.
    let mut messages: Vec<OutgoingMessage> =
        (0..12).map(|i| OutgoingMessage::new(format!("doc:{i}"), format!("body {i}"))).collect();
    messages[3].attributes.insert("docclass.test".into(), "kept".into());
    messages.push(OutgoingMessage::new("huge", "x".repeat(300 * 1024)));
    let results = queue.send_batch(&messages).await;
    assert_eq!(results.len(), 13, "one result per entry");
    assert!(results[..12].iter().all(Result::is_ok), "{results:?}");
    assert!(matches!(&results[12], Err(error @ QueueError::TooLarge { .. }) if !error.is_retriable()), "{results:?}");

    // Every message arrives once, first delivery, attributes intact.
    let long = Duration::from_secs(30);
    let received = receive_at_least(queue, 12, long).await;
    assert_eq!(received.len(), 12);
    let bodies: BTreeSet<&str> = received.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies.len(), 12, "no duplicates");
    assert!(received.iter().all(|m| m.receive_count == 1));
    let with_attribute = received.iter().find(|m| m.body == "body 3").unwrap();
    assert_eq!(with_attribute.attributes.get("docclass.test").map(String::as_str), Some("kept"));
    assert!(queue.receive(10, long, Duration::from_secs(1)).await.unwrap().is_empty(), "all hidden while in flight");

    // Acknowledge half; give the other half back at once: they return, delivered a second time.
    let (acked, returned) = received.split_at(6);
    let receipts = |messages: &[ReceivedMessage]| messages.iter().map(|m| m.receipt.clone()).collect::<Vec<_>>();
    assert!(queue.ack_batch(&receipts(acked)).await.iter().all(Result::is_ok));
    assert!(queue.change_visibility_batch(&receipts(returned), Duration::ZERO).await.iter().all(Result::is_ok));
    let again = receive_at_least(queue, 6, Duration::from_secs(1)).await;
    let expected: BTreeSet<&str> = returned.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(again.iter().map(|m| m.body.as_str()).collect::<BTreeSet<_>>(), expected);
    assert!(again.iter().all(|m| m.receive_count == 2), "{again:?}");

    // Not acknowledged within the visibility timeout: delivered once more.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let third = receive_at_least(queue, 6, long).await;
    assert_eq!(third.len(), 6);
    assert!(third.iter().all(|m| m.receive_count == 3), "{third:?}");
    assert!(queue.ack_batch(&receipts(&third)).await.iter().all(Result::is_ok));
    assert!(queue.receive(10, long, Duration::from_secs(1)).await.unwrap().is_empty(), "queue drained");

    // A queue that calls its receive cancel-safe keeps its word: a message sent while a dropped long
    // poll would still have been waiting is there for the next receive. (SQS does not claim it; the
    // worker's shutdown test covers what it does instead.)
    if queue.receive_is_cancel_safe() {
        let dropped = tokio::time::timeout(Duration::from_millis(300), queue.receive(10, long, Duration::from_secs(3)));
        assert!(dropped.await.is_err(), "nothing to receive yet");
        assert!(queue.send_batch(&[OutgoingMessage::new("late", "late")]).await.iter().all(Result::is_ok));
        let late = queue.receive(10, long, Duration::from_secs(1)).await.unwrap();
        assert_eq!(late.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["late"]);
        assert!(queue.ack_batch(&receipts(&late)).await.iter().all(Result::is_ok));
    }
}

fn row(id: &str, topic: &str, score: f32) -> ResultRow {
    let now = Utc::now().trunc_subsecs(6);
    ResultRow {
        id: id.into(),
        title: format!("title of {id}"),
        source: "contract".into(),
        url: Some(format!("https://example.org/{id}")),
        published: None,
        topic: topic.into(),
        topic_score: score,
        topic_model: "m".into(),
        subtopic: format!("{topic}.x"),
        subtopic_score: 0.5,
        subtopic_model: "m".into(),
        // Every other row with ranked and listed categories: both the filled and the empty form round-trip.
        top_categories: if id.ends_with(['1', '3', '5', '7', '9']) {
            vec![
                CategoryScore { label: format!("{topic}.x"), score: 0.625 },
                CategoryScore { label: "stat.ML".into(), score: 0.25 },
                CategoryScore { label: "cs.LG".into(), score: 0.0625 },
            ]
        } else {
            Vec::new()
        },
        labels: Labels {
            topic: Some(topic.into()),
            categories: if id.ends_with('1') { vec![format!("{topic}.x"), "stat.ML".into()] } else { Vec::new() },
            ..Labels::default()
        },
        ingested_at: now,
        topic_at: now,
        subtopic_at: now,
        written_at: now,
    }
}

/// The table contract. `table` must be empty.
///
/// # Panics
/// When the adapter breaks the contract.
pub async fn table_contract<T: ResultTable>(table: &T) {
    // More rows than one DynamoDB batch, with an id repeated inside the batch: the last one wins.
    let mut rows: Vec<ResultRow> =
        (0..30).map(|i| row(&format!("doc-{i:02}"), if i % 2 == 0 { "sci" } else { "rec" }, 0.9)).collect();
    rows.push(row("doc-00", "sci", 0.1));
    let results = table.put_batch(&rows).await;
    assert_eq!(results.len(), 31);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(table.get("doc-00").await.unwrap().unwrap().topic_score, 0.1, "last write of an id wins");
    let fetched = table.get("doc-07").await.unwrap().unwrap();
    assert_eq!(fetched, rows[7], "a row reads back as written");
    for (id, index) in [("doc-11", 11), ("doc-02", 2)] {
        assert_eq!(table.get(id).await.unwrap().unwrap(), rows[index], "ranked and listed categories read back");
    }
    assert_eq!(rows[11].labels.categories.len(), 2, "the contract writes listed categories");
    assert_eq!(table.get("missing").await.unwrap(), None);

    // Writing again replaces: a redelivered result never duplicates.
    let mut rewritten = row("doc-07", "rec", 0.3);
    rewritten.written_at = (Utc::now() + chrono::Duration::seconds(1)).trunc_subsecs(6);
    assert!(table.put_batch(std::slice::from_ref(&rewritten)).await.iter().all(Result::is_ok));
    assert_eq!(table.get("doc-07").await.unwrap().unwrap(), rewritten);

    // Query by topic: only that topic, newest first, at most `limit`.
    let rec = table.query_by_topic("rec", 100).await.unwrap();
    assert_eq!(rec.len(), 15);
    assert!(rec.iter().all(|r| r.topic == "rec"));
    assert_eq!(rec[0].id, "doc-07", "newest first");
    assert_eq!(table.query_by_topic("rec", 4).await.unwrap().len(), 4);
    let counts: BTreeMap<&str, usize> = [("sci", 15)].into_iter().collect();
    assert_eq!(table.query_by_topic("sci", 100).await.unwrap().len(), counts["sci"]);

    // Listing: every row once, at most `limit`.
    let all = table.list(100).await.unwrap();
    assert_eq!(all.iter().map(|r| r.id.as_str()).collect::<BTreeSet<_>>().len(), 30);
    assert_eq!(table.list(7).await.unwrap().len(), 7);
}

/// The de-duplication store contract (feed-ingest's claim, then confirm). `store` must be empty.
///
/// # Panics
/// When the store breaks the contract.
pub async fn seen_contract<S: SeenDocuments>(store: &S) {
    let ids = |names: &[&str]| names.iter().map(|name| (*name).to_owned()).collect::<Vec<_>>();
    let lease = Duration::from_secs(60);
    assert_eq!(store.claim(&ids(&["a", "b"]), lease).await.unwrap(), [true, true], "new ids are won");
    assert_eq!(
        store.claim(&ids(&["a", "b", "c"]), lease).await.unwrap(),
        [false, false, true],
        "an id under a running lease is not won again"
    );
    store.confirm(&ids(&["a"])).await.unwrap();
    // A claimant that died before enqueueing: its (zero) lease is over, so the id is won again; an
    // enqueued id never is, whatever the lease.
    assert_eq!(store.claim(&ids(&["lost"]), Duration::ZERO).await.unwrap(), [true]);
    assert_eq!(store.claim(&ids(&["lost", "a"]), Duration::ZERO).await.unwrap(), [true, false]);
    store.confirm(&ids(&["lost"])).await.unwrap();
    assert_eq!(store.claim(&ids(&["lost"]), Duration::ZERO).await.unwrap(), [false]);

    // Four claimants racing for the same ids: each id is won by exactly one of them.
    let race: Vec<String> = (0..30).map(|i| format!("race-{i}")).collect();
    let (one, two, three, four) = tokio::join!(
        store.claim(&race, lease),
        store.claim(&race, lease),
        store.claim(&race, lease),
        store.claim(&race, lease)
    );
    let answers = [one.unwrap(), two.unwrap(), three.unwrap(), four.unwrap()];
    for (i, id) in race.iter().enumerate() {
        let winners = answers.iter().filter(|won| won[i]).count();
        assert_eq!(winners, 1, "{id} won by {winners} claimants");
    }
}
