//! What every docclass service shares, so each service's `main.rs` stays a few lines: the common flags,
//! loading its model, the health and metrics endpoint, and serving a stage over standard input and
//! output or SQS.
//!
//! The stdio mode lets the four services run as a Unix pipeline on one machine with no queue service:
//!
//! ```text
//! feed-ingest --input docs.jsonl | topic-classifier | subtopic-classifier | table-writer --db r.sqlite
//! ```
//!
//! Inside each process the same worker runtime runs over an embedded queue filled from stdin, so
//! validation, dead letters, retries and shutdown behave exactly as they do on SQS.
//!
//! Given queue URLs (the `export` lines of `docclass infra up`), the same services run on SQS and
//! DynamoDB instead: [`serve_sqs`].
#![warn(missing_docs)]

mod args;
mod aws;
mod health;
mod model;
mod protection;
mod stdio;

pub use args::{
    AwsArgs, ClassifierArgs, ClassifierService, CommonArgs, MAX_WORKERS, ModelStoreArgs, WorkerArgs, parse_score,
    parse_workers,
};
pub use aws::{SqsService, serve_classifier, serve_sqs, sqs_queue, to_queue};
pub use health::{is_healthy, serve_capped, serve_health, serve_health_with};
pub use model::{DEFAULT_MODEL_FILE, load_model, model_cache_dir, serve_model};
pub use protection::EcsAgentProtection;
pub use stdio::serve_stdio;
pub use tokio_util::sync::CancellationToken;

/// A token cancelled on SIGINT or SIGTERM: what a binary's `main` makes and hands to `serve_*`, which
/// stop when it is cancelled (mini-redis's `run(listener, shutdown)`); a test hands them its own.
pub fn shutdown_on_signal() -> CancellationToken {
    let shutdown = CancellationToken::new();
    worker_runtime::cancel_on_shutdown_signal(shutdown.clone());
    shutdown
}

/// How a service ends: `0`, or `1` with the error as one line on stderr (`topic-classifier: <error>:
/// <cause>`) — never Rust's `Debug` form of it, which returning an error from `main` prints (with a stack
/// backtrace when `RUST_BACKTRACE` is set).
pub fn exit_code(service: &str, result: anyhow::Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            say_error(service, &format!("{error:#}"));
            std::process::ExitCode::FAILURE
        }
    }
}

/// One line on stderr for what went wrong: `service: line` for a person, or under `--log-format json` a
/// JSON log line (level ERROR) like every other line the service writes.
pub fn say_error(service: &str, line: &str) {
    if worker_runtime::telemetry::json_lines() {
        tracing::error!(service, "{line}");
    } else {
        eprintln!("{service}: {line}");
    }
}
