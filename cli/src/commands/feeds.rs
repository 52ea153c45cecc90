//! `docclass feeds status`: what each feed of a running feed-ingest has done, read from its `/feeds`
//! endpoint (the same figures as its `/metrics`, per feed).

use chrono::Utc;
use std::time::Duration;

use feed_ingest::FeedStatus;

/// Arguments of `docclass feeds`.
#[derive(Debug, clap::Args)]
pub struct FeedsArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Per feed: polls, 304s, new documents, duplicates skipped, entries left out, errors by kind, last
    /// success, next poll and the last error.
    Status {
        /// Where feed-ingest serves `/healthz`, `/metrics` and `/feeds`.
        #[arg(long, env = "DOCCLASS_FEEDS_ENDPOINT", default_value = "http://127.0.0.1:9100")]
        endpoint: String,
        /// Print the figures as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: FeedsArgs) -> anyhow::Result<()> {
    let Action::Status { endpoint, json } = args.action;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let url = format!("{}/feeds", endpoint.trim_end_matches('/'));
    let statuses: Vec<FeedStatus> = runtime.block_on(async {
        let client = super::http::client(Duration::from_secs(30));
        let body = super::http::get_text(&client, &url)
            .await
            .map_err(|error| anyhow::anyhow!("is feed-ingest polling at {url}? {error}"))?;
        serde_json::from_str(&body).map_err(|error| anyhow::anyhow!("{url} answered something else: {error}"))
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&statuses)?);
    } else {
        print!("{}", table(&statuses));
    }
    Ok(())
}

fn table(statuses: &[FeedStatus]) -> String {
    let mut out = format!(
        "{:<50} {:>6} {:>6} {:>6} {:>6} {:>7}  {:<24} {:<20} {:<10} {}\n",
        "FEED", "POLLS", "304", "NEW", "DUPES", "SKIPPED", "ERRORS", "LAST SUCCESS", "NEXT POLL", "LAST ERROR"
    );
    for status in statuses {
        let errors = if status.errors.is_empty() {
            "0".to_owned()
        } else {
            status.errors.iter().map(|(kind, n)| format!("{kind} {n}")).collect::<Vec<_>>().join(", ")
        };
        let last_success =
            status.last_success.map_or("never".to_owned(), |time| time.format("%Y-%m-%d %H:%M:%S").to_string());
        let next_poll = status.next_poll.map_or("-".to_owned(), |time| {
            let seconds = (time - Utc::now()).num_seconds().max(0);
            format!("in {seconds} s")
        });
        out.push_str(&format!(
            "{:<50} {:>6} {:>6} {:>6} {:>6} {:>7}  {:<24} {:<20} {:<10} {}\n",
            status.url,
            status.polls,
            status.not_modified,
            status.new_documents,
            status.duplicates_skipped,
            status.documents_skipped.values().sum::<u64>(),
            errors,
            last_success,
            next_poll,
            status.last_error.as_deref().unwrap_or("")
        ));
    }
    out
}
