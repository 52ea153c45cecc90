//! subtopic-classifier: adds the subtopic, chosen among the subtopics of the document's topic.
#![warn(missing_docs)]

use chrono::Utc;
use docclass_types::{CategoryScore, Classification, DeadLetterReason, Envelope, Stage, UNKNOWN_LABEL};
use text_model::judge::{self, Answers, Level};
use text_model::{Classifier, ServedModel, Serving};
use worker_runtime::{Handler, HandlerError};

/// The subtopic stage's handler.
pub struct ClassifySubtopic {
    /// Replaced while documents flow when a model store names a new live model.
    model: ServedModel,
    /// Below this end-to-end confidence (topic score × subtopic score) the subtopic is
    /// [`UNKNOWN_LABEL`].
    min_score: f32,
}

impl ClassifySubtopic {
    /// A handler answering with `model`'s subtopic level, always naming a subtopic.
    pub fn new(model: impl Into<ServedModel>) -> Self {
        Self { model: model.into(), min_score: 0.0 }
    }

    /// Answers [`UNKNOWN_LABEL`] when topic score × subtopic score is under `min_score`.
    pub fn with_min_score(self, min_score: f32) -> Self {
        Self { min_score, ..self }
    }
}

impl Handler for ClassifySubtopic {
    fn stage(&self) -> Stage {
        Stage::Subtopic
    }

    fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        let model = self.model.clone();
        let read = move || model.judged_members(Level::Category);
        registry.register_collector(Box::new(worker_runtime::ScrapedGauges::new(
            judge::METRIC,
            judge::METRIC_HELP,
            read,
        )));
    }

    fn handle(&self, mut envelope: Envelope) -> Result<Envelope, HandlerError> {
        // Validation ran before the handler: a Subtopic-stage envelope always has its topic.
        let (mut topic, mut topic_score) =
            envelope.topic.as_ref().map(|t| (t.label.clone(), t.score)).unwrap_or_default();
        let topic_version = envelope.topic.as_ref().map(|t| t.model_version.clone()).unwrap_or_default();
        let serving = self.model.serving_after(&topic_version);
        let model = serving.answer.clone();
        let document = &envelope.document;
        let known = topic == UNKNOWN_LABEL || model.knows_topic(&topic);
        if !known && self.model.served_before(&topic_version) {
            // The topic came from the model this pool served before a swap, and the new one files
            // documents under other topics: the document is filed anew, both levels by this model, rather
            // than dead-lettered for a change of model it had no part in. (A topic from a model this pool
            // never served — a forged message, or a pool ahead of this one in a rollout — is dead-lettered
            // below with its reason; `docclass dlq redrive` sends the latter back once the pools agree.)
            let refiled = model.classify_topic(&document.title, &document.text);
            (topic, topic_score) = (refiled.label.clone(), refiled.score);
            envelope.topic = Some(Classification {
                label: refiled.label,
                score: refiled.score,
                model_version: model.version().to_owned(),
                classified_at: Utc::now(),
                top: Vec::new(),
            });
        }
        let document = &envelope.document;
        if topic == UNKNOWN_LABEL {
            // Too unsure of the topic to choose among its subtopics.
            envelope.subtopic = Some(Classification {
                label: UNKNOWN_LABEL.to_owned(),
                score: 0.0,
                model_version: model.version().to_owned(),
                classified_at: Utc::now(),
                top: Vec::new(),
            });
            return Ok(envelope);
        }
        let Some(answer) = model.classify_subtopic(&topic, &document.title, &document.text) else {
            // A topic no model this pool served knows: forged, or from a model it has not loaded yet.
            return Err(HandlerError::Permanent {
                reason: DeadLetterReason::UnknownTopic,
                detail: format!(
                    "document {} has topic {topic:?}, which model {} does not know",
                    document.id,
                    model.version()
                ),
            });
        };
        let subtopic = answer.subtopic;
        if serving.shadow.is_some() {
            let by = envelope.topic.as_ref().map(|t| t.model_version.as_str()).unwrap_or_default();
            self.judge(&serving, &envelope.document, (by, &subtopic.label));
        }
        let label =
            if topic_score * subtopic.score < self.min_score { UNKNOWN_LABEL.to_owned() } else { subtopic.label };
        tracing::Span::current().record("label", label.as_str());
        envelope.subtopic = Some(Classification {
            label,
            score: subtopic.score,
            model_version: model.version().to_owned(),
            classified_at: Utc::now(),
            top: answer.top.into_iter().map(|c| CategoryScore { label: c.label, score: c.score }).collect(),
        });
        Ok(envelope)
    }
}

