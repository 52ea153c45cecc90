//! The classification head on the embeddings, its file, and the [`Classifier`] it makes with the
//! encoder.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context;
use linfa::prelude::*;
use linfa_logistic::MultiLogisticRegression;
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};
use text_model::{Classifier, Example, Prediction, Scored, SubtopicAnswer, top_categories};

use crate::Encoder;

/// The `format` field of a head file: how a model file names itself as this backend's.
pub const HEAD_FORMAT: &str = text_model::BERT_HEAD_FORMAT;
/// Documents per forward pass: large enough to keep the matrix kernels busy, small enough that the
/// padding to the longest document stays cheap.
const BATCH: usize = 16;

/// A trained head: one logistic-regression row per subtopic, over the encoder's embeddings. Saved as
/// JSON (a few dozen KB); the encoder's weights stay in their own folder, named here.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainedHead {
    /// Always [`HEAD_FORMAT`].
    pub format: String,
    /// The MiniLM folder (config.json, vocab.txt, model.safetensors); relative paths are relative to
    /// the head file.
    pub encoder_dir: PathBuf,
    /// Topic labels, sorted.
    pub topics: Vec<String>,
    /// Subtopic labels, sorted.
    pub subtopics: Vec<String>,
    /// Index into `topics` of each subtopic's topic.
    pub topic_of: Vec<usize>,
    /// `subtopics.len()` rows of `dimension` weights.
    pub weights: Vec<Vec<f32>>,
    /// One intercept per subtopic.
    pub bias: Vec<f32>,
}

impl TrainedHead {
    /// Writes the head as JSON.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        std::fs::write(path, serde_json::to_vec(self)?).with_context(|| format!("writing {}", path.display()))
    }

    /// Subtopic probabilities of one embedding (softmax of the logits).
    fn probabilities(&self, embedding: &[f32]) -> Vec<f32> {
        let logits: Vec<f32> = self
            .weights
            .iter()
            .zip(&self.bias)
            .map(|(row, bias)| row.iter().zip(embedding).map(|(w, x)| w * x).sum::<f32>() + bias)
            .collect();
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let exp: Vec<f32> = logits.iter().map(|logit| (logit - max).exp()).collect();
        let total: f32 = exp.iter().sum();
        exp.into_iter().map(|e| e / total).collect()
    }

    fn topic_index(&self, topic: &str) -> Option<usize> {
        self.topics.iter().position(|t| t == topic)
    }

    /// The topic with the largest summed subtopic probability: with a probabilistic head the sum is the
    /// topic's probability.
    fn best_topic(&self, probabilities: &[f32]) -> (usize, f32) {
        let mut per_topic = vec![0.0_f32; self.topics.len()];
        for (subtopic, p) in probabilities.iter().enumerate() {
            per_topic[self.topic_of[subtopic]] += p;
        }
        per_topic.into_iter().enumerate().max_by(|a, b| a.1.total_cmp(&b.1)).expect("a head has classes")
    }

    /// The best subtopic of `topic`, scored by its probability given the topic.
    fn best_subtopic(&self, topic: usize, probabilities: &[f32]) -> Scored {
        let (mut best, mut best_p, mut topic_p) = (0, f32::NEG_INFINITY, 0.0);
        for (subtopic, &p) in probabilities.iter().enumerate().filter(|(s, _)| self.topic_of[*s] == topic) {
            topic_p += p;
            if p > best_p {
                (best, best_p) = (subtopic, p);
            }
        }
        Scored { label: self.subtopics[best].clone(), score: (best_p / topic_p.max(f32::MIN_POSITIVE)).min(1.0) }
    }

    fn prediction(&self, probabilities: &[f32]) -> Prediction {
        let (topic, score) = self.best_topic(probabilities);
        Prediction {
            topic: Scored { label: self.topics[topic].clone(), score: score.min(1.0) },
            subtopic: self.best_subtopic(topic, probabilities),
            top: top_categories(&self.subtopics, probabilities),
        }
    }
}

/// The text a document is embedded from: its title, then its body (the encoder sees 256 tokens).
fn text_of<'a>(title: &'a str, body: &'a str) -> std::borrow::Cow<'a, str> {
    if title.is_empty() { body.into() } else { format!("{title}\n{body}").into() }
}

