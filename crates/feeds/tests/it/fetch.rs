//! Feeds over real HTTP: a server on 127.0.0.1 serves fixture feeds — RSS, Atom, an arXiv API answer,
//! one with an ETag, and the bad ones (500, oversized, slow, billion laughs, malformed, a redirect to a
//! file) — to the fetcher and the parser.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use feeds::{FetchError, Fetched, Fetcher, FetcherConfig, PrivateAddresses, Validators, parse_feed};

const RSS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Example news</title><link>https://example.org/</link>
<item><guid>rss-1</guid><title>Rockets &amp; orbits</title><link>https://example.org/1</link>
<description>&lt;p&gt;The &lt;b&gt;launch&lt;/b&gt; went well.&lt;/p&gt;</description>
<pubDate>Mon, 23 Nov 2026 09:00:00 GMT</pubDate></item>
<item><guid>rss-2</guid><title>Second</title><link>https://example.org/2</link>
<description>Plain text body.</description></item>
</channel></rss>"#;

const ATOM: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Example</title><id>urn:feed</id>
<updated>2026-11-23T09:00:00Z</updated>
<entry><id>urn:atom:1</id><title>Atom one</title><link href="https://example.org/a1"/>
<updated>2026-11-23T09:00:00Z</updated><summary>First atom entry.</summary></entry>
<entry><id>urn:atom:2</id><title type="html">Atom &lt;i&gt;two&lt;/i&gt;</title><link href="https://example.org/a2"/>
<updated>2026-11-23T10:00:00Z</updated><content type="html">&lt;p&gt;Second &amp;amp; last.&lt;/p&gt;</content></entry>
</feed>"#;

/// The shape of an arXiv API answer (export.arxiv.org/api/query): the primary category comes first.
const ARXIV: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:arxiv="http://arxiv.org/schemas/atom">
<title>ArXiv Query</title><id>http://arxiv.org/api/q</id><updated>2026-11-24T00:00:00-05:00</updated>
<entry><id>http://arxiv.org/abs/2611.00001v1</id><updated>2026-11-23T18:00:00Z</updated>
<published>2026-11-23T18:00:00Z</published><title>Sparse Linear Models
  Beat Transformers on Newsgroups</title>
<summary>  We show that a linear model with hashed n-grams is fast.
</summary>
<author><name>Ada Lovelace</name></author><author><name>Alan Turing</name></author>
<link href="http://arxiv.org/abs/2611.00001v1" rel="alternate" type="text/html"/>
<arxiv:primary_category term="cs.LG" scheme="http://arxiv.org/schemas/atom"/>
<category term="cs.LG" scheme="http://arxiv.org/schemas/atom"/>
<category term="stat.ML" scheme="http://arxiv.org/schemas/atom"/></entry>
</feed>"#;

/// The shape of an arXiv listing (rss.arxiv.org/rss/cs.LG): the same paper as [`ARXIV`] in its second
/// version, behind an announcement line, authors in `dc:creator`; and papers cross-listed from stat and
/// from hep-th.
const ARXIV_LISTING: &str = r#"<?xml version='1.0' encoding='UTF-8'?>
<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/"
 xmlns:atom="http://www.w3.org/2005/Atom" xmlns:content="http://purl.org/rss/1.0/modules/content/" version="2.0">
<channel><title>cs.LG updates on arXiv.org</title><link>http://rss.arxiv.org/rss/cs.LG</link>
<description>cs.LG updates on the arXiv.org e-print archive.</description>
<atom:link href="http://rss.arxiv.org/rss/cs.LG" rel="self" type="application/rss+xml"/>
<lastBuildDate>Tue, 24 Nov 2026 05:00:00 +0000</lastBuildDate>
<item><title>Sparse Linear Models Beat Transformers on Newsgroups</title>
<link>https://arxiv.org/abs/2611.00001</link>
<description>arXiv:2611.00001v2 Announce Type: replace
Abstract: We show that a linear model with hashed n-grams is fast.</description>
<guid isPermaLink="false">oai:arXiv.org:2611.00001v2</guid>
<category>cs.LG</category><category>stat.ML</category>
<pubDate>Tue, 24 Nov 2026 00:00:00 -0500</pubDate>
<arxiv:announce_type>replace</arxiv:announce_type>
<dc:rights>http://creativecommons.org/licenses/by/4.0/</dc:rights>
<dc:creator>Ada Lovelace, Alan Turing</dc:creator></item>
<item><title>Priors for Kernels</title><link>https://arxiv.org/abs/2611.00777</link>
<description>arXiv:2611.00777v1 Announce Type: cross
Abstract: Kernel priors, revisited.</description>
<guid isPermaLink="false">oai:arXiv.org:2611.00777v1</guid>
<category>stat.ML</category><category>cs.LG</category>
<pubDate>Tue, 24 Nov 2026 00:00:00 -0500</pubDate>
<arxiv:announce_type>cross</arxiv:announce_type><dc:creator>Grace Hopper</dc:creator></item>
<item><title>Learning Strings</title><link>https://arxiv.org/abs/2611.00999</link>
<description>arXiv:2611.00999v1 Announce Type: cross
Abstract: Dualities, learned.</description>
<guid isPermaLink="false">oai:arXiv.org:2611.00999v1</guid>
<category>hep-th</category><category>cs.LG</category>
<arxiv:announce_type>cross</arxiv:announce_type><dc:creator>Emmy Noether</dc:creator></item>
</channel></rss>"#;

