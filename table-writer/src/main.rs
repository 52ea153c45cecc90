//! `table-writer`: reads classified envelopes on stdin and stores one row per document.

use std::path::PathBuf;

use adapters_embedded::SqliteTable;
use clap::Parser;
use service_kit::{ServiceArgs, serve_stdio};
use table_writer::WriteResult;
use worker_runtime::ToTable;

/// Stores each classified document (envelopes as JSON lines on stdin) as one row of a SQLite table.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The SQLite file holding the `results` table.
    #[arg(long, env = "DOCCLASS_DB", default_value = "docclass-results.sqlite")]
    db: PathBuf,
    #[command(flatten)]
    service: ServiceArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let table = SqliteTable::open(&args.db)?;
    serve_stdio("table-writer", WriteResult, ToTable(table), &args.service).await?;
    Ok(())
}
