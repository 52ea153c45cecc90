//! The four services as four processes, wired only through SQS queues and a DynamoDB table on moto
//! server: 2,000 real documents in, one classifier killed with SIGKILL mid-run and restarted, poison on
//! the ingest queue. Every document must end as exactly one item, poison in the dead-letter queue with
//! its reason, the queues empty, and every service must stop cleanly on SIGTERM. One run of the stack
//! ([`run`]), one test per thing it must show.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use adapters_aws::{SqsQueue, load_sdk_config};
use docclass_types::{MessageSink, MessageSource, OutgoingMessage, attributes};
use std::sync::OnceLock;

use test_support::processes::{Environment, Service, free_port, http_get, signal, terminate};
use test_support::{Scenario, browser, data_dir, emulator, eventually, model_file, read, second_model_file};

const DOCUMENTS: usize = 2_000;

/// The running stack the steps share.
struct Stack {
    dir: tempfile::TempDir,
    environment: Environment,
    sqs: aws_sdk_sqs::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
    input_ids: BTreeSet<String>,
    writer: Service,
    subtopic: Service,
    topic: Service,
    /// The replacement topic classifier's `/metrics` port.
    metrics_port: u16,
    dead_letters: SqsQueue,
}

/// The four services on moto, the documents and the poison sent, then every step of the run; once for
/// all the tests below.
fn run() -> &'static Scenario {
    static RUN: OnceLock<Scenario> = OnceLock::new();
    RUN.get_or_init(|| {
        Scenario::run(async || {
            let mut scenario = Scenario::default();
            let Some(mut stack) = scenario.step("start", start()).await else { return scenario };
            scenario.step("stored", every_document_is_stored_once_despite_a_kill(&mut stack)).await;
            scenario.step("promoted", the_pools_promoted_the_candidate_judged_better_mid_run(&stack)).await;
            scenario.step("drained", the_queues_drain(&stack)).await;
            let dead_lettered = scenario.step("dead-lettered", poison_is_dead_lettered_with_its_reasons(&stack)).await;
            if dead_lettered.is_some() {
                scenario.step("dashboard", dashboard_shows_the_stack(&stack, DOCUMENTS as u64)).await;
                scenario.step("inspected", the_operator_sees_letters_and_results(&stack)).await;
                scenario.step("redriven", redriven_poison_comes_back_with_its_reasons(&stack)).await;
            }
            scenario.step("metrics", the_replacement_reports_health_and_metrics(&stack)).await;
            scenario.step("judged-bad", a_bad_model_is_dropped_as_candidate_and_rolled_back_as_live(&stack)).await;
            scenario.step("stopped", every_service_stops_on_sigterm(&mut stack)).await;
            stack.environment.infra_down();
            scenario
        })
    })
}

#[test]
fn every_document_is_stored_once_though_a_classifier_is_killed() {
    run().check("stored");
}

#[test]
fn a_candidate_judged_better_mid_run_is_promoted_in_both_pools_without_a_restart() {
    run().check("promoted");
}

#[test]
fn a_bad_model_is_dropped_as_candidate_and_rolled_back_when_published_live() {
    run().check("judged-bad");
}

#[test]
fn every_queue_drains() {
    run().check("drained");
}

#[test]
fn poison_lands_in_the_dead_letter_queue_with_its_reasons() {
    run().check("dead-lettered");
}

#[test]
fn the_dashboard_shows_the_stack_in_a_real_browser() {
    run().check("dashboard");
}

#[test]
fn dlq_inspect_and_results_show_what_an_operator_needs() {
    run().check("inspected");
}

#[test]
fn redriven_poison_comes_back_to_the_dead_letter_queue() {
    run().check("redriven");
}

#[test]
fn a_restarted_classifier_reports_health_and_metrics() {
    run().check("metrics");
}

#[test]
fn every_service_stops_cleanly_on_sigterm() {
    run().check("stopped");
}

