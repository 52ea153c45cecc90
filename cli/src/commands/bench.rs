//! `docclass bench`: throughput figures, printed rather than asserted.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use adapters_embedded::SqliteTable;
use docclass::pipeline::{Handlers, Pipeline, PipelineOptions};
use subtopic_classifier::ClassifySubtopic;
use table_writer::PassToTable;
use text_model::{Example, Model};
use tokio_util::sync::CancellationToken;
use topic_classifier::ClassifyTopic;

use crate::Global;

/// Arguments of `docclass bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// The model [default: the cached default model, trained on first use].
    #[arg(long)]
    model: Option<PathBuf>,
    /// Also measure each classifier stage with this model in the shadow (a candidate judged on every
    /// labelled document).
    #[arg(long)]
    shadow: Option<PathBuf>,
    /// Labelled JSON Lines to classify [default: the corpus's 20ng/dev.jsonl.gz].
    #[arg(long, num_args = 1..)]
    data: Vec<PathBuf>,
    /// Timed repetitions of each measurement; the median is reported.
    #[arg(long, default_value_t = 5)]
    repeat: usize,
    /// Workers per stage in the end-to-end run (1 to 256).
    #[arg(long, default_value_t = 2, value_parser = service_kit::parse_workers)]
    workers: usize,
}

pub fn run(global: &Global, args: BenchArgs) -> anyhow::Result<()> {
    let repeat = args.repeat.max(1);
    let files = super::default_dev_files(args.data.clone(), global)?;
    let examples = super::read_examples(&files)?;
    let bytes: usize = examples.iter().map(|e| e.title.len() + e.text.len()).sum();
    let mut lengths: Vec<usize> = examples.iter().map(|e| e.title.len() + e.text.len()).collect();
    lengths.sort_unstable();
    println!(
        "docclass bench: {} documents ({:.1} MB, median {} bytes) from {}",
        examples.len(),
        bytes as f64 / 1e6,
        lengths[lengths.len() / 2],
        files[0].display()
    );

    // Training: the corpus's recipe on its train split, as `docclass train` runs it.
    let dir = tempfile::tempdir()?;
    let model_path = match &args.model {
        Some(path) => path.clone(),
        None => {
            let corpus = global.corpus_or_default();
            let train_examples =
                super::without_retired(super::read_examples(&super::default_train_files(Vec::new(), global)?)?, corpus);
            let config = corpus.train_config();
            let runs: Vec<(Model, f64)> = (0..repeat.min(3))
                .map(|_| timed(|| text_model::train(&train_examples, &config, &mut |_| {}).map(|(model, _)| model)))
                .map(|(model, seconds)| model.map(|model| (model, seconds)))
                .collect::<Result<_, _>>()?;
            println!(
                "  train ({} documents, {} threads)     {:>8.2} s",
                train_examples.len(),
                config.threads,
                median(runs.iter().map(|(_, seconds)| *seconds))
            );
            let path = dir.path().join("bench.model");
            let (mut model, _) = runs.into_iter().next().expect("at least one training run");
            model.save(&path)?;
            path
        }
    };
    let file_bytes = std::fs::metadata(&model_path)?.len();
    let load = median((0..repeat).map(|_| timed(|| Model::load(&model_path).map(drop)).1));
    let model = Arc::new(Model::load(&model_path)?);
    println!("  model file                        {:>10.1} MB", file_bytes as f64 / 1e6);
    println!("  model load                        {:>10.1} ms", load * 1e3);
    println!("  model memory (heap, loaded)       {:>10.1} MB", model.heap_bytes() as f64 / 1e6);

    let classify = |examples: &[Example]| {
        for e in examples {
            std::hint::black_box(model.predict(&e.title, &e.text));
        }
    };
    classify(&examples);
    let seconds = median((0..repeat).map(|_| timed(|| classify(&examples)).1));
    println!(
        "  classify, both levels, one core   {:>10.0} docs/s  ({:.1} µs/doc)",
        examples.len() as f64 / seconds,
        seconds / examples.len() as f64 * 1e6
    );
    let topic_only = median((0..repeat).map(|_| {
        timed(|| examples.iter().for_each(|e| drop(std::hint::black_box(model.classify_topic(&e.title, &e.text))))).1
    }));
    println!("  classify, topic only, one core    {:>10.0} docs/s", examples.len() as f64 / topic_only);

    // Each classifier stage's handler on one core, alone and with a shadow candidate judged beside it.
    let documents: Vec<docclass_types::Document> = files
        .iter()
        .map(|f| feeds::read_documents(f))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .collect::<Result<_, _>>()?;
    let shadow = args.shadow.as_deref().map(Model::load).transpose()?.map(Arc::new);
    let plain = stage_rates(model.clone(), None, &documents, repeat);
    let with_shadow = shadow.map(|shadow| stage_rates(model.clone(), Some(shadow), &documents, repeat));
    for (stage, index) in [("topic", 0), ("subtopic", 1)] {
        let shadowed =
            with_shadow.map_or(String::new(), |rates| format!(", with a shadow candidate {:.0} docs/s", rates[index]));
        println!("  {stage} stage handler, one core  {:>10.0} docs/s{shadowed}", plain[index]);
    }

    // What feed-ingest does with every poll's answer: the documents as one RSS listing, parsed to entries.
    let listing = rss_listing(&examples);
    let parse = || feeds::parse_feed(listing.as_bytes(), "https://bench.invalid/rss").map(|e| e.len());
    anyhow::ensure!(parse()? == examples.len(), "the bench listing did not parse to one entry per document");
    let parse_seconds = median((0..repeat).map(|_| timed(parse).1));
    println!(
        "  feed parsing (RSS), one core      {:>10.0} entries/s ({:.0} MB/s)",
        examples.len() as f64 / parse_seconds,
        listing.len() as f64 / parse_seconds / 1e6
    );

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mut end_to_end = Vec::new();
    for _ in 0..repeat.min(3) {
        let dir = tempfile::tempdir()?;
        let table = SqliteTable::open(&dir.path().join("bench.sqlite"))?;
        let mut options = PipelineOptions::default();
        options.worker.workers = args.workers.max(1);
        let documents =
            files.iter().map(|f| feeds::read_documents(f)).collect::<Result<Vec<_>, _>>()?.into_iter().flatten();
        let served = text_model::ServedModel::new(model.clone());
        let stages = Handlers {
            topic: ClassifyTopic::new(served.clone()),
            subtopic: ClassifySubtopic::new(served),
            write: PassToTable,
        };
        let report =
            runtime.block_on(Pipeline::new(stages, table, options).run(documents, CancellationToken::new(), |_| {}))?;
        anyhow::ensure!(
            report.results_written == report.documents_in - report.dead_lettered,
            "bench run lost documents"
        );
        end_to_end.push(report.docs_per_second);
    }
    println!(
        "  embedded end to end ({} workers/stage, {} cores) {:>6.0} docs/s",
        args.workers,
        std::thread::available_parallelism().map_or(1, usize::from),
        median(end_to_end.into_iter())
    );
    if let Some(peak) = peak_rss_bytes() {
        println!("  peak RSS of this process          {:>10.1} MB", peak as f64 / 1e6);
    }
    Ok(())
}

