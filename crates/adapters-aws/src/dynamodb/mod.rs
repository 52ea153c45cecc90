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

/// Whether DynamoDB refused the request itself for what it holds (`ValidationException`: a key over its
/// size limit, an empty index key, a number it cannot store) — no retry can change that, and for a
/// batch it is one item's doing.
pub(crate) fn is_invalid_request<E>(
    error: &aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    error.as_service_error().and_then(|e| e.meta().code()) == Some("ValidationException")
}

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
