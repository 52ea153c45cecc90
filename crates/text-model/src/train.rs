//! Training the two-level model from labelled documents.

use std::collections::BTreeSet;
use std::time::Instant;

use serde::Serialize;

use crate::linear::{CrossListed, SolverConfig};
use crate::metrics::{ClassMetrics, score};
use crate::model::fit_scale;
use crate::{LinearModel, Model, SparseVector, Vocabulary};

/// One labelled training document.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// The document's id (`arXiv:1504.03587`); training does not read it.
    pub id: String,
    /// Title (may be empty).
    pub title: String,
    /// Body.
    pub text: String,
    /// Top-level label.
    pub topic: String,
    /// Second-level label.
    pub subtopic: String,
    /// Every category the document is listed in, its own first (arXiv's cross-lists); may be empty.
    pub categories: Vec<String>,
    /// Publication date as a day number (days since 1 January of year 1), when known: what recency
    /// weighting reads.
    pub published_days: Option<i32>,
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
    /// A topic model of its own decides the topic, and each subtopic class learns only from its topic's
    /// documents (see [`Model`]); else one flat set of subtopic classes decides both levels.
    pub hierarchical: bool,
    /// After the held-out measurement, train again on every document (the held-out ones too); else the
    /// measured model is the final one, which halves training time.
    pub retrain_on_all: bool,
    /// Documents weigh less the older they are, halving every this many days (see `recency_weights`).
    pub recency_half_life_days: Option<f64>,
    /// The least a dated document weighs, against the newest's 1: what keeps a corpus of older
    /// documents from being weighted away when newer ones are added (see `recency_weights`).
    pub recency_floor: f64,
    /// Up-weights each class's own documents by `(n / (k × n_c))^class_balance` (0: not at all).
    pub class_balance: f64,
    /// What a document listed in a category besides its own (`Example::categories`) is to that
    /// category's classifier (topics always learn them as negatives: see `fit`).
    pub cross_listed: CrossListed,
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
            hierarchical: false,
            retrain_on_all: true,
            recency_half_life_days: None,
            recency_floor: RECENCY_FLOOR,
            class_balance: 0.0,
            cross_listed: CrossListed::Negative,
        }
    }
}

