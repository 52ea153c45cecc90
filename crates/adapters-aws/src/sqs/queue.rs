//! One SQS queue, consumed and produced through the ports.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{
    BatchResultErrorEntry, ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry,
    MessageAttributeValue, MessageSystemAttributeName, SendMessageBatchRequestEntry,
};
use docclass_types::{BatchResults, MessageSink, MessageSource, OutgoingMessage, QueueError, Receipt, ReceivedMessage};

use super::{MAX_BATCH, MAX_MESSAGE_BYTES, MAX_VISIBILITY_SECONDS, MAX_WAIT_SECONDS};
use crate::error::classify;

/// Attempts at a batch entry that failed for a reason worth retrying, before its failure is reported.
const ATTEMPTS: u32 = 3;

/// An SQS queue, named by its URL.
#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
    /// The queue's name (the URL's last segment), for logs and dead-letter attributes.
    name: String,
}

impl SqsQueue {
    /// The queue at `url`.
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        let url = url.into();
        let name = url.rsplit('/').next().unwrap_or(&url).to_owned();
        Self { client, url, name }
    }

    /// The queue's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn transport(&self, detail: String, retriable: bool) -> QueueError {
        QueueError::Transport { queue: self.name.clone(), detail, retriable }
    }

    fn call_failed<E>(&self, error: &SdkError<E, HttpResponse>) -> QueueError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let failure = classify(error);
        if failure.throttled {
            QueueError::Throttled { queue: self.name.clone() }
        } else {
            self.transport(failure.detail, failure.retriable)
        }
    }

    /// The failed entries of a batch call, by position (entry ids are positions).
    fn failures(&self, failed: &[BatchResultErrorEntry]) -> Vec<(usize, QueueError)> {
        failed.iter().filter_map(|entry| Some((entry.id().parse().ok()?, self.entry_error(entry)))).collect()
    }

    fn entry_error(&self, entry: &BatchResultErrorEntry) -> QueueError {
        let detail = format!("{}: {}", entry.code(), entry.message().unwrap_or_default());
        if entry.code().contains("Throttl") {
            QueueError::Throttled { queue: self.name.clone() }
        } else {
            // A sender fault (bad receipt, invalid body) will fail the same way again.
            self.transport(detail, !entry.sender_fault())
        }
    }

    /// Runs a batch call over `count` entries, in calls of at most [`MAX_BATCH`], retrying only the
    /// entries that failed retriably, and answers one result per entry. `call` receives the positions to
    /// send and returns, per position, the failure (if any) or the error of the whole call.
    async fn batch<F, Fut>(&self, count: usize, mut call: F) -> BatchResults
    where
        F: FnMut(Vec<usize>) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<(usize, QueueError)>, QueueError>>,
    {
        let mut results: BatchResults = vec![Ok(()); count];
        let mut pending: Vec<usize> = (0..count).collect();
        for attempt in 1..=ATTEMPTS {
            if pending.is_empty() {
                break;
            }
            let mut failures = Vec::new();
            for group in pending.chunks(MAX_BATCH) {
                match call(group.to_vec()).await {
                    Ok(failed) => failures.extend(failed),
                    Err(error) => failures.extend(group.iter().map(|&position| (position, error.clone()))),
                }
            }
            pending.clear();
            for (position, error) in failures {
                if error.is_retriable() && attempt < ATTEMPTS {
                    pending.push(position);
                } else {
                    results[position] = Err(error);
                }
            }
            if !pending.is_empty() {
                // Full jitter over a short, growing window.
                let window = Duration::from_millis(50 << attempt);
                tokio::time::sleep(window.mul_f64(fastrand::f64())).await;
            }
        }
        results
    }
}

/// Whole seconds, rounded up and capped at `max`: SQS takes timeouts in seconds.
fn seconds(duration: Duration, max: u64) -> i32 {
    let whole = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    // At most 12 hours: fits an i32.
    whole.min(max) as i32
}

impl MessageSource for SqsQueue {
    fn name(&self) -> &str {
        &self.name
    }

    /// Dropping a long poll closes our end of the connection, not SQS's: messages arriving before its
    /// wait ends may still be taken for it and stay hidden for their visibility timeout.
    fn receive_is_cancel_safe(&self) -> bool {
        false
    }

