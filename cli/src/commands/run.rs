//! `docclass run`: the whole pipeline in this process.

use std::path::{Path, PathBuf};

use adapters_embedded::SqliteTable;
use anyhow::Context;
use docclass::pipeline::{Handlers, Pipeline, PipelineOptions, PipelineReport};
use docclass_types::Document;
use feeds::ReadError;
use indicatif::{ProgressBar, ProgressStyle};
use subtopic_classifier::ClassifySubtopic;
use table_writer::PassToTable;
use tokio_util::sync::CancellationToken;
use topic_classifier::ClassifyTopic;

use crate::Global;

/// Arguments of `docclass run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// JSON Lines files (gzipped or not), folders of text files, or - for stdin [default: the corpus's
    /// 20ng/dev.jsonl.gz].
    #[arg(long, num_args = 1..)]
    input: Vec<PathBuf>,
    /// The model [default: the cached default model, trained on first use].
    #[arg(long)]
    model: Option<PathBuf>,
    /// The SQLite file that receives one row per document (and the dead letters).
    #[arg(long, default_value = docclass_types::topology::DEFAULT_DB)]
    db: PathBuf,
    /// Route documents whose confidence (topic score × subtopic score) is below this to the `unknown`
    /// label for review instead of filing them under a guess; `docclass eval --min-score` shows the
    /// trade-off.
    #[arg(long, default_value_t = 0.0, value_parser = service_kit::parse_score)]
    min_score: f32,
    /// Concurrent workers per stage (1 to 256).
    #[arg(long, default_value_t = 2, value_parser = service_kit::parse_workers)]
    workers: usize,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: service_kit::ModelStoreArgs,
    /// Serve the live dashboard of the run while it goes (`docclass dashboard`), on this address.
    #[arg(long, num_args = 0..=1, default_missing_value = "127.0.0.1:9200", value_name = "ADDR")]
    dashboard: Option<std::net::SocketAddr>,
}

pub fn run(global: &Global, args: RunArgs) -> anyhow::Result<()> {
    let inputs = super::default_dev_files(args.input, global)?;
    let documents = read_all(&inputs)?;
    let table = SqliteTable::open(&args.db).with_context(|| format!("opening {}", args.db.display()))?;
    let mut options = PipelineOptions::default();
    let workers = args.workers.max(1);
    options.worker.workers = workers;

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let report = runtime.block_on(async {
        let shutdown = CancellationToken::new();
        worker_runtime::cancel_on_shutdown_signal(shutdown.clone());
        let watching = CancellationToken::new();
        let watchers = tokio_util::task::TaskTracker::new();
        let fallback = || super::model_or_default(global, args.model.as_deref());
        let model = service_kit::serve_model(
            "docclass-run",
            fallback,
            &args.store,
            &Default::default(),
            &watchers,
            None,
            watching.clone(),
        )
        .await?;
        let stages = Handlers {
            topic: ClassifyTopic::new(model.clone()).with_min_score(args.min_score),
            subtopic: ClassifySubtopic::new(model.clone()).with_min_score(args.min_score),
            write: PassToTable,
        };
        let pipeline = Pipeline::new(stages, table, options);
        let dashboard_done = CancellationToken::new();
        let stage_counts = std::sync::Arc::new(super::dashboard::HandledCounts::default());
        if let Some(addr) = args.dashboard {
            let listener = super::dashboard::bind(addr).await?;
            eprintln!("dashboard of this run on http://{}/", listener.local_addr()?);
            let queues = pipeline.queues();
            let live = super::dashboard::EmbeddedQueues {
                queues: [queues.ingest.clone(), queues.subtopic.clone(), queues.results.clone()],
                dead_letters: queues.dead_letters.clone(),
            };
            let sources = super::dashboard::Sources::embedded(args.db.clone(), live, workers, stage_counts.clone())
                .with_model_store(args.store.model_store.as_ref(), &Default::default())
                .await;
            tokio::spawn(super::dashboard::serve(listener, sources, Vec::new(), dashboard_done.clone()));
        }
        let bar = ProgressBar::new_spinner();
        bar.set_style(ProgressStyle::with_template("{spinner} [{elapsed}] {msg}").expect("static template is valid"));
        let report = pipeline
            .run(documents, shutdown, |progress| {
                stage_counts.set(progress.handled);
                bar.set_message(format!(
                    "{} in, {} written, {} dead-lettered",
                    progress.ingested, progress.written, progress.dead_lettered
                ));
                bar.tick();
            })
            .await?;
        bar.finish_and_clear();
        dashboard_done.cancel();
        // The watcher's last write of what it judged, bounded: a store that does not answer does not hold
        // the run up.
        watching.cancel();
        watchers.close();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(3), watchers.wait()).await;
        anyhow::Ok((report, model.version()))
    })?;
    let (report, version) = report;
    print_report(&report, &args.db, &version, args.json)?;
    // What could be read was classified; what could not is an error the exit status carries.
    anyhow::ensure!(
        report.unreadable + report.refused_at_ingest == 0,
        "{} input records were unreadable and {} documents too large to enqueue; the log names each",
        report.unreadable,
        report.refused_at_ingest
    );
    Ok(())
}

/// Chains the documents of every input.
fn read_all(inputs: &[PathBuf]) -> anyhow::Result<impl Iterator<Item = Result<Document, ReadError>> + Send + 'static> {
    let mut sources = Vec::new();
    for input in inputs {
        sources.push(feeds::read_documents(input)?);
    }
    Ok(sources.into_iter().flatten())
}

fn print_report(report: &PipelineReport, db: &Path, model: &str, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(report)?);
        return Ok(());
    }
    if report.interrupted {
        println!(
            "Interrupted: stopped after finishing the documents in hand; run again to complete (rows are idempotent)."
        );
    }
    println!(
        "{} documents in, {} results written, {} dead-lettered in {:.1} s ({:.0} docs/s) with model {model}.",
        report.documents_in, report.results_written, report.dead_lettered, report.seconds, report.docs_per_second
    );
    if report.unreadable + report.refused_at_ingest > 0 {
        println!(
            "Not enqueued: {} unreadable records, {} documents too large for a queue message.",
            report.unreadable, report.refused_at_ingest
        );
    }
    for (reason, count) in &report.dead_letter_reasons {
        println!("  dead letters, {reason}: {count}");
    }
    if let (Some(topic), Some(subtopic), Some(listed)) =
        (report.topic_accuracy, report.subtopic_accuracy, report.subtopic_listed_accuracy)
    {
        println!(
            "Against the input's labels: topic accuracy {topic:.4}, subtopic accuracy {subtopic:.4}, \
             subtopic among the listed categories {listed:.4}."
        );
    }
    println!("Per topic:");
    let mut per_topic: Vec<_> = report.per_topic.iter().collect();
    per_topic.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (topic, count) in per_topic {
        println!("  {topic:<12} {count:>7}");
    }
    println!("Results are in {} (tables `results` and `dead_letters`).", db.display());
    Ok(())
}
