//! What the subcommands share: reading labelled examples, the corpus files and models they default
//! to, training with a corpus's recipe, and a spinner.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use docclass::data::{Corpus, corpus_model_path, find_corpus_dir};
use indicatif::{ProgressBar, ProgressStyle};
use text_model::{Classifier, Example, Model, TrainConfig};

use crate::Global;

/// Reads labelled examples from JSON Lines files; records without both labels are an error, since
/// they cannot train or be judged.
pub(super) fn read_examples(paths: &[PathBuf]) -> anyhow::Result<Vec<Example>> {
    let mut examples = Vec::new();
    for path in paths {
        let documents = ::feeds::read_documents(path).with_context(|| format!("reading {}", path.display()))?;
        let (mut read, mut unreadable) = (0_usize, 0_usize);
        for document in documents {
            read += 1;
            let document = match document {
                Ok(document) => document,
                // A record that cannot be read (a line too long, not JSON) is passed over with one line,
                // so that one hostile record does not refuse a file of good ones; a file that is mostly
                // unreadable is still an error below.
                Err(error) => {
                    unreadable += 1;
                    if unreadable <= 5 {
                        tracing::warn!("{}: {error}; record left out of training", path.display());
                    }
                    continue;
                }
            };
            let labels = document.labels.unwrap_or_default();
            let (Some(topic), Some(subtopic)) = (labels.topic, labels.subtopic) else {
                anyhow::bail!("document {} in {} has no topic and subtopic labels", document.id, path.display());
            };
            examples.push(Example {
                id: document.id,
                title: document.title,
                text: document.text,
                topic,
                subtopic,
                categories: labels.categories,
                published_days: document.published.map(|time| chrono::Datelike::num_days_from_ce(&time.date_naive())),
            });
        }
        if unreadable > 0 {
            tracing::warn!("{}: {unreadable} of {read} records could not be read and were left out", path.display());
        }
        anyhow::ensure!(
            unreadable * 100 <= read.max(1) || unreadable <= 10,
            "{}: {unreadable} of {read} records could not be read: is it a labelled JSON Lines file?",
            path.display()
        );
    }
    anyhow::ensure!(!examples.is_empty(), "no documents in {paths:?}");
    Ok(examples)
}

impl Global {
    /// The corpus named by `--corpus`, else 20 Newsgroups.
    pub(super) fn corpus_or_default(&self) -> Corpus {
        self.corpus.unwrap_or(Corpus::Newsgroups)
    }

    /// The corpus whose recipe trains on `examples`: `--corpus` if given, else the one their ids say.
    pub(super) fn corpus_of(&self, examples: &[Example]) -> Corpus {
        self.corpus.unwrap_or_else(|| Corpus::of_ids(examples.iter().map(|e| e.id.as_str())))
    }
}

/// The given files, or the corpus file `name` from the data folder.
pub(super) fn files_or_default(
    files: Vec<PathBuf>,
    global: &Global,
    name: fn(Corpus) -> &'static str,
) -> anyhow::Result<Vec<PathBuf>> {
    if !files.is_empty() {
        return Ok(files);
    }
    let corpus = global.corpus_or_default();
    Ok(vec![find_corpus_dir(global.data_dir.as_deref(), corpus)?.join(name(corpus))])
}

pub(super) fn default_train_files(files: Vec<PathBuf>, global: &Global) -> anyhow::Result<Vec<PathBuf>> {
    files_or_default(files, global, Corpus::train_file)
}

pub(super) fn default_dev_files(files: Vec<PathBuf>, global: &Global) -> anyhow::Result<Vec<PathBuf>> {
    files_or_default(files, global, Corpus::dev_file)
}

/// Leaves out the examples of categories the corpus has retired (see
/// [`Corpus::retired_subtopics`]) and says so on stderr.
pub(super) fn without_retired(mut examples: Vec<Example>, corpus: Corpus) -> Vec<Example> {
    let retired = corpus.retired_subtopics();
    let before = examples.len();
    examples.retain(|e| !retired.contains(&e.subtopic.as_str()));
    if examples.len() < before {
        eprintln!(
            "Left out {} documents of retired categories ({}): no new document can be filed there.",
            before - examples.len(),
            retired.join(", ")
        );
    }
    examples
}

/// Trains with the corpus's recipe, with a spinner on stderr.
pub(super) fn train_with_recipe(
    examples: &[Example],
    config: &TrainConfig,
) -> anyhow::Result<(Model, text_model::TrainReport)> {
    let spinner = spinner();
    let trained = text_model::train(examples, config, &mut |step| spinner.set_message(step.to_owned()));
    spinner.finish_and_clear();
    Ok(trained?)
}

/// The model at `path`, or the corpus's cached default model, trained on the corpus the first time it
/// is needed.
pub(super) fn model_or_default(global: &Global, path: Option<&Path>) -> anyhow::Result<Arc<dyn Classifier>> {
    if let Some(path) = path {
        return service_kit::load_model(Some(path), None);
    }
    let corpus = global.corpus_or_default();
    let path = corpus_model_path(global.cache_dir.as_deref(), corpus);
    match Model::load(&path) {
        Ok(model) => return Ok(Arc::new(model)),
        Err(text_model::ModelFileError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => tracing::warn!(%error, "cached default model unusable; training it again"),
    }
    let files = default_train_files(Vec::new(), global)?;
    eprintln!(
        "No model given: training the default {} model once on {} (cached at {}).",
        corpus.name(),
        files[0].display(),
        path.display()
    );
    let examples = without_retired(read_examples(&files)?, corpus);
    let (mut model, report) = train_with_recipe(&examples, &corpus.train_config())?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    model.save(&path)?;
    eprintln!("Trained the default model on {} documents in {:.1} s.", report.documents, report.seconds);
    Ok(Arc::new(model))
}

/// A spinner on stderr; invisible when stderr is not a terminal.
fn spinner() -> ProgressBar {
    let spinner = ProgressBar::new_spinner();
    spinner.set_style(ProgressStyle::with_template("{spinner} [{elapsed}] {msg}").expect("static template is valid"));
    spinner.enable_steady_tick(Duration::from_millis(120));
    spinner
}
