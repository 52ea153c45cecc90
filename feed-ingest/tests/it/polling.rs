//! Polling over real HTTP into a real (embedded) queue with the SQLite de-duplication store: a server on
//! 127.0.0.1 serves a feed that changes between polls and answers 304 while it does not, one failing
//! with 500 before it recovers, a slow one, a huge one, a billion-laughs one, a malformed one, and one
//! with unfit entries. Every good document must be enqueued exactly once — across polls, a restart, and
//! two pollers sharing the store — while the bad feeds are counted and the others go on.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use adapters_embedded::{EmbeddedQueue, QueueConfig, SqliteSeen};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use docclass_types::Envelope;
use feed_ingest::{FeedMetrics, FeedPoller, FeedState, FeedStatus, PollOutcome, PollSettings};
use feeds::{FeedSpec, Fetcher, FetcherConfig};
use tokio_util::sync::CancellationToken;

fn rss(items: &[(&str, &str, &str)]) -> String {
    let items: String = items
        .iter()
        .map(|(guid, title, text)| {
            format!(
                "<item><guid>{guid}</guid><title>{title}</title><link>https://example.org/{guid}</link>\
                 <description>{text}</description></item>"
            )
        })
        .collect();
    format!(r#"<?xml version="1.0"?><rss version="2.0"><channel><title>fixture</title>{items}</channel></rss>"#)
}

/// One paper as arXiv's API answers it: the primary category comes first.
const ARXIV: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:arxiv="http://arxiv.org/schemas/atom">
<title>ArXiv Query</title><id>http://arxiv.org/api/q</id><updated>2026-11-24T00:00:00-05:00</updated>
<entry><id>http://arxiv.org/abs/2611.00001v1</id><updated>2026-11-23T18:00:00Z</updated>
<published>2026-11-23T18:00:00Z</published><title>Hashed n-grams</title><summary>Fast and linear.</summary>
<link href="http://arxiv.org/abs/2611.00001v1" rel="alternate" type="text/html"/>
<arxiv:primary_category term="cs.LG" scheme="http://arxiv.org/schemas/atom"/>
<category term="cs.LG" scheme="http://arxiv.org/schemas/atom"/></entry>
</feed>"#;

#[derive(Default)]
pub(crate) struct Fixtures {
    /// Whether `/changing` serves its second version.
    changed: AtomicBool,
    /// Requests `/flaky` has answered.
    flaky_requests: AtomicU32,
}

async fn changing(State(fixtures): State<Arc<Fixtures>>, headers: HeaderMap) -> Response {
    let (etag, body) = if fixtures.changed.load(Ordering::SeqCst) {
        ("\"v2\"", rss(&[("c-1", "One", "first"), ("c-2", "Two", "second"), ("c-3", "Three", "third")]))
    } else {
        ("\"v1\"", rss(&[("c-1", "One", "first"), ("c-2", "Two", "second")]))
    };
    if headers.get(header::IF_NONE_MATCH).is_some_and(|tag| tag == etag) {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    ([(header::ETAG, etag)], body).into_response()
}

/// Fails twice, then recovers.
async fn flaky(State(fixtures): State<Arc<Fixtures>>) -> Response {
    if fixtures.flaky_requests.fetch_add(1, Ordering::SeqCst) < 2 {
        return (StatusCode::INTERNAL_SERVER_ERROR, "down").into_response();
    }
    rss(&[("f-1", "Flaky one", "back"), ("f-2", "Flaky two", "again")]).into_response()
}

/// One good entry, one empty, one too large, and the good one listed twice.
fn unfit() -> String {
    let big = "word ".repeat(60_000);
    rss(&[("u-good", "Good", "fine"), ("u-empty", "", ""), ("u-big", "Big", &big), ("u-good", "Good", "fine")])
}

/// Serves the fixture feeds on 127.0.0.1; answers the base URL. (`/arxiv` is for the `--dry-run` test.)
pub(crate) async fn serve(fixtures: Arc<Fixtures>) -> String {
    let app = Router::new()
        .route("/changing", get(changing))
        .route("/flaky", get(flaky))
        .route("/unfit", get(|| async { unfit() }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                rss(&[("s-1", "Slow", "late")])
            }),
        )
        .route("/huge", get(|| async { format!("<rss>{}</rss>", "x".repeat(2 * 1024 * 1024)) }))
        .route("/laughs", get(|| async { include_str!("../fixtures/billion-laughs.xml") }))
        .route("/malformed", get(|| async { "<rss version=\"2.0\"><channel><item><title>cut" }))
        // 70,000 nested elements: quick-xml's 16-bit nesting counter once panicked on it.
        .route("/deep", get(|| async { format!("<rss version=\"2.0\"><channel>{}", "<b>".repeat(70_000)) }))
        .route("/arxiv", get(|| async { ARXIV }))
        .with_state(fixtures);
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

fn fetcher() -> Fetcher {
    Fetcher::new(FetcherConfig {
        timeout: Duration::from_millis(500),
        max_bytes: 1024 * 1024,
        // The fixtures are served on 127.0.0.1.
        private_addresses: feeds::PrivateAddresses::allow_loopback(),
        ..FetcherConfig::default()
    })
    .unwrap()
}

fn settings() -> PollSettings {
    PollSettings {
        jitter: 0.1,
        max_backoff: Duration::from_millis(800),
        limits: docclass_types::Limits { max_text_bytes: 100_000 },
        ..PollSettings::default()
    }
}

type Poller = FeedPoller<Arc<EmbeddedQueue>, SqliteSeen>;

fn new_poller(queue: &Arc<EmbeddedQueue>, store: &std::path::Path) -> (Arc<Poller>, FeedMetrics) {
    let metrics = FeedMetrics::default();
    let seen = SqliteSeen::open(store).unwrap();
    (Arc::new(FeedPoller::new(fetcher(), queue.clone(), seen, metrics.clone(), settings())), metrics)
}

/// Document ids on the queue, with how often each is there.
fn enqueued_ids(queue: &EmbeddedQueue) -> BTreeMap<String, usize> {
    let mut ids = BTreeMap::new();
    for (body, _) in queue.drain_visible() {
        *ids.entry(Envelope::decode(&body).unwrap().document.id).or_default() += 1;
    }
    ids
}

/// The feed's figures; all zero before its task has started.
fn status(statuses: &[FeedStatus], base: &str, path: &str) -> FeedStatus {
    statuses.iter().find(|status| status.url == format!("{base}{path}")).cloned().unwrap_or_default()
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_document_is_enqueued_once_across_polls_failures_and_a_restart() {
    let fixtures = Arc::new(Fixtures::default());
    let base = serve(fixtures.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("seen.sqlite");
    let queue = Arc::new(EmbeddedQueue::new("ingest", QueueConfig::default()));
    let paths = ["/changing", "/flaky", "/unfit", "/slow", "/huge", "/laughs", "/malformed"];
    let feeds: Vec<FeedSpec> =
        paths.iter().map(|path| FeedSpec::new(format!("{base}{path}"), Duration::from_millis(200))).collect();

    let (poller, metrics) = new_poller(&queue, &store);
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(poller.run(feeds.clone(), shutdown.clone()));
    wait_for("the first version to be read and then found unchanged", || {
        status(&metrics.snapshot(), &base, "/changing").not_modified >= 2
    })
    .await;
    fixtures.changed.store(true, Ordering::SeqCst);
    wait_for("the change, the flaky feed's recovery, every bad feed failing twice", || {
        let statuses = metrics.snapshot();
        status(&statuses, &base, "/changing").new_documents == 3
            && status(&statuses, &base, "/flaky").new_documents == 2
            && ["/slow", "/huge", "/malformed"]
                .iter()
                .all(|path| status(&statuses, &base, path).errors.values().sum::<u64>() >= 2)
    })
    .await;
    shutdown.cancel();
    running.await.unwrap();

    let statuses = metrics.snapshot();
    let flaky = status(&statuses, &base, "/flaky");
    assert_eq!(flaky.errors.get("status"), Some(&2), "{flaky:?}");
    assert_eq!((flaky.consecutive_failures, flaky.last_error.as_ref()), (0, None));
    assert!(flaky.last_success.is_some());
    assert_eq!(status(&statuses, &base, "/slow").errors.keys().collect::<Vec<_>>(), ["timeout"]);
    assert_eq!(status(&statuses, &base, "/huge").errors.keys().collect::<Vec<_>>(), ["too_large"]);
    assert_eq!(status(&statuses, &base, "/malformed").errors.keys().collect::<Vec<_>>(), ["parse"]);
    let slow = status(&statuses, &base, "/slow");
    assert!(slow.consecutive_failures >= 2 && slow.last_success.is_none() && slow.last_error.is_some());
    let unfit = status(&statuses, &base, "/unfit");
    assert_eq!(unfit.new_documents, 1);
    let skipped: Vec<(&str, u64)> = unfit.documents_skipped.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(skipped, [("empty_text", 1), ("text_too_large", 1)]);
    assert!(unfit.duplicates_skipped >= 1, "the entry listed twice: {unfit:?}");
    // The laughs are either refused as a parse error or read without expanding anything.
    let laughs = status(&statuses, &base, "/laughs");
    assert!(laughs.new_documents <= 1 && laughs.polls >= 2);

    let first_run = enqueued_ids(&queue);
    for id in ["c-1", "c-2", "c-3", "f-1", "f-2", "u-good"] {
        assert_eq!(first_run.get(id), Some(&1), "{id} exactly once in {first_run:?}");
    }
    assert!(first_run.values().all(|&n| n == 1), "nothing twice: {first_run:?}");

    // A restart: a new poller (no validators, nothing in memory) on the same store enqueues nothing.
    let (restarted, metrics) = new_poller(&queue, &store);
    for feed in &feeds[..3] {
        let outcome = restarted.poll_once(feed, &mut FeedState::default()).await;
        let PollOutcome::Read(report) = outcome else { panic!("{}: {outcome:?}", feed.url) };
        assert_eq!(report.new_documents, 0, "{}: {report:?}", feed.url);
    }
    assert_eq!(status(&metrics.snapshot(), &base, "/changing").duplicates_skipped, 3);
    assert!(queue.is_empty(), "nothing enqueued after the restart: {:?}", enqueued_ids(&queue));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pollers_sharing_the_store_enqueue_each_document_once() {
    let fixtures = Arc::new(Fixtures::default());
    fixtures.changed.store(true, Ordering::SeqCst);
    let base = serve(fixtures).await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("seen.sqlite");
    let queue = Arc::new(EmbeddedQueue::new("ingest", QueueConfig::default()));
    let feed = FeedSpec::new(format!("{base}/changing"), Duration::from_secs(60));
    let (first, _) = new_poller(&queue, &store);
    let (second, _) = new_poller(&queue, &store);
    for _ in 0..5 {
        let (mut a, mut b) = (FeedState::default(), FeedState::default());
        let (one, two) = tokio::join!(first.poll_once(&feed, &mut a), second.poll_once(&feed, &mut b));
        assert!(matches!((one, two), (PollOutcome::Read(_), PollOutcome::Read(_))));
    }
    let ids = enqueued_ids(&queue);
    assert_eq!(ids, BTreeMap::from([("c-1".into(), 1), ("c-2".into(), 1), ("c-3".into(), 1)]));
}

/// A feed URL with credentials and an API key (`user:password@`, `?api_key=`) is fetched as given, and
/// shown without them everywhere: the feed's figures (`/feeds`, `/metrics`), and every document's
/// `source`, so the result table. They used to leak into all of these.
#[tokio::test]
async fn a_feeds_secrets_are_fetched_with_and_never_shown() {
    let base = serve(Arc::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let queue = Arc::new(EmbeddedQueue::new("ingest", QueueConfig::default()));
    let (poller, metrics) = new_poller(&queue, &dir.path().join("seen.sqlite"));
    let secret_url = base.replace("http://", "http://reader:hunter2@") + "/arxiv?api_key=s3cret&cat=cs";
    let feed = FeedSpec::new(secret_url, Duration::from_secs(60));
    let outcome = poller.poll_once(&feed, &mut FeedState::default()).await;
    assert!(matches!(outcome, PollOutcome::Read(_)), "fetched with its secrets: {outcome:?}");

    let shown = format!("{base}/arxiv?api_key=***&cat=cs");
    let statuses = metrics.snapshot();
    assert_eq!(statuses.iter().map(|s| s.url.as_str()).collect::<Vec<_>>(), [shown.as_str()]);
    let mut registry = prometheus_client::registry::Registry::default();
    metrics.register(&mut registry);
    let mut exposition = String::new();
    prometheus_client::encoding::text::encode(&mut exposition, &registry).unwrap();
    let documents: Vec<_> =
        queue.drain_visible().into_iter().map(|(body, _)| Envelope::decode(&body).unwrap().document).collect();
    assert!(!documents.is_empty());
    for text in documents.iter().map(|d| serde_json::to_string(d).unwrap()).chain([exposition]) {
        assert!(!text.contains("hunter2") && !text.contains("s3cret") && !text.contains("reader"), "{text}");
    }
    assert!(documents.iter().all(|d| d.source == shown), "{:?}", documents[0].source);
}
