//! ECS task scale-in protection against a local HTTP server that speaks the ECS agent's documented
//! contract (`PUT /task-protection/v1/state`; answers `protection`, `failure` or `error`): a worker
//! turns protection on while it holds messages and off once it is idle, in a few calls rather than one
//! per batch, and the agent's refusals cost nothing but a warning.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use adapters_embedded::{EmbeddedQueue, QueueConfig};
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use docclass_types::{Classification, Document, Envelope, MessageSink, OutgoingMessage, Stage};
use serde_json::{Value, json};
use service_kit::EcsAgentProtection;
use tokio_util::sync::CancellationToken;
use worker_runtime::{Handler, HandlerError, Protection, ToQueue, WorkerConfig, WorkerPool};

/// How the fake agent answers.
#[derive(Clone, Copy)]
enum Answer {
    Protection,
    /// ECS refused it for this task (HTTP 200 with `failure`).
    Failure,
    /// The call failed (HTTP 400 with `error`).
    Error,
}

#[derive(Clone)]
struct Agent {
    answer: Answer,
    /// Each request's body, with how many messages had been forwarded when it came.
    requests: Arc<Mutex<Vec<(Value, usize)>>>,
    output: Arc<EmbeddedQueue>,
}

async fn state(State(agent): State<Agent>, body: String) -> (StatusCode, String) {
    let request: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let forwarded = agent.output.depth().visible;
    agent.requests.lock().unwrap().push((request.clone(), forwarded));
    let arn = "arn:aws:ecs:us-east-1:123456789012:task/docclass/0123456789abcdef";
    match agent.answer {
        Answer::Protection => (
            StatusCode::OK,
            (json!({ "protection": {
                "ExpirationDate": "2026-12-03T20:00:00Z",
                "ProtectionEnabled": request["ProtectionEnabled"],
                "TaskArn": arn
            }}))
            .to_string(),
        ),
        Answer::Failure => (
            StatusCode::OK,
            json!({ "failure": { "Arn": arn, "Detail": null, "Reason": "TASK_NOT_VALID" } }).to_string(),
        ),
        Answer::Error => (
            StatusCode::BAD_REQUEST,
            json!({ "error": { "Arn": arn, "Code": "AccessDeniedException", "Message": "not allowed" } }).to_string(),
        ),
    }
}

/// Starts the fake agent; answers its `ECS_AGENT_URI`.
async fn agent(agent: Agent) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let uri = format!("http://{}/api/0123456789abcdef", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/api/0123456789abcdef/task-protection/v1/state", axum::routing::put(state))
        .with_state(agent);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    uri
}

struct Topic;

impl Handler for Topic {
    fn stage(&self) -> Stage {
        Stage::Topic
    }

    fn handle(&self, mut envelope: Envelope) -> Result<Envelope, HandlerError> {
        std::thread::sleep(Duration::from_millis(2));
        envelope.topic = Some(Classification {
            label: "t".into(),
            score: 1.0,
            model_version: "test".into(),
            classified_at: Utc::now(),
            top: Vec::new(),
        });
        Ok(envelope)
    }
}

/// Runs a two-loop worker with protection through the fake agent over `messages` documents until all
/// are forwarded and the pool has been idle a moment; answers the agent's requests.
async fn run(answer: Answer, messages: usize) -> Vec<(Value, usize)> {
    let input = Arc::new(EmbeddedQueue::new("input", QueueConfig::default()));
    let output = Arc::new(EmbeddedQueue::new("output", QueueConfig::default()));
    let dead_letters = Arc::new(EmbeddedQueue::new("dlq", QueueConfig::default()));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let uri = agent(Agent { answer, requests: requests.clone(), output: output.clone() }).await;
    for chunk in (0..messages).collect::<Vec<_>>().chunks(10) {
        let batch: Vec<OutgoingMessage> = chunk
            .iter()
            .map(|i| {
                let document = Document {
                    id: format!("d{i}"),
                    title: String::new(),
                    text: "text".into(),
                    source: "test".into(),
                    url: None,
                    published: None,
                    ingested_at: Utc::now(),
                    labels: None,
                };
                OutgoingMessage::new(i.to_string(), Envelope::new(document).encode())
            })
            .collect();
        assert!(input.send_batch(&batch).await.iter().all(Result::is_ok));
    }
    let config = WorkerConfig { workers: 2, wait_time: Duration::from_millis(50), ..WorkerConfig::default() };
    let protection = Protection::new(Arc::new(EcsAgentProtection::new(&uri)), Duration::from_secs(600));
    let worker =
        WorkerPool::new(input.clone(), Arc::new(Topic), Arc::new(ToQueue(output.clone())), dead_letters, config)
            .with_protection(Arc::new(protection));
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(Arc::new(worker).run(shutdown.clone()));
    let started = Instant::now();
    while output.depth().visible < messages {
        assert!(started.elapsed() < Duration::from_secs(30), "only {} forwarded", output.depth().visible);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Idle receives (50 ms each) for a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;
    shutdown.cancel();
    running.await.unwrap();
    requests.lock().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protection_is_on_while_messages_are_held_and_off_when_idle() {
    let messages = 200;
    let requests = run(Answer::Protection, messages).await;
    assert_eq!(requests.len(), 2, "one on, one off, not one per batch of 10: {requests:?}");
    let (on, forwarded_before_on) = &requests[0];
    assert_eq!(on, &json!({ "ProtectionEnabled": true, "ExpiresInMinutes": 10 }));
    assert!(*forwarded_before_on < messages, "on before the work was done: {requests:?}");
    let (off, forwarded_before_off) = &requests[1];
    assert_eq!(off, &json!({ "ProtectionEnabled": false }));
    assert_eq!(*forwarded_before_off, messages, "off only once everything was forwarded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_or_failing_agent_costs_only_a_warning() {
    for answer in [Answer::Failure, Answer::Error] {
        let messages = 100;
        // `run` asserts that every message was forwarded anyway.
        let requests = run(answer, messages).await;
        assert!(!requests.is_empty(), "the agent was asked");
        assert!(
            requests.iter().all(|(request, _)| request["ProtectionEnabled"] == true),
            "nothing to turn off after a refusal: {requests:?}"
        );
        assert_eq!(requests.len(), 1, "a refusing agent is not asked per batch (30 s quiet): {requests:?}");
    }
}
