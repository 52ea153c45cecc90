//! `docclass dashboard`: one self-contained web page (HTML, SVG and a little JavaScript compiled into the
//! binary: no CDN, no build chain) that shows what a pipeline is doing and refreshes itself, and
//! `/api/status`, the same figures as JSON for scripts.
//!
//! It serves each way the pipeline runs:
//! - an embedded run's SQLite file (`--db`), and while `docclass run --dashboard` goes, that run's
//!   queues and workers, live;
//! - the compose stack and AWS (`--table`, the queue URLs `docclass infra up` exports): queues from
//!   SQS (age of the oldest message from CloudWatch where it has data), dead letters peeked at in the
//!   dead-letter queues, results from the DynamoDB table (one scan per `--table-every-secs`), pools from
//!   ECS (`--cluster`) or the Docker Engine API (`--compose PROJECT`), and each service's `/metrics`
//!   given with `--metrics SERVICE=URL`.
//!
//! Read-only, loopback unless told otherwise; a part that cannot be read is shown as unreachable,
//! never as zero.

//!
//! The rooms: `sources` (where each part is read from, and one reading), `status` (what `/api/status`
//! answers), `server` (the page and the API), `results` (the table's figures) and `live` (queues, pools
//! and each service's `/metrics`).

mod live;
mod results;
mod server;
mod sources;
mod status;

use std::net::SocketAddr;
use std::path::PathBuf;

use docclass_types::topology::env;
use service_kit::AwsArgs;

pub use live::{EmbeddedQueues, HandledCounts};
pub use server::{bind, serve};
pub use sources::Sources;

/// Arguments of `docclass dashboard`.
#[derive(Debug, clap::Args)]
pub struct DashboardArgs {
    /// The SQLite file an embedded run wrote (`docclass run --db`).
    #[arg(long, default_value = docclass_types::topology::DEFAULT_DB)]
    db: PathBuf,
    /// Where to serve the page; loopback unless told otherwise.
    #[arg(long, default_value = "127.0.0.1:9200")]
    addr: SocketAddr,
    /// Seconds between the page's refreshes.
    #[arg(long, default_value_t = 3)]
    refresh_secs: u32,
    /// The DynamoDB result table (as `docclass infra up` exports it): serve the running stack, on AWS
    /// or the compose stack's emulator, instead of --db.
    #[arg(long, env = env::TABLE)]
    table: Option<String>,
    /// Seconds between reads of the DynamoDB table (each one a scan of it) and looks at the
    /// dead-letter queues; the page refreshes the queues in between.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3600))]
    table_every_secs: u32,
    /// The ECS cluster whose services `<stack>-<service>` are the pools.
    #[cfg(feature = "deploy")]
    #[arg(long, conflicts_with = "compose")]
    cluster: Option<String>,
    /// The compose project whose containers are the pools (through the Docker Engine API).
    #[cfg(feature = "deploy")]
    #[arg(long)]
    compose: Option<String>,
    /// The stack's name: the prefix of its ECS services.
    #[arg(long, env = env::STACK, default_value = docclass_types::topology::DEFAULT_STACK)]
    stack: String,
    /// A service's metrics endpoint to show, as SERVICE=URL (e.g.
    /// topic-classifier=http://127.0.0.1:9102/metrics); repeat for each.
    #[arg(long = "metrics", value_name = "SERVICE=URL", value_parser = metrics_target)]
    metrics: Vec<(String, String)>,
    /// A name this dashboard may be reached by besides its address and `localhost` (behind a proxy or
    /// a DNS name of your own); repeat for each. Requests for any other host are refused.
    #[arg(long)]
    allow_host: Vec<String>,
    /// The model store the pools serve from (a folder or s3://bucket/prefix): shows the live model, the
    /// candidate, what the pools judged of it and the history of promotions and rollbacks.
    #[arg(long, env = env::MODEL_STORE)]
    model_store: Option<model_store::StoreUri>,
    #[command(flatten)]
    queues: super::dlq::QueueUrls,
    #[command(flatten)]
    aws: AwsArgs,
}

fn metrics_target(text: &str) -> Result<(String, String), String> {
    let (service, url) =
        text.split_once('=').ok_or("give SERVICE=URL, e.g. topic-classifier=http://127.0.0.1:9102/metrics")?;
    let parsed = reqwest::Url::parse(url).map_err(|error| format!("{url}: {error}"))?;
    if parsed.scheme() != "http" && parsed.scheme() != "https" {
        return Err(format!("{url}: not an http(s) URL"));
    }
    Ok((service.to_owned(), url.to_owned()))
}

pub fn run(args: DashboardArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let sources = Sources::of(&args).await?;
        let listener = bind(args.addr).await?;
        let what =
            args.table.as_deref().map_or_else(|| args.db.display().to_string(), |table| format!("table {table}"));
        eprintln!("dashboard of {what} on http://{}/ (Ctrl-C to stop)", listener.local_addr()?);
        serve(listener, sources, args.allow_host.clone(), service_kit::shutdown_on_signal()).await;
        Ok(())
    })
}
