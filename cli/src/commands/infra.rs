//! `docclass infra up|down`: the queues and table of a pipeline on AWS (or an emulator).

use std::time::{Duration, Instant};

use adapters_aws::infra::{self, QueueSettings, StackNames};
use adapters_aws::load_sdk_config;
use docclass_types::Queue;
use docclass_types::topology::env;
use service_kit::AwsArgs;

/// Arguments of `docclass infra`.
#[derive(Debug, clap::Args)]
pub struct InfraArgs {
    #[command(subcommand)]
    action: Action,
    /// Prefix of every queue and table name, so several pipelines can share an account.
    #[arg(long, env = env::STACK, default_value = docclass_types::topology::DEFAULT_STACK, global = true)]
    stack: String,
    #[command(flatten)]
    aws: AwsArgs,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Create the three queues (each with a dead-letter queue and redrive policy, encrypted) and the
    /// result table (on-demand, encrypted, with the `by-topic` index) and feed-ingest's de-duplication
    /// table, or find them; print their
    /// addresses as `export NAME=value` lines to source.
    Up {
        /// Deliveries after which a message moves to its dead-letter queue.
        #[arg(long, default_value_t = QueueSettings::default().max_receive_count)]
        max_receive_count: u32,
        /// Keep trying this many seconds while the endpoint fails, e.g. an emulator still starting
        /// (compose's init step starts with it).
        #[arg(long, default_value_t = 0)]
        wait_secs: u64,
    },
    /// Delete what `up` created.
    Down,
}

pub fn run(args: InfraArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let config = load_sdk_config(&args.aws.settings()).await;
        let (sqs, dynamodb) = (aws_sdk_sqs::Client::new(&config), aws_sdk_dynamodb::Client::new(&config));
        let names = StackNames::new(&args.stack);
        match args.action {
            Action::Up { max_receive_count, wait_secs } => {
                let settings = QueueSettings { max_receive_count, ..QueueSettings::default() };
                let deadline = Instant::now() + Duration::from_secs(wait_secs);
                // Every failure is retried until the deadline, not only refused connections: LocalStack
                // answers 5xx while its services are still loading.
                let stack = loop {
                    match infra::up(&sqs, &dynamodb, &names, &settings).await {
                        Ok(stack) => break stack,
                        Err(error) if Instant::now() < deadline => {
                            eprintln!("infra up: {error}; trying again");
                            tokio::time::sleep(Duration::from_secs(2)).await;
                        }
                        Err(error) => return Err(error.into()),
                    }
                };
                let [ingest_dlq, subtopic_dlq, results_dlq] = &stack.dead_letter_urls;
                for (name, value) in [
                    (Queue::Ingest.url_var(), &stack.ingest_url),
                    (Queue::Subtopic.url_var(), &stack.subtopic_url),
                    (Queue::Results.url_var(), &stack.results_url),
                    (Queue::Ingest.dead_letter_url_var(), ingest_dlq),
                    (Queue::Subtopic.dead_letter_url_var(), subtopic_dlq),
                    (Queue::Results.dead_letter_url_var(), results_dlq),
                    (env::TABLE, &stack.table),
                    (env::SEEN_TABLE, &stack.seen_table),
                ] {
                    println!("export {name}={value}");
                }
            }
            Action::Down => {
                infra::down(&sqs, &dynamodb, &names).await?;
                eprintln!("Deleted the queues and tables of stack {}.", args.stack);
            }
        }
        Ok(())
    })
}