    #[tracing::instrument(level = "debug", skip_all, fields(queue = %self.name))]
    async fn receive(
        &self,
        max_messages: usize,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        let output = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max_messages.clamp(1, MAX_BATCH) as i32)
            .visibility_timeout(seconds(visibility, MAX_VISIBILITY_SECONDS))
            .wait_time_seconds(seconds(wait, MAX_WAIT_SECONDS))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|error| self.call_failed(&error))?;
        Ok(output
            .messages()
            .iter()
            .filter_map(|message| {
                let receive_count = message
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|count| count.parse().ok())
                    .unwrap_or(1);
                let attributes: BTreeMap<String, String> = message
                    .message_attributes()
                    .into_iter()
                    .flatten()
                    .filter_map(|(key, value)| Some((key.clone(), value.string_value()?.to_owned())))
                    .collect();
                Some(ReceivedMessage {
                    message_id: message.message_id()?.to_owned(),
                    receipt: Receipt(message.receipt_handle()?.to_owned()),
                    body: message.body().unwrap_or_default().to_owned(),
                    receive_count,
                    attributes,
                })
            })
            .collect())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(queue = %self.name, count = receipts.len()))]
    async fn ack_batch(&self, receipts: &[Receipt]) -> BatchResults {
        self.batch(receipts.len(), |positions| async move {
            let entries = positions
                .iter()
                .map(|&p| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(p.to_string())
                        .receipt_handle(&receipts[p].0)
                        .build()
                        .expect("id and receipt handle are set")
                })
                .collect();
            let output = self
                .client
                .delete_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|error| self.call_failed(&error))?;
            Ok(self.failures(output.failed()))
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(queue = %self.name, count = receipts.len()))]
    async fn change_visibility_batch(&self, receipts: &[Receipt], visibility: Duration) -> BatchResults {
        let timeout = seconds(visibility, MAX_VISIBILITY_SECONDS);
        self.batch(receipts.len(), |positions| async move {
            let entries = positions
                .iter()
                .map(|&p| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(p.to_string())
                        .receipt_handle(&receipts[p].0)
                        .visibility_timeout(timeout)
                        .build()
                        .expect("id and receipt handle are set")
                })
                .collect();
            let output = self
                .client
                .change_message_visibility_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|error| self.call_failed(&error))?;
            Ok(self.failures(output.failed()))
        })
        .await
    }
}

impl MessageSink for SqsQueue {
    fn name(&self) -> &str {
        &self.name
    }

    #[tracing::instrument(level = "debug", skip_all, fields(queue = %self.name, count = messages.len()))]
    async fn send_batch(&self, messages: &[OutgoingMessage]) -> BatchResults {
        let mut results: BatchResults = vec![Ok(()); messages.len()];
        // Refuse what SQS would refuse, by name, rather than sending it.
        let mut sendable = Vec::new();
        for (position, message) in messages.iter().enumerate() {
            let bytes = message.size_bytes();
            if bytes > MAX_MESSAGE_BYTES {
                results[position] = Err(QueueError::TooLarge {
                    queue: self.name.clone(),
                    entry_id: message.entry_id.clone(),
                    bytes,
                    limit: MAX_MESSAGE_BYTES,
                });
            } else {
                sendable.push(position);
            }
        }
        // Batches of at most ten entries and 256 KiB in all.
        let mut chunks: Vec<Vec<usize>> = Vec::new();
        let mut chunk_bytes = 0;
        for position in sendable {
            let bytes = messages[position].size_bytes();
            match chunks.last_mut() {
                Some(chunk) if chunk.len() < MAX_BATCH && chunk_bytes + bytes <= MAX_MESSAGE_BYTES => {
                    chunk.push(position);
                    chunk_bytes += bytes;
                }
                _ => {
                    chunks.push(vec![position]);
                    chunk_bytes = bytes;
                }
            }
        }
        for chunk in chunks {
            let chunk_results = self
                .batch(chunk.len(), |positions| {
                    let chunk = &chunk;
                    async move {
                        let entries = positions
                            .iter()
                            .map(|&p| {
                                let message = &messages[chunk[p]];
                                let attributes = message.attributes.iter().map(|(key, value)| {
                                    let value = MessageAttributeValue::builder()
                                        .data_type("String")
                                        .string_value(value)
                                        .build()
                                        .expect("data type is set");
                                    (key.clone(), value)
                                });
                                SendMessageBatchRequestEntry::builder()
                                    .id(p.to_string())
                                    .message_body(&message.body)
                                    .set_message_attributes(
                                        Some(attributes.collect())
                                            .filter(|a: &std::collections::HashMap<_, _>| !a.is_empty()),
                                    )
                                    .build()
                                    .expect("id and body are set")
                            })
                            .collect();
                        let output = self
                            .client
                            .send_message_batch()
                            .queue_url(&self.url)
                            .set_entries(Some(entries))
                            .send()
                            .await
                            .map_err(|error| self.call_failed(&error))?;
                        Ok(self.failures(output.failed()))
                    }
                })
                .await;
            for (index, result) in chunk.iter().zip(chunk_results) {
                results[*index] = result;
            }
        }
        results
    }
}