const BILLION_LAUGHS: &str = include_str!("../fixtures/billion-laughs.xml");

async fn with_etag(headers: HeaderMap) -> Response {
    if headers.get(header::IF_NONE_MATCH).is_some_and(|tag| tag == "\"v1\"") {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    ([(header::ETAG, "\"v1\""), (header::CONTENT_TYPE, "application/rss+xml")], RSS).into_response()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// The RSS fixture gzipped, for a client that asks for gzip; 406 for one that does not.
async fn gzipped(headers: HeaderMap) -> Response {
    let asks = headers.get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("gzip"));
    if !asks {
        return (StatusCode::NOT_ACCEPTABLE, "ask for gzip").into_response();
    }
    ([(header::CONTENT_ENCODING, "gzip")], gzip(RSS.as_bytes())).into_response()
}

/// 16 MiB of spaces in 16 KiB of gzip: over the 1 MiB cap once inflated.
async fn bomb() -> Response {
    let mut feed = b"<rss version=\"2.0\"><channel><title>".to_vec();
    feed.extend(std::iter::repeat_n(b' ', 16 * 1024 * 1024));
    ([(header::CONTENT_ENCODING, "gzip")], gzip(&feed)).into_response()
}

async fn serve() -> String {
    let app = Router::new()
        .route("/rss", get(|| async { RSS }))
        .route("/atom", get(|| async { ATOM }))
        .route("/arxiv", get(|| async { ARXIV }))
        .route("/arxiv-listing", get(|| async { ARXIV_LISTING }))
        .route("/etag", get(with_etag))
        .route("/error", get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "down") }))
        .route("/huge", get(|| async { format!("<rss>{}</rss>", "x".repeat(2 * 1024 * 1024)) }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                RSS
            }),
        )
        .route("/laughs", get(|| async { BILLION_LAUGHS }))
        .route("/malformed", get(|| async { "<rss version=\"2.0\"><channel><item><title>cut" }))
        .route("/to-file", get(|| async { Redirect::temporary("file:///etc/passwd") }))
        // Where an ECS task reads its credentials, and instance metadata in its IPv4-mapped IPv6 form.
        .route("/to-credentials", get(|| async { Redirect::temporary("http://169.254.170.2/v2/credentials/x") }))
        .route("/to-metadata", get(|| async { Redirect::temporary("http://[::ffff:169.254.169.254]/latest/") }))
        .route("/gzip", get(gzipped))
        .route("/bomb", get(bomb));
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

fn fetcher() -> Fetcher {
    // The fixtures are served on 127.0.0.1, which the default policy refuses.
    Fetcher::new(FetcherConfig {
        timeout: Duration::from_secs(1),
        max_bytes: 1024 * 1024,
        private_addresses: PrivateAddresses::allow_loopback(),
        ..FetcherConfig::default()
    })
    .unwrap()
}

async fn body(fetcher: &Fetcher, url: &str) -> Vec<u8> {
    match fetcher.fetch(url, &Validators::default()).await.unwrap() {
        Fetched::Body { bytes, .. } => bytes,
        Fetched::NotModified => panic!("{url}: 304 without validators"),
    }
}

#[tokio::test]
async fn rss_atom_and_arxiv_entries_come_out_as_text() {
    let base = serve().await;
    let fetcher = fetcher();

    let rss = parse_feed(&body(&fetcher, &format!("{base}/rss")).await, &base).unwrap();
    let ids: Vec<&str> = rss.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["rss-1", "rss-2"]);
    assert_eq!(rss[0].title, "Rockets & orbits");
    assert_eq!(rss[0].text, "The launch went well.", "HTML in a summary is cleaned to text");
    assert!(rss[0].published.is_some() && rss[1].published.is_none());

    let atom = parse_feed(&body(&fetcher, &format!("{base}/atom")).await, &base).unwrap();
    assert_eq!(atom.len(), 2);
    assert_eq!((atom[1].title.as_str(), atom[1].text.as_str()), ("Atom two", "Second & last."));
    assert_eq!(atom[1].url.as_deref(), Some("https://example.org/a2"));

    let arxiv = parse_feed(&body(&fetcher, &format!("{base}/arxiv")).await, &base).unwrap();
    let paper = &arxiv[0];
    assert_eq!(paper.id, "arXiv:2611.00001", "one id per paper, whichever feed or version");
    assert_eq!(paper.title, "Sparse Linear Models Beat Transformers on Newsgroups");
    assert!(paper.text.starts_with("We show that a linear model"));
    assert!(paper.text.ends_with("Authors: Ada Lovelace, Alan Turing"));
    assert_eq!((paper.topic.as_deref(), paper.subtopic.as_deref()), (Some("cs"), Some("cs.LG")));
    assert!(paper.published.is_some());

    let listing = parse_feed(&body(&fetcher, &format!("{base}/arxiv-listing")).await, &base).unwrap();
    let ids: Vec<&str> = listing.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(
        ids,
        ["arXiv:2611.00001", "arXiv:2611.00777", "arXiv:2611.00999"],
        "the API's paper and the listing's are one"
    );
    assert_eq!(
        listing[0].text,
        "We show that a linear model with hashed n-grams is fast.\n\nAuthors: Ada Lovelace, Alan Turing",
        "the announcement line is not part of the abstract"
    );
    assert_eq!(listing[0].url.as_deref(), Some("https://arxiv.org/abs/2611.00001"));
    assert_eq!((listing[1].topic.as_deref(), listing[1].subtopic.as_deref()), (Some("stat"), Some("stat.ML")));
    assert!(listing[1].published.is_some());
    assert_eq!(
        (listing[2].topic.as_deref(), listing[2].subtopic.as_deref()),
        (Some("physics"), Some("hep-th")),
        "arXiv's physics archives are one topic"
    );
}

