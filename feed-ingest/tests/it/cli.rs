//! The `feed-ingest` binary as a user runs it: `--once --dry-run` over feeds, files read once, the log
//! format asked for, a truncated input. Feeds are served on 127.0.0.1 by the polling test's fixtures.

use crate::polling::serve;

/// `--once --dry-run`: no queue, one JSON object per entry on stdout, a failing feed (`/flaky` fails
/// its first polls) on stderr, exit 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_prints_entries_and_reports_bad_feeds() {
    let base = serve(Default::default()).await;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_feed-ingest"))
        .args(["--once", "--dry-run", "--allow-private-addresses"])
        .args(["--feed", &format!("{base}/changing"), "--feed", &format!("{base}/flaky")])
        .args(["--feed", &format!("{base}/arxiv"), "--feed", &format!("{base}/malformed")])
        .args(["--feed", &format!("{base}/deep")])
        .env_remove("DOCCLASS_INGEST_QUEUE_URL")
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let lines: Vec<serde_json::Value> =
        String::from_utf8(output.stdout).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(lines.len(), 3, "two RSS items and one paper: {lines:?}");
    for line in &lines {
        for key in ["id", "title", "text", "url"] {
            assert!(line[key].is_string(), "{key} in {line}");
        }
    }
    assert!(lines[2]["published"].is_string(), "{}", lines[2]);
    assert_eq!(lines[2]["subtopic"], "cs.LG");
    assert_eq!(lines[2]["topic"], "cs");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("/flaky: ") && stderr.contains("HTTP 500"), "{stderr}");
    assert!(stderr.contains("/malformed: "), "{stderr}");
    assert!(stderr.contains("/deep: ") && stderr.contains("nests elements more than"), "{stderr}");
}

/// `DOCCLASS_LOG_FORMAT=json` (what the ECS task definitions set) makes every log line JSON, as it does
/// for the other services.
#[tokio::test]
async fn logs_in_the_format_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("papers.jsonl");
    std::fs::write(&input, "{\"id\": \"arXiv:1504.03587\", \"title\": \"A title\", \"text\": \"An abstract.\"}\n")
        .unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_feed-ingest"))
        .arg("--input")
        .arg(&input)
        .env_remove("DOCCLASS_INGEST_QUEUE_URL")
        .env("DOCCLASS_LOG_FORMAT", "json")
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8(output.stdout).unwrap().lines().count(), 1, "one envelope");
    let stderr = String::from_utf8(output.stderr).unwrap();
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}")))
        .collect();
    let finished = lines.iter().find(|line| line["message"] == "feed-ingest finished");
    assert_eq!(finished.expect("the closing line is logged")["enqueued"], 1, "{stderr}");
}

/// Under JSON logs a failure is a JSON line too — a feed that fails under `--once`, and the fatal error
/// that ends the process — and each line names the feed once, not three times.
#[tokio::test]
async fn failures_are_json_lines_under_json_logs_and_name_the_feed_once() {
    // A port nothing listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let feed = format!("http://127.0.0.1:{port}/feed.xml");
    let once = ["--once", "--allow-private-addresses", "--feed", feed.as_str()];
    for args in [&once[..], &["--input", "/no/such/file.jsonl"][..]] {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_feed-ingest"))
            .args(args)
            .env_remove("DOCCLASS_INGEST_QUEUE_URL")
            .env("DOCCLASS_LOG_FORMAT", "json")
            .output()
            .await
            .unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        let lines: Vec<serde_json::Value> = stderr
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}")))
            .collect();
        let errors: Vec<&str> =
            lines.iter().filter(|line| line["level"] == "ERROR").filter_map(|line| line["message"].as_str()).collect();
        assert_eq!(errors.len(), 1, "{stderr}");
        if args[0] == "--once" {
            assert_eq!(errors[0].matches(&feed).count(), 1, "the feed's URL once: {}", errors[0]);
        } else {
            assert!(!output.status.success() && errors[0].contains("/no/such/file.jsonl"), "{stderr}");
        }
    }
}

