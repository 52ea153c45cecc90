//! `harvest`: arXiv's OAI-PMH interface, played by a fixture server on 127.0.0.1 that answers as
//! arXiv does — pages with resumption tokens, a 503 with Retry-After, a malformed page, an empty set.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use feeds::harvest::{Harvest, HarvestError, MetadataFormat, harvest};
use feeds::{Fetcher, FetcherConfig, PrivateAddresses};

/// What the fixture server has been asked, and how it should behave.
#[derive(Default)]
struct Repository {
    /// Requests of the second page so far: the first is refused with 503.
    second_page_requests: AtomicUsize,
    /// While set, the third page is cut off in the middle.
    third_page_broken: AtomicBool,
    /// Requests of the over-large page.
    huge_requests: AtomicUsize,
}

fn record(id: &str, categories: &str) -> String {
    format!(
        r#"<record><header><identifier>oai:arXiv.org:{id}</identifier><datestamp>2025-01-02</datestamp><setSpec>cs</setSpec></header>
<metadata><arXiv xmlns="http://arxiv.org/OAI/arXiv/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><id>{id}</id><created>2025-01-02</created>
<authors><author><keyname>Hopper</keyname><forenames>Grace</forenames></author></authors>
<title>Paper {id} on
 learning $f:\mathbb{{R}}^d \to \mathbb{{R}}$</title><categories>{categories}</categories><license>http://creativecommons.org/licenses/by/4.0/</license>
<abstract>  We study {id} &amp; show
  that it works.
</abstract></arXiv></metadata></record>"#
    )
}

fn page(records: &[String], token: Option<&str>) -> String {
    let token = match token {
        Some(token) => format!(r#"<resumptionToken cursor="0" completeListSize="6">{token}</resumptionToken>"#),
        None => r#"<resumptionToken cursor="4" completeListSize="6"></resumptionToken>"#.to_owned(),
    };
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<responseDate>2025-02-01T00:00:00Z</responseDate><request verb="ListRecords">http://export.arxiv.org/oai2</request>
<ListRecords>{}{token}</ListRecords></OAI-PMH>"#,
        records.concat()
    )
}

async fn oai(State(repository): State<Arc<Repository>>, RawQuery(query): RawQuery) -> Response {
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect();
    let get = |key: &str| query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    let xml = [(header::CONTENT_TYPE, "text/xml")];
    match (get("verb"), get("resumptionToken"), get("set")) {
        (Some("ListRecords"), None, Some("empty")) => (
            xml,
            r#"<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><request>x</request><error code="noRecordsMatch">No records match</error></OAI-PMH>"#.to_owned(),
        )
            .into_response(),
        (Some("ListRecords"), None, Some("cs")) if get("metadataPrefix") == Some("arXiv") => {
            let deleted = r#"<record><header status="deleted"><identifier>oai:arXiv.org:2501.00009</identifier></header></record>"#;
            (xml, page(&[record("2501.00001", "cs.LG stat.ML"), deleted.to_owned(), record("2501.00002", "cs.CV")], Some("page|2")))
                .into_response()
        }
        (Some("ListRecords"), Some("page|2"), _) => {
            if repository.second_page_requests.fetch_add(1, Ordering::SeqCst) == 0 {
                return (StatusCode::SERVICE_UNAVAILABLE, [(header::RETRY_AFTER, "1")], "Retry after 1 second").into_response();
            }
            (xml, page(&[record("2501.00003", "math.PR math.ST stat.TH"), record("2501.00004", "hep-th")], Some("page|3")))
                .into_response()
        }
        (Some("ListRecords"), Some("page|3"), _) => {
            let body = page(&[record("2501.00005", "q-bio.NC"), record("2501.00006", "cs.LG")], None);
            if repository.third_page_broken.load(Ordering::SeqCst) {
                (xml, body[..body.len() / 2].to_owned()).into_response()
            } else {
                (xml, body).into_response()
            }
        }
        // A repository whose tokens go round in a circle: loop|1 → loop|2 → loop|1 …
        (Some("ListRecords"), None, Some("loop")) => (xml, page(&[record("2501.00010", "cs.LG")], Some("loop|1"))).into_response(),
        (Some("ListRecords"), Some(token), _) if token.starts_with("loop|") => {
            let next = if token == "loop|1" { "loop|2" } else { "loop|1" };
            (xml, page(&[record("2501.00011", "cs.CV")], Some(next))).into_response()
        }
        // One that answers empty pages, each with a new token, for ever.
        (Some("ListRecords"), None, Some("void")) => (xml, page(&[record("2501.00012", "cs.AI")], Some("void|1"))).into_response(),
        (Some("ListRecords"), Some(token), _) if token.starts_with("void|") => {
            let n: u64 = token["void|".len()..].parse().unwrap();
            (xml, page(&[], Some(&format!("void|{}", n + 1)))).into_response()
        }
        // A page far over the fetcher's cap, counted.
        (Some("ListRecords"), None, Some("huge")) => {
            repository.huge_requests.fetch_add(1, Ordering::SeqCst);
            (xml, format!("{}{}", page(&[], None), " ".repeat(200_000))).into_response()
        }
        // A token the repository stops accepting: tokens expire.
        (Some("ListRecords"), None, Some("expiring")) => {
            (xml, page(&[record("2501.00013", "cs.LG")], Some("expired|1"))).into_response()
        }
        (Some("ListRecords"), Some("expired|1"), _) => (
            xml,
            r#"<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><request>x</request><error code="badResumptionToken">expired</error></OAI-PMH>"#.to_owned(),
        )
            .into_response(),
        _ => (StatusCode::BAD_REQUEST, xml, "<OAI-PMH><error code=\"badArgument\">no</error></OAI-PMH>").into_response(),
    }
}