impl TrainConfig {
    /// The recipe for arXiv's papers: 145 categories, a long tail, 200,000 training abstracts
    /// (README, "Models", says how each setting was chosen).
    pub fn arxiv() -> Self {
        Self {
            max_features: 400_000,
            title_weight: 3,
            hierarchical: true,
            holdout_fraction: 0.05,
            retrain_on_all: false,
            recency_half_life_days: Some(365.0),
            class_balance: 0.5,
            cross_listed: CrossListed::Ignored,
            ..Self::default()
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

impl TrainReport {
    /// Why the trained model cannot be what was meant, judged on the held-out documents; `None` when it
    /// is plausible or nothing was held out. Implausible: a topic with at least
    /// [`IMPLAUSIBLE_MIN_SUPPORT`] held-out documents of which it files almost none (under 2 %), or a
    /// topic accuracy below always answering the most common topic. Both were what training on a
    /// decade-old corpus plus this year's papers made before the recency floor: held-out topic
    /// accuracy 0.017, physics and mathematics never predicted.
    pub fn implausible(&self) -> Option<String> {
        let topic = self.holdout_topic.as_ref()?;
        let forgotten: Vec<String> = topic
            .per_class
            .iter()
            .filter(|class| class.support >= IMPLAUSIBLE_MIN_SUPPORT && class.recall < 0.02)
            .map(|class| format!("{} ({:.1} % of {})", class.label, 100.0 * class.recall, class.support))
            .collect();
        if !forgotten.is_empty() {
            return Some(format!("it files almost none of the held-out documents of {}", forgotten.join(", ")));
        }
        let majority = topic.per_class.iter().map(|class| class.support).max().unwrap_or(0);
        let baseline = majority as f64 / topic.documents.max(1) as f64;
        (topic.accuracy < baseline).then(|| {
            format!(
                "its held-out topic accuracy {:.3} is below always answering the most common topic ({baseline:.3})",
                topic.accuracy
            )
        })
    }
}

/// Held-out documents a topic needs before [`TrainReport::implausible`] judges it.
pub const IMPLAUSIBLE_MIN_SUPPORT: u64 = 20;

/// Why training could not start.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Nothing to learn from.
    #[error("no training documents")]
    Empty,
    /// One label only: nothing to tell apart, and a model that answers it for everything.
    #[error("the training documents carry one category only ({0}): a model needs at least two to tell apart")]
    OneClass(String),
    /// No word or pair of words occurs often enough to be a feature.
    #[error("no usable features: no word occurs in {min_df} or more of the documents (empty, or all different)")]
    NoFeatures {
        /// The least documents a feature must occur in.
        min_df: u32,
    },
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
    let labels: BTreeSet<&str> = examples.iter().map(|e| e.subtopic.as_str()).collect();
    if labels.len() < 2 {
        return Err(TrainError::OneClass(labels.into_iter().next().unwrap_or_default().to_owned()));
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
            let (topic_scores, scores) = model.raw_scores(&example.title, &example.text);
            let range = model.range_of_class(class);
            subtopic_raw.push((scores[range.clone()].to_vec(), class - range.start));
            let truth = if model.is_hierarchical() { model.topic_of_class(class) } else { class };
            topic_raw.push((topic_scores, truth));
        }
        (model.topic_scale, model.subtopic_scale) = (fit_scale(&topic_raw), fit_scale(&subtopic_raw));
        let predictions: Vec<_> = held_out.iter().map(|e| model.predict(&e.title, &e.text)).collect();
        report.holdout_topic =
            Some(score(held_out.iter().zip(&predictions).map(|(e, p)| (e.topic.as_str(), p.topic.label.as_str()))));
        report.holdout_subtopic = Some(score(
            held_out.iter().zip(&predictions).map(|(e, p)| (e.subtopic.as_str(), p.subtopic.label.as_str())),
        ));
        if model.feature_count() == 0 {
            return Err(TrainError::NoFeatures { min_df: config.min_df });
        }
        if !config.retrain_on_all {
            report.features = model.feature_count();
            report.seconds = started.elapsed().as_secs_f64();
            return Ok((model, report));
        }
        (model.topic_scale, model.subtopic_scale)
    };

    progress(&format!("training the final model on all {} documents", examples.len()));
    let all: Vec<&Example> = examples.iter().collect();
    let model = fit(&all, config, topic_scale, subtopic_scale);
    if model.feature_count() == 0 {
        return Err(TrainError::NoFeatures { min_df: config.min_df });
    }
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
    let solver = SolverConfig {
        c: config.c,
        tolerance: 0.1,
        max_passes: 100,
        seed: config.seed,
        cross_listed: config.cross_listed,
    };

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
    let class_of: std::collections::HashMap<&str, u32> =
        classes.iter().enumerate().map(|(class, name)| (name.as_str(), class as u32)).collect();
    let labels: Vec<u32> = examples.iter().map(|e| class_of[e.subtopic.as_str()]).collect();
    let topic_of_class = |class: u32| {
        topic_ranges.iter().position(|&(start, end)| (start..end).contains(&class)).expect("every class has a topic")
    };
    let topic_labels: Vec<u32> = labels.iter().map(|&class| topic_of_class(class) as u32).collect();
    // The other categories each document is listed in that are classes here.
    let also: Vec<Vec<u32>> = examples
        .iter()
        .zip(&labels)
        .map(|(e, &own)| {
            let mut other: Vec<u32> = e
                .categories
                .iter()
                .filter_map(|category| class_of.get(category.as_str()).copied())
                .filter(|&class| class != own)
                .collect();
            other.sort_unstable();
            other.dedup();
            other
        })
        .collect();
    let everything: Vec<u32> = (0..examples.len() as u32).collect();
    let document_weights = recency_weights(examples, config.recency_half_life_days, config.recency_floor);
    let train = |classes: Vec<String>, labels: &[u32], also: &[Vec<u32>], scopes: &[&[u32]]| {
        let positive_weights = balance_weights(labels, scopes, classes.len(), config.class_balance);
        LinearModel::train(
            classes,
            &features,
            labels,
            also,
            scopes,
            &document_weights,
            &positive_weights,
            vocabulary.len(),
            solver,
            config.threads,
        )
    };
    let (topic_model, subtopics) = if config.hierarchical {
        // Each subtopic class against its own topic's other documents: 3× less work than against all on
        // arXiv, and the topic model settles the rest.
        let mut members: Vec<Vec<u32>> = vec![Vec::new(); topics.len()];
        for (document, &topic) in topic_labels.iter().enumerate() {
            members[topic as usize].push(document as u32);
        }
        let scopes: Vec<&[u32]> = (0..classes.len() as u32).map(|c| members[topic_of_class(c)].as_slice()).collect();
        let topic_scopes = vec![everything.as_slice(); topics.len()];
        // Cross-lists stay negatives at the topic level. Left out there, the topic nearly every eess paper
        // is cross-listed to (cs) no longer learnt that eess papers are not its own, outscored eess on
        // all of them, and the held-out check refused the model (eess recall 0 of 40).
        let topic_model = train(topics.clone(), &topic_labels, &[], &topic_scopes);
        (Some(topic_model), train(classes, &labels, &also, &scopes))
    } else {
        let scopes = vec![everything.as_slice(); classes.len()];
        (None, train(classes, &labels, &also, &scopes))
    };
    Model {
        vocabulary,
        topics,
        subtopics,
        topic_ranges,
        topic_model,
        topic_scale,
        subtopic_scale,
        version: "unsaved".into(),
        provenance: None,
    }
}

/// Each document's weight: 1 for the newest, falling towards `floor` as it ages — the part above the
/// floor halving every `half_life_days` (a model meets papers written after everything it learnt from;
/// the recent past says more about them). `None`, or documents without a date, weigh 1.
///
/// The floor is what makes a refresh safe: without it, a decade-old base corpus trained together with
/// this year's papers weighed about 0.001 each, and the model forgot physics and mathematics (issue 28).
/// With it, the oldest paper still counts `floor` of the newest, however far apart the files are.
fn recency_weights(examples: &[&Example], half_life_days: Option<f64>, floor: f64) -> Vec<f32> {
    let Some(half_life) = half_life_days.filter(|h| *h > 0.0) else { return vec![1.0; examples.len()] };
    let floor = floor.clamp(0.0, 1.0);
    let newest = examples.iter().filter_map(|e| e.published_days).max().unwrap_or_default();
    examples
        .iter()
        .map(|e| match e.published_days {
            Some(day) => {
                let decay = 0.5f64.powf(f64::from(newest - day).max(0.0) / half_life);
                (floor + (1.0 - floor) * decay) as f32
            }
            None => 1.0,
        })
        .collect()
}

/// The least a dated document weighs by default; see [`TrainConfig::recency_floor`].
pub const RECENCY_FLOOR: f64 = 0.25;

/// How much more each class's own documents count: `(n / (k × n_c))^balance` within the class's scope of
/// `n` documents and `k` classes, `n_c` of them the class's (scikit-learn's "balanced" at 1, none at 0).
/// Above 0, the tail's few documents are not drowned by the rest.
fn balance_weights(labels: &[u32], scopes: &[&[u32]], n_classes: usize, balance: f64) -> Vec<f64> {
    if balance == 0.0 {
        return vec![1.0; n_classes];
    }
    (0..n_classes)
        .map(|class| {
            let scope = scopes[class];
            let own = scope.iter().filter(|&&d| labels[d as usize] == class as u32).count().max(1);
            let in_scope = (0..n_classes).filter(|&c| std::ptr::eq(scopes[c], scope)).count().max(1);
            (scope.len() as f64 / (in_scope as f64 * own as f64)).powf(balance)
        })
        .collect()
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
        Example {
            id: String::new(),
            title: String::new(),
            text: text.into(),
            topic: topic.into(),
            subtopic: subtopic.into(),
            categories: Vec::new(),
            published_days: None,
        }
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
        assert_eq!(loaded.classify_subtopic("sci", "", "orbit of a star").unwrap().subtopic.label, "sci.space");
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
    fn a_hierarchical_model_ranks_categories_with_probabilities() {
        let mut examples = corpus();
        for i in 0..40 {
            examples.push(example(&format!("theorem proof lemma space {i}"), "math", "math.AG"));
        }
        let config = TrainConfig {
            hierarchical: true,
            retrain_on_all: false,
            holdout_fraction: 0.2,
            recency_half_life_days: Some(365.0),
            class_balance: 0.5,
            ..TrainConfig::default()
        };
        let (mut model, report) = train(&examples, &config, &mut |_| {}).unwrap();
        assert!(model.is_hierarchical());
        assert!(report.holdout_subtopic.as_ref().unwrap().accuracy > 0.99);
        let prediction = model.predict("", "the patient saw a doctor about the orbit of a star");
        assert_eq!(prediction.topic.label, "sci");
        assert_eq!(prediction.top.len(), crate::TOP_CATEGORIES);
        assert!(prediction.top.windows(2).all(|pair| pair[0].score >= pair[1].score), "{:?}", prediction.top);
        let total: f32 = prediction.top.iter().map(|c| c.score).sum();
        assert!(total <= 1.0 + 1e-5 && prediction.top.iter().all(|c| c.score >= 0.0), "{:?}", prediction.top);
        // The chosen category is the best-ranked one: the two stages follow the ranking.
        for text in ["the patient saw a doctor about the orbit of a star", "a theorem about a hockey puck", "lemma"] {
            let prediction = model.predict("", text);
            assert_eq!(prediction.subtopic.label, prediction.top[0].label, "{text}: {prediction:?}");
            assert_eq!(model.classify_topic("", text), prediction.topic);
        }
        let sci: Vec<&str> = prediction.top[..2].iter().map(|c| c.label.as_str()).collect();
        assert!(sci.contains(&"sci.med") && sci.contains(&"sci.space"), "{sci:?}");

        // The subtopic stage alone gives the same answer, and the same ranking, after a save and a load.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.bin");
        model.save(&path).unwrap();
        let loaded = Model::load(&path).unwrap();
        let answer = loaded.classify_subtopic("sci", "", "the patient saw a doctor about the orbit of a star").unwrap();
        assert_eq!(answer.subtopic, prediction.subtopic);
        assert_eq!(answer.top, prediction.top);
        // Asked within another topic, it answers within that topic and ranks all the same.
        let within_rec = loaded.classify_subtopic("rec", "", "the patient saw a doctor").unwrap();
        assert_eq!(within_rec.subtopic.label, "rec.sport.hockey");
        assert_eq!(within_rec.top[0].label, "sci.med");
    }

    #[test]
    fn a_model_that_forgot_a_topic_or_guesses_worse_than_the_majority_is_implausible() {
        let report = |pairs: &[(&str, &str, usize)]| {
            let expanded = pairs.iter().flat_map(|&(truth, predicted, n)| std::iter::repeat_n((truth, predicted), n));
            TrainReport {
                documents: 0,
                features: 0,
                holdout_documents: 0,
                holdout_topic: Some(crate::metrics::score(expanded)),
                holdout_subtopic: None,
                seconds: 0.0,
            }
        };
        // What the recency weighting made of a refresh: physics never predicted.
        let forgot = report(&[("cs", "cs", 80), ("physics", "cs", 40), ("math", "math", 30)]);
        let why = forgot.implausible().expect("implausible");
        assert!(why.contains("physics (0.0 % of 40)"), "{why}");
        // Worse than always answering "cs".
        let worse = report(&[("cs", "math", 50), ("cs", "cs", 30), ("math", "math", 25), ("math", "cs", 20)]);
        assert!(worse.implausible().expect("implausible").contains("below always answering"));
        // A good model, and a small topic too small to judge.
        let fine = report(&[("cs", "cs", 90), ("cs", "math", 5), ("math", "math", 40), ("q-fin", "cs", 3)]);
        assert_eq!(fine.implausible(), None);
    }

    /// One category, or text with nothing in common, used to train a model that answered one label for
    /// everything, with exit 0. Both are refused, each in one line.
    #[test]
    fn one_category_or_no_features_is_refused() {
        let config = TrainConfig { holdout_fraction: 0.0, ..TrainConfig::default() };
        let one = vec![example("a b c", "t", "t.a"), example("a b d", "t", "t.a")];
        let error = train(&one, &config, &mut |_| {}).unwrap_err();
        assert!(matches!(&error, TrainError::OneClass(label) if label == "t.a"), "{error}");
        let unrelated = vec![example("alpha", "t", "t.a"), example("beta", "u", "u.b")];
        let error = train(&unrelated, &config, &mut |_| {}).unwrap_err();
        assert!(matches!(error, TrainError::NoFeatures { min_df: 2 }), "{error}");
    }

    #[test]
    fn weights_favour_the_recent_and_the_small() {
        let mut old = example("a", "t", "t.a");
        old.published_days = Some(1000);
        let mut new = example("b", "t", "t.b");
        new.published_days = Some(1365);
        let undated = example("c", "t", "t.b");
        let weights = recency_weights(&[&old, &new, &undated], Some(365.0), 0.0);
        assert!((weights[0] - 0.5).abs() < 1e-6 && weights[1] == 1.0 && weights[2] == 1.0, "{weights:?}");
        assert_eq!(recency_weights(&[&old], None, 0.0), [1.0]);
        // However old, a paper weighs at least the floor: a base corpus is never weighted away.
        let mut ancient = example("d", "t", "t.a");
        ancient.published_days = Some(1365 - 30 * 365);
        let floored = recency_weights(&[&ancient, &new], Some(365.0), 0.25);
        assert!((floored[0] - 0.25).abs() < 1e-6 && floored[1] == 1.0, "{floored:?}");
        let half = recency_weights(&[&old, &new], Some(365.0), 0.25);
        assert!((half[0] - 0.625).abs() < 1e-6, "halfway above the floor: {half:?}");

        // Class 0 has 1 of 4 documents, class 1 has 3: balanced weights 2 and 2/3.
        let all = [0u32, 1, 2, 3];
        let scopes = [all.as_slice(), all.as_slice()];
        let balanced = balance_weights(&[0, 1, 1, 1], &scopes, 2, 1.0);
        assert!((balanced[0] - 2.0).abs() < 1e-9 && (balanced[1] - 2.0 / 3.0).abs() < 1e-9, "{balanced:?}");
        assert_eq!(balance_weights(&[0, 1, 1, 1], &scopes, 2, 0.0), [1.0, 1.0]);
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

        // Each damage is named, however the decoder read its way to it.
        let detail = |bytes: &[u8]| {
            std::fs::write(&path, bytes).unwrap();
            match Model::load(&path) {
                Err(crate::ModelFileError::Corrupt { detail, .. }) => detail,
                other => panic!("{other:?}"),
            }
        };
        assert!(detail(&good[..good.len() - 3]).contains("the header says"));
        assert!(detail(&[good.as_slice(), b"x"].concat()).contains("follow the payload"));
        assert!(detail(&flipped).contains("checksum"));
        let mut huge = good.clone();
        huge[16..24].copy_from_slice(&(crate::file::MAX_MODEL_BYTES + 1).to_le_bytes());
        assert!(detail(&huge).contains("more than"));
        assert!(detail(&good[..20]).contains("shorter than the header"));
        // Undamaged, it still loads.
        std::fs::write(&path, &good).unwrap();
        assert_eq!(Model::load(&path).unwrap().version(), model.version());
    }
}
