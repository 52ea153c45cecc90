//! `subtopic-classifier`: reads envelopes on stdin, adds each document's subtopic, writes them to stdout.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use service_kit::{ServiceArgs, StdoutSink, load_model, serve_stdio};
use subtopic_classifier::ClassifySubtopic;
use worker_runtime::ToQueue;

/// Adds the subtopic, within its topic, to each document (envelopes as JSON lines, stdin → stdout).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Model file [default: the model `docclass run` caches].
    #[arg(long, env = "DOCCLASS_MODEL")]
    model: Option<PathBuf>,
    /// Where the default model is cached.
    #[arg(long, env = "DOCCLASS_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Below this confidence, answer `unknown` instead of a guess (see `docclass eval --min-score`).
    #[arg(long, env = "DOCCLASS_MIN_SCORE", default_value_t = 0.0)]
    min_score: f32,
    #[command(flatten)]
    service: ServiceArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let model = Arc::new(load_model(args.model.as_deref(), args.cache_dir.as_deref())?);
    serve_stdio(
        "subtopic-classifier",
        ClassifySubtopic::new(model).with_min_score(args.min_score),
        ToQueue(StdoutSink::default()),
        &args.service,
    )
    .await?;
    Ok(())
}