/// Documents a second through the topic and the subtopic stage's handlers (median of `repeat` runs, one
/// core), serving `model`, with `shadow` as the candidate judged beside it when given.
fn stage_rates(
    model: Arc<Model>,
    shadow: Option<Arc<Model>>,
    documents: &[docclass_types::Document],
    repeat: usize,
) -> [f64; 2] {
    use worker_runtime::Handler;
    let served = text_model::ServedModel::new(model);
    if let Some(shadow) = shadow {
        served.set_shadow(Some(text_model::Shadow { model: shadow, role: text_model::judge::ShadowRole::Candidate }));
    }
    let topic = ClassifyTopic::new(served.clone());
    let subtopic = ClassifySubtopic::new(served);
    let envelopes: Vec<docclass_types::Envelope> =
        documents.iter().map(|d| docclass_types::Envelope::new(d.clone())).collect();
    let topics: Vec<docclass_types::Envelope> =
        envelopes.iter().map(|e| topic.handle(e.clone()).expect("the topic stage answers")).collect();
    let rate = |handle: &dyn Fn(docclass_types::Envelope), input: &[docclass_types::Envelope]| {
        let seconds = median((0..repeat).map(|_| {
            let copies = input.to_vec();
            timed(|| copies.into_iter().for_each(handle)).1
        }));
        input.len() as f64 / seconds
    };
    [
        rate(&|e| drop(std::hint::black_box(topic.handle(e))), &envelopes),
        rate(&|e| drop(std::hint::black_box(subtopic.handle(e))), &topics),
    ]
}

/// The examples as an RSS 2.0 listing shaped like arXiv's: guid, title, description, category.
fn rss_listing(examples: &[Example]) -> String {
    // The five characters XML gives meaning to in text; control characters other than tab and newline
    // are not allowed in XML 1.0 at all, and some newsgroup posts hold them.
    fn escaped(text: &str) -> String {
        text.chars()
            .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
            .collect::<String>()
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    }
    let mut rss =
        String::from(r#"<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>bench</title>"#);
    for (index, example) in examples.iter().enumerate() {
        rss.push_str(&format!(
            "<item><guid isPermaLink=\"false\">bench-{index}</guid><title>{}</title><description>{}</description><category>{}</category></item>\n",
            escaped(&example.title),
            escaped(&example.text),
            escaped(&example.subtopic)
        ));
    }
    rss.push_str("</channel></rss>");
    rss
}

/// The process's peak resident set (`VmHWM` in `/proc/self/status`), where Linux reports it.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn timed<T>(work: impl FnOnce() -> T) -> (T, f64) {
    let start = Instant::now();
    let result = work();
    (result, start.elapsed().as_secs_f64())
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}
