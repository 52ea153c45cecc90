//! `docclass dlq inspect|redrive`: looking at dead letters, and sending them back after a fix.

use std::path::PathBuf;
use std::time::Duration;

use adapters_aws::{SqsQueue, load_sdk_config};
use anyhow::Context;
use docclass_types::Queue;
use docclass_types::topology::env;
use docclass_types::{DeadLetter, MessageSink, MessageSource, OutgoingMessage, ReceivedMessage, printable};
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
        queue: DeadLetterQueue,
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
        queue: DeadLetterQueue,
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

/// Whose dead letters: one of the pipeline's three queues (`docclass_types::topology::Queue`, as a flag value).
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum DeadLetterQueue {
    Ingest,
    Subtopic,
    Results,
}

/// Queue addresses, as `docclass infra up` exports them (also read by `docclass dashboard`).
#[derive(Debug, clap::Args)]
pub(super) struct QueueUrls {
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
    /// `(queue, its dead-letter queue)`, where given.
    pub(super) fn given(&self, queue: Queue) -> (Option<&str>, Option<&str>) {
        let (queue, dead_letters) = match queue {
            Queue::Ingest => (&self.ingest_queue_url, &self.ingest_dlq_url),
            Queue::Subtopic => (&self.subtopic_queue_url, &self.subtopic_dlq_url),
            Queue::Results => (&self.results_queue_url, &self.results_dlq_url),
        };
        (queue.as_deref(), dead_letters.as_deref())
    }

    /// `(queue, its dead-letter queue)` of a stage.
    fn of(&self, stage: DeadLetterQueue) -> anyhow::Result<(&str, &str)> {
        let queue_of = Queue::from(stage);
        let (queue, dead_letters) = self.given(queue_of);
        let missing = || {
            format!(
                "set {} and {} (eval \"$(docclass infra up)\" does) or pass them as flags",
                queue_of.url_var(),
                queue_of.dead_letter_url_var()
            )
        };
        Ok((queue.with_context(missing)?, dead_letters.with_context(missing)?))
    }
}

impl From<DeadLetterQueue> for Queue {
    fn from(stage: DeadLetterQueue) -> Self {
        match stage {
            DeadLetterQueue::Ingest => Queue::Ingest,
            DeadLetterQueue::Subtopic => Queue::Subtopic,
            DeadLetterQueue::Results => Queue::Results,
        }
    }
}

/// How long dead letters stay hidden while this command holds them.
const HOLD: Duration = Duration::from_secs(30);