async fn serve(repository: Arc<Repository>) -> String {
    let app = Router::new().route("/oai", get(oai)).with_state(repository);
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let base = format!("http://{}/oai", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

fn config(endpoint: &str, set: &str, out: std::path::PathBuf) -> Harvest {
    Harvest {
        endpoint: endpoint.to_owned(),
        set: Some(set.to_owned()),
        from: Some("2025-01-01".to_owned()),
        until: None,
        format: MetadataFormat::Arxiv,
        out,
        pause: Duration::ZERO,
        max_attempts: 3,
        max_retry_after: Duration::from_secs(5),
    }
}

/// A fetcher with `config`'s limits that may reach the fixture server on loopback.
fn loopback(config: FetcherConfig) -> Fetcher {
    Fetcher::new(FetcherConfig { private_addresses: PrivateAddresses::allow_loopback(), ..config }).unwrap()
}

/// The papers of a harvest's output, read back as `docclass train` reads them.
fn harvested(path: &std::path::Path) -> Vec<docclass_types::Document> {
    feeds::read_documents(path).unwrap().map(Result::unwrap).collect()
}

#[tokio::test]
async fn pages_a_list_waits_out_a_503_and_resumes_after_a_malformed_page() {
    let repository = Arc::new(Repository::default());
    repository.third_page_broken.store(true, Ordering::SeqCst);
    let endpoint = serve(repository.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cs.jsonl.gz");
    let harvest_config = config(&endpoint, "cs", out.clone());
    let fetcher = loopback(FetcherConfig::default());

    let started = Instant::now();
    let mut pages_seen = Vec::new();
    let error = harvest(&harvest_config, &fetcher, &mut |progress| pages_seen.push(progress.pages)).await.unwrap_err();
    assert!(started.elapsed() >= Duration::from_secs(1), "the 503's Retry-After was waited out");
    assert_eq!(repository.second_page_requests.load(Ordering::SeqCst), 2, "asked again after the 503");
    assert!(matches!(error, HarvestError::Page { page: 3, .. }), "{error}");
    let message = error.to_string();
    assert!(message.starts_with("page 3 (http://") && message.contains("run the same command again"), "{message}");
    assert_eq!(pages_seen, [1, 2]);
    let kept: Vec<String> = harvested(&out).into_iter().map(|d| d.id).collect();
    assert_eq!(kept, ["arXiv:2501.00001", "arXiv:2501.00002", "arXiv:2501.00003", "arXiv:2501.00004"]);

    // A crash while the third page was being written leaves half a gzip member behind.
    {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new().append(true).open(&out).unwrap();
        file.write_all(&[0x1f, 0x8b, 8, 0, 0, 0]).unwrap();
    }
    repository.third_page_broken.store(false, Ordering::SeqCst);
    let report = harvest(&harvest_config, &fetcher, &mut |_| {}).await.unwrap();
    assert!(report.resumed);
    assert_eq!((report.pages, report.papers, report.skipped), (3, 6, 1));
    assert_eq!(repository.second_page_requests.load(Ordering::SeqCst), 2, "the resumed run starts at page 3");
    let documents = harvested(&out);
    let ids: Vec<&str> = documents.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "arXiv:2501.00001",
            "arXiv:2501.00002",
            "arXiv:2501.00003",
            "arXiv:2501.00004",
            "arXiv:2501.00005",
            "arXiv:2501.00006"
        ],
        "every paper once, in order"
    );
    let checkpoint = dir.path().join("cs.jsonl.gz.checkpoint");
    assert!(!checkpoint.exists(), "a finished harvest leaves no checkpoint");

    // What `docclass train` will read: labels from the primary category, cross-lists, a plain date.
    let first = &documents[0];
    let labels = first.labels.clone().unwrap();
    assert_eq!((labels.topic.as_deref(), labels.subtopic.as_deref()), (Some("cs"), Some("cs.LG")));
    assert_eq!(labels.categories, ["cs.LG", "stat.ML"]);
    assert_eq!(first.title, r"Paper 2501.00001 on learning $f:\mathbb{R}^d \to \mathbb{R}$");
    assert_eq!(first.text, "We study 2501.00001 & show that it works.");
    assert_eq!(first.published.unwrap().to_rfc3339(), "2025-01-02T00:00:00+00:00");
    let third = documents[2].labels.clone().unwrap();
    assert_eq!(third.categories, ["math.PR", "math.ST"], "stat.TH is math.ST's alias");
    let fourth = documents[3].labels.clone().unwrap();
    assert_eq!((fourth.topic.as_deref(), fourth.subtopic.as_deref()), (Some("physics"), Some("hep-th")));

    // The same command once more does not harvest over a finished file.
    let again = harvest(&harvest_config, &fetcher, &mut |_| {}).await.unwrap_err();
    assert!(matches!(again, HarvestError::Exists(_)), "{again}");
}

#[tokio::test]
async fn an_empty_set_is_an_empty_file_and_a_refusal_is_one_line() {
    let endpoint = serve(Arc::new(Repository::default())).await;
    let dir = tempfile::tempdir().unwrap();
    let fetcher = loopback(FetcherConfig::default());
    let out = dir.path().join("empty.jsonl");
    let report = harvest(&config(&endpoint, "empty", out.clone()), &fetcher, &mut |_| {}).await.unwrap();
    assert_eq!((report.pages, report.papers), (1, 0));
    assert_eq!(std::fs::read(&out).unwrap(), b"");

    // A 400 is not asked again: the request itself is wrong.
    let error = harvest(&config(&endpoint, "no-such-set", dir.path().join("x.jsonl")), &fetcher, &mut |_| {})
        .await
        .unwrap_err();
    assert!(matches!(error, HarvestError::Fetch { attempts: 1, .. }), "{error}");
    assert!(error.to_string().contains("HTTP 400"), "{error}");
    assert!(!error.to_string().contains('\n'), "{error}");
}

/// A repository that repeats a token, or cycles between tokens, or sends empty pages with ever-new
/// tokens, used to be paged for ever (3,990 lines for 10 papers in 20 s). A repeat stops at once, empty
/// pages after [`feeds::harvest::MAX_EMPTY_PAGES`] in a row; each says so in one line and keeps what came
/// before.
#[tokio::test]
async fn a_harvest_that_would_never_end_stops_with_one_line() {
    let endpoint = serve(Arc::new(Repository::default())).await;
    let dir = tempfile::tempdir().unwrap();
    let fetcher = loopback(FetcherConfig::default());
    let out = dir.path().join("loop.jsonl");
    let error = harvest(&config(&endpoint, "loop", out.clone()), &fetcher, &mut |_| {}).await.unwrap_err();
    assert!(matches!(error, HarvestError::RepeatedToken { page: 3, .. }), "{error}");
    assert!(error.to_string().contains("\"loop|1\" a second time") && !error.to_string().contains('\n'), "{error}");
    assert_eq!(harvested(&out).len(), 3, "three pages of one paper each, none more");

    let out = dir.path().join("void.jsonl");
    let mut pages = 0;
    let error = harvest(&config(&endpoint, "void", out.clone()), &fetcher, &mut |progress| pages = progress.pages)
        .await
        .unwrap_err();
    let limit = feeds::harvest::MAX_EMPTY_PAGES;
    assert!(matches!(error, HarvestError::EmptyPages { first: 2, .. }), "{error}");
    assert_eq!(pages, 1 + limit, "the first page, then the empty ones up to the limit");
    assert!(error.to_string().contains("held no records"), "{error}");
    assert_eq!(harvested(&out).len(), 1);
}

/// A page over the size cap is not asked for again (it used to be retried for minutes as if it were
/// transient); a resumption token the repository stopped accepting ends the harvest with what to do
/// instead of advice to rerun, which would fail the same way: the checkpoint goes, the papers stay.
#[tokio::test]
async fn a_page_too_large_and_an_expired_token_each_end_with_one_line_that_says_what_to_do() {
    let repository = Arc::new(Repository::default());
    let endpoint = serve(repository.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let fetcher = loopback(FetcherConfig { max_bytes: 64 * 1024, ..FetcherConfig::default() });
    let error =
        harvest(&config(&endpoint, "huge", dir.path().join("huge.jsonl")), &fetcher, &mut |_| {}).await.unwrap_err();
    assert!(matches!(error, HarvestError::Fetch { attempts: 1, .. }), "{error}");
    assert!(error.to_string().contains("larger than"), "{error}");
    assert_eq!(repository.huge_requests.load(Ordering::SeqCst), 1, "asked once");

    let out = dir.path().join("expiring.jsonl");
    let error = harvest(&config(&endpoint, "expiring", out.clone()), &fetcher, &mut |_| {}).await.unwrap_err();
    assert!(matches!(error, HarvestError::ExpiredToken { papers: 1, .. }), "{error}");
    assert!(error.to_string().contains("--from") && !error.to_string().contains('\n'), "{error}");
    assert_eq!(harvested(&out).len(), 1, "the paper before it is kept");
    assert!(!dir.path().join("expiring.jsonl.checkpoint").exists(), "no checkpoint left to resume from the dead token");
}
