//! Poison: messages a misbehaving producer or a broken stage could put on a queue, each with the queue
//! it goes to and the reason its dead letter must carry. The benchmark and the chaos test mix them into
//! the real documents and check that every one ends in its queue's dead-letter queue, and nowhere else.

use docclass_types::topology::Queue;
use serde_json::{Value, json};

/// The message attribute that marks a poison message (`<kind>:<n>`); dead letters keep their message's
/// attributes, so each letter can be traced to what was injected.
pub const MARK: &str = "docclass_bench_poison";

/// One kind of poison.
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    /// A short name, for the report.
    pub name: &'static str,
    /// The queue it is sent to; its dead letter must arrive in this queue's dead-letter queue.
    pub queue: Queue,
    /// The dead letter's reason.
    pub reason: &'static str,
    body: fn(&str) -> String,
}

impl Kind {
    /// The message body, for a poison message of id `id` (some kinds carry no id at all).
    pub fn body(&self, id: &str) -> String {
        (self.body)(id)
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339()
}

fn document(id: &str) -> Value {
    json!({"id": id, "title": "poison", "text": "a message that must end as a dead letter", "source": "bench-poison", "ingested_at": now()})
}

fn envelope(id: &str) -> Value {
    json!({"schema_version": 1, "document": document(id)})
}

fn classification(label: &str, score: Value) -> Value {
    json!({"label": label, "score": score, "model_version": "bench-poison", "classified_at": now()})
}

fn with(mut value: Value, pointer: &str, replacement: Value) -> String {
    *value.pointer_mut(pointer).expect("a field of the envelope") = replacement;
    value.to_string()
}

fn classified(id: &str, topic: Value) -> Value {
    let mut value = envelope(id);
    value["topic"] = topic;
    value
}

/// Twenty-two kinds over the three queues: undecodable bodies, envelopes from other versions, documents
/// no stage could store, and envelopes that skipped a stage or carry impossible classifications.
pub const KINDS: [Kind; 22] = [
    Kind { name: "not_json", queue: Queue::Ingest, reason: "invalid_json", body: |_| "not json at all".into() },
    Kind { name: "json_array", queue: Queue::Ingest, reason: "invalid_json", body: |_| "[1, 2, 3]".into() },
    Kind {
        name: "truncated",
        queue: Queue::Ingest,
        reason: "invalid_json",
        body: |id| envelope(id).to_string()[..40].to_owned(),
    },
    Kind {
        name: "text_not_a_string",
        queue: Queue::Ingest,
        reason: "invalid_json",
        body: |id| with(envelope(id), "/document/text", json!(42)),
    },
    Kind {
        name: "no_text_field",
        queue: Queue::Ingest,
        reason: "invalid_json",
        body: |id| {
            let mut value = envelope(id);
            value["document"].as_object_mut().unwrap().remove("text");
            value.to_string()
        },
    },
    Kind {
        name: "lone_surrogate",
        queue: Queue::Ingest,
        reason: "invalid_json",
        body: |id| envelope(id).to_string().replace("a message", "a \\ud800 message"),
    },
    Kind {
        name: "bad_timestamp",
        queue: Queue::Ingest,
        reason: "invalid_json",
        body: |id| with(envelope(id), "/document/ingested_at", json!("yesterday")),
    },
    Kind {
        name: "null_document",
        queue: Queue::Ingest,
        reason: "invalid_json",
        body: |id| with(envelope(id), "/document", Value::Null),
    },
    Kind {
        name: "future_schema",
        queue: Queue::Ingest,
        reason: "unsupported_schema_version",
        body: |id| with(envelope(id), "/schema_version", json!(2)),
    },
    Kind {
        name: "schema_zero",
        queue: Queue::Ingest,
        reason: "unsupported_schema_version",
        body: |id| with(envelope(id), "/schema_version", json!(0)),
    },
    Kind { name: "empty_id", queue: Queue::Ingest, reason: "missing_id", body: |_| envelope("").to_string() },
    Kind {
        name: "empty_text",
        queue: Queue::Ingest,
        reason: "empty_text",
        body: |id| {
            let mut value = envelope(id);
            value["document"]["title"] = json!("");
            value["document"]["text"] = json!("");
            value.to_string()
        },
    },
    Kind {
        name: "text_too_large",
        queue: Queue::Ingest,
        reason: "text_too_large",
        body: |id| with(envelope(id), "/document/text", json!("word ".repeat(40 * 1024))),
    },
    Kind {
        name: "id_too_long",
        queue: Queue::Ingest,
        reason: "id_too_long",
        body: |id| envelope(&format!("{id}-{}", "x".repeat(1500))).to_string(),
    },
    Kind {
        name: "no_topic",
        queue: Queue::Subtopic,
        reason: "missing_classification",
        body: |id| envelope(id).to_string(),
    },
    Kind {
        name: "empty_topic_label",
        queue: Queue::Subtopic,
        reason: "empty_label",
        body: |id| classified(id, classification("", json!(0.9))).to_string(),
    },
    Kind {
        name: "topic_score_above_one",
        queue: Queue::Subtopic,
        reason: "score_out_of_range",
        body: |id| classified(id, classification("physics", json!(2.0))).to_string(),
    },
    Kind {
        name: "topic_score_infinite",
        queue: Queue::Subtopic,
        reason: "score_out_of_range",
        // 1e39 is past f32: it arrives as infinity.
        body: |id| classified(id, classification("physics", json!(1e39))).to_string(),
    },
    Kind {
        name: "unknown_topic",
        queue: Queue::Subtopic,
        reason: "unknown_topic",
        body: |id| classified(id, classification("no-such-topic", json!(0.9))).to_string(),
    },
    Kind {
        name: "no_subtopic",
        queue: Queue::Results,
        reason: "missing_classification",
        body: |id| classified(id, classification("physics", json!(0.9))).to_string(),
    },
    Kind {
        name: "subtopic_score_negative",
        queue: Queue::Results,
        reason: "score_out_of_range",
        body: |id| {
            let mut value = classified(id, classification("physics", json!(0.9)));
            value["subtopic"] = classification("hep-th", json!(-0.5));
            value.to_string()
        },
    },
    Kind {
        name: "empty_subtopic_label",
        queue: Queue::Results,
        reason: "empty_label",
        body: |id| {
            let mut value = classified(id, classification("physics", json!(0.9)));
            value["subtopic"] = classification("", json!(0.5));
            value.to_string()
        },
    },
];
