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
