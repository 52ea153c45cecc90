//! Training the two-level model from labelled documents.

use std::collections::BTreeSet;
use std::time::Instant;

use serde::Serialize;

use crate::linear::SolverConfig;
use crate::metrics::{ClassMetrics, score};
use crate::model::fit_scale;
use crate::{LinearModel, Model, SparseVector, Vocabulary};

/// One labelled training document.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// Title (may be empty).
    pub title: String,
    /// Body.
    pub text: String,
    /// Top-level label.
    pub topic: String,
    /// Second-level label.
    pub subtopic: String,
}

/// Training settings.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    /// SVM inverse regularisation strength.
    pub c: f64,
    /// Keep n-grams found in at least this many documents.
    pub min_df: u32,
    /// Keep at most this many n-grams (the most frequent).
    pub max_features: usize,
    /// How many times a title n-gram counts.
    pub title_weight: u32,
    /// Share of documents held out to report accuracy and fit the score scales; 0 disables both.
    pub holdout_fraction: f64,
    /// Seed for the split and the solver.
    pub seed: u64,
    /// Threads used to train classes in parallel.
    pub threads: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            c: 1.0,
            min_df: 2,
            max_features: 200_000,
            title_weight: 5,
            holdout_fraction: 0.1,
            seed: 20,
            threads: std::thread::available_parallelism().map_or(2, usize::from),
        }
    }
}

/// What training did.
#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    /// Documents in the final model.
    pub documents: usize,
    /// Vocabulary size of the final model.
    pub features: usize,
    /// Held-out documents, when any.
    pub holdout_documents: usize,
    /// Topic metrics on the held-out part.
    pub holdout_topic: Option<ClassMetrics>,
    /// Subtopic metrics on the held-out part (end to end: a wrong topic makes a wrong subtopic).
    pub holdout_subtopic: Option<ClassMetrics>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// Why training could not start.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Nothing to learn from.
    #[error("no training documents")]
    Empty,
}

/// Trains on `examples`. With a hold-out fraction, first trains on the rest to measure accuracy and fit
/// the score scales on the held-out part, then retrains on everything with those scales.
/// `progress` hears about each step.
///
/// # Errors
/// [`TrainError::Empty`] without examples.
pub fn train(
    examples: &[Example],
    config: &TrainConfig,
    progress: &mut dyn FnMut(&str),
) -> Result<(Model, TrainReport), TrainError> {
    if examples.is_empty() {
        return Err(TrainError::Empty);
    }
    let started = Instant::now();
    let mut order: Vec<usize> = (0..examples.len()).collect();
    fastrand::Rng::with_seed(config.seed).shuffle(&mut order);
    let holdout_count = ((examples.len() as f64) * config.holdout_fraction.clamp(0.0, 0.5)) as usize;
    let (held_out, kept) = order.split_at(holdout_count);

    let mut report = TrainReport {
        documents: examples.len(),
        features: 0,
        holdout_documents: holdout_count,
        holdout_topic: None,
        holdout_subtopic: None,
        seconds: 0.0,
    };
    let (topic_scale, subtopic_scale) = if held_out.is_empty() {
        (1.0, 1.0)
    } else {
        progress(&format!("training on {} documents, holding out {}", kept.len(), held_out.len()));
        let trial: Vec<&Example> = kept.iter().map(|&i| &examples[i]).collect();
        let mut model = fit(&trial, config, 1.0, 1.0);
        let held_out: Vec<&Example> = held_out.iter().map(|&i| &examples[i]).collect();
        progress("fitting score scales on the held-out documents");
        let (mut topic_raw, mut subtopic_raw) = (Vec::new(), Vec::new());
        for example in &held_out {
            let Some(class) = model.subtopics.classes().iter().position(|s| *s == example.subtopic) else { continue };
            let scores = model.raw_scores(&example.title, &example.text);
            let range = model.range_of_class(class);
            subtopic_raw.push((scores[range.clone()].to_vec(), class - range.start));
            topic_raw.push((scores, class));
        }
        (model.topic_scale, model.subtopic_scale) = (fit_scale(&topic_raw), fit_scale(&subtopic_raw));
        let predictions: Vec<_> = held_out.iter().map(|e| model.predict(&e.title, &e.text)).collect();
        report.holdout_topic =
            Some(score(held_out.iter().zip(&predictions).map(|(e, p)| (e.topic.as_str(), p.topic.label.as_str()))));
        report.holdout_subtopic = Some(score(
            held_out.iter().zip(&predictions).map(|(e, p)| (e.subtopic.as_str(), p.subtopic.label.as_str())),
        ));
        (model.topic_scale, model.subtopic_scale)
    };

    progress(&format!("training the final model on all {} documents", examples.len()));
    let all: Vec<&Example> = examples.iter().collect();
    let model = fit(&all, config, topic_scale, subtopic_scale);
    report.features = model.feature_count();
    report.seconds = started.elapsed().as_secs_f64();
    Ok((model, report))
}

