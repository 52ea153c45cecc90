//! The result table on DynamoDB.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use docclass_types::{ResultRow, ResultTable, TableError};

use super::item::{Item, from_item, to_item};
use super::{MAX_BATCH_WRITE, TOPIC_INDEX};

/// Rounds of `BatchWriteItem` for one chunk before its still-unprocessed rows are reported as
/// throttled (the runtime then retries their messages later; nothing is lost).
const WRITE_ROUNDS: u32 = 6;
/// Backoff before the second round; doubles each round, with full jitter, as AWS advises for
/// unprocessed items.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);

/// A DynamoDB table of results, keyed by document id.
#[derive(Clone)]
pub struct DynamoTable {
    client: Client,
    name: String,
}

impl DynamoTable {
    /// The table `name`.
    pub fn new(client: Client, name: impl Into<String>) -> Self {
        Self { client, name: name.into() }
    }

    fn call_failed<E>(&self, error: &SdkError<E, HttpResponse>) -> TableError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        super::table_error(&self.name, error)
    }

    /// Reads up to `limit` rows from a paginated Query or Scan: `page` fetches the page after `start`
    /// (`None` for the first) with at most the given number of items, and answers its items and the key
    /// to continue from.
    async fn pages<F, Fut>(&self, limit: usize, mut page: F) -> Result<Vec<ResultRow>, TableError>
    where
        F: FnMut(Option<Item>, i32) -> Fut,
        Fut: std::future::Future<Output = Result<(Vec<Item>, Option<Item>), TableError>>,
    {
        let mut rows = Vec::new();
        let mut start = None;
        while rows.len() < limit {
            let (items, next) = page(start, i32::try_from(limit - rows.len()).unwrap_or(i32::MAX)).await?;
            for item in &items {
                rows.push(from_item(item).map_err(|detail| self.storage(detail, false))?);
            }
            start = next;
            if start.is_none() {
                break;
            }
        }
        rows.truncate(limit);
        Ok(rows)
    }

    fn storage(&self, detail: String, retriable: bool) -> TableError {
        TableError::Storage { table: self.name.clone(), detail, retriable }
    }

    /// Writes one chunk of at most 25 distinct ids; answers the ids that could not be written, with why.
    /// A chunk DynamoDB refuses as a whole for what one of its items holds (a `ValidationException`: a
    /// key too long, an empty index key, a number it cannot store) is split in two and each half written
    /// on its own, down to the culprit, so that only it fails — with the store's own message — and its
    /// neighbours are written: at most 2 × log2(25) extra calls per culprit.
    async fn write_chunk(&self, items: Vec<(String, WriteRequest)>) -> HashMap<String, TableError> {
        let mut failed = HashMap::new();
        let mut pending = vec![items];
        while let Some(items) = pending.pop() {
            match self.write_once(&items).await {
                Written::Done(unwritten) => failed.extend(unwritten),
                Written::Refused(error) if items.len() > 1 => {
                    tracing::debug!(table = %self.name, items = items.len(), %error, "batch refused; splitting it to find the culprit");
                    let mut first = items;
                    let second = first.split_off(first.len() / 2);
                    pending.push(second);
                    pending.push(first);
                }
                Written::Refused(error) => {
                    failed.extend(items.into_iter().map(|(id, _)| (id, error.clone())));
                }
            }
        }
        failed
    }

    /// One chunk through its rounds of `BatchWriteItem`.
    async fn write_once(&self, items: &[(String, WriteRequest)]) -> Written {
        let mut pending: Vec<WriteRequest> = items.iter().map(|(_, request)| request.clone()).collect();
        let mut backoff = FIRST_BACKOFF;
        for round in 1..=WRITE_ROUNDS {
            let result = self.client.batch_write_item().request_items(&self.name, pending.clone()).send().await;
            match result {
                Ok(output) => {
                    pending = output
                        .unprocessed_items()
                        .and_then(|unprocessed| unprocessed.get(&self.name))
                        .cloned()
                        .unwrap_or_default();
                    if pending.is_empty() {
                        return Written::Done(HashMap::new());
                    }
                    tracing::debug!(table = %self.name, unprocessed = pending.len(), round, "throttled; retrying the rest");
                }
                Err(error) if super::is_invalid_request(&error) => {
                    return Written::Refused(TableError::Storage {
                        table: self.name.clone(),
                        detail: crate::sdk_error_message(&error),
                        retriable: false,
                    });
                }
                Err(error) => {
                    let error = self.call_failed(&error);
                    if !error.is_retriable() || round == WRITE_ROUNDS {
                        return Written::Done(items.iter().map(|(id, _)| (id.clone(), error.clone())).collect());
                    }
                }
            }
            tokio::time::sleep(backoff.mul_f64(fastrand::f64())).await;
            backoff *= 2;
        }
        Written::Done(
            pending
                .iter()
                .filter_map(|request| request.put_request()?.item().get("id")?.as_s().ok().cloned())
                .map(|id| (id, TableError::Throttled { table: self.name.clone() }))
                .collect(),
        )
    }
}

