//! The queue ports, shaped after SQS so that the SQS adapter and the embedded one are interchangeable.
//!
//! A consumer sees a queue as a [`MessageSource`] (receive, acknowledge, change visibility) and a producer
//! as a [`MessageSink`] (send a batch). Batch calls answer per entry, so a caller retries only what failed.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

/// Names of the message attributes docclass sets.
pub mod attributes {
    /// On a dead letter: the machine-readable reason, a [`crate::DeadLetterReason`].
    pub const DEAD_LETTER_REASON: &str = "docclass.dead_letter.reason";
    /// On a dead letter: the human-readable detail.
    pub const DEAD_LETTER_DETAIL: &str = "docclass.dead_letter.detail";
    /// On a dead letter: the queue it was taken from, so it can be redriven there.
    pub const DEAD_LETTER_SOURCE_QUEUE: &str = "docclass.dead_letter.source_queue";
    /// On a dead letter: the message id it had in its source queue. A worker that crashes between sending
    /// a dead letter and deleting the original sends it again; the copies share this id, so `dlq inspect`
    /// shows one and `dlq redrive` moves one.
    pub const DEAD_LETTER_MESSAGE_ID: &str = "docclass.dead_letter.message_id";
    /// On a dead letter that would not fit a message whole: the original body's size in bytes. Its body
    /// is then only the beginning of the original (a stub), kept for the reason and never redriven.
    pub const DEAD_LETTER_TRUNCATED: &str = "docclass.dead_letter.truncated_from_bytes";
    /// What every dead-letter attribute's name begins with: redrive strips them.
    pub const DEAD_LETTER_PREFIX: &str = "docclass.dead_letter.";
}

/// The largest message SQS takes, body and attributes together (256 KiB, the SQS quotas page); the
/// embedded queue holds to it too.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// The most entries of one batch call, and of one receive: SQS's limit (`SendMessageBatch`,
/// `DeleteMessageBatch`, `ReceiveMessage` API references), which every adapter and the worker hold to.
pub const MAX_BATCH: usize = 10;
/// The most message attributes SQS takes on one message.
pub const MAX_MESSAGE_ATTRIBUTES: usize = 10;

/// Opaque handle that acknowledges or re-times one delivery of a message (an SQS receipt handle).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Receipt(pub String);

/// One delivery of a message.
#[derive(Debug, Clone)]
pub struct ReceivedMessage {
    /// The queue's id of the message, the same across redeliveries.
    pub message_id: String,
    /// Handle for this delivery.
    pub receipt: Receipt,
    /// The payload, normally an encoded [`crate::Envelope`].
    pub body: String,
    /// How many times the message has been delivered, this time included (SQS `ApproximateReceiveCount`).
    pub receive_count: u32,
    /// Message attributes.
    pub attributes: BTreeMap<String, String>,
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// Unique within one batch (SQS batch entry ids must be); usually the document id.
    pub entry_id: String,
    /// The payload.
    pub body: String,
    /// Message attributes.
    pub attributes: BTreeMap<String, String>,
}

impl OutgoingMessage {
    /// A message without attributes.
    pub fn new(entry_id: impl Into<String>, body: impl Into<String>) -> Self {
        Self { entry_id: entry_id.into(), body: body.into(), attributes: BTreeMap::new() }
    }

    /// What SQS counts towards [`MAX_MESSAGE_BYTES`]: the body plus each attribute's name, data type
    /// (`String`) and value.
    pub fn size_bytes(&self) -> usize {
        self.body.len() + attributes_bytes(&self.attributes)
    }
}

pub(crate) fn attributes_bytes(attributes: &BTreeMap<String, String>) -> usize {
    attributes.iter().map(|(name, value)| name.len() + "String".len() + value.len()).sum()
}

/// One result per entry of a batch call, in the order of the entries.
pub type BatchResults = Vec<Result<(), QueueError>>;

