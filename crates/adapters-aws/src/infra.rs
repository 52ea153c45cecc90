//! Creating (and removing) the pipeline's queues and table, idempotently: what `docclass infra up` runs.

use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, SseSpecification, TableStatus,
};
use aws_sdk_sqs::types::QueueAttributeName;

use crate::dynamodb::TOPIC_INDEX;
use crate::error::classify;
use docclass_types::Queue;
use docclass_types::topology::{self, timeouts};

/// SQS keeps a message at most 14 days: dead letters get all of it, to leave time for a fix.
const DEAD_LETTER_RETENTION_SECONDS: u32 = 14 * 24 * 60 * 60;

/// Why provisioning failed.
#[derive(Debug, thiserror::Error)]
#[error("{action} failed: {detail}")]
pub struct InfraError {
    /// What was being done.
    pub action: String,
    /// The cause chain.
    pub detail: String,
}

/// How the queues behave.
#[derive(Debug, Clone)]
pub struct QueueSettings {
    /// Deliveries after which SQS moves a message to the dead-letter queue.
    pub max_receive_count: u32,
    /// Default long-poll wait of a receive (0–20 s).
    pub receive_wait_secs: u32,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self { max_receive_count: topology::MAX_RECEIVE_COUNT, receive_wait_secs: 20 }
    }
}

/// The names of one pipeline's resources, all derived from a prefix so several pipelines (or test runs)
/// can share an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackNames {
    /// Queue between feed-ingest and topic-classifier.
    pub ingest: String,
    /// Queue between topic-classifier and subtopic-classifier.
    pub subtopic: String,
    /// Queue between subtopic-classifier and table-writer.
    pub results: String,
    /// The DynamoDB table.
    pub table: String,
    /// The DynamoDB table of document ids feed-ingest has enqueued (its de-duplication store).
    pub seen_table: String,
}

impl StackNames {
    /// Names under `prefix`, e.g. `docclass-ingest`, `docclass-results` (the table).
    pub fn new(prefix: &str) -> Self {
        Self {
            ingest: Queue::Ingest.name(prefix),
            subtopic: Queue::Subtopic.name(prefix),
            results: Queue::Results.name(prefix),
            table: topology::result_table_name(prefix),
            seen_table: topology::seen_table_name(prefix),
        }
    }

    /// The dead-letter queue of `queue`.
    pub fn dead_letters_of(queue: &str) -> String {
        format!("{queue}{}", topology::DEAD_LETTER_SUFFIX)
    }
}

/// Where what [`up`] made is: the queues' URLs and the tables' names. (`deploy::stack::Stack` is the
/// stack file; this is what a stack's queues and tables answer to.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackAddresses {
    /// Ingest queue URL.
    pub ingest_url: String,
    /// Subtopic queue URL.
    pub subtopic_url: String,
    /// Results queue URL.
    pub results_url: String,
    /// Dead-letter queue URLs, in the order of the three queues.
    pub dead_letter_urls: [String; 3],
    /// The table's name.
    pub table: String,
    /// The de-duplication table's name.
    pub seen_table: String,
}

/// Creates the three queues, each with its dead-letter queue and redrive policy, and the table, or
/// finds them if they exist.
///
/// # Errors
/// When a resource cannot be created or described.
pub async fn up(
    sqs: &aws_sdk_sqs::Client,
    dynamodb: &aws_sdk_dynamodb::Client,
    names: &StackNames,
    settings: &QueueSettings,
) -> Result<StackAddresses, InfraError> {
    let mut urls = Vec::new();
    let mut dead_letter_urls = Vec::new();
    for queue in [&names.ingest, &names.subtopic, &names.results] {
        let (url, dead_letter_url) = ensure_queue_with_dead_letters(sqs, queue, settings).await?;
        urls.push(url);
        dead_letter_urls.push(dead_letter_url);
    }
    ensure_table(dynamodb, &names.table, TableKind::Results).await?;
    ensure_table(dynamodb, &names.seen_table, TableKind::Seen).await?;
    let [ingest_url, subtopic_url, results_url]: [String; 3] = urls.try_into().expect("three queues");
    Ok(StackAddresses {
        ingest_url,
        subtopic_url,
        results_url,
        dead_letter_urls: dead_letter_urls.try_into().expect("three dead-letter queues"),
        table: names.table.clone(),
        seen_table: names.seen_table.clone(),
    })
}

/// Deletes what [`up`] made; resources already gone are fine.
///
/// # Errors
/// When a resource exists and cannot be deleted.
pub async fn down(
    sqs: &aws_sdk_sqs::Client,
    dynamodb: &aws_sdk_dynamodb::Client,
    names: &StackNames,
) -> Result<(), InfraError> {
    for queue in [&names.ingest, &names.subtopic, &names.results] {
        for name in [queue.clone(), StackNames::dead_letters_of(queue)] {
            let found = match sqs.get_queue_url().queue_name(&name).send().await {
                Ok(found) => found,
                Err(error) if error.as_service_error().is_some_and(is_missing_queue) => continue,
                // Unreachable, denied, …: not "already gone".
                Err(error) => return Err(failed(&format!("finding queue {name}"), &error)),
            };
            if let Some(url) = found.queue_url() {
                sqs.delete_queue()
                    .queue_url(url)
                    .send()
                    .await
                    .map_err(|e| failed(&format!("deleting queue {name}"), &e))?;
            }
        }
    }
    for table in [&names.table, &names.seen_table] {
        match dynamodb.delete_table().table_name(table).send().await {
            Ok(_) => {}
            Err(error) if error.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => {}
            Err(error) => return Err(failed(&format!("deleting table {table}"), &error)),
        }
    }
    Ok(())
}