#[tokio::test]
async fn an_unchanged_feed_answers_not_modified() {
    let base = serve().await;
    let fetcher = fetcher();
    let url = format!("{base}/etag");
    let Fetched::Body { validators, .. } = fetcher.fetch(&url, &Validators::default()).await.unwrap() else {
        panic!("first fetch has a body")
    };
    assert_eq!(validators.etag.as_deref(), Some("\"v1\""));
    assert!(matches!(fetcher.fetch(&url, &validators).await.unwrap(), Fetched::NotModified));
}

#[tokio::test]
async fn bad_feeds_fail_by_name() {
    let base = serve().await;
    let fetcher = fetcher();
    let kind = |result: Result<Fetched, FetchError>| result.err().map(|error| error.kind());
    assert_eq!(kind(fetcher.fetch(&format!("{base}/error"), &Validators::default()).await), Some("status"));
    assert_eq!(kind(fetcher.fetch(&format!("{base}/huge"), &Validators::default()).await), Some("too_large"));
    assert_eq!(kind(fetcher.fetch(&format!("{base}/slow"), &Validators::default()).await), Some("timeout"));
    assert_eq!(kind(fetcher.fetch(&format!("{base}/to-file"), &Validators::default()).await), Some("transport"));
    assert_eq!(kind(fetcher.fetch("file:///etc/passwd", &Validators::default()).await), Some("scheme"));
    assert_eq!(kind(fetcher.fetch("ftp://example.org/feed", &Validators::default()).await), Some("scheme"));
    assert!(parse_feed(&body(&fetcher, &format!("{base}/malformed")).await, &base).is_err());
}

/// A feed whose document type declares entities is refused by name: it used to be enqueued as a
/// junk document titled `&lol9;`.
#[tokio::test]
async fn a_feed_that_declares_entities_is_refused() {
    let base = serve().await;
    let bytes = body(&fetcher(), &format!("{base}/laughs")).await;
    let error = parse_feed(&bytes, &base).expect_err("refused");
    assert_eq!(error.kind(), "refused");
    assert!(error.to_string().contains("declares entities"), "{error}");
}

/// No connection is made to a private address: not to the feed's own (by address or by a name that
/// resolves there), not to where a redirect points (the ECS credentials endpoint, instance metadata).
/// No traffic leaves 127.0.0.1: the refusals happen before connecting.
#[tokio::test]
async fn private_addresses_are_refused_before_any_connection() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((_socket, _)) = listener.accept().await {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let strict = Fetcher::new(FetcherConfig { timeout: Duration::from_secs(2), ..FetcherConfig::default() }).unwrap();
    for url in [format!("http://127.0.0.1:{port}/feed"), format!("http://localhost:{port}/feed")] {
        let error = strict.fetch(&url, &Validators::default()).await.expect_err("refused");
        assert_eq!(error.kind(), "refused", "{url}: {error}");
        assert!(error.to_string().contains("--allow-private-network"), "{error}");
    }
    assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 0, "nothing was connected to");

    // Loopback allowed (the fixture server), the rest still refused: redirects are checked too.
    let base = serve().await;
    for path in ["/to-credentials", "/to-metadata"] {
        let error = fetcher().fetch(&format!("{base}{path}"), &Validators::default()).await.expect_err("refused");
        assert_eq!(error.kind(), "refused", "{path}: {error}");
        assert!(error.to_string().contains("169.254."), "{error}");
    }
}

/// Feeds are asked for compressed (gzip, brotli) and inflated; the size cap counts the inflated bytes,
/// so a decompression bomb is refused.
#[tokio::test]
async fn compressed_answers_are_inflated_within_the_cap() {
    let base = serve().await;
    let bytes = body(&fetcher(), &format!("{base}/gzip")).await;
    assert_eq!(parse_feed(&bytes, &base).unwrap().len(), 2);
    let error = fetcher().fetch(&format!("{base}/bomb"), &Validators::default()).await.expect_err("refused");
    assert_eq!(error.kind(), "too_large", "{error}");
}
