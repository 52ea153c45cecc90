//! `feed-ingest`: reads documents and enqueues them — on the SQS ingest queue when given its URL (the
//! `export` lines of `docclass infra up`), else as envelopes, one JSON object per line, on stdout.
//!
//! Files (`--input`) are read once. Feeds (`--feed URL`, or a feed list with `--config`) are polled until
//! the process is stopped, each document enqueued once (the de-duplication store: `--seen-db` or
//! `--seen-table`); `--once` polls each feed once and exits, `--dry-run` prints what would be enqueued.
//! The flags are `feed_ingest::Args`; what they do is `feed_ingest::run`.

use clap::Parser;
use feed_ingest::{Args, METRICS_PORT};

// One worker thread for the async side (SQS and DynamoDB calls, timers): against the default (a thread per
// core), 15 % more documents a second and 20 % less CPU (scripts/bench-aws.sh). Not the current-thread
// runtime the other services run: `--input` reads its documents through a blocking iterator on the main
// thread (`enqueue::until_stopped`), and the signal task that ends it must run on another
// (feed-ingest/tests/it/stops.rs hangs without it).
#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    args.common.exit_if_healthcheck(METRICS_PORT);
    args.common.init_logging();
    service_kit::exit_code("feed-ingest", feed_ingest::run(&args, service_kit::shutdown_on_signal()).await)
}
