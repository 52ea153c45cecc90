//! feed-ingest as a long-running service, as a user runs it: the binary polls a feed list (served on
//! 127.0.0.1) into SQS on moto, remembering what it enqueued in the DynamoDB table `infra up` made. It is
//! stopped and started again; `docclass feeds status` and `/metrics` report per feed. Every entry must be
//! on the queue exactly once, relabelled as the feed list says, and the failing feed must not hold up
//! the good one.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use adapters_aws::{SqsQueue, load_sdk_config};
use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use docclass_types::{Envelope, MessageSource};
use feed_ingest::FeedStatus;
use test_support::emulator;
use test_support::processes::{Environment, Service, free_port, http_get, terminate};

const ENTRIES: usize = 25;

/// 25 entries (three SQS batches); even ones in a category the feed list maps, odd ones in another.
fn news() -> String {
    let items: String = (0..ENTRIES)
        .map(|i| {
            let category = if i % 2 == 0 { "Orbits" } else { "Gossip" };
            format!("<item><guid>news-{i}</guid><title>Story {i}</title><description>Body of story {i}.</description><category>{category}</category></item>")
        })
        .collect();
    format!(r#"<?xml version="1.0"?><rss version="2.0"><channel><title>news</title>{items}</channel></rss>"#)
}

async fn serve() -> String {
    let app = Router::new()
        .route("/news", get(|| async { news() }))
        .route("/down", get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "down") }));
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

fn status(environment: &Environment, port: u16) -> BTreeMap<String, FeedStatus> {
    let output = environment
        .command("docclass")
        .args(["feeds", "status", "--json", "--endpoint", &format!("http://127.0.0.1:{port}")])
        .output()
        .unwrap();
    if !output.status.success() {
        return BTreeMap::new(); // Not listening yet.
    }
    let statuses: Vec<FeedStatus> = serde_json::from_slice(&output.stdout).unwrap();
    statuses.into_iter().map(|status| (status.url.clone(), status)).collect()
}

/// Waits until `done` holds for the feed `url`'s status; answers that status.
async fn wait_for(environment: &Environment, port: u16, url: &str, done: impl Fn(&FeedStatus) -> bool) -> FeedStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = status(environment, port).remove(url).filter(|status| done(status)) {
            return status;
        }
        assert!(Instant::now() < deadline, "{url}: {:?}", status(environment, port).get(url));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn start(environment: &Environment, config: &std::path::Path, port: u16, log: &std::path::Path) -> Service {
    let log = std::fs::File::create(log.join(format!("feed-ingest-{port}.log"))).unwrap();
    let mut command = environment.command("feed-ingest");
    // The fixture server is on 127.0.0.1, which feed-ingest refuses unless allowed.
    command.arg("--config").arg(config).args([
        "--metrics-addr",
        &format!("127.0.0.1:{port}"),
        "--allow-private-addresses",
    ]);
    Service(command.stdin(std::process::Stdio::null()).stderr(log).spawn().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_into_sqs_enqueues_each_entry_once_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let base = serve().await;
    let endpoint = emulator::endpoint();
    let mut environment = Environment::on_emulator(&endpoint, &emulator::unique_name("feeds"));
    environment.infra_up(&[]);
    let config = dir.path().join("feeds.toml");
    std::fs::write(
        &config,
        format!(
            "[defaults]\ninterval = \"1s\"\n\n[[feed]]\nurl = \"{base}/news\"\nunmapped = \"drop\"\n\
             [feed.labels]\n\"Orbits\" = \"sci.space\"\n\n[[feed]]\nurl = \"{base}/down\"\n"
        ),
    )
    .unwrap();
    let (news_url, down_url) = (format!("{base}/news"), format!("{base}/down"));

    let port = free_port();
    let mut first = start(&environment, &config, port, dir.path());
    let news = wait_for(&environment, port, &news_url, |status| status.polls >= 3).await;
    assert_eq!(news.new_documents, ENTRIES as u64, "{news:?}");
    assert_eq!(news.errors, BTreeMap::new());
    assert!(news.last_success.is_some() && news.next_poll.is_some());
    let down = wait_for(&environment, port, &down_url, |status| status.polls >= 1).await;
    assert_eq!(down.errors.get("status"), Some(&down.polls), "{down:?}");
    assert!(down.last_error.as_deref().is_some_and(|error| error.contains("503")), "{down:?}");

    let table = environment
        .command("docclass")
        .args(["feeds", "status", "--endpoint", &format!("http://127.0.0.1:{port}")])
        .output()
        .unwrap();
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(table.starts_with("FEED") && table.contains(&news_url) && table.contains("status "), "{table}");
    let metrics = http_get(port, "/metrics");
    let new_documents = format!("docclass_feed_new_documents_total{{feed=\"{news_url}\"}} {ENTRIES}");
    assert!(metrics.contains(&new_documents), "{metrics}");
    assert!(
        metrics.contains(&format!("docclass_feed_errors_total{{feed=\"{down_url}\",kind=\"status\"}}")),
        "{metrics}"
    );
    // The container health check: the binary asks its own /healthz.
    let healthcheck = |port: u16| {
        environment
            .command("feed-ingest")
            .args(["--healthcheck", "--metrics-addr", &format!("127.0.0.1:{port}")])
            .status()
            .unwrap()
    };
    assert!(healthcheck(port).success());
    let stopped = terminate(&mut first, Duration::from_secs(20)).await;
    assert!(stopped.success(), "{stopped:?}");
    assert!(!healthcheck(port).success(), "unhealthy once stopped");

    // Started again, with nothing in memory: the seen table keeps it from enqueueing anything twice.
    let port = free_port();
    let mut second = start(&environment, &config, port, dir.path());
    let news = wait_for(&environment, port, &news_url, |status| status.polls >= 2).await;
    assert_eq!((news.new_documents, news.duplicates_skipped), (0, 2 * ENTRIES as u64), "{news:?}");
    assert!(terminate(&mut second, Duration::from_secs(20)).await.success());

    let sqs = aws_sdk_sqs::Client::new(&load_sdk_config(&emulator::settings(&endpoint)).await);
    let ingest = SqsQueue::new(sqs, environment.get("DOCCLASS_INGEST_QUEUE_URL"));
    let mut received: BTreeMap<String, Envelope> = BTreeMap::new();
    let mut deliveries = 0;
    loop {
        let batch = ingest.receive(10, Duration::from_secs(120), Duration::from_secs(1)).await.unwrap();
        if batch.is_empty() {
            break;
        }
        for message in batch {
            deliveries += 1;
            let envelope = Envelope::decode(&message.body).unwrap();
            received.insert(envelope.document.id.clone(), envelope);
        }
    }
    assert_eq!((deliveries, received.len()), (ENTRIES, ENTRIES), "each entry on the queue exactly once");
    for (i, envelope) in (0..ENTRIES).map(|i| (i, &received[&format!("news-{i}")])) {
        let labels = envelope.document.labels.clone().unwrap_or_default();
        let expected = if i % 2 == 0 { (Some("sci"), Some("sci.space")) } else { (None, None) };
        assert_eq!((labels.topic.as_deref(), labels.subtopic.as_deref()), expected, "entry {i}");
        assert_eq!(envelope.document.source, news_url);
    }
    environment.infra_down();
}
