//! `docclass results`: reading the result table, DynamoDB or the embedded SQLite file.

use std::path::PathBuf;

use adapters_aws::{DynamoTable, load_sdk_config};
use adapters_embedded::SqliteTable;
use docclass_types::topology::env;
use docclass_types::{ResultRow, ResultTable, printable};
use service_kit::AwsArgs;

/// Arguments of `docclass results`.
#[derive(Debug, clap::Args)]
pub struct ResultsArgs {
    /// Only this topic, newest first (the `by-topic` index on DynamoDB).
    #[arg(long)]
    topic: Option<String>,
    /// At most this many rows.
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// Print the rows as a JSON array instead of a table.
    #[arg(long)]
    json: bool,
    /// The DynamoDB table (as `docclass infra up` exports it); without it, the SQLite file --db.
    #[arg(long, env = env::TABLE)]
    table: Option<String>,
    /// The SQLite file `docclass run` wrote.
    #[arg(long, default_value = docclass_types::topology::DEFAULT_DB)]
    db: PathBuf,
    #[command(flatten)]
    aws: AwsArgs,
}

async fn read<T: ResultTable>(table: &T, topic: Option<&str>, limit: usize) -> anyhow::Result<Vec<ResultRow>> {
    Ok(match topic {
        Some(topic) => table.query_by_topic(topic, limit).await?,
        None => table.list(limit).await?,
    })
}

pub fn run(args: ResultsArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let rows = runtime.block_on(async {
        match &args.table {
            Some(name) => {
                let config = load_sdk_config(&args.aws.settings()).await;
                let table = DynamoTable::new(aws_sdk_dynamodb::Client::new(&config), name);
                read(&table, args.topic.as_deref(), args.limit).await
            }
            None => {
                anyhow::ensure!(
                    args.db.is_file(),
                    "no results at {} (run `docclass run`, pass --db, or --table for DynamoDB)",
                    args.db.display()
                );
                // Read-only: a file that is not a results file is said so, and left as it was.
                read(&SqliteTable::open_read_only(&args.db)?, args.topic.as_deref(), args.limit).await
            }
        }
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!(
        "{:<28} {:<8} {:>5}  {:<20} {:>5}  {:<34} title",
        "id", "topic", "score", "subtopic", "score", "top categories"
    );
    for row in &rows {
        // What a table holds is shown, not obeyed: escape sequences in a title or id print escaped.
        let title: String = row.title.chars().take(48).collect();
        let top: Vec<String> =
            row.top_categories.iter().map(|c| format!("{} {:.2}", printable(&c.label), c.score)).collect();
        println!(
            "{:<28} {:<8} {:>5.2}  {:<20} {:>5.2}  {:<34} {}",
            printable(&row.id),
            printable(&row.topic),
            row.topic_score,
            printable(&row.subtopic),
            row.subtopic_score,
            top.join(", "),
            printable(&title)
        );
    }
    println!("{} rows", rows.len());
    if let Some(line) = agreement(&rows) {
        println!("{line}");
    }
    Ok(())
}

/// How often the shown rows' predictions agree with the labels their sources gave (an arXiv feed's
/// categories): accuracy as production sees it. `None` when no row carries a label.
fn agreement(rows: &[ResultRow]) -> Option<String> {
    let labelled: Vec<&ResultRow> = rows.iter().filter(|row| row.labels.topic.is_some()).collect();
    if labelled.is_empty() {
        return None;
    }
    let share = |count: usize| 100.0 * count as f64 / labelled.len() as f64;
    let topic = labelled.iter().filter(|row| row.labels.topic.as_deref() == Some(row.topic.as_str())).count();
    let subtopic = labelled.iter().filter(|row| row.labels.subtopic.as_deref() == Some(row.subtopic.as_str())).count();
    let listed = labelled
        .iter()
        .filter(|row| {
            row.labels.subtopic.as_deref() == Some(row.subtopic.as_str())
                || row.labels.categories.contains(&row.subtopic)
        })
        .count();
    Some(format!(
        "Agreement with the sources' labels ({} labelled rows): topic {:.1} %, subtopic {:.1} %, subtopic among the listed categories {:.1} %",
        labelled.len(),
        share(topic),
        share(subtopic),
        share(listed)
    ))
}
