//! Amazon SQS as the queue ports.

mod queue;

pub use queue::SqsQueue;

/// SQS takes at most 10 entries per batch call and returns at most 10 messages per receive.
pub use docclass_types::MAX_BATCH;
/// The longest long poll SQS allows (`WaitTimeSeconds`, 0–20).
pub const MAX_WAIT_SECONDS: u64 = 20;
/// SQS's message size limit, and the limit on a whole batch's payload (256 KiB, the SQS quotas page).
pub use docclass_types::MAX_MESSAGE_BYTES;
/// The longest visibility timeout SQS allows (12 hours).
pub const MAX_VISIBILITY_SECONDS: u64 = 12 * 60 * 60;

/// A queue's visible and in-flight messages (`ApproximateNumberOfMessages`, `…NotVisible`): what the
/// scaler, `deploy status` and `docclass dashboard` read.
///
/// # Errors
/// When SQS cannot be asked: the one-line reason ([`crate::sdk_error_message`]).
pub async fn queue_depth(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Result<(u64, u64), String> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let answer = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(|error| crate::sdk_error_message(&error))?;
    let count = |name: QueueAttributeName| {
        answer.attributes().and_then(|all| all.get(&name)).and_then(|value| value.parse::<u64>().ok()).unwrap_or(0)
    };
    Ok((
        count(QueueAttributeName::ApproximateNumberOfMessages),
        count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    ))
}
