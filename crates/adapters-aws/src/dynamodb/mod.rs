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

/// A failed DynamoDB call as the ports' error: throttling (to slow down and retry) or a storage failure
/// with whether to retry it.
pub(crate) fn table_error<E>(
    table: &str,
    error: &aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> docclass_types::TableError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    let failure = crate::error::classify(error);
    if failure.throttled {
        docclass_types::TableError::Throttled { table: table.to_owned() }
    } else {
        docclass_types::TableError::Storage {
            table: table.to_owned(),
            detail: failure.detail,
            retriable: failure.retriable,
        }
    }
}
