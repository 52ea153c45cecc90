//! One contract, every adapter: the embedded queue and SQLite table, and SQS and DynamoDB over the wire
//! against moto server (started by the test itself, see `emulator.rs`).

use std::sync::Arc;

use adapters_aws::infra::{self, QueueSettings, StackNames};
use adapters_aws::{AwsSettings, DynamoTable, SqsQueue, load_sdk_config};
use adapters_embedded::{EmbeddedQueue, QueueConfig, SqliteTable};
use docclass_tests::contract::{queue_contract, table_contract};
use docclass_tests::emulator;

async fn aws() -> (aws_sdk_sqs::Client, aws_sdk_dynamodb::Client) {
    let settings = AwsSettings {
        endpoint_url: Some(emulator::endpoint()),
        region: Some("us-east-1".into()),
        static_credentials: Some(("test".into(), "test".into())),
    };
    let config = load_sdk_config(&settings).await;
    (aws_sdk_sqs::Client::new(&config), aws_sdk_dynamodb::Client::new(&config))
}

#[tokio::test]
async fn embedded_queue_keeps_the_contract() {
    let dead_letters = Arc::new(EmbeddedQueue::new("contract-dlq", QueueConfig::default()));
    let queue = EmbeddedQueue::with_dead_letters("contract", QueueConfig::default(), dead_letters);
    queue_contract(&queue).await;
}

#[tokio::test]
async fn sqlite_table_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    table_contract(&SqliteTable::open(&dir.path().join("contract.sqlite")).unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_queue_keeps_the_contract() {
    let (sqs, dynamodb) = aws().await;
    let names = StackNames::new(&emulator::unique_name("contract"));
    let stack = infra::up(&sqs, &dynamodb, &names, &QueueSettings::default()).await.unwrap();
    queue_contract(&SqsQueue::new(sqs.clone(), &stack.ingest_url)).await;
    infra::down(&sqs, &dynamodb, &names).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_table_keeps_the_contract() {
    let (sqs, dynamodb) = aws().await;
    let names = StackNames::new(&emulator::unique_name("contract"));
    let stack = infra::up(&sqs, &dynamodb, &names, &QueueSettings::default()).await.unwrap();
    table_contract(&DynamoTable::new(dynamodb.clone(), &stack.table)).await;
    infra::down(&sqs, &dynamodb, &names).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infra_up_is_idempotent_and_sets_the_redrive_policy() {
    let (sqs, dynamodb) = aws().await;
    let names = StackNames::new(&emulator::unique_name("infra"));
    let settings = QueueSettings { max_receive_count: 3, ..QueueSettings::default() };
    let first = infra::up(&sqs, &dynamodb, &names, &settings).await.unwrap();
    let second = infra::up(&sqs, &dynamodb, &names, &settings).await.unwrap();
    assert_eq!(first, second);

    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&first.subtopic_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let attributes = attributes.attributes().unwrap();
    let redrive: serde_json::Value =
        serde_json::from_str(&attributes[&aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy]).unwrap();
    assert_eq!(redrive["maxReceiveCount"].to_string().trim_matches('"'), "3");
    assert!(redrive["deadLetterTargetArn"].as_str().unwrap().ends_with(&StackNames::dead_letters_of(&names.subtopic)));

    let table = dynamodb.describe_table().table_name(&first.table).send().await.unwrap();
    let indexes = table.table().unwrap().global_secondary_indexes();
    assert_eq!(indexes[0].index_name(), Some(adapters_aws::dynamodb::TOPIC_INDEX));

    infra::down(&sqs, &dynamodb, &names).await.unwrap();
    infra::down(&sqs, &dynamodb, &names).await.unwrap();
}
