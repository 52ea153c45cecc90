//! Amazon SQS as the queue ports.

mod queue;

pub use queue::SqsQueue;

/// SQS takes at most 10 entries per batch call and returns at most 10 messages per receive
/// (`SendMessageBatch`, `DeleteMessageBatch`, `ReceiveMessage` API references).
pub const MAX_BATCH: usize = 10;
/// The longest long poll SQS allows (`WaitTimeSeconds`, 0–20).
pub const MAX_WAIT_SECONDS: u64 = 20;
/// SQS's message size limit, and the limit on a whole batch's payload (256 KiB, the SQS quotas page).
pub use docclass_types::MAX_MESSAGE_BYTES;
/// The longest visibility timeout SQS allows (12 hours).
pub const MAX_VISIBILITY_SECONDS: u64 = 12 * 60 * 60;
