//! `docclass eval`.

use std::path::PathBuf;

use serde::Serialize;
use text_model::metrics::{ClassMetrics, ClassReport, Selective, expected_calibration_error, score, selective};

use crate::Global;

/// Arguments of `docclass eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// The model to judge [default: the cached default model, trained on first use].
    #[arg(long)]
    model: Option<PathBuf>,
    /// Labelled JSON Lines files [default: the `--corpus`'s dev split, e.g. 20ng/dev.jsonl.gz].
    #[arg(long, num_args = 1..)]
    data: Vec<PathBuf>,
    /// Also report coverage and accuracy when predictions whose confidence (topic score × subtopic
    /// score) is below this are routed to `unknown`, as `run --min-score` does.
    #[arg(long, default_value_t = 0.0, value_parser = service_kit::parse_score)]
    min_score: f32,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    json: bool,
}

/// Bins of the calibration error: the usual choice in the literature (Guo et al., 2017).
const CALIBRATION_BINS: usize = 15;

#[derive(Serialize)]
struct Evaluation {
    documents: u64,
    model_version: String,
    topic_accuracy: f64,
    topic_f1_macro: f64,
    subtopic_accuracy: f64,
    subtopic_macro_f1: f64,
    /// Share of documents whose own subtopic is among the model's top three categories.
    subtopic_top3_accuracy: f64,
    /// Share of documents whose predicted subtopic is one they are listed in (an arXiv paper's primary
    /// category or a cross-list); the primary alone where a document lists none.
    subtopic_listed_accuracy: f64,
    /// Of the end-to-end confidence (topic score × subtopic score) against the subtopic being right.
    expected_calibration_error: f64,
    /// Of the topic score against the topic being right.
    topic_expected_calibration_error: f64,
    /// Documents per second of the prediction pass (one thread for the linear model; libtorch's own
    /// threads for the transformer): `docclass bench` measures the linear model properly.
    predict_docs_per_second: f64,
    /// Coverage and accuracy under `--min-score`.
    selective: Selective,
    topics: Vec<ClassReport>,
    subtopics: Vec<ClassReport>,
}

pub fn run(global: &Global, args: EvalArgs) -> anyhow::Result<()> {
    let model = super::model_or_default(global, args.model.as_deref())?;
    let files = super::default_dev_files(args.data, global)?;
    let examples = super::read_examples(&files)?;
    let documents: Vec<(&str, &str)> = examples.iter().map(|e| (e.title.as_str(), e.text.as_str())).collect();
    let started = std::time::Instant::now();
    let predictions = model.predict_batch(&documents);
    let predict_seconds = started.elapsed().as_secs_f64();
    let topic: ClassMetrics =
        score(examples.iter().zip(&predictions).map(|(e, p)| (e.topic.as_str(), p.topic.label.as_str())));
    let subtopic: ClassMetrics =
        score(examples.iter().zip(&predictions).map(|(e, p)| (e.subtopic.as_str(), p.subtopic.label.as_str())));
    let end_to_end: Vec<(f32, bool)> = examples
        .iter()
        .zip(&predictions)
        .map(|(e, p)| (p.topic.score * p.subtopic.score, p.subtopic.label == e.subtopic))
        .collect();
    let top3 = examples.iter().zip(&predictions).filter(|(e, p)| p.top.iter().any(|c| c.label == e.subtopic)).count();
    let listed = examples
        .iter()
        .zip(&predictions)
        .filter(|(e, p)| {
            let label = &p.subtopic.label;
            *label == e.subtopic || e.categories.iter().any(|c| c == label)
        })
        .count();
    let share = |count: usize| count as f64 / examples.len() as f64;
    let topic_confidence = examples.iter().zip(&predictions).map(|(e, p)| (p.topic.score, p.topic.label == e.topic));
    let evaluation = Evaluation {
        expected_calibration_error: expected_calibration_error(end_to_end.iter().copied(), CALIBRATION_BINS),
        topic_expected_calibration_error: expected_calibration_error(topic_confidence, CALIBRATION_BINS),
        selective: selective(end_to_end.iter().copied(), args.min_score),
        documents: topic.documents,
        predict_docs_per_second: topic.documents as f64 / predict_seconds.max(1e-9),
        model_version: model.version().to_owned(),
        topic_accuracy: topic.accuracy,
        topic_f1_macro: topic.macro_f1,
        subtopic_accuracy: subtopic.accuracy,
        subtopic_macro_f1: subtopic.macro_f1,
        subtopic_top3_accuracy: share(top3),
        subtopic_listed_accuracy: share(listed),
        topics: topic.per_class,
        subtopics: subtopic.per_class,
    };
    if args.json {
        println!("{}", serde_json::to_string(&evaluation)?);
        return Ok(());
    }
    println!(
        "Model {} on {} documents ({:.0} docs/s)",
        evaluation.model_version, evaluation.documents, evaluation.predict_docs_per_second
    );
    println!(
        "  topic accuracy     {:.4}   topic macro-F1     {:.4}",
        evaluation.topic_accuracy, evaluation.topic_f1_macro
    );
    println!(
        "  subtopic accuracy  {:.4}   subtopic macro-F1  {:.4}",
        evaluation.subtopic_accuracy, evaluation.subtopic_macro_f1
    );
    println!(
        "  subtopic top-3     {:.4}   listed accuracy    {:.4} (the guess is one of the document's categories)",
        evaluation.subtopic_top3_accuracy, evaluation.subtopic_listed_accuracy
    );
    println!(
        "  calibration error  {:.4} (topic {:.4}; 0 = a score of 0.8 is right 80 % of the time)",
        evaluation.expected_calibration_error, evaluation.topic_expected_calibration_error
    );
    if args.min_score > 0.0 {
        let kept = &evaluation.selective;
        println!(
            "  at --min-score {}: {:.1} % of documents classified, {:.4} of them right; the rest go to `unknown`",
            kept.min_score,
            kept.coverage * 100.0,
            kept.accuracy
        );
    }
    for (title, classes) in [("topic", &evaluation.topics), ("subtopic", &evaluation.subtopics)] {
        println!();
        println!("  {title:<26} precision  recall     F1  support");
        for class in classes {
            println!(
                "  {:<26} {:>9.3} {:>7.3} {:>6.3} {:>8}",
                class.label, class.precision, class.recall, class.f1, class.support
            );
        }
    }
    Ok(())
}
