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

mod aws;
mod common;
mod health;
mod protection;
mod stdio;

pub use aws::{AwsArgs, ClassifierQueues, SqsStage, serve_classifier, serve_sqs, sqs_queue, to_queue};
pub use common::{CommonArgs, exit_code};
pub use health::{is_healthy, serve_health, serve_health_with};
pub use protection::EcsAgentProtection;
pub use stdio::{DEFAULT_MODEL_FILE, ServiceArgs, load_model, model_cache_dir, serve_stdio};
