//! topic-classifier: adds the top-level topic to each document.
#![warn(missing_docs)]

use std::sync::Arc;

use chrono::Utc;
use docclass_types::{Classification, Envelope, Stage};
use text_model::Model;
use worker_runtime::{Handler, HandlerError};

/// The topic stage's handler.
pub struct ClassifyTopic {
    model: Arc<Model>,
}

impl ClassifyTopic {
    /// A handler answering with `model`'s topic level.
    pub fn new(model: Arc<Model>) -> Self {
        Self { model }
    }
}

impl Handler for ClassifyTopic {
    fn stage(&self) -> Stage {
        Stage::Topic
    }

    fn handle(&self, mut envelope: Envelope) -> Result<Envelope, HandlerError> {
        let document = &envelope.document;
        let topic = self.model.classify_topic(&document.title, &document.text);
        tracing::Span::current().record("label", topic.label.as_str());
        envelope.topic = Some(Classification {
            label: topic.label,
            score: topic.score,
            model_version: self.model.version().to_owned(),
            classified_at: Utc::now(),
        });
        Ok(envelope)
    }
}