async fn start() -> Stack {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = emulator::endpoint();
    let stack = emulator::unique_name("e2e");
    let mut environment = Environment::on_emulator(&endpoint, &stack);
    environment.set("DOCCLASS_WORKERS", "2");
    // A killed worker's messages come back after this long.
    environment.set("DOCCLASS_VISIBILITY_TIMEOUT_SECS", "5");
    environment.infra_up(&[]);
    // The classifiers serve the live model of an S3 store, watched every second; the file is the
    // fallback an image bakes in. Live is a model trained on a quarter of the corpus, the candidate
    // the one trained on all of it (0.835 and 0.884 of dev's categories right): the pools judge the
    // candidate on the documents' labels and promote it on 500 of them.
    environment.set("DOCCLASS_MODEL", &model_file().display().to_string());
    let bucket = emulator::unique_name("models");
    emulator::create_bucket(&endpoint, &bucket).await;
    environment.set("DOCCLASS_MODEL_STORE", &format!("s3://{bucket}/docclass"));
    environment.set("DOCCLASS_MODEL_STORE_INTERVAL_SECS", "1");
    environment.set("DOCCLASS_PROMOTE_AFTER_DOCUMENTS", "500");
    publish(&environment, second_model_file(), false);
    publish(&environment, model_file(), true);

    let settings = emulator::settings(&endpoint);
    let config = load_sdk_config(&settings).await;
    let (sqs, dynamodb) = (aws_sdk_sqs::Client::new(&config), aws_sdk_dynamodb::Client::new(&config));
    let table = environment.get("DOCCLASS_TABLE").to_owned();

    // Input: real documents as JSON Lines, with their labels, as a labelled feed carries them.
    let documents = read(data_dir().join(docclass::data::DEV_FILE), DOCUMENTS);
    let input_ids: BTreeSet<String> = documents.iter().map(|d| d.id.clone()).collect();
    let input = dir.path().join("input.jsonl");
    let mut file = std::fs::File::create(&input).unwrap();
    for document in &documents {
        let labels = document.labels.clone().unwrap_or_default();
        let record = serde_json::json!({"id": document.id, "title": document.title, "text": document.text,
            "topic": labels.topic, "subtopic": labels.subtopic});
        writeln!(file, "{record}").unwrap();
    }
    drop(file);

    let writer = environment.spawn("table-writer", dir.path());
    let subtopic = environment.spawn("subtopic-classifier", dir.path());
    let topic = environment.spawn("topic-classifier", dir.path());

    // Poison, as a misbehaving producer would send it.
    let ingest = SqsQueue::new(sqs.clone(), environment.get("DOCCLASS_INGEST_QUEUE_URL"));
    let poison = [OutgoingMessage::new("0", "not json at all"), OutgoingMessage::new("1", r#"{"schema_version": 9}"#)];
    assert!(ingest.send_batch(&poison).await.iter().all(Result::is_ok));

    let ingested =
        environment.command("feed-ingest").arg("--input").arg(&input).stderr(Stdio::null()).status().unwrap();
    assert!(ingested.success());
    let dead_letters = SqsQueue::new(sqs.clone(), environment.get("DOCCLASS_INGEST_DLQ_URL"));
    Stack {
        dir,
        environment,
        sqs,
        dynamodb,
        table,
        input_ids,
        writer,
        subtopic,
        topic,
        metrics_port: free_port(),
        dead_letters,
    }
}

/// The topic classifier is killed mid-run, without warning, and another started; every document still
/// ends as exactly one item.
async fn every_document_is_stored_once_despite_a_kill(stack: &mut Stack) {
    let (dynamodb, table) = (&stack.dynamodb, &stack.table);
    eventually(Duration::from_secs(120), "200 items stored", async || {
        (emulator::item_count(dynamodb, table).await >= 200).then_some(())
    })
    .await;
    signal(&stack.topic, "-KILL");
    assert!(!stack.topic.0.wait().unwrap().success(), "killed, not exited");
    stack.topic = Service(
        stack
            .environment
            .command("topic-classifier")
            .env("DOCCLASS_METRICS_ADDR", format!("127.0.0.1:{}", stack.metrics_port))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let ids = eventually(Duration::from_secs(300), "every document stored", async || {
        let ids = emulator::item_ids(dynamodb, table).await;
        (ids.len() >= DOCUMENTS).then_some(ids)
    })
    .await;
    assert_eq!(ids, stack.input_ids, "every document exactly once, nothing else");
}

/// `docclass model publish FILE [--candidate]` to the stack's store, as an operator does it.
fn publish(environment: &Environment, file: &std::path::Path, candidate: bool) {
    let store = environment.get("DOCCLASS_MODEL_STORE");
    let mut command = environment.command("docclass");
    command.args(["model", "publish"]).arg(file).args(["--store", store]);
    if candidate {
        command.arg("--candidate");
    }
    let published = command.output().unwrap();
    assert!(published.status.success(), "{}", String::from_utf8_lossy(&published.stderr));
}

/// The candidate, judged better on the documents' labels, was promoted by the pools themselves and
/// reached both with no restart of the subtopic one: the history says who promoted it on which
/// figures, and the rows name the two versions.
async fn the_pools_promoted_the_candidate_judged_better_mid_run(stack: &Stack) {
    let versions = |path: &std::path::Path| text_model::Model::load(path).unwrap().version().to_owned();
    let (first, second) = (versions(second_model_file()), versions(model_file()));
    let store = stack.environment.get("DOCCLASS_MODEL_STORE");
    let status =
        stack.environment.command("docclass").args(["model", "status", "--json", "--store", store]).output().unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let history = status["history"].as_array().unwrap();
    let promotion = history.iter().find(|change| change["action"] == "promote").unwrap_or_else(|| panic!("{status}"));
    assert_eq!(promotion["version"], second.as_str(), "{promotion}");
    assert!(promotion["by"].as_str().unwrap().contains("classifier"), "promoted by a pool: {promotion}");
    assert!(promotion["judged"]["documents"].as_u64().unwrap() >= 500, "{promotion}");
    assert_eq!(status["live"]["version"], second.as_str(), "{status}");
    let items = emulator::scan(&stack.dynamodb, &stack.table, "topic_model, subtopic_model").await;
    let mut subtopic_models = BTreeSet::new();
    let mut topic_models = BTreeSet::new();
    for item in &items {
        topic_models.insert(item["topic_model"].as_s().unwrap().clone());
        subtopic_models.insert(item["subtopic_model"].as_s().unwrap().clone());
    }
    let both = BTreeSet::from([first.clone(), second.clone()]);
    assert!(topic_models.is_subset(&both) && topic_models.contains(&second), "{topic_models:?}");
    assert!(subtopic_models.is_subset(&both) && subtopic_models.contains(&second), "{subtopic_models:?}");
    // The subtopic classifier was never restarted: its own log says it swapped.
    let logs: String = std::fs::read_dir(stack.dir.path())
        .unwrap()
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("subtopic-classifier"))
        .map(|entry| std::fs::read_to_string(entry.path()).unwrap())
        .collect();
    if test_support::test_log().is_none() {
        assert!(logs.contains(&format!("now serving model {second} (was {first})")), "{logs}");
    }
}

/// The queues drain (moto's counts are exact; SQS's would be approximate).
async fn the_queues_drain(stack: &Stack) {
    let queues = ["DOCCLASS_INGEST_QUEUE_URL", "DOCCLASS_SUBTOPIC_QUEUE_URL", "DOCCLASS_RESULTS_QUEUE_URL"];
    eventually(Duration::from_secs(120), "every queue empty", async || {
        let mut left = 0;
        for queue in queues {
            left += emulator::messages_left(&stack.sqs, stack.environment.get(queue)).await;
        }
        (left == 0).then_some(())
    })
    .await;
}

/// The poison is in the ingest dead-letter queue, with its reasons. Then a second copy of one letter
/// (a worker that crashed between dead-lettering and deleting sends it twice) and a stub of it (a letter
/// too large to keep whole) join them, for the operator's tools to meet.
async fn poison_is_dead_lettered_with_its_reasons(stack: &Stack) {
    let letters = stack.dead_letters.receive(10, Duration::from_secs(30), Duration::from_secs(2)).await.unwrap();
    let mut reasons: Vec<&str> =
        letters.iter().map(|m| m.attributes[attributes::DEAD_LETTER_REASON].as_str()).collect();
    reasons.sort_unstable();
    assert_eq!(reasons, ["invalid_json", "unsupported_schema_version"]);
    let receipts: Vec<_> = letters.iter().map(|m| m.receipt.clone()).collect();
    assert!(stack.dead_letters.change_visibility_batch(&receipts, Duration::ZERO).await.iter().all(Result::is_ok));
    let mut copy = OutgoingMessage::new("copy", letters[0].body.clone());
    copy.attributes = letters[0].attributes.clone();
    let mut stub = OutgoingMessage::new("stub", "{\"schema_version\":1,\"docu");
    stub.attributes = letters[0].attributes.clone();
    stub.attributes.insert(attributes::DEAD_LETTER_TRUNCATED.into(), "300000".into());
    assert!(stack.dead_letters.send_batch(&[copy, stub]).await.iter().all(Result::is_ok));
}

/// The operator's view: dead letters with reasons, and results by topic.
async fn the_operator_sees_letters_and_results(stack: &Stack) {
    let environment = &stack.environment;
    let inspected = environment.command("docclass").args(["dlq", "inspect", "ingest", "--json"]).output().unwrap();
    assert!(inspected.status.success(), "{}", String::from_utf8_lossy(&inspected.stderr));
    let inspected: Vec<serde_json::Value> =
        String::from_utf8(inspected.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(inspected.len(), 2, "each letter once, the stub a copy of one of them: {inspected:?}");
    assert!(inspected.iter().all(|l| l["source_queue"].as_str().unwrap().ends_with("-ingest")), "{inspected:?}");
    let results =
        environment.command("docclass").args(["results", "--topic", "sci", "--limit", "5", "--json"]).output().unwrap();
    assert!(results.status.success(), "{}", String::from_utf8_lossy(&results.stderr));
    let results: Vec<serde_json::Value> = serde_json::from_slice(&results.stdout).unwrap();
    assert_eq!(results.len(), 5);
    assert!(results.iter().all(|row| row["topic"] == "sci"));
}

/// Redrive sends them back to the ingest queue; still poison, they come back with their reasons.
async fn redriven_poison_comes_back_with_its_reasons(stack: &Stack) {
    let redriven = stack.environment.command("docclass").args(["dlq", "redrive", "ingest"]).output().unwrap();
    assert!(redriven.status.success());
    let said = String::from_utf8_lossy(&redriven.stderr);
    assert!(said.contains("2 dead letters moved back"), "{said}");
    assert!(said.contains("1 second copies of letters moved were deleted"), "{said}");
    assert!(said.contains("1 letters were too large to keep whole"), "{said}");
    let mut returned = Vec::new();
    let started = Instant::now();
    while returned.len() < 2 {
        assert!(started.elapsed() < Duration::from_secs(60), "redriven messages did not come back");
        let batch = stack.dead_letters.receive(10, Duration::from_secs(30), Duration::from_secs(2)).await.unwrap();
        returned.extend(batch.into_iter().filter(|m| !m.attributes.contains_key(attributes::DEAD_LETTER_TRUNCATED)));
    }
    assert_eq!(returned.len(), 2, "each poison message back once");
    assert!(returned.iter().all(|m| m.receive_count == 1 && m.attributes.contains_key(attributes::DEAD_LETTER_REASON)));
}

/// The replacement classifier reports itself healthy and counts what it did, in Prometheus format.
async fn the_replacement_reports_health_and_metrics(stack: &Stack) {
    let health = http_get(stack.metrics_port, "/healthz");
    assert!(health.lines().next().is_some_and(|status| status.ends_with(" 200 OK")), "{health}");
    assert!(health.ends_with("\r\n\r\nok\n"), "{health}");
    let metrics = http_get(stack.metrics_port, "/metrics");
    let received = metrics
        .lines()
        .find_map(|line| line.strip_prefix("docclass_received_total "))
        .and_then(|value| value.trim().parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no received counter in:\n{metrics}"));
    assert!(received > 0.0, "{metrics}");
    assert!(metrics.contains("docclass_processing_seconds_bucket"), "{metrics}");
}

/// SIGTERM: every service stops cleanly, well within ECS's 30 s stop timeout.
/// A model trained on shuffled labels, published as candidate while labelled documents flow, is
/// dropped by the pools; published straight to live, it is rolled back to the model it replaced. The
/// documents fed meanwhile are each stored once.
async fn a_bad_model_is_dropped_as_candidate_and_rolled_back_as_live(stack: &Stack) {
    let environment = &stack.environment;
    let version = |path: &std::path::Path| text_model::Model::load(path).unwrap().version().to_owned();
    let (good, bad) = (version(model_file()), version(test_support::shuffled_model_file()));
    let store = environment.get("DOCCLASS_MODEL_STORE").to_owned();
    let history = || {
        let status =
            environment.command("docclass").args(["model", "status", "--json", "--store", &store]).output().unwrap();
        let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap_or_default();
        status["history"].as_array().cloned().unwrap_or_default()
    };
    let documents = read(data_dir().join(docclass::data::DEV_FILE), usize::MAX);
    let feed = |part: &[docclass_types::Document], name: &str| {
        let input = stack.dir.path().join(name);
        let mut file = std::fs::File::create(&input).unwrap();
        for document in part {
            let labels = document.labels.clone().unwrap_or_default();
            let record = serde_json::json!({"id": document.id, "title": document.title, "text": document.text,
                "topic": labels.topic, "subtopic": labels.subtopic});
            writeln!(file, "{record}").unwrap();
        }
        drop(file);
        let fed = environment.command("feed-ingest").arg("--input").arg(&input).stderr(Stdio::null()).status().unwrap();
        assert!(fed.success());
    };
    let decided = async |action: &str, version: &str| {
        eventually(Duration::from_secs(120), &format!("{action} of {version}"), async || {
            history().iter().any(|change| change["action"] == action && change["version"] == version).then_some(())
        })
        .await;
    };
    // The promotion mid-run is watched against the model it replaced until confirmed: a candidate waits
    // for that, so the rest of the run's documents may have to finish the watch first.
    let mut fed = DOCUMENTS;
    if !history().iter().any(|change| change["action"] == "confirm" && change["version"] == good.as_str()) {
        feed(&documents[fed..fed + 300], "watch.jsonl");
        fed += 300;
    }
    decided("confirm", &good).await;
    // Each time, the pools first take the model into their shadow (they look every second).
    publish(environment, test_support::shuffled_model_file(), true);
    tokio::time::sleep(Duration::from_secs(3)).await;
    feed(&documents[fed..fed + 700], "bad-candidate.jsonl");
    fed += 700;
    decided("drop", &bad).await;
    assert!(!history().iter().any(|change| change["action"] == "promote" && change["version"] == bad.as_str()));
    publish(environment, test_support::shuffled_model_file(), false);
    tokio::time::sleep(Duration::from_secs(3)).await;
    feed(&documents[fed..fed + 700], "bad-live.jsonl");
    fed += 700;
    decided("rollback", &good).await;
    let (dynamodb, table) = (&stack.dynamodb, &stack.table);
    eventually(Duration::from_secs(120), "every document stored once", async || {
        (emulator::item_count(dynamodb, table).await == fed).then_some(())
    })
    .await;
}

async fn every_service_stops_on_sigterm(stack: &mut Stack) {
    for child in [&mut stack.topic, &mut stack.subtopic, &mut stack.writer] {
        let status = terminate(child, Duration::from_secs(25)).await;
        assert!(status.success(), "{status:?}");
    }
}

/// `docclass dashboard` on the stack (the environment's table and queue URLs, the replacement
/// classifier's `/metrics`), read through its API and in chromium; stopped before it returns, so its
/// looks at the dead-letter queue are over before anything else reads it.
async fn dashboard_shows_the_stack(stack: &Stack, rows: u64) {
    let (environment, sqs, dir, metrics_port) = (&stack.environment, &stack.sqs, stack.dir.path(), stack.metrics_port);
    let Some(chromium) = browser::chromium_or_skip() else { return };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let metrics = format!("topic-classifier=http://127.0.0.1:{metrics_port}/metrics");
    let mut dashboard = Service(
        environment
            .command("docclass")
            .args(["dashboard", "--refresh-secs", "1", "--table-every-secs", "2", "--metrics", &metrics])
            .args(["--addr", &format!("127.0.0.1:{port}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    let status = loop {
        let status = browser::http_get(port, "/api/status")
            .and_then(|body| serde_json::from_str::<serde_json::Value>(&body).ok());
        if let Some(status) = status
            && status["results_written"] == rows
        {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the dashboard never showed {rows} rows");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let per_topic: u64 = status["per_topic"].as_object().unwrap().values().map(|n| n.as_u64().unwrap()).sum();
    assert_eq!(per_topic, rows, "{status}");
    let (dead_visible, dead_in_flight) = emulator::queue_depth(sqs, environment.get("DOCCLASS_INGEST_DLQ_URL")).await;
    let ingest = status["queues"].as_array().unwrap().iter().find(|q| q["queue"] == "ingest").unwrap().clone();
    assert_eq!(ingest["dead_letters"], dead_visible + dead_in_flight, "{status}");
    // Four letters: the two poison messages, a second copy of one and a stub of it.
    assert_eq!(status["dead_letters"]["total"], dead_visible + dead_in_flight, "{status}");
    let by_reason = status["dead_letters"]["by_reason"].as_object().unwrap();
    let sampled: u64 = by_reason.values().map(|group| group["count"].as_u64().unwrap()).sum();
    assert_eq!((sampled, by_reason.len()), (4, 2), "{status}");
    let topic = status["services"].as_array().unwrap().iter().find(|s| s["service"] == "topic-classifier").unwrap();
    assert!(topic["counters"]["received"].as_f64().is_some_and(|n| n > 0.0), "{topic}");
    // The Models panel, from the S3 store the environment names: the pools' promotion, with its figures.
    let models = &status["models"];
    let promotion = models["history"].as_array().unwrap().iter().find(|change| change["action"] == "promote");
    assert!(promotion.is_some_and(|change| change["judged"]["documents"].as_u64() >= Some(500)), "{models}");

    let page = format!("http://127.0.0.1:{port}/");
    let dom = browser::render(&chromium, dir, &page, None);
    assert!(dom.contains(r#"data-loaded="true""#), "the page never rendered its data:\n{dom}");
    assert!(dom.contains(r#"class="action-promote""#), "the Models panel shows the promotion:\n{dom}");
    assert_eq!(browser::text_of(&dom, "results-written").unwrap().replace(',', ""), rows.to_string());
    let bars = browser::counts_in(&dom, "topic");
    assert_eq!(bars.values().sum::<u64>(), rows, "the per-topic bars add up to the rows written: {bars:?}");
    for queue in ["ingest", "subtopic", "results"] {
        let url = environment.get(&format!("DOCCLASS_{}_QUEUE_URL", queue.to_uppercase())).to_owned();
        let (visible, in_flight) = emulator::queue_depth(sqs, &url).await;
        assert_eq!(
            browser::attribute_of(&dom, "queue", queue, "visible"),
            Some(visible),
            "{queue} visible, as SQS has it"
        );
        assert_eq!(browser::attribute_of(&dom, "queue", queue, "in-flight"), Some(in_flight), "{queue} in flight");
    }
    assert_eq!(
        browser::attribute_of(&dom, "queue", "ingest", "dead-letters"),
        Some(dead_visible + dead_in_flight),
        "the ingest dead letters, as SQS has them"
    );
    let reasons = browser::counts_in(&dom, "reason");
    assert_eq!(reasons.keys().collect::<Vec<_>>(), ["invalid_json", "unsupported_schema_version"], "{reasons:?}");
    assert_eq!(reasons.values().sum::<u64>(), 4, "{reasons:?}");
    let screenshot = dir.join("dashboard-aws.png");
    browser::render(&chromium, dir, &page, Some(&screenshot));
    assert!(std::fs::read(&screenshot).unwrap().starts_with(b"\x89PNG"));
    if let Some(keep) = std::env::var_os("DOCCLASS_SCREENSHOT_AWS") {
        std::fs::copy(&screenshot, keep).unwrap();
    }
    signal(&dashboard, "-KILL");
    let _ = dashboard.0.wait();
}
