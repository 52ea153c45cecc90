//! What one SQS call costs this process in CPU, through the adapter and the SDK, with nothing else in
//! the process: the floor under the services' CPU per document (each document costs the pipeline about
//! one call). Against an emulator that keeps connections alive (ministack):
//!
//!     AWS_ENDPOINT_URL=http://127.0.0.1:4566 cargo run --release -p adapters-aws --example call_cost [CALLS]
//!
//! Prints CPU microseconds (user + system) per call for batches of ten 1.5 KB messages: send, receive,
//! delete.

use std::time::Duration;

use adapters_aws::{AwsSettings, SqsQueue, load_sdk_config};
use docclass_types::{MessageSink, MessageSource, OutgoingMessage};

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let calls: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(2_000);
    let settings = AwsSettings {
        endpoint_url: std::env::var("AWS_ENDPOINT_URL").ok(),
        region: Some("us-east-1".into()),
        static_credentials: Some(("test".into(), "test".into())),
    };
    let config = load_sdk_config(&settings).await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let name = format!("call-cost-{}", std::process::id());
    let url = sqs.create_queue().queue_name(&name).send().await.expect("create a queue").queue_url.unwrap();
    let queue = SqsQueue::new(sqs.clone(), &url);
    let body = "x".repeat(1500);
    let batch: Vec<OutgoingMessage> = (0..10).map(|i| OutgoingMessage::new(i.to_string(), body.clone())).collect();

    let started = cpu_seconds();
    for _ in 0..calls {
        assert!(queue.send_batch(&batch).await.iter().all(Result::is_ok));
    }
    let sent = cpu_seconds();
    let mut receipts = Vec::new();
    for _ in 0..calls {
        let messages = queue.receive(10, Duration::from_secs(300), Duration::ZERO).await.expect("receive");
        receipts.push(messages.into_iter().map(|m| m.receipt).collect::<Vec<_>>());
    }
    let received = cpu_seconds();
    let mut failed = 0;
    for batch in &receipts {
        failed += queue.ack_batch(batch).await.iter().filter(|r| r.is_err()).count();
    }
    let deleted = cpu_seconds();
    let per_call = |from: f64, to: f64| (to - from) / calls as f64 * 1e6;
    let held: usize = receipts.iter().map(Vec::len).sum();
    println!(
        "{held} messages received, {failed} deletes failed; {calls} calls each: send {:.0} µs, receive {:.0} µs, delete {:.0} µs of CPU per call",
        per_call(started, sent),
        per_call(sent, received),
        per_call(received, deleted)
    );
    let _ = sqs.delete_queue().queue_url(&url).send().await;
}
