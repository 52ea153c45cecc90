//! topic-classifier: adds the top-level topic to each document.
#![warn(missing_docs)]

use chrono::Utc;
use docclass_types::{Classification, Envelope, Stage, UNKNOWN_LABEL};
use text_model::ServedModel;
use text_model::judge::{self, Answers, Level};
use worker_runtime::{Handler, HandlerError};

/// The topic stage's handler.
pub struct ClassifyTopic {
    /// Replaced while documents flow when a model store names a new live model.
    model: ServedModel,
    /// Below this score the topic is [`UNKNOWN_LABEL`].
    min_score: f32,
}

impl ClassifyTopic {
    /// A handler answering with `model`'s topic level, always naming a topic.
    pub fn new(model: impl Into<ServedModel>) -> Self {
        Self { model: model.into(), min_score: 0.0 }
    }

    /// Answers [`UNKNOWN_LABEL`] when the topic's score is under `min_score`.
    pub fn with_min_score(self, min_score: f32) -> Self {
        Self { min_score, ..self }
    }
}

impl Handler for ClassifyTopic {
    fn stage(&self) -> Stage {
        Stage::Topic
    }

    fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        let model = self.model.clone();
        let read = move || model.judged_members(Level::Topic);
        registry.register_collector(Box::new(worker_runtime::ScrapedGauges::new(
            judge::METRIC,
            judge::METRIC_HELP,
            read,
        )));
    }

    fn handle(&self, mut envelope: Envelope) -> Result<Envelope, HandlerError> {
        let document = &envelope.document;
        let serving = self.model.serving(&document.id);
        let model = &serving.answer;
        let topic = model.classify_topic(&document.title, &document.text);
        if let Some(shadow) = &serving.shadow {
            // Both models answer; one answer was just given, the other is asked for.
            let (live, shadow) = (&serving.live, &shadow.model);
            let answered_by_live = model.version() == live.version();
            let other = if answered_by_live { shadow } else { live };
            let other_label = other.classify_topic(&document.title, &document.text).label;
            let (live_label, shadow_label) =
                if answered_by_live { (&topic.label, &other_label) } else { (&other_label, &topic.label) };
            let label = document.labels.as_ref().and_then(|labels| labels.topic.as_deref());
            self.model.judge(
                Level::Topic,
                live.version(),
                shadow.version(),
                Answers { label, group: label, live: live_label, shadow: shadow_label },
            );
        }
        let label = if topic.score < self.min_score { UNKNOWN_LABEL.to_owned() } else { topic.label };
        tracing::Span::current().record("label", label.as_str());
        envelope.topic = Some(Classification {
            label,
            score: topic.score,
            model_version: model.version().to_owned(),
            classified_at: Utc::now(),
            top: Vec::new(),
        });
        Ok(envelope)
    }
}
