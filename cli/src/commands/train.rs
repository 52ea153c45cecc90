//! `docclass train`.

use std::path::PathBuf;

use text_model::TrainConfig;

use crate::Global;

/// Arguments of `docclass train`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Labelled JSON Lines files (gzipped or not) [default: the corpus's 20ng/train.jsonl.gz].
    #[arg(long, num_args = 1..)]
    data: Vec<PathBuf>,
    /// Where to write the model.
    #[arg(long)]
    out: PathBuf,
    /// SVM inverse regularisation strength.
    #[arg(long, default_value_t = TrainConfig::default().c)]
    c: f64,
    /// Share of documents held out to report accuracy and calibrate scores (0 to train on all without
    /// either).
    #[arg(long, default_value_t = TrainConfig::default().holdout_fraction)]
    holdout_fraction: f64,
    /// Keep at most this many unigrams and bigrams.
    #[arg(long, default_value_t = TrainConfig::default().max_features)]
    max_features: usize,
    /// Keep n-grams found in at least this many documents.
    #[arg(long, default_value_t = TrainConfig::default().min_df)]
    min_df: u32,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(global: &Global, args: TrainArgs) -> anyhow::Result<()> {
    let files = super::default_train_files(args.data, global)?;
    let examples = super::read_examples(&files)?;
    let config = TrainConfig {
        c: args.c,
        holdout_fraction: args.holdout_fraction,
        max_features: args.max_features,
        min_df: args.min_df,
        ..TrainConfig::default()
    };
    let spinner = super::spinner();
    let (mut model, report) = text_model::train(&examples, &config, &mut |step| spinner.set_message(step.to_owned()))?;
    spinner.finish_and_clear();
    model.save(&args.out)?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    println!("Trained on {} documents in {:.1} s: {} features.", report.documents, report.seconds, report.features);
    if let (Some(topic), Some(subtopic)) = (&report.holdout_topic, &report.holdout_subtopic) {
        println!(
            "Held-out {} documents: topic accuracy {:.4}, subtopic accuracy {:.4}, subtopic macro-F1 {:.4}.",
            report.holdout_documents, topic.accuracy, subtopic.accuracy, subtopic.macro_f1
        );
    }
    println!("Model {} written to {}.", model.version(), args.out.display());
    Ok(())
}