/// A half-downloaded corpus: what could be read goes out, the stop is named once with its line, the
/// process ends (it used to loop on the same error for ever) and says so in its exit status.
#[tokio::test]
async fn a_truncated_gzip_input_ends_with_what_it_read_and_a_failure() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("half.jsonl.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    for i in 0..2_000 {
        writeln!(gz, r#"{{"id":"d{i}","text":"document number {i} with some words"}}"#).unwrap();
    }
    let whole = gz.finish().unwrap();
    std::fs::write(&input, &whole[..whole.len() / 2]).unwrap();
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_feed-ingest"))
        .arg("--input")
        .arg(&input)
        .env_remove("DOCCLASS_INGEST_QUEUE_URL")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(60), run).await.expect("it ends").unwrap();
    assert!(!output.status.success(), "{output:?}");
    let sent = String::from_utf8(output.stdout).unwrap().lines().count();
    assert!(sent > 0 && sent < 2_000, "{sent} envelopes from half a file");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.matches("reading stopped at line").count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "1 records unreadable and 0 documents too large for a queue message were not enqueued ({sent} were)"
        )),
        "{stderr}"
    );
    assert!(stderr.len() < 4_000, "{} bytes of stderr", stderr.len());
}

/// A stand-in for an HTTP proxy from the environment (`HTTP_PROXY`): counts the requests it gets and
/// answers each with a one-item feed — or, for `/redirect`, a redirect to instance metadata. Answers
/// the port.
async fn proxy(requests: std::sync::Arc<std::sync::atomic::AtomicUsize>) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let requests = requests.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0_u8; 1];
                while !head.ends_with(b"\r\n\r\n") && socket.read(&mut byte).await.unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                requests.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let answer = if String::from_utf8_lossy(&head).lines().next().unwrap_or_default().contains("/redirect")
                {
                    "HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/latest/meta-data/\r\nContent-Length: 0\r\n\r\n".to_owned()
                } else {
                    let feed = "<rss version=\"2.0\"><channel><title>t</title><item><title>Through the proxy</title>\
                                <link>http://example.org/1</link><description>text</description></item></channel></rss>";
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: {}\r\n\r\n{feed}",
                        feed.len()
                    )
                };
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    port
}

/// With a proxy in the environment, the proxy — not feed-ingest — would resolve a feed's name, and the
/// private-address guard used to be bypassed (`localhost`, a hosts-file name, a redirect to metadata went
/// to the proxy unchecked). Now every name is resolved and checked before a request goes to the proxy,
/// redirects included; a narrow allowance (`--allow-private-network`) lets exactly its network through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_in_the_environment_does_not_bypass_the_private_address_guard() {
    let requests = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let port = proxy(requests.clone()).await;
    let feed_ingest = |args: &[&str]| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_feed-ingest"));
        command
            .args(["--once", "--dry-run"])
            .args(args)
            .env("HTTP_PROXY", format!("http://127.0.0.1:{port}"))
            .env_remove("http_proxy")
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .env_remove("DOCCLASS_INGEST_QUEUE_URL")
            .env_remove("DOCCLASS_ALLOW_PRIVATE_ADDRESSES");
        command
    };
    let seen = || requests.load(std::sync::atomic::Ordering::SeqCst);

    let refused = feed_ingest(&["--feed", "http://localhost:9/feed"]).output().await.unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("private address"), "{stderr}");
    assert_eq!(refused.stdout.len(), 0, "nothing read");
    assert_eq!(seen(), 0, "nothing was sent to the proxy");

    // Loopback allowed, by network: the feed goes through the proxy.
    let allowed = feed_ingest(&["--allow-private-network", "127.0.0.0/8", "--feed", "http://localhost:9/feed"])
        .output()
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&allowed.stdout).contains("Through the proxy"), "{allowed:?}");
    assert_eq!(seen(), 1);

    // A redirect the proxy hands back to instance metadata is refused before it is requested.
    let redirected = feed_ingest(&["--allow-private-network", "127.0.0.0/8", "--feed", "http://localhost:9/redirect"])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&redirected.stderr);
    assert!(stderr.contains("169.254.169.254") && stderr.contains("private address"), "{stderr}");
    assert_eq!(seen(), 2, "the redirect's target was not asked for");

    // A zone-id URL is refused as the link-local address it is.
    let zoned = feed_ingest(&["--feed", "http://[fe80::1%25eth0]/feed"]).output().await.unwrap();
    let stderr = String::from_utf8_lossy(&zoned.stderr);
    assert!(stderr.contains("zone id") && stderr.contains("private address"), "{stderr}");
}
