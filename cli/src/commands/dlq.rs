//! `docclass dlq inspect|redrive`: looking at dead letters, and sending them back after a fix.

use std::path::PathBuf;
use std::time::Duration;

use adapters_aws::{SqsQueue, load_sdk_config};
use anyhow::Context;
use docclass_types::Queue;
use docclass_types::topology::env;
use docclass_types::{MessageSink, MessageSource, OutgoingMessage, ReceivedMessage, attributes};
use service_kit::AwsArgs;

/// Arguments of `docclass dlq`.
#[derive(Debug, clap::Args)]
pub struct DlqArgs {
    #[command(subcommand)]
    action: Action,
    #[command(flatten)]
    queues: QueueUrls,
    #[command(flatten)]
    aws: AwsArgs,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Show dead letters with their reason (they stay in the dead-letter queue).
    Inspect {
        /// The queue whose dead letters to show: ingest, subtopic or results.
        queue: Stage,
        /// At most this many.
        #[arg(long, default_value_t = 10)]
        limit: usize,
        /// One JSON object per dead letter instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Move dead letters back to their queue, for another try after a fix.
    Redrive {
        /// The queue whose dead letters to move back: ingest, subtopic or results.
        queue: Stage,
        /// At most this many.
        #[arg(long, default_value_t = usize::MAX)]
        limit: usize,
    },
    /// Show the dead letters an embedded run (`docclass run`) kept in its SQLite file.
    Embedded {
        /// The SQLite file.
        #[arg(long, default_value = docclass_types::topology::DEFAULT_DB)]
        db: PathBuf,
        /// At most this many.
        #[arg(long, default_value_t = 10)]
        limit: usize,
    },
}

/// The three queues of a pipeline.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Stage {
    Ingest,
    Subtopic,
    Results,
}

/// Queue addresses, as `docclass infra up` exports them.
#[derive(Debug, clap::Args)]
struct QueueUrls {
    /// Ingest queue.
    #[arg(long, env = env::INGEST_QUEUE_URL, hide_env_values = true)]
    ingest_queue_url: Option<String>,
    /// Subtopic queue.
    #[arg(long, env = env::SUBTOPIC_QUEUE_URL, hide_env_values = true)]
    subtopic_queue_url: Option<String>,
    /// Results queue.
    #[arg(long, env = env::RESULTS_QUEUE_URL, hide_env_values = true)]
    results_queue_url: Option<String>,
    /// Dead-letter queue of the ingest queue.
    #[arg(long, env = env::INGEST_DLQ_URL, hide_env_values = true)]
    ingest_dlq_url: Option<String>,
    /// Dead-letter queue of the subtopic queue.
    #[arg(long, env = env::SUBTOPIC_DLQ_URL, hide_env_values = true)]
    subtopic_dlq_url: Option<String>,
    /// Dead-letter queue of the results queue.
    #[arg(long, env = env::RESULTS_DLQ_URL, hide_env_values = true)]
    results_dlq_url: Option<String>,
}

impl QueueUrls {
    /// `(queue, its dead-letter queue)` of a stage.
    fn of(&self, stage: Stage) -> anyhow::Result<(&str, &str)> {
        let (queue, dead_letters) = match stage {
            Stage::Ingest => (&self.ingest_queue_url, &self.ingest_dlq_url),
            Stage::Subtopic => (&self.subtopic_queue_url, &self.subtopic_dlq_url),
            Stage::Results => (&self.results_queue_url, &self.results_dlq_url),
        };
        let queue_of = Queue::from(stage);
        let missing = || {
            format!(
                "set {} and {} (eval \"$(docclass infra up)\" does) or pass them as flags",
                queue_of.url_var(),
                queue_of.dead_letter_url_var()
            )
        };
        Ok((queue.as_deref().with_context(missing)?, dead_letters.as_deref().with_context(missing)?))
    }
}

impl From<Stage> for Queue {
    fn from(stage: Stage) -> Self {
        match stage {
            Stage::Ingest => Queue::Ingest,
            Stage::Subtopic => Queue::Subtopic,
            Stage::Results => Queue::Results,
        }
    }
}

/// How long dead letters stay hidden while this command holds them.
const HOLD: Duration = Duration::from_secs(30);