/// Whether SQS says the queue does not exist (its JSON protocol's code, or the query protocol's that
/// emulators and older endpoints answer).
pub fn is_missing_queue(error: &aws_sdk_sqs::operation::get_queue_url::GetQueueUrlError) -> bool {
    use aws_sdk_sqs::error::ProvideErrorMetadata;
    error.is_queue_does_not_exist() || error.code().is_some_and(|code| code.contains("NonExistentQueue"))
}

fn failed<E>(
    action: &str,
    error: &aws_sdk_sqs::error::SdkError<E, aws_sdk_sqs::config::http::HttpResponse>,
) -> InfraError
where
    E: aws_sdk_sqs::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    InfraError { action: action.to_owned(), detail: classify(error).detail }
}

/// SQS created a queue but named no URL: nothing could use it, so say so rather than hand on "".
fn no_url(name: &str) -> InfraError {
    InfraError { action: format!("creating queue {name}"), detail: "the answer carries no queue URL".into() }
}

/// Creates `name` and `name-dlq` with the redrive policy between them; answers both URLs.
async fn ensure_queue_with_dead_letters(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    settings: &QueueSettings,
) -> Result<(String, String), InfraError> {
    let dead_letter_name = StackNames::dead_letters_of(name);
    let dead_letter_url = sqs
        .create_queue()
        .queue_name(&dead_letter_name)
        .attributes(QueueAttributeName::MessageRetentionPeriod, DEAD_LETTER_RETENTION_SECONDS.to_string())
        .attributes(QueueAttributeName::SqsManagedSseEnabled, "true")
        .send()
        .await
        .map_err(|e| failed(&format!("creating queue {dead_letter_name}"), &e))?
        .queue_url()
        .map(str::to_owned)
        .ok_or_else(|| no_url(&dead_letter_name))?;
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&dead_letter_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| failed(&format!("describing queue {dead_letter_name}"), &e))?
        .attributes()
        .and_then(|attributes| attributes.get(&QueueAttributeName::QueueArn).cloned())
        .ok_or_else(|| InfraError {
            action: format!("describing queue {dead_letter_name}"),
            detail: "no QueueArn".into(),
        })?;
    let redrive = serde_json::json!({ "deadLetterTargetArn": arn, "maxReceiveCount": settings.max_receive_count });
    let url = sqs
        .create_queue()
        .queue_name(name)
        // Only a default for receives that name no timeout (the console, a consumer of the user's own):
        // every docclass worker names its own on each receive (`--visibility-timeout-secs`), so this
        // is the topology's value and not a setting of its own.
        .attributes(QueueAttributeName::VisibilityTimeout, timeouts::VISIBILITY.as_secs().to_string())
        .attributes(QueueAttributeName::ReceiveMessageWaitTimeSeconds, settings.receive_wait_secs.to_string())
        .attributes(QueueAttributeName::SqsManagedSseEnabled, "true")
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .send()
        .await
        .map_err(|e| failed(&format!("creating queue {name}"), &e))?
        .queue_url()
        .map(str::to_owned)
        .ok_or_else(|| no_url(name))?;
    Ok((url, dead_letter_url))
}

/// The two tables `up` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TableKind {
    /// Results, with the `by-topic` index.
    Results,
    /// feed-ingest's de-duplication store: the key alone.
    Seen,
}

/// Creates a table (on-demand billing, encrypted, keyed by `id`; the result table with the `by-topic`
/// index) unless it exists, and waits until it is active.
async fn ensure_table(dynamodb: &aws_sdk_dynamodb::Client, name: &str, kind: TableKind) -> Result<(), InfraError> {
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("name and type are set")
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder().attribute_name(name).key_type(kind).build().expect("name and type are set")
    };
    let mut create = dynamodb
        .create_table()
        .table_name(name)
        .attribute_definitions(attribute("id"))
        .key_schema(key("id", KeyType::Hash))
        .billing_mode(BillingMode::PayPerRequest)
        .sse_specification(SseSpecification::builder().enabled(true).build());
    if kind == TableKind::Results {
        let index = GlobalSecondaryIndex::builder()
            .index_name(TOPIC_INDEX)
            .key_schema(key("topic", KeyType::Hash))
            .key_schema(key("written_at", KeyType::Range))
            .projection(Projection::builder().projection_type(ProjectionType::All).build())
            .build()
            .expect("name, keys and projection are set");
        create = create
            .attribute_definitions(attribute("topic"))
            .attribute_definitions(attribute("written_at"))
            .global_secondary_indexes(index);
    }
    let created = create.send().await;
    match created {
        Ok(_) => {}
        Err(error) if error.as_service_error().is_some_and(|e| e.is_resource_in_use_exception()) => {}
        Err(error) => return Err(failed(&format!("creating table {name}"), &error)),
    }
    for _ in 0..120 {
        let described = dynamodb
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|e| failed(&format!("describing table {name}"), &e))?;
        if described.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(InfraError { action: format!("waiting for table {name}"), detail: "not active after 60 s".into() })
}