/// What can go wrong talking to a queue.
#[derive(Debug, Clone, thiserror::Error)]
pub enum QueueError {
    /// A bounded queue is at capacity: back off and send again.
    #[error("queue {queue} is full")]
    Full {
        /// Queue name.
        queue: String,
    },
    /// The receipt is unknown or expired: the delivery was already acknowledged, or its visibility
    /// timeout ran out and the message went back to the queue.
    #[error("receipt is not valid on queue {queue} (acknowledged already, or its visibility timed out)")]
    InvalidReceipt {
        /// Queue name.
        queue: String,
    },
    /// The message is too large for the queue.
    #[error("message {entry_id} is {bytes} bytes, more than queue {queue} accepts ({limit})")]
    TooLarge {
        /// Queue name.
        queue: String,
        /// The batch entry.
        entry_id: String,
        /// The message size.
        bytes: usize,
        /// The queue's limit.
        limit: usize,
    },
    /// The service asked us to slow down.
    #[error("queue {queue} is throttling requests")]
    Throttled {
        /// Queue name.
        queue: String,
    },
    /// The request failed on the way (network, service error, timeout).
    #[error("request to queue {queue} failed: {detail}")]
    Transport {
        /// Queue name.
        queue: String,
        /// The underlying error, rendered with its causes.
        detail: String,
        /// Whether the same request may succeed later.
        retriable: bool,
    },
}

impl QueueError {
    /// Whether the same call may succeed if tried again later.
    pub fn is_retriable(&self) -> bool {
        match self {
            QueueError::Full { .. } | QueueError::Throttled { .. } => true,
            QueueError::InvalidReceipt { .. } | QueueError::TooLarge { .. } => false,
            QueueError::Transport { retriable, .. } => *retriable,
        }
    }
}

/// The consuming side of a queue.
pub trait MessageSource: Send + Sync + 'static {
    /// The queue's name, for logs and dead-letter attributes.
    fn name(&self) -> &str;

    /// Receives up to `max_messages`, hiding them from other consumers for `visibility`. Waits up to
    /// `wait` for the first message (long polling) and returns an empty batch if none came.
    fn receive(
        &self,
        max_messages: usize,
        visibility: Duration,
        wait: Duration,
    ) -> impl Future<Output = Result<Vec<ReceivedMessage>, QueueError>> + Send;

    /// Whether a [`receive`](Self::receive) dropped before it completes leaves every message where it
    /// was. Not so for SQS: the service may already have handed messages to a long poll whose caller has
    /// gone, and they stay hidden until their visibility timeout. Workers let a receive that is not
    /// cancel-safe finish when they stop, and give its messages back.
    fn receive_is_cancel_safe(&self) -> bool {
        true
    }

    /// Deletes delivered messages for good: call only once their result is safely forwarded.
    fn ack_batch(&self, receipts: &[Receipt]) -> impl Future<Output = BatchResults> + Send;

    /// Sets how much longer each delivery stays hidden: longer to keep working on it, zero to give it
    /// back to the queue at once.
    fn change_visibility_batch(
        &self,
        receipts: &[Receipt],
        visibility: Duration,
    ) -> impl Future<Output = BatchResults> + Send;
}

/// The producing side of a queue.
pub trait MessageSink: Send + Sync + 'static {
    /// The queue's name, for logs.
    fn name(&self) -> &str;

    /// Sends a batch; each entry succeeds or fails on its own.
    fn send_batch(&self, messages: &[OutgoingMessage]) -> impl Future<Output = BatchResults> + Send;
}

/// A shared queue is still a queue: lets one queue be a stage's sink and the next stage's source.
impl<T: MessageSource> MessageSource for std::sync::Arc<T> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn receive(
        &self,
        max_messages: usize,
        visibility: Duration,
        wait: Duration,
    ) -> impl Future<Output = Result<Vec<ReceivedMessage>, QueueError>> + Send {
        (**self).receive(max_messages, visibility, wait)
    }

    fn receive_is_cancel_safe(&self) -> bool {
        (**self).receive_is_cancel_safe()
    }

    fn ack_batch(&self, receipts: &[Receipt]) -> impl Future<Output = BatchResults> + Send {
        (**self).ack_batch(receipts)
    }

    fn change_visibility_batch(
        &self,
        receipts: &[Receipt],
        visibility: Duration,
    ) -> impl Future<Output = BatchResults> + Send {
        (**self).change_visibility_batch(receipts, visibility)
    }
}

impl<T: MessageSink> MessageSink for std::sync::Arc<T> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn send_batch(&self, messages: &[OutgoingMessage]) -> impl Future<Output = BatchResults> + Send {
        (**self).send_batch(messages)
    }
}
