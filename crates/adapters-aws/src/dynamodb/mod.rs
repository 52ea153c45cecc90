//! Amazon DynamoDB as the result table, and as feed-ingest's de-duplication store.

mod item;
mod seen;
mod table;

pub use seen::DynamoSeen;
pub use table::DynamoTable;

/// `BatchWriteItem` takes at most 25 put or delete requests (DynamoDB API reference).
pub const MAX_BATCH_WRITE: usize = 25;
/// The global secondary index for querying by topic: partition key `topic`, sort key `written_at`.
pub const TOPIC_INDEX: &str = "by-topic";
