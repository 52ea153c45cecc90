//! AWS adapters: the queue ports on Amazon SQS and the result table on Amazon DynamoDB, through the
//! official SDK. Any AWS-compatible endpoint works (LocalStack, moto server) through the endpoint
//! override in [`AwsSettings`].
//!
//! - [`SqsQueue`]: long polling, batches of ten with per-entry results (a failed entry is retried a few
//!   times, the others are not sent again), receive counts, visibility changes.
//! - [`DynamoTable`]: `BatchWriteItem` in chunks of 25 with unprocessed items retried under backoff,
//!   one item per document id, a `by-topic` index for querying.
//! - [`DynamoSeen`]: feed-ingest's de-duplication store, claimed by conditional puts.
//! - [`infra`]: creating the queues (with dead-letter queues and redrive) and the table, idempotently.
#![warn(missing_docs)]

mod config;
pub mod dynamodb;
pub mod emf;
mod error;
pub mod infra;
pub mod sqs;

pub use config::{AwsSettings, load_sdk_config};
pub use dynamodb::{DynamoSeen, DynamoTable};
pub use error::message as sdk_error_message;
pub use sqs::SqsQueue;
