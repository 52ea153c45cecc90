//! What the classifier stages ask of a model, whichever backend made it.

use crate::{Model, Prediction, Scored, SubtopicAnswer};

/// A two-level (topic → subtopic) classifier. The linear [`Model`] is one; the optional transformer
/// backend (crate `bert-backend`) is another. The stages hold an `Arc<dyn Classifier>`, so a model file
/// of either kind serves the same services.
pub trait Classifier: Send + Sync {
    /// Names the model in every result.
    fn version(&self) -> &str;

    /// The most likely topic of a document.
    fn classify_topic(&self, title: &str, body: &str) -> Scored;

    /// The most likely subtopic within `topic` and the most likely categories over every topic, or
    /// `None` when `topic` is not one of this model's.
    fn classify_subtopic(&self, topic: &str, title: &str, body: &str) -> Option<SubtopicAnswer>;

    /// Whether `topic` is one of this model's topics.
    fn knows_topic(&self, topic: &str) -> bool;

    /// Both levels at once.
    fn predict(&self, title: &str, body: &str) -> Prediction;

    /// Both levels for many documents `(title, body)`; backends that gain from batching (a transformer
    /// runs one padded batch through the network) override it.
    fn predict_batch(&self, documents: &[(&str, &str)]) -> Vec<Prediction> {
        documents.iter().map(|(title, body)| self.predict(title, body)).collect()
    }
}

impl Classifier for Model {
    fn version(&self) -> &str {
        Model::version(self)
    }

    fn classify_topic(&self, title: &str, body: &str) -> Scored {
        Model::classify_topic(self, title, body)
    }

    fn classify_subtopic(&self, topic: &str, title: &str, body: &str) -> Option<SubtopicAnswer> {
        Model::classify_subtopic(self, topic, title, body)
    }

    fn knows_topic(&self, topic: &str) -> bool {
        self.subtopics_of(topic).is_some()
    }

    fn predict(&self, title: &str, body: &str) -> Prediction {
        Model::predict(self, title, body)
    }
}

/// The model a stage serves, which a model store's watcher may replace while documents flow: each
/// document is classified start to end by the one model [`ServedModel::current`] returned for it, and
/// the replaced model is freed when the last document holding it is done.
///
/// A cheap handle: clones share the one slot (the stage's handler holds one, the watcher another).
///
/// Why a `RwLock` and not the `arc-swap` crate: arc-swap cannot hold an `Arc<dyn Classifier>` (its
/// pointee must be sized), and this read lock is held for the nanoseconds of an `Arc` clone, uncontended
/// against a document's ~50 µs of classification.
#[derive(Clone)]
pub struct ServedModel {
    slot: std::sync::Arc<std::sync::RwLock<std::sync::Arc<dyn Classifier>>>,
    /// The versions this slot served before the current one, newest last (the last [`SERVED_KEPT`]).
    served: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// Versions a [`ServedModel`] remembers having served: far more swaps than a message lives through.
const SERVED_KEPT: usize = 16;

impl ServedModel {
    /// A slot serving `model`.
    pub fn new(model: std::sync::Arc<dyn Classifier>) -> Self {
        Self { slot: std::sync::Arc::new(std::sync::RwLock::new(model)), served: std::sync::Arc::default() }
    }

    /// The model serving now.
    pub fn current(&self) -> std::sync::Arc<dyn Classifier> {
        // A poisoned lock only means a writer panicked between two whole `Arc`s: the value is intact.
        self.slot.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Serves `model` from now on; returns the one it replaces.
    pub fn replace(&self, model: std::sync::Arc<dyn Classifier>) -> std::sync::Arc<dyn Classifier> {
        let mut slot = self.slot.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let old = std::mem::replace(&mut *slot, model);
        let mut served = self.served.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        served.push(old.version().to_owned());
        let over = served.len().saturating_sub(SERVED_KEPT);
        served.drain(..over);
        old
    }

    /// Whether this slot served `version` before the model it serves now: a message classified by it
    /// was classified by a model this pool replaced, not forged.
    pub fn served_before(&self, version: &str) -> bool {
        self.served.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().any(|v| v == version)
    }

    /// The version of the model serving now.
    pub fn version(&self) -> String {
        self.current().version().to_owned()
    }
}

impl From<std::sync::Arc<dyn Classifier>> for ServedModel {
    fn from(model: std::sync::Arc<dyn Classifier>) -> Self {
        Self::new(model)
    }
}

impl<C: Classifier + 'static> From<std::sync::Arc<C>> for ServedModel {
    fn from(model: std::sync::Arc<C>) -> Self {
        Self::new(model)
    }
}

impl std::fmt::Debug for ServedModel {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("ServedModel").field("version", &self.version()).finish()
    }
}
