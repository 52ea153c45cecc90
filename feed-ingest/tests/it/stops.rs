//! How feed-ingest stops: on SIGTERM (what ECS and docker send) it ends promptly with its summary, even
//! while a read or a fetch hangs; a second signal ends it at once. Everything talks to 127.0.0.1 only.

use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

fn feed_ingest() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_feed-ingest"));
    command
        .env_remove("DOCCLASS_INGEST_QUEUE_URL")
        .env_remove("DOCCLASS_FEEDS")
        .env_remove("DOCCLASS_FEEDS_TOML")
        .kill_on_drop(true);
    command
}

fn terminate(child: &Child) {
    let pid = child.id().expect("running").to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
}

/// `--input -` with standard input open and silent: SIGTERM ends it within a second or so, after it
/// has sent the documents it had read, and the summary says it was stopped.
#[tokio::test]
async fn an_input_run_stops_on_sigterm_with_what_it_read_sent_and_its_summary() {
    let mut child = feed_ingest()
        .args(["--input", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for i in 0..15 {
        stdin.write_all(format!("{{\"id\":\"d{i}\",\"text\":\"document {i}\"}}\n").as_bytes()).await.unwrap();
    }
    stdin.flush().await.unwrap();
    // The first batch of ten is out: the process is reading and now waits for more.
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    for _ in 0..10 {
        tokio::time::timeout(Duration::from_secs(20), stdout.next_line()).await.expect("a batch is sent").unwrap();
    }
    terminate(&child);
    let started = Instant::now();
    let mut rest = 0;
    while let Some(_line) = tokio::time::timeout(Duration::from_secs(10), stdout.next_line()).await.unwrap().unwrap() {
        rest += 1;
    }
    let output =
        tokio::time::timeout(Duration::from_secs(10), child.wait_with_output()).await.expect("it ends").unwrap();
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?} to stop", started.elapsed());
    assert_eq!(rest, 5, "the five documents in hand were sent before stopping");
    assert_eq!(output.status.code(), Some(1), "a stopped input run says it did not finish");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("stopped by a signal after enqueueing 15 documents"), "{stderr}");
    drop(stdin);
}

/// A listener that accepts connections and never answers: a feed server that hangs.
async fn hanging_server() -> (String, tokio::sync::mpsc::Receiver<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/feed.xml", listener.local_addr().unwrap());
    let (accepted, connections) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
            let _ = accepted.try_send(());
        }
    });
    (url, connections)
}

/// Polling, with a fetch hanging (the feed timeout is 30 s, as long as ECS waits before SIGKILL):
/// SIGTERM abandons the fetch and the service exits cleanly at once.
#[tokio::test]
async fn a_polling_ingestor_stops_at_once_while_a_fetch_hangs() {
    let (url, mut connections) = hanging_server().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("feeds.toml");
    // The first poll comes within the jitter of the interval: 0.1 × 2 s.
    std::fs::write(&config, format!("[[feed]]\nurl = \"{url}\"\ninterval = \"2s\"\n")).unwrap();
    let child = feed_ingest()
        .arg("--config")
        .arg(&config)
        .arg("--seen-db")
        .arg(dir.path().join("seen.sqlite"))
        .args(["--metrics-addr", "127.0.0.1:0", "--allow-private-addresses"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::timeout(Duration::from_secs(20), connections.recv()).await.expect("the poll began");
    terminate(&child);
    let started = Instant::now();
    let output =
        tokio::time::timeout(Duration::from_secs(25), child.wait_with_output()).await.expect("it ends").unwrap();
    assert!(started.elapsed() < Duration::from_secs(5), "waited {:?} for the hanging fetch", started.elapsed());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("feed-ingest stopped"), "{stderr}");
}

/// A stop that cannot finish (the queue hangs, so the batch in hand is never accepted) is forced by a
/// second signal, with the status of a process ended by SIGTERM.
#[tokio::test]
async fn a_second_signal_ends_a_stop_that_hangs() {
    let (endpoint, mut connections) = hanging_server().await;
    let endpoint = endpoint.trim_end_matches("/feed.xml").to_owned();
    let mut child = feed_ingest()
        .args(["--input", "-"])
        .arg("--queue-url")
        .arg(format!("{endpoint}/000000000000/ingest"))
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"{\"id\":\"d\",\"text\":\"one document\"}\n").await.unwrap();
    drop(stdin);
    tokio::time::timeout(Duration::from_secs(20), connections.recv()).await.expect("the send began");
    terminate(&child);
    // The first signal cannot end a send the queue never answers…
    assert!(tokio::time::timeout(Duration::from_secs(2), child.wait()).await.is_err(), "ended on the first signal");
    // …the second ends the process at once.
    terminate(&child);
    let status = tokio::time::timeout(Duration::from_secs(5), child.wait()).await.expect("forced").unwrap();
    assert_eq!(status.code(), Some(143));
}
