//! The two-level model: a topic classifier, then one subtopic classifier per topic.
//!
//! Keeping the levels apart is what lets the topic and subtopic pools scale separately: each stage asks
//! only its own level.

use std::cell::RefCell;

use serde::{Deserialize, Serialize};

use crate::{LinearModel, SparseVector, Vocabulary};

/// A trained two-level classifier.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Model {
    pub(crate) vocabulary: Vocabulary,
    pub(crate) topics: LinearModel,
    /// One per topic, in the order of `topics.classes()`.
    pub(crate) subtopics: Vec<LinearModel>,
    /// Softmax scale of raw topic scores, fitted on held-out documents so scores behave like
    /// probabilities.
    pub(crate) topic_scale: f32,
    /// Softmax scale of raw subtopic scores.
    pub(crate) subtopic_scale: f32,
    /// Set from the file's checksum when saved or loaded; names the model in every result.
    #[serde(skip)]
    pub(crate) version: String,
}

/// A label and its confidence in `[0, 1]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// The label.
    pub label: String,
    /// Softmax probability of the label among its level's classes.
    pub score: f32,
}

/// Both levels' answers for one document.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// The topic.
    pub topic: Scored,
    /// The subtopic within that topic.
    pub subtopic: Scored,
}

thread_local! {
    /// Per-thread scratch space, so classifying a document allocates nothing but its answer.
    static SCRATCH: RefCell<(SparseVector, Vec<f32>)> = RefCell::new((SparseVector::default(), Vec::new()));
}

impl Model {
    /// Identifies this model in results: the format and the checksum of its file.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The topic labels.
    pub fn topics(&self) -> &[String] {
        self.topics.classes()
    }

    /// The subtopic labels of `topic`, if it is one of this model's topics.
    pub fn subtopics_of(&self, topic: &str) -> Option<&[String]> {
        let index = self.topics.classes().iter().position(|t| t == topic)?;
        Some(self.subtopics[index].classes())
    }

    /// Number of features in the vocabulary.
    pub fn feature_count(&self) -> usize {
        self.vocabulary.len()
    }

    /// The most likely topic of a document given as its parts (title, body).
    pub fn classify_topic(&self, parts: &[&str]) -> Scored {
        self.with_scores(&self.topics, self.topic_scale, parts)
    }

    /// The most likely subtopic within `topic`, or `None` when `topic` is not one of this model's.
    pub fn classify_subtopic(&self, topic: &str, parts: &[&str]) -> Option<Scored> {
        let index = self.topics.classes().iter().position(|t| t == topic)?;
        Some(self.with_scores(&self.subtopics[index], self.subtopic_scale, parts))
    }

    /// Both levels at once.
    pub fn predict(&self, parts: &[&str]) -> Prediction {
        SCRATCH.with_borrow_mut(|(features, scores)| {
            self.vocabulary.vectorize(parts, features);
            self.topics.scores(features, scores);
            let (topic_index, topic_score) = best(scores, self.topic_scale);
            let subtopics = &self.subtopics[topic_index];
            subtopics.scores(features, scores);
            let (subtopic_index, subtopic_score) = best(scores, self.subtopic_scale);
            Prediction {
                topic: Scored { label: self.topics.classes()[topic_index].clone(), score: topic_score },
                subtopic: Scored { label: subtopics.classes()[subtopic_index].clone(), score: subtopic_score },
            }
        })
    }

    /// Raw (unscaled) scores of both levels, for fitting the softmax scales: `(topic scores, subtopic
    /// scores within the true topic)`.
    pub(crate) fn raw_scores(&self, parts: &[&str], true_topic: usize) -> (Vec<f32>, Vec<f32>) {
        let mut features = SparseVector::default();
        self.vocabulary.vectorize(parts, &mut features);
        let (mut topic, mut subtopic) = (Vec::new(), Vec::new());
        self.topics.scores(&features, &mut topic);
        self.subtopics[true_topic].scores(&features, &mut subtopic);
        (topic, subtopic)
    }

    fn with_scores(&self, level: &LinearModel, scale: f32, parts: &[&str]) -> Scored {
        SCRATCH.with_borrow_mut(|(features, scores)| {
            self.vocabulary.vectorize(parts, features);
            level.scores(features, scores);
            let (index, score) = best(scores, scale);
            Scored { label: level.classes()[index].clone(), score }
        })
    }
}

/// The best class and its softmax probability under `scale`.
fn best(scores: &[f32], scale: f32) -> (usize, f32) {
    let (index, &top) = scores
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        // Every level has at least one class: training refuses to build an empty one.
        .expect("a level has at least one class");
    let total: f32 = scores.iter().map(|&s| ((s - top) * scale).exp()).sum();
    (index, 1.0 / total)
}

/// Negative log-likelihood of the true classes under softmax(`scale` × raw scores).
pub(crate) fn negative_log_likelihood(raw: &[(Vec<f32>, usize)], scale: f32) -> f64 {
    raw.iter()
        .map(|(scores, truth)| {
            let top = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let total: f64 = scores.iter().map(|&s| f64::from((s - top) * scale).exp()).sum();
            total.ln() - f64::from((scores[*truth] - top) * scale)
        })
        .sum()
}

/// The softmax scale that best fits held-out raw scores (golden-section search on log scale in
/// `[0.1, 1000]`; the likelihood is unimodal in the scale).
pub(crate) fn fit_scale(raw: &[(Vec<f32>, usize)]) -> f32 {
    if raw.is_empty() {
        return 1.0;
    }
    let objective = |log_scale: f64| negative_log_likelihood(raw, log_scale.exp() as f32);
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let (mut low, mut high) = (0.1f64.ln(), 1000f64.ln());
    for _ in 0..60 {
        let a = high - ratio * (high - low);
        let b = low + ratio * (high - low);
        if objective(a) < objective(b) {
            high = b;
        } else {
            low = a;
        }
    }
    ((low + high) / 2.0).exp() as f32
}
