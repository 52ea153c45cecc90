//! The dashboard of an embedded run, as a person sees it in a real browser.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use test_support::binaries::binary;
// Killed however a test ends.
use test_support::processes::{Service, free_port};
use test_support::{browser, data_dir, eventually_blocking, model_file, results_file};

/// What a person sees on the dashboard of an embedded run while it runs, in a real browser: the rows
/// written, bars per topic that add up to them, each queue's counts as the run's own queues hold them,
/// the workers of each pool, and a dead letter the test put in, with its reason. Saves a screenshot.
#[test]
fn the_dashboard_shows_an_embedded_run_in_a_real_browser() {
    let _serial = test_support::serial();
    use browser::{attribute_of, counts_in, http_get, render, text_of};
    let Some(chromium) = browser::chromium_or_skip() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("results.sqlite");
    let port = free_port();
    // The run reads its documents from a pipe the test holds open: it is live, and idle between what
    // the test sends, so what its queues hold is known when the page is read.
    let mut run = Service(
        std::process::Command::new(binary("docclass"))
            .args(["run", "--workers", "2", "--input", "-", "--dashboard", &format!("127.0.0.1:{port}"), "--model"])
            .arg(model_file())
            .arg("--db")
            .arg(&db)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let dev = flate2::read::GzDecoder::new(std::fs::File::open(data_dir().join("20ng/dev.jsonl.gz")).unwrap());
    let lines: Vec<String> = std::io::BufRead::lines(std::io::BufReader::new(dev)).map(Result::unwrap).collect();
    let sent = 2_000;
    // The page is up before the first document goes in: the per-stage counts start from zero.
    let started = Instant::now();
    while http_get(port, "/api/status").is_none() {
        assert!(started.elapsed() < Duration::from_secs(120), "the dashboard never answered");
        std::thread::sleep(Duration::from_millis(100));
    }
    {
        use std::io::Write;
        let stdin = run.0.stdin.as_mut().unwrap();
        for line in &lines[..sent] {
            writeln!(stdin, "{line}").unwrap();
        }
        stdin.flush().unwrap();
    }

    let status = loop {
        let status =
            http_get(port, "/api/status").and_then(|body| serde_json::from_str::<serde_json::Value>(&body).ok());
        if let Some(status) = status
            && status["results_written"] == sent
            && status["queues"]
                .as_array()
                .is_some_and(|queues| queues.iter().all(|queue| queue["visible"] == 0 && queue["in_flight"] == 0))
            // The run's counts reach the page with its next progress tick (every 100 ms).
            && status["stages"].as_array().is_some_and(|stages| {
                stages.len() == 3
                    && stages.iter().all(|stage| {
                        stage["per_minute"].as_array().unwrap().iter().map(|n| n.as_u64().unwrap()).sum::<u64>()
                            == sent as u64
                    })
            })
        {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "the run never wrote {sent} rows");
        std::thread::sleep(Duration::from_millis(200));
    };
    let per_topic: u64 = status["per_topic"].as_object().unwrap().values().map(|n| n.as_u64().unwrap()).sum();
    assert_eq!(per_topic, sent as u64);
    let queues = status["queues"].as_array().unwrap();
    assert_eq!(queues.len(), 3, "{status}");
    assert!(queues.iter().all(|queue| queue["dead_letters"] == 0), "{status}");
    assert!(status["pools"].as_array().unwrap().iter().all(|pool| pool["running"] == 2), "{status}");
    let handled = |stage: &serde_json::Value| {
        stage["per_minute"].as_array().unwrap().iter().map(|n| n.as_u64().unwrap()).sum::<u64>()
    };
    let stages: BTreeMap<&str, u64> = status["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|stage| (stage["stage"].as_str().unwrap(), handled(stage)))
        .collect();
    assert_eq!(
        stages,
        BTreeMap::from([
            ("subtopic-classifier", sent as u64),
            ("table-writer", sent as u64),
            ("topic-classifier", sent as u64)
        ]),
        "each stage handled every document, within the window"
    );

    results_file::add_dead_letter(
        &db,
        adapters_embedded::DeadLetterRecord {
            queue: "ingest".into(),
            reason: "invalid_json".into(),
            detail: "message body is not a valid envelope: injected by the test".into(),
            body: "{not json".into(),
        },
    );
    // The page reads the file at most once per refresh (2 s): the letter shows by the next one.
    eventually_blocking(Duration::from_secs(30), "the injected dead letter on /api/status", || {
        let body = http_get(port, "/api/status")?;
        let status: serde_json::Value = serde_json::from_str(&body).ok()?;
        (status["dead_letters"]["total"] == 1).then_some(())
    });

    let page = format!("http://127.0.0.1:{port}/");
    let dom = render(&chromium, dir.path(), &page, None);
    assert!(dom.contains(r#"data-loaded="true""#), "the page never rendered its data:\n{dom}");
    let shown = text_of(&dom, "results-written").unwrap();
    assert_eq!(shown.replace(',', ""), sent.to_string(), "the rows written, as shown");
    let bars = counts_in(&dom, "topic");
    assert_eq!(bars.values().sum::<u64>(), sent as u64, "the per-topic bars add up to the rows written: {bars:?}");
    assert!(bars.len() >= 5, "{bars:?}");
    assert_eq!(counts_in(&dom, "reason").get("invalid_json"), Some(&1), "the injected dead letter, by its reason");
    assert!(dom.contains("injected by the test"), "with its detail");
    for queue in ["ingest", "subtopic", "results"] {
        for attribute in ["visible", "in-flight", "dead-letters"] {
            assert_eq!(
                attribute_of(&dom, "queue", queue, attribute),
                Some(0),
                "{queue} {attribute}, as the run holds it"
            );
        }
    }
    for pool in ["topic-classifier", "subtopic-classifier", "table-writer"] {
        assert_eq!(attribute_of(&dom, "pool", pool, "running"), Some(2), "{pool}: the run's workers");
        assert_eq!(counts_in(&dom, "stage").get(pool), Some(&(sent as u64)), "{pool}: handled per minute, summed");
    }

    let screenshot = dir.path().join("dashboard.png");
    render(&chromium, dir.path(), &page, Some(&screenshot));
    let png = std::fs::read(&screenshot).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "a screenshot of {} bytes", png.len());
    if let Some(keep) = std::env::var_os("DOCCLASS_SCREENSHOT") {
        std::fs::copy(&screenshot, keep).unwrap();
    }

    // The rest of the documents, then the end of the input: the run finishes them and exits.
    {
        use std::io::Write;
        let mut stdin = run.0.stdin.take().unwrap();
        for line in &lines[sent..] {
            writeln!(stdin, "{line}").unwrap();
        }
    }
    let exited = loop {
        if let Some(status) = run.0.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(240), "the run did not finish after its input ended");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(exited.success(), "{exited}");
    assert_eq!(results_file::row_count(&db), lines.len());
}

/// What the dashboard answers, and to whom: a request for another host (a page elsewhere whose name
/// was rebound to this address) is refused; its own answers carry headers that keep the page from
/// being framed, sniffed or given another's scripts. It used to answer any `Host`, with none of them.
#[test]
fn the_dashboard_answers_its_own_host_only_with_security_headers() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _dashboard = Service(
        std::process::Command::new(binary("docclass"))
            .args(["dashboard", "--addr", &format!("127.0.0.1:{port}"), "--allow-host", "dash.internal", "--db"])
            .arg(dir.path().join("none.sqlite"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let ask = |host: &str| {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        write!(stream, "GET /api/status HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).ok()?;
        Some(answer)
    };
    let own =
        eventually_blocking(Duration::from_secs(30), "the dashboard answering", || ask(&format!("127.0.0.1:{port}")));
    assert!(own.starts_with("HTTP/1.1 200"), "{own}");
    let lower = own.to_ascii_lowercase();
    for header in
        ["content-security-policy: default-src 'none'", "x-content-type-options: nosniff", "x-frame-options: deny"]
    {
        assert!(lower.contains(header), "{header} in {own}");
    }
    assert!(ask("dash.internal:8080").unwrap().starts_with("HTTP/1.1 200"));
    let rebound = ask(&format!("evil.example:{port}")).unwrap();
    assert!(rebound.starts_with("HTTP/1.1 403"), "{rebound}");
    assert!(!rebound.contains("results_written"), "{rebound}");
}