/// Embeds `examples` and fits the head; `progress` hears how far it got.
///
/// # Errors
/// When there are no examples or the encoder fails.
pub fn train(
    encoder: &Encoder,
    encoder_dir: PathBuf,
    examples: &[Example],
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<TrainedHead> {
    anyhow::ensure!(!examples.is_empty(), "no training examples");
    let mut subtopics: Vec<String> = examples.iter().map(|e| e.subtopic.clone()).collect();
    subtopics.sort();
    subtopics.dedup();
    let mut topics: Vec<String> = examples.iter().map(|e| e.topic.clone()).collect();
    topics.sort();
    topics.dedup();
    let mut topic_of = vec![0; subtopics.len()];
    for example in examples {
        let subtopic = subtopics.binary_search(&example.subtopic).expect("collected above");
        topic_of[subtopic] = topics.binary_search(&example.topic).expect("collected above");
    }

    let dimension = encoder.dimension();
    let mut features = Array2::<f32>::zeros((examples.len(), dimension));
    for (batch_index, batch) in examples.chunks(BATCH).enumerate() {
        let texts: Vec<_> = batch.iter().map(|e| text_of(&e.title, &e.text)).collect();
        let texts: Vec<&str> = texts.iter().map(AsRef::as_ref).collect();
        for (offset, embedding) in encoder.embed(&texts)?.into_iter().enumerate() {
            features.row_mut(batch_index * BATCH + offset).assign(&Array1::from(embedding));
        }
        progress(&format!("embedding {}/{} documents", (batch_index * BATCH + batch.len()), examples.len()));
    }
    let targets: Array1<usize> =
        examples.iter().map(|e| subtopics.binary_search(&e.subtopic).expect("collected above")).collect();
    progress("fitting the logistic-regression head");
    let fitted = MultiLogisticRegression::default()
        .alpha(1e-3)
        .max_iterations(200)
        .fit(&Dataset::new(features, targets))
        .context("fitting the head")?;
    // linfa orders its classes as it met them; the head's rows follow `subtopics`.
    let params = fitted.params();
    let intercept = fitted.intercept();
    let mut weights = vec![Vec::new(); subtopics.len()];
    let mut bias = vec![0.0; subtopics.len()];
    for (column, &class) in fitted.classes().iter().enumerate() {
        weights[class] = params.column(column).to_vec();
        bias[class] = intercept[column];
    }
    Ok(TrainedHead { format: HEAD_FORMAT.into(), encoder_dir, topics, subtopics, topic_of, weights, bias })
}

/// The encoder and a head, ready to classify.
pub struct BertClassifier {
    // libtorch parallelises each forward pass itself; one pass at a time keeps memory bounded.
    encoder: Mutex<Encoder>,
    head: TrainedHead,
    version: String,
}

impl BertClassifier {
    /// Loads a head file and the encoder it names.
    ///
    /// # Errors
    /// When either cannot be read.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let head: TrainedHead =
            serde_json::from_slice(&bytes).with_context(|| format!("{} is not a bert head file", path.display()))?;
        anyhow::ensure!(head.format == HEAD_FORMAT, "{} is not a bert head file", path.display());
        let dir = path.parent().unwrap_or(Path::new(".")).join(&head.encoder_dir);
        let encoder = Encoder::load(&dir)?;
        let digest = bytes
            .iter()
            .fold(0xcbf2_9ce4_8422_2325_u64, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        Ok(Self { encoder: Mutex::new(encoder), head, version: format!("bert-{:08x}", digest as u32) })
    }

    fn probabilities(&self, documents: &[(&str, &str)]) -> Vec<Vec<f32>> {
        let texts: Vec<_> = documents.iter().map(|(title, body)| text_of(title, body)).collect();
        let texts: Vec<&str> = texts.iter().map(AsRef::as_ref).collect();
        let encoder = self.encoder.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        texts
            .chunks(BATCH)
            .flat_map(|batch| encoder.embed(batch).expect("the encoder runs on any tokenised text"))
            .map(|embedding| self.head.probabilities(&embedding))
            .collect()
    }
}

impl Classifier for BertClassifier {
    fn version(&self) -> &str {
        &self.version
    }

    fn classify_topic(&self, title: &str, body: &str) -> Scored {
        self.predict(title, body).topic
    }

    fn classify_subtopic(&self, topic: &str, title: &str, body: &str) -> Option<SubtopicAnswer> {
        let topic = self.head.topic_index(topic)?;
        let probabilities = self.probabilities(&[(title, body)]).pop()?;
        Some(SubtopicAnswer {
            subtopic: self.head.best_subtopic(topic, &probabilities),
            top: top_categories(&self.head.subtopics, &probabilities),
        })
    }

    fn knows_topic(&self, topic: &str) -> bool {
        self.head.topic_index(topic).is_some()
    }

    fn predict(&self, title: &str, body: &str) -> Prediction {
        self.predict_batch(&[(title, body)]).pop().expect("one document in, one prediction out")
    }

    fn predict_batch(&self, documents: &[(&str, &str)]) -> Vec<Prediction> {
        self.probabilities(documents).iter().map(|p| self.head.prediction(p)).collect()
    }
}