impl ClassifySubtopic {
    /// Counts the live and shadow models' categories for `document`, end to end. `answered` is the
    /// category just given and the model whose topic it followed: a model that answered both levels is
    /// not asked again.
    fn judge(&self, serving: &Serving, document: &docclass_types::Document, answered: (&str, &str)) {
        let Some(shadow) = &serving.shadow else { return };
        let (by, category) = answered;
        let category_of = |model: &std::sync::Arc<dyn Classifier>| {
            if model.version() == by && serving.answer.version() == by {
                category.to_owned()
            } else {
                model.predict(&document.title, &document.text).subtopic.label
            }
        };
        let (live_category, shadow_category) = (category_of(&serving.live), category_of(&shadow.model));
        let labels = document.labels.as_ref();
        self.model.judge(
            Level::Category,
            serving.live.version(),
            shadow.model.version(),
            Answers {
                label: labels.and_then(|l| l.subtopic.as_deref()),
                group: labels.and_then(|l| l.topic.as_deref()),
                live: &live_category,
                shadow: &shadow_category,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use docclass_types::Document;
    use text_model::{Example, TrainConfig};

    use super::*;

    fn model() -> std::sync::Arc<dyn text_model::Classifier> {
        trained(
            &[
                ("sci", "sci.space", "orbit rocket star"),
                ("sci", "sci.med", "doctor patient"),
                ("rec", "rec.autos", "car engine"),
            ],
            &TrainConfig::default(),
        )
    }

    /// A model of twenty documents per (topic, subtopic, words), each the words and a number.
    fn trained(classes: &[(&str, &str, &str)], config: &TrainConfig) -> std::sync::Arc<dyn text_model::Classifier> {
        let mut examples = Vec::new();
        for (topic, subtopic, words) in classes {
            for i in 0..20 {
                examples.push(Example {
                    id: String::new(),
                    title: String::new(),
                    text: format!("{words} {i}"),
                    topic: (*topic).into(),
                    subtopic: (*subtopic).into(),
                    categories: Vec::new(),
                    published_days: None,
                });
            }
        }
        std::sync::Arc::new(text_model::train(&examples, config, &mut |_| {}).unwrap().0)
    }

    fn envelope(topic: &str, score: f32) -> Envelope {
        let mut envelope = Envelope::new(Document {
            id: "d".into(),
            title: String::new(),
            text: "the doctor saw a patient".into(),
            source: "test".into(),
            url: None,
            published: None,
            ingested_at: Utc::now(),
            labels: None,
        });
        envelope.topic = Some(Classification {
            label: topic.into(),
            score,
            model_version: "m".into(),
            classified_at: Utc::now(),
            top: Vec::new(),
        });
        envelope
    }

    #[test]
    fn routes_low_confidence_to_unknown() {
        let model = model();
        let confident = ClassifySubtopic::new(model.clone()).handle(envelope("sci", 1.0)).unwrap();
        assert_eq!(confident.subtopic.unwrap().label, "sci.med");

        let picky = ClassifySubtopic::new(model.clone()).with_min_score(1.01).handle(envelope("sci", 1.0)).unwrap();
        assert_eq!(picky.subtopic.unwrap().label, UNKNOWN_LABEL);

        let unknown_topic = ClassifySubtopic::new(model.clone()).handle(envelope(UNKNOWN_LABEL, 0.2)).unwrap();
        assert_eq!(unknown_topic.subtopic.unwrap().label, UNKNOWN_LABEL);

        // A topic no model of this pool knows: forged, dead-lettered.
        let forged = ClassifySubtopic::new(model.clone()).handle(envelope("talk", 1.0)).unwrap_err();
        assert!(matches!(forged, HandlerError::Permanent { reason: DeadLetterReason::UnknownTopic, .. }));
    }

    /// A document whose topic the model served before a swap chose, and the new one does not know, is
    /// filed anew by the new model at both levels, not dead-lettered; one from a model this pool never
    /// served still is.
    #[test]
    fn a_topic_of_the_model_served_before_a_swap_is_filed_anew() {
        let model = model();
        let mut examples = Vec::new();
        for i in 0..20 {
            examples.push(Example {
                id: String::new(),
                title: String::new(),
                text: format!("vote election {i}"),
                topic: "talk".into(),
                subtopic: "talk.politics".into(),
                categories: Vec::new(),
                published_days: None,
            });
            examples.push(Example {
                id: String::new(),
                title: String::new(),
                text: format!("orbit rocket {i}"),
                topic: "sci".into(),
                subtopic: "sci.space".into(),
                categories: Vec::new(),
                published_days: None,
            });
        }
        let before: std::sync::Arc<dyn text_model::Classifier> =
            std::sync::Arc::new(text_model::train(&examples, &TrainConfig::default(), &mut |_| {}).unwrap().0);
        let served = text_model::ServedModel::new(before.clone());
        served.replace(model.clone());
        let handler = ClassifySubtopic::new(served);
        let mut from_before = envelope("talk", 1.0);
        from_before.topic.as_mut().unwrap().model_version = before.version().to_owned();
        let refiled = handler.handle(from_before).unwrap();
        let (topic, subtopic) = (refiled.topic.unwrap(), refiled.subtopic.unwrap());
        assert_eq!((topic.label.as_str(), subtopic.label.as_str()), ("sci", "sci.med"));
        assert_eq!(topic.model_version, model.version());
        assert_eq!(subtopic.model_version, model.version());
        let never_served = handler.handle(envelope("talk", 1.0)).unwrap_err();
        assert!(matches!(never_served, HandlerError::Permanent { reason: DeadLetterReason::UnknownTopic, .. }));
    }

    /// With a shadow, each document is judged against its labels and the counts reach `/metrics`; a
    /// document whose topic the shadow chose (a canary) is answered by the shadow at this stage too.
    #[test]
    fn a_shadow_is_judged_on_the_labels_and_answers_the_documents_whose_topic_it_chose() {
        let live = model();
        // Another version: other documents, other settings.
        let config = TrainConfig { min_df: 1, ..TrainConfig::default() };
        let other = trained(&[("sci", "sci.med", "doctor patient"), ("rec", "rec.autos", "car engine")], &config);
        let served = ServedModel::new(live.clone());
        served.set_shadow(Some(text_model::Shadow {
            model: other.clone(),
            role: text_model::judge::ShadowRole::Candidate,
        }));
        let handler = ClassifySubtopic::new(served);
        let mut labelled = envelope("sci", 1.0);
        labelled.topic.as_mut().unwrap().model_version = live.version().to_owned();
        labelled.document.labels = Some(docclass_types::Labels {
            topic: Some("sci".into()),
            subtopic: Some("sci.med".into()),
            categories: Vec::new(),
        });
        let answered = handler.handle(labelled.clone()).unwrap();
        assert_eq!(answered.subtopic.unwrap().model_version, live.version());
        let mut canary = labelled;
        canary.topic.as_mut().unwrap().model_version = other.version().to_owned();
        let answered = handler.handle(canary).unwrap();
        assert_eq!(answered.subtopic.unwrap().model_version, other.version(), "the model that chose the topic");

        let mut registry = prometheus_client::registry::Registry::default();
        handler.register_metrics(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        let labelled_line = text
            .lines()
            .find(|line| line.starts_with("docclass_shadow_judged{") && line.contains("count=\"labelled\""))
            .unwrap_or_else(|| panic!("{text}"));
        assert!(labelled_line.contains("level=\"category\",topic=\"sci\""), "{labelled_line}");
        assert!(labelled_line.ends_with(" 2") || labelled_line.ends_with(" 2.0"), "{labelled_line}");
        let right = text.lines().find(|line| line.contains("count=\"shadow_right\"")).unwrap();
        assert!(right.ends_with(" 2") || right.ends_with(" 2.0"), "{right}");
    }
}