/// Fits the vocabulary and one one-vs-rest model per subtopic, classes grouped by topic.
fn fit(examples: &[&Example], config: &TrainConfig, topic_scale: f32, subtopic_scale: f32) -> Model {
    let vocabulary = Vocabulary::fit(
        examples.iter().map(|e| (e.title.as_str(), e.text.as_str())),
        config.min_df,
        config.max_features,
        config.title_weight,
    );
    let features = vectorize_all(&vocabulary, examples, config.threads);
    let solver = SolverConfig { c: config.c, tolerance: 0.1, max_passes: 100, seed: config.seed };

    // Classes ordered by (topic, subtopic), so each topic's subtopics are one contiguous range. A
    // subtopic filed under two topics keeps the first.
    let pairs: BTreeSet<(&str, &str)> = examples.iter().map(|e| (e.topic.as_str(), e.subtopic.as_str())).collect();
    let mut topics: Vec<String> = Vec::new();
    let mut topic_ranges: Vec<(u32, u32)> = Vec::new();
    let mut classes: Vec<String> = Vec::new();
    for (topic, subtopic) in pairs {
        if classes.iter().any(|c| c == subtopic) {
            continue;
        }
        if topics.last().map(String::as_str) != Some(topic) {
            topics.push(topic.to_owned());
            topic_ranges.push((classes.len() as u32, classes.len() as u32));
        }
        classes.push(subtopic.to_owned());
        // Just pushed: every topic has a range.
        topic_ranges.last_mut().expect("range pushed with its topic").1 += 1;
    }
    let labels: Vec<u32> = examples
        .iter()
        .map(|e| classes.iter().position(|c| *c == e.subtopic).expect("every subtopic is a class") as u32)
        .collect();
    let subtopics = LinearModel::train(classes, &features, &labels, vocabulary.len(), solver, config.threads);
    Model { vocabulary, topics, subtopics, topic_ranges, topic_scale, subtopic_scale, version: "unsaved".into() }
}

/// Vectorises every example, split across threads.
fn vectorize_all(vocabulary: &Vocabulary, examples: &[&Example], threads: usize) -> Vec<SparseVector> {
    let chunk = examples.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = examples
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|example| {
                            let mut vector = SparseVector::default();
                            vocabulary.vectorize(&example.title, &example.text, &mut vector);
                            vector
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().flat_map(|worker| worker.join().expect("vectorising thread panicked")).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(text: &str, topic: &str, subtopic: &str) -> Example {
        Example { title: String::new(), text: text.into(), topic: topic.into(), subtopic: subtopic.into() }
    }

    fn corpus() -> Vec<Example> {
        let mut examples = Vec::new();
        for i in 0..40 {
            examples.push(example(&format!("galaxy telescope orbit star {i}"), "sci", "sci.space"));
            examples.push(example(&format!("doctor patient disease medicine {i}"), "sci", "sci.med"));
            examples.push(example(&format!("hockey goal puck season {i}"), "rec", "rec.sport.hockey"));
        }
        examples
    }

    #[test]
    fn learns_both_levels_and_round_trips_through_a_file() {
        let config = TrainConfig { holdout_fraction: 0.2, ..TrainConfig::default() };
        let (mut model, report) = train(&corpus(), &config, &mut |_| {}).unwrap();
        assert_eq!(report.holdout_documents, 24);
        assert!(report.holdout_subtopic.as_ref().unwrap().accuracy > 0.99);
        let prediction = model.predict("", "the patient saw a doctor");
        assert_eq!((prediction.topic.label.as_str(), prediction.subtopic.label.as_str()), ("sci", "sci.med"));
        assert!(prediction.topic.score > 0.5 && prediction.topic.score <= 1.0);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.bin");
        model.save(&path).unwrap();
        let loaded = Model::load(&path).unwrap();
        assert_eq!(loaded.version(), model.version());
        assert_eq!(loaded.predict("", "puck and goal").subtopic.label, "rec.sport.hockey");
        assert_eq!(loaded.classify_topic("", "puck and goal").label, "rec");
        assert_eq!(loaded.classify_subtopic("sci", "", "orbit of a star").unwrap().label, "sci.space");
        assert_eq!(loaded.subtopics_of("sci").unwrap(), ["sci.med", "sci.space"]);
        assert!(loaded.classify_subtopic("nope", "", "x").is_none());

        // Gzip-compressed, as the container images carry it.
        let compressed = dir.path().join("model.bin.gz");
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut encoder, &std::fs::read(&path).unwrap()).unwrap();
        std::fs::write(&compressed, encoder.finish().unwrap()).unwrap();
        let loaded = Model::load(&compressed).unwrap();
        assert_eq!(loaded.version(), model.version());
        assert_eq!(loaded.classify_topic("", "puck and goal").label, "rec");
        let bytes = std::fs::read(&compressed).unwrap();
        std::fs::write(&compressed, &bytes[..bytes.len() / 2]).unwrap();
        assert!(matches!(Model::load(&compressed), Err(crate::ModelFileError::Corrupt { .. })));
    }

    #[test]
    fn refuses_corrupt_foreign_and_incompatible_files() {
        let (mut model, _) = train(&corpus(), &TrainConfig::default(), &mut |_| {}).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.bin");
        model.save(&path).unwrap();
        let good = std::fs::read(&path).unwrap();

        let mut flipped = good.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0xff;
        std::fs::write(&path, &flipped).unwrap();
        assert!(matches!(Model::load(&path), Err(crate::ModelFileError::Corrupt { .. })));

        std::fs::write(&path, &good[..good.len() / 2]).unwrap();
        assert!(matches!(Model::load(&path), Err(crate::ModelFileError::Corrupt { .. })));

        let mut newer = good.clone();
        newer[8] = 9;
        std::fs::write(&path, &newer).unwrap();
        let error = Model::load(&path).unwrap_err();
        assert!(error.to_string().contains("format version 9"), "{error}");

        std::fs::write(&path, b"{\"json\": true}").unwrap();
        assert!(matches!(Model::load(&path), Err(crate::ModelFileError::NotAModel { .. })));
    }
}
