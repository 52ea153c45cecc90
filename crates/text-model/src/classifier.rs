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

    fn predict(&self, title: &str, body: &str) -> Prediction {
        Model::predict(self, title, body)
    }
}
