//! What the classifier stages ask of a model, whichever backend made it.

use crate::judge::{Answers, Judged, Level, ShadowRole, in_canary};
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
///
/// It may also hold a second model, the *shadow* ([`Shadow`]): a candidate, or the model the live one
/// replaced. The stages score each document with both, count how each agrees with the labels the
/// document carries ([`ServedModel::judge`]), and answer with the live one — or, for a canary share of
/// documents, with the candidate.
#[derive(Clone)]
pub struct ServedModel {
    slot: std::sync::Arc<std::sync::RwLock<std::sync::Arc<dyn Classifier>>>,
    /// The versions this slot served before the current one, newest last (the last [`SERVED_KEPT`]).
    served: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    shadow: std::sync::Arc<std::sync::RwLock<Option<Shadow>>>,
    /// The live model against the shadow, on the documents this process judged.
    judged: std::sync::Arc<std::sync::Mutex<Judged>>,
    /// The share of documents (0–100 %) a candidate answers, as `f64` bits.
    canary_percent: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// A second model beside the live one.
#[derive(Clone)]
pub struct Shadow {
    /// The model.
    pub model: std::sync::Arc<dyn Classifier>,
    /// Why it is there.
    pub role: ShadowRole,
}

/// The models one document meets: the one answering it, and the two to judge.
pub struct Serving {
    /// The model whose answer the document gets: the live one, or a candidate for a canary document.
    pub answer: std::sync::Arc<dyn Classifier>,
    /// The live model.
    pub live: std::sync::Arc<dyn Classifier>,
    /// The shadow model, if there is one.
    pub shadow: Option<Shadow>,
}

/// Locks `mutex`; a poisoned lock only means a holder panicked between two whole values.
fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Versions a [`ServedModel`] remembers having served: far more swaps than a message lives through.
const SERVED_KEPT: usize = 16;

impl ServedModel {
    /// A slot serving `model`.
    pub fn new(model: std::sync::Arc<dyn Classifier>) -> Self {
        Self {
            slot: std::sync::Arc::new(std::sync::RwLock::new(model)),
            served: std::sync::Arc::default(),
            shadow: std::sync::Arc::default(),
            judged: std::sync::Arc::default(),
            canary_percent: std::sync::Arc::default(),
        }
    }

    /// The models for the document `id`: see [`Serving`].
    pub fn serving(&self, id: &str) -> Serving {
        let live = self.current();
        let shadow = self.shadow.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        let answer = match &shadow {
            Some(Shadow { model, role: ShadowRole::Candidate }) if in_canary(id, self.canary_percent()) => {
                model.clone()
            }
            _ => live.clone(),
        };
        Serving { answer, live, shadow }
    }

    /// The models for a document whose earlier stage was answered by the model `version`: the shadow
    /// answers it if that was the shadow (a canary document, or one classified before a swap), so that
    /// both stages of a document are one model's; else the live model does.
    pub fn serving_after(&self, version: &str) -> Serving {
        let live = self.current();
        let shadow = self.shadow();
        let answer = match &shadow {
            Some(shadow) if shadow.model.version() == version && live.version() != version => shadow.model.clone(),
            _ => live.clone(),
        };
        Serving { answer, live, shadow }
    }

    /// Puts `shadow` beside the live model, or takes the shadow away. The tally starts anew when the
    /// pair of models it judges changes.
    pub fn set_shadow(&self, shadow: Option<Shadow>) {
        let live = self.version();
        if let Some(shadow) = &shadow {
            let mut judged = lock(&self.judged);
            if judged.live != live || judged.shadow != shadow.model.version() {
                *judged = Judged::new(&live, shadow.model.version());
            }
        }
        *self.shadow.write().unwrap_or_else(std::sync::PoisonError::into_inner) = shadow;
    }

    /// The shadow model, if there is one.
    pub fn shadow(&self) -> Option<Shadow> {
        self.shadow.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Counts one document's two answers at `level`, given by the live model `live` and the shadow
    /// `shadow` (versions); ignored unless they are the pair being judged (a swap raced the document).
    pub fn judge(&self, level: Level, live: &str, shadow: &str, answers: Answers<'_>) {
        let mut judged = lock(&self.judged);
        if judged.live == live && judged.shadow == shadow {
            judged.record(level, answers);
        }
    }

    /// What this process judged of the live model against the shadow, while there is one.
    pub fn judged(&self) -> Option<Judged> {
        let shadow = self.shadow()?;
        let mut judged = lock(&self.judged).clone();
        if shadow.role == ShadowRole::Candidate {
            judged.canary_percent = self.canary_percent();
        }
        (judged.shadow == shadow.model.version() && judged.live == self.version()).then_some(judged)
    }

    /// What this process judged at `level`, as gauge members for `/metrics` ([`Judged::members`]),
    /// and the canary share; empty without a shadow.
    pub fn judged_members(&self, level: Level) -> Vec<(Vec<(String, String)>, f64)> {
        let (Some(shadow), Some(judged)) = (self.shadow(), self.judged()) else { return Vec::new() };
        judged.members(level, shadow.role)
    }

    /// Sends the documents whose id hashes below `percent` % to a candidate's answer ([`in_canary`]).
    pub fn set_canary_percent(&self, percent: f64) {
        self.canary_percent.store(percent.clamp(0.0, 100.0).to_bits(), std::sync::atomic::Ordering::Relaxed);
    }

    /// The canary share, in %.
    pub fn canary_percent(&self) -> f64 {
        f64::from_bits(self.canary_percent.load(std::sync::atomic::Ordering::Relaxed))
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
        let mut served = lock(&self.served);
        served.push(old.version().to_owned());
        let over = served.len().saturating_sub(SERVED_KEPT);
        served.drain(..over);
        old
    }

    /// Whether this slot served `version` before the model it serves now: a message classified by it
    /// was classified by a model this pool replaced, not forged.
    pub fn served_before(&self, version: &str) -> bool {
        lock(&self.served).iter().any(|v| v == version)
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