pub fn run(args: DlqArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        if let Action::Embedded { db, limit } = &args.action {
            return embedded(db, *limit).await;
        }
        let config = load_sdk_config(&args.aws.settings()).await;
        let client = aws_sdk_sqs::Client::new(&config);
        match args.action {
            Action::Inspect { queue, limit, json } => {
                let (_, dead_letter_url) = args.queues.of(queue)?;
                let dead_letters = SqsQueue::new(client, dead_letter_url);
                let letters = take(&dead_letters, limit).await?;
                let (shown, copies) = distinct(&letters);
                for letter in &shown {
                    print_letter(letter, json)?;
                }
                // Looking is not taking: make them visible again at once.
                let receipts: Vec<_> = letters.iter().map(|l| l.receipt.clone()).collect();
                dead_letters.change_visibility_batch(&receipts, Duration::ZERO).await;
                match copies {
                    0 => eprintln!("{} dead letters shown.", shown.len()),
                    _ => eprintln!("{} dead letters shown ({copies} second copies of them not shown).", shown.len()),
                }
            }
            Action::Redrive { queue, limit } => {
                let (queue_url, dead_letter_url) = args.queues.of(queue)?;
                // Only what is there now: a letter that fails again and returns while we work must not be
                // sent round and round (SQS's own move task has the same rule).
                let limit = limit.min(waiting_count(&client, dead_letter_url).await?);
                let (target, dead_letters) =
                    (SqsQueue::new(client.clone(), queue_url), SqsQueue::new(client, dead_letter_url));
                let mut done = Redriven::default();
                let mut taken = 0;
                while taken < limit {
                    let letters = take(&dead_letters, (limit - taken).min(10)).await?;
                    if letters.is_empty() {
                        break;
                    }
                    taken += letters.len();
                    redrive(&letters, &target, &dead_letters, &mut done).await?;
                }
                // Stubs were only looked at: visible again at once.
                for chunk in done.stubs.chunks(10) {
                    dead_letters.change_visibility_batch(chunk, Duration::ZERO).await;
                }
                eprintln!("{} dead letters moved back to {}.", done.moved, target.url());
                if done.duplicates > 0 {
                    eprintln!("{} second copies of letters moved were deleted.", done.duplicates);
                }
                if !done.stubs.is_empty() {
                    eprintln!(
                        "{} letters were too large to keep whole and stay in the dead-letter queue: `dlq inspect` shows their reason.",
                        done.stubs.len()
                    );
                }
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

/// What a redrive did so far.
#[derive(Default)]
struct Redriven {
    moved: usize,
    /// Second copies of a letter already moved (a worker that crashed after dead-lettering sent it
    /// twice): deleted, not sent.
    duplicates: usize,
    /// Letters cut to fit (their body is incomplete): left in the dead-letter queue.
    stubs: Vec<docclass_types::Receipt>,
    /// The source message ids moved, to know a second copy.
    seen: std::collections::HashSet<String>,
}

/// The id a letter had in its source queue: what its copies share.
fn original_id(letter: &ReceivedMessage) -> String {
    DeadLetter::from_attributes(&letter.attributes).message_id.unwrap_or_else(|| letter.message_id.clone())
}

/// Sends letters back without their dead-letter attributes, then deletes those that were sent, and the
/// second copies of letters sent already; stubs stay.
async fn redrive(
    letters: &[ReceivedMessage],
    target: &SqsQueue,
    dead_letters: &SqsQueue,
    done: &mut Redriven,
) -> anyhow::Result<()> {
    let mut to_send = Vec::new();
    let mut to_delete = Vec::new();
    for letter in letters {
        if DeadLetter::from_attributes(&letter.attributes).is_stub() {
            done.stubs.push(letter.receipt.clone());
        } else if !done.seen.insert(original_id(letter)) {
            done.duplicates += 1;
            to_delete.push(letter.receipt.clone());
        } else {
            to_send.push(letter);
        }
    }
    let messages: Vec<OutgoingMessage> = to_send
        .iter()
        .enumerate()
        .map(|(index, letter)| {
            let mut message = OutgoingMessage::new(index.to_string(), letter.body.clone());
            message.attributes = DeadLetter::original_attributes(&letter.attributes);
            message
        })
        .collect();
    let sent = target.send_batch(&messages).await;
    for (letter, result) in to_send.iter().zip(&sent) {
        match result {
            Ok(()) => {
                done.moved += 1;
                to_delete.push(letter.receipt.clone());
            }
            Err(_) => {
                // Not moved: a later copy must not be taken for a duplicate.
                done.seen.remove(&original_id(letter));
            }
        }
    }
    if let Some(Err(error)) = sent.iter().find(|result| result.is_err()) {
        eprintln!("some dead letters could not be sent back and stay where they are: {error}");
    }
    let deleted = dead_letters.ack_batch(&to_delete).await;
    if let Some(Err(error)) = deleted.iter().find(|result| result.is_err()) {
        eprintln!("some dead letters sent back could not be deleted and may be redriven again: {error}");
    }
    Ok(())
}

/// One of each letter: copies of one source message (see [`Redriven::duplicates`]) are shown once.
fn distinct(letters: &[ReceivedMessage]) -> (Vec<&ReceivedMessage>, usize) {
    let mut seen = std::collections::HashSet::new();
    let shown: Vec<&ReceivedMessage> = letters.iter().filter(|letter| seen.insert(original_id(letter))).collect();
    let copies = letters.len() - shown.len();
    (shown, copies)
}

fn print_letter(letter: &ReceivedMessage, json: bool) -> anyhow::Result<()> {
    let dead = DeadLetter::from_attributes(&letter.attributes);
    if json {
        let value = serde_json::json!({
            "message_id": letter.message_id,
            "reason": dead.reason,
            "detail": dead.detail,
            "source_queue": dead.source_queue.unwrap_or_default(),
            "truncated_from_bytes": dead.truncated_from_bytes,
            "body": letter.body,
        });
        println!("{value}");
    } else {
        // A dead letter's body is what came in, control characters and all: shown escaped.
        let body: String = letter.body.chars().take(100).collect();
        let stub = match (dead.stub, dead.truncated_from_bytes) {
            (true, Some(bytes)) => format!(" (a stub: the first {} of {bytes} bytes)", letter.body.len()),
            (true, None) => format!(" (a stub: the first {} bytes)", letter.body.len()),
            (false, _) => String::new(),
        };
        println!(
            "{}  {}: {}\n    body{stub}: {}",
            printable(&letter.message_id),
            printable(&dead.reason),
            printable(&dead.detail),
            printable(&body)
        );
    }
    Ok(())
}

/// The newest dead letters an embedded run kept in its SQLite file.
async fn embedded(db: &std::path::Path, limit: usize) -> anyhow::Result<()> {
    anyhow::ensure!(db.is_file(), "no results at {}", db.display());
    for letter in adapters_embedded::SqliteTable::open_read_only(db)?.latest_dead_letters(limit).await? {
        let body: String = letter.body.chars().take(100).collect();
        println!(
            "{}  {}: {}\n    body: {}",
            letter.queue,
            printable(&letter.reason),
            printable(&letter.detail),
            printable(&body)
        );
    }
    Ok(())
}