pub fn run(args: DlqArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        if let Action::Embedded { db, limit } = &args.action {
            return embedded(db, *limit);
        }
        let config = load_sdk_config(&args.aws.settings()).await;
        let client = aws_sdk_sqs::Client::new(&config);
        match args.action {
            Action::Inspect { queue, limit, json } => {
                let (_, dead_letter_url) = args.queues.of(queue)?;
                let dead_letters = SqsQueue::new(client, dead_letter_url);
                let letters = take(&dead_letters, limit).await?;
                for letter in &letters {
                    print_letter(letter, json)?;
                }
                // Looking is not taking: make them visible again at once.
                let receipts: Vec<_> = letters.iter().map(|l| l.receipt.clone()).collect();
                dead_letters.change_visibility_batch(&receipts, Duration::ZERO).await;
                eprintln!("{} dead letters shown.", letters.len());
            }
            Action::Redrive { queue, limit } => {
                let (queue_url, dead_letter_url) = args.queues.of(queue)?;
                // Only what is there now: a letter that fails again and returns while we work must not be
                // sent round and round (SQS's own move task has the same rule).
                let limit = limit.min(waiting_count(&client, dead_letter_url).await?);
                let (target, dead_letters) =
                    (SqsQueue::new(client.clone(), queue_url), SqsQueue::new(client, dead_letter_url));
                let mut moved = 0;
                while moved < limit {
                    let letters = take(&dead_letters, (limit - moved).min(10)).await?;
                    if letters.is_empty() {
                        break;
                    }
                    moved += redrive(&letters, &target, &dead_letters).await?;
                }
                eprintln!("{moved} dead letters moved back to {}.", target.url());
            }
            Action::Embedded { .. } => unreachable!("handled above"),
        }
        Ok(())
    })
}

/// Messages visible in the queue now (SQS's approximate count).
async fn waiting_count(client: &aws_sdk_sqs::Client, url: &str) -> anyhow::Result<usize> {
    let attributes = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .map_err(|error| anyhow::anyhow!(adapters_aws::sdk_error_message(&error)))?;
    Ok(attributes
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages))
        .and_then(|count| count.parse().ok())
        .unwrap_or(0))
}

/// Receives up to `limit` dead letters, holding them for [`HOLD`].
async fn take(dead_letters: &SqsQueue, limit: usize) -> anyhow::Result<Vec<ReceivedMessage>> {
    let mut letters = Vec::new();
    while letters.len() < limit {
        let batch = dead_letters.receive((limit - letters.len()).min(10), HOLD, Duration::from_secs(1)).await?;
        if batch.is_empty() {
            break;
        }
        letters.extend(batch);
    }
    Ok(letters)
}

/// Sends letters back without their dead-letter attributes, then deletes those that were sent.
async fn redrive(letters: &[ReceivedMessage], target: &SqsQueue, dead_letters: &SqsQueue) -> anyhow::Result<usize> {
    let messages: Vec<OutgoingMessage> = letters
        .iter()
        .enumerate()
        .map(|(index, letter)| {
            let mut message = OutgoingMessage::new(index.to_string(), letter.body.clone());
            message.attributes = letter
                .attributes
                .iter()
                .filter(|(k, _)| !k.starts_with("docclass.dead_letter."))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            message
        })
        .collect();
    let sent = target.send_batch(&messages).await;
    let receipts: Vec<_> = letters
        .iter()
        .zip(&sent)
        .filter(|(_, result)| result.is_ok())
        .map(|(letter, _)| letter.receipt.clone())
        .collect();
    if let Some(Err(error)) = sent.iter().find(|result| result.is_err()) {
        eprintln!("some dead letters could not be sent back and stay where they are: {error}");
    }
    let deleted = dead_letters.ack_batch(&receipts).await;
    Ok(deleted.iter().filter(|result| result.is_ok()).count())
}

fn print_letter(letter: &ReceivedMessage, json: bool) -> anyhow::Result<()> {
    let get = |key: &str| letter.attributes.get(key).map(String::as_str).unwrap_or("");
    if json {
        let value = serde_json::json!({
            "message_id": letter.message_id,
            "reason": get(attributes::DEAD_LETTER_REASON),
            "detail": get(attributes::DEAD_LETTER_DETAIL),
            "source_queue": get(attributes::DEAD_LETTER_SOURCE_QUEUE),
            "body": letter.body,
        });
        println!("{value}");
    } else {
        let body: String = letter.body.chars().take(100).collect();
        println!(
            "{}  {}: {}\n    body: {body}",
            letter.message_id,
            get(attributes::DEAD_LETTER_REASON),
            get(attributes::DEAD_LETTER_DETAIL)
        );
    }
    Ok(())
}

fn embedded(db: &PathBuf, limit: usize) -> anyhow::Result<()> {
    anyhow::ensure!(db.is_file(), "no results at {}", db.display());
    let connection = rusqlite::Connection::open(db)?;
    let mut query =
        connection.prepare("SELECT queue, reason, detail, body FROM dead_letters ORDER BY stored_at DESC LIMIT ?1")?;
    let rows = query.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?, row.get::<_, String>(3)?))
    })?;
    for row in rows {
        let (queue, reason, detail, body) = row?;
        let body: String = body.chars().take(100).collect();
        println!("{queue}  {reason}: {detail}\n    body: {body}");
    }
    Ok(())
}
