//! subtopic-classifier: adds the subtopic, chosen among the subtopics of the document's topic.
#![warn(missing_docs)]

use std::sync::Arc;

use chrono::Utc;
use docclass_types::{Classification, Envelope, Stage};
use text_model::Model;
use worker_runtime::{Handler, HandlerError};

/// The subtopic stage's handler.
pub struct ClassifySubtopic {
    model: Arc<Model>,
}

impl ClassifySubtopic {
    /// A handler answering with `model`'s subtopic level.
    pub fn new(model: Arc<Model>) -> Self {
        Self { model }
    }
}

impl Handler for ClassifySubtopic {
    fn stage(&self) -> Stage {
        Stage::Subtopic
    }

    fn handle(&self, mut envelope: Envelope) -> Result<Envelope, HandlerError> {
        // Validation ran before the handler: a Subtopic-stage envelope always has its topic.
        let topic = envelope.topic.as_ref().map(|t| t.label.clone()).unwrap_or_default();
        let document = &envelope.document;
        let Some(subtopic) = self.model.classify_subtopic(&topic, &document.title, &document.text) else {
            // Another model version chose a topic this one does not know: retrying cannot help.
            return Err(HandlerError::Permanent {
                reason: "unknown_topic",
                detail: format!(
                    "document {} has topic {topic:?}, which model {} does not know",
                    document.id,
                    self.model.version()
                ),
            });
        };
        tracing::Span::current().record("label", subtopic.label.as_str());
        envelope.subtopic = Some(Classification {
            label: subtopic.label,
            score: subtopic.score,
            model_version: self.model.version().to_owned(),
            classified_at: Utc::now(),
        });
        Ok(envelope)
    }
}