/// What one chunk's rounds of `BatchWriteItem` came to.
enum Written {
    /// The ids that could not be written, with why (none: all written).
    Done(HashMap<String, TableError>),
    /// The chunk was refused as a whole for what an item holds.
    Refused(TableError),
}

impl ResultTable for DynamoTable {
    fn name(&self) -> &str {
        &self.name
    }

    #[tracing::instrument(level = "debug", skip_all, fields(table = %self.name, count = rows.len()))]
    async fn put_batch(&self, rows: &[ResultRow]) -> Vec<Result<(), TableError>> {
        // DynamoDB rejects a batch that names one key twice; the last row for an id is the one kept, so
        // the earlier duplicates count as written too.
        let mut last_for_id: HashMap<&str, usize> = HashMap::new();
        for (position, row) in rows.iter().enumerate() {
            last_for_id.insert(&row.id, position);
        }
        let mut unique: Vec<usize> = last_for_id.into_values().collect();
        unique.sort_unstable();
        let mut failed: HashMap<String, TableError> = HashMap::new();
        for chunk in unique.chunks(MAX_BATCH_WRITE) {
            let items = chunk
                .iter()
                .map(|&position| {
                    let row = &rows[position];
                    let put = PutRequest::builder().set_item(Some(to_item(row))).build().expect("item is set");
                    (row.id.clone(), WriteRequest::builder().put_request(put).build())
                })
                .collect();
            failed.extend(self.write_chunk(items).await);
        }
        rows.iter().map(|row| failed.get(&row.id).map_or(Ok(()), |error| Err(error.clone()))).collect()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(table = %self.name))]
    async fn get(&self, id: &str) -> Result<Option<ResultRow>, TableError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.name)
            .key("id", AttributeValue::S(id.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| self.call_failed(&error))?;
        output.item().map(from_item).transpose().map_err(|detail| self.storage(detail, false))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(table = %self.name))]
    async fn list(&self, limit: usize) -> Result<Vec<ResultRow>, TableError> {
        self.pages(limit, |start, page_limit| async move {
            let output = self
                .client
                .scan()
                .table_name(&self.name)
                .limit(page_limit)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|error| self.call_failed(&error))?;
            Ok((output.items().to_vec(), output.last_evaluated_key().cloned()))
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(table = %self.name, topic))]
    async fn query_by_topic(&self, topic: &str, limit: usize) -> Result<Vec<ResultRow>, TableError> {
        self.pages(limit, |start, page_limit| async move {
            let output = self
                .client
                .query()
                .table_name(&self.name)
                .index_name(TOPIC_INDEX)
                .key_condition_expression("topic = :topic")
                .expression_attribute_values(":topic", AttributeValue::S(topic.to_owned()))
                .scan_index_forward(false)
                .limit(page_limit)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|error| self.call_failed(&error))?;
            Ok((output.items().to_vec(), output.last_evaluated_key().cloned()))
        })
        .await
    }
}
