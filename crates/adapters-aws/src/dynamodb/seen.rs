//! The de-duplication store on DynamoDB: one item per enqueued document id, claimed with a conditional
//! put. See [`docclass_types::SeenDocuments`] for the claim/confirm protocol.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;
use docclass_types::{SeenDocuments, TableError};
use futures_util::future::join_all;

/// Conditional writes go one id per call (DynamoDB has no conditional batch write, and a transaction
/// would fail every id for one taken id); this many run at once.
const CONCURRENT_WRITES: usize = 16;

/// What one conditional put answered.
enum Claim {
    Won,
    /// Enqueued already, or under another claimant's running lease.
    Taken,
    /// The table refused the id itself; the store's message.
    Refused(String),
}

/// A DynamoDB table of ids feed-ingest has claimed or enqueued: partition key `id` (string); `infra up`
/// creates it as `<prefix>-seen`.
#[derive(Clone)]
pub struct DynamoSeen {
    client: Client,
    name: String,
}

impl DynamoSeen {
    /// The table `name`.
    pub fn new(client: Client, name: impl Into<String>) -> Self {
        Self { client, name: name.into() }
    }

    fn failed<E>(
        &self,
        error: &aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
    ) -> TableError
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        super::table_error(&self.name, error)
    }

    async fn claim_one(&self, id: &str, now_ms: i64, lease_until_ms: i64) -> Result<Claim, TableError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.name)
            .item("id", AttributeValue::S(id.to_owned()))
            .item("enqueued", AttributeValue::Bool(false))
            .item("lease_until_ms", AttributeValue::N(lease_until_ms.to_string()))
            .condition_expression("attribute_not_exists(id) OR (enqueued = :no AND lease_until_ms <= :now)")
            .expression_attribute_values(":no", AttributeValue::Bool(false))
            .expression_attribute_values(":now", AttributeValue::N(now_ms.to_string()))
            .send()
            .await;
        match put {
            Ok(_) => Ok(Claim::Won),
            Err(error) if error.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                Ok(Claim::Taken)
            }
            // The request itself is invalid for this id (DynamoDB's code for a key over its size limit):
            // no retry can change that. Any other failure — a missing table, credentials — fails the poll.
            Err(error) if super::is_invalid_request(&error) => Ok(Claim::Refused(crate::sdk_error_message(&error))),
            Err(error) => Err(self.failed(&error)),
        }
    }

    async fn confirm_one(&self, id: &str) -> Result<(), TableError> {
        self.client
            .update_item()
            .table_name(&self.name)
            .key("id", AttributeValue::S(id.to_owned()))
            .update_expression("SET enqueued = :yes")
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .send()
            .await
            .map(|_| ())
            .map_err(|error| self.failed(&error))
    }
}

impl SeenDocuments for DynamoSeen {
    fn name(&self) -> &str {
        &self.name
    }

    async fn claim(&self, ids: &[String], lease: Duration) -> Result<Vec<bool>, TableError> {
        let now_ms = Utc::now().timestamp_millis();
        let lease_until_ms = now_ms.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
        let mut won = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(CONCURRENT_WRITES) {
            let claims = join_all(chunk.iter().map(|id| self.claim_one(id, now_ms, lease_until_ms))).await;
            for (id, claim) in chunk.iter().zip(claims) {
                match claim? {
                    Claim::Won => won.push(true),
                    Claim::Taken => won.push(false),
                    // One id the table refuses (too long a key, say) skips its entry, not the whole
                    // poll: failing the call would block every other entry of the feed, poll after poll.
                    Claim::Refused(detail) => {
                        let shown: String = id.chars().take(64).collect();
                        tracing::warn!(table = %self.name, id = %shown, %detail, "the seen store refused an id; its entry is skipped");
                        won.push(false);
                    }
                }
            }
        }
        Ok(won)
    }

    async fn confirm(&self, ids: &[String]) -> Result<(), TableError> {
        for chunk in ids.chunks(CONCURRENT_WRITES) {
            join_all(chunk.iter().map(|id| self.confirm_one(id))).await.into_iter().collect::<Result<Vec<()>, _>>()?;
        }
        Ok(())
    }
}
