//! `docclass eval`.

use std::path::PathBuf;

use serde::Serialize;
use text_model::metrics::{ClassMetrics, ClassReport, score};

use crate::Global;

/// Arguments of `docclass eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// The model to judge [default: the cached default model, trained on first use].
    #[arg(long)]
    model: Option<PathBuf>,
    /// Labelled JSON Lines files [default: the corpus's 20ng/dev.jsonl.gz].
    #[arg(long, num_args = 1..)]
    data: Vec<PathBuf>,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Evaluation {
    documents: u64,
    model_version: String,
    topic_accuracy: f64,
    topic_f1_macro: f64,
    subtopic_accuracy: f64,
    subtopic_macro_f1: f64,
    topics: Vec<ClassReport>,
    subtopics: Vec<ClassReport>,
}

pub fn run(global: &Global, args: EvalArgs) -> anyhow::Result<()> {
    let model = super::model_or_default(global, args.model.as_deref())?;
    let files = super::default_dev_files(args.data, global)?;
    let examples = super::read_examples(&files)?;
    let predictions: Vec<_> = examples.iter().map(|e| model.predict(&e.title, &e.text)).collect();
    let topic: ClassMetrics =
        score(examples.iter().zip(&predictions).map(|(e, p)| (e.topic.as_str(), p.topic.label.as_str())));
    let subtopic: ClassMetrics =
        score(examples.iter().zip(&predictions).map(|(e, p)| (e.subtopic.as_str(), p.subtopic.label.as_str())));
    let evaluation = Evaluation {
        documents: topic.documents,
        model_version: model.version().to_owned(),
        topic_accuracy: topic.accuracy,
        topic_f1_macro: topic.macro_f1,
        subtopic_accuracy: subtopic.accuracy,
        subtopic_macro_f1: subtopic.macro_f1,
        topics: topic.per_class,
        subtopics: subtopic.per_class,
    };
    if args.json {
        println!("{}", serde_json::to_string(&evaluation)?);
        return Ok(());
    }
    println!("Model {} on {} documents", evaluation.model_version, evaluation.documents);
    println!(
        "  topic accuracy     {:.4}   topic macro-F1     {:.4}",
        evaluation.topic_accuracy, evaluation.topic_f1_macro
    );
    println!(
        "  subtopic accuracy  {:.4}   subtopic macro-F1  {:.4}",
        evaluation.subtopic_accuracy, evaluation.subtopic_macro_f1
    );
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
