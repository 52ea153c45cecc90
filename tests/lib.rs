//! Helpers shared by the workspace-level tests: the corpus, a model trained on it, the adapter contract
//! suites, the AWS emulator, a real browser, the binaries as processes and a throttling proxy in front of the emulator.

pub mod binaries;
pub mod browser;
pub mod chaos_proxy;
pub mod contract;
pub mod emulator;
pub mod poison;
pub mod processes;
pub mod scale;
pub mod throttling_proxy;

use std::path::PathBuf;

use docclass_types::Document;
use text_model::{Example, Model, TrainConfig};

/// The labelled corpus folder (`DOCCLASS_DATA_DIR`, or a `shared/data` above the checkout).
///
/// # Panics
/// When the corpus cannot be found: these tests need it.
pub fn data_dir() -> PathBuf {
    docclass::data::find_data_dir(std::env::var_os("DOCCLASS_DATA_DIR").map(PathBuf::from).as_deref())
        .expect("the labelled corpus (see README, 'Getting the data')")
}

/// Up to `limit` documents of a corpus file.
///
/// # Panics
/// When the file cannot be read.
pub fn read(path: PathBuf, limit: usize) -> Vec<Document> {
    feeds::read_documents(&path).unwrap().take(limit).map(Result::unwrap).collect()
}

/// A model trained on the whole train split (no hold-out, for speed).
///
/// # Panics
/// When the corpus is unlabelled.
pub fn train_model() -> Model {
    let examples: Vec<Example> = read(data_dir().join(docclass::data::TRAIN_FILE), usize::MAX)
        .into_iter()
        .map(|d| {
            let labels = d.labels.unwrap();
            Example {
                id: d.id,
                title: d.title,
                text: d.text,
                topic: labels.topic.unwrap(),
                subtopic: labels.subtopic.unwrap(),
                categories: labels.categories,
                published_days: None,
            }
        })
        .collect();
    let config = TrainConfig { holdout_fraction: 0.0, ..TrainConfig::default() };
    text_model::train(&examples, &config, &mut |_| {}).unwrap().0
}
