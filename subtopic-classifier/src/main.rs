//! `subtopic-classifier`: adds each document's subtopic. On SQS when given queue URLs (the `export` lines of
//! `docclass infra up`), else over stdin → stdout. Its flags and its serving are the shared
//! classifier's (`service_kit::ClassifierArgs`, `serve_classifier`); what is its own is below.

use docclass_types::{default_ports, topology::Queue};
use service_kit::{ClassifierArgs, ClassifierService};
use subtopic_classifier::ClassifySubtopic;

const SERVICE: ClassifierService = ClassifierService {
    name: "subtopic-classifier",
    about: "Adds the subtopic, within its topic, to each document.",
    version: env!("CARGO_PKG_VERSION"),
    input: Queue::Subtopic,
    output: Queue::Results,
    // Each service has its own default port, so all of them can run side by side on one host.
    metrics_port: default_ports::SUBTOPIC_CLASSIFIER,
};

// One thread for the async side (SQS and DynamoDB calls, timers), the main one; classification runs on
// the blocking pool. Against a thread per core: 15 % more documents a second and 20 % less CPU
// (scripts/bench-aws.sh); against one worker thread beside the main one, with the SDK's stalled-stream
// protection off too, 0.90 → 0.77 CPU-s per 1,000 documents (scripts/bench-scale.sh, docs/measurements.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let args = ClassifierArgs::parse_for(&SERVICE);
    args.worker.common.exit_if_healthcheck(SERVICE.metrics_port);
    let handler = |model, min_score| ClassifySubtopic::new(model).with_min_score(min_score);
    let served = service_kit::serve_classifier(&SERVICE, &args, handler, service_kit::shutdown_on_signal()).await;
    service_kit::exit_code(SERVICE.name, served.map(drop))
}
