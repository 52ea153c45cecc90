//! The messages that travel between stages.
//!
//! Every queue carries one JSON [`Envelope`]: the [`Document`] as ingested plus the classifications the
//! stages have added so far. The envelope is versioned so that a producer and a consumer of different
//! releases fail loudly instead of misreading each other.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::DeadLetterReason;

/// The envelope schema this build reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

/// The label a classifier gives when its confidence is under the configured minimum: the document is
/// kept (and written) for review instead of being filed under a guess.
pub const UNKNOWN_LABEL: &str = "unknown";

/// One message on any docclass queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Always [`SCHEMA_VERSION`] when written by this build.
    pub schema_version: u32,
    /// The document being classified.
    pub document: Document,
    /// Added by the topic classifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<Classification>,
    /// Added by the subtopic classifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtopic: Option<Classification>,
}

/// A document as the ingestor saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    /// Stable identifier: the key of the result table, so a redelivered document overwrites itself.
    pub id: String,
    /// Title or subject line; may be empty.
    #[serde(default)]
    pub title: String,
    /// Body text.
    pub text: String,
    /// Where the document came from (a feed URL, a file path, a corpus name).
    #[serde(default)]
    pub source: String,
    /// Link to the original, when the source has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Publication time given by the source, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<DateTime<Utc>>,
    /// When the ingestor enqueued it: the start of end-to-end latency.
    pub ingested_at: DateTime<Utc>,
    /// Labels the source already carries (a labelled corpus, an arXiv category), kept to measure accuracy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
}

/// Known labels of a document, from its source rather than from a model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Labels {
    /// Top-level topic, e.g. `sci`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Subtopic, e.g. `sci.med`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtopic: Option<String>,
    /// Every category the document is listed in, its own first: an arXiv paper's cross-lists
    /// (`["cs.LG", "stat.ML"]`). Empty where the source lists none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
}

/// What one classifier stage decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    /// The predicted label.
    pub label: String,
    /// Confidence in `[0, 1]`.
    pub score: f32,
    /// Identifies the model file that decided, so results can be traced to a model.
    pub model_version: String,
    /// When the stage decided: with `ingested_at`, gives per-stage latency.
    pub classified_at: DateTime<Utc>,
    /// The subtopic stage's most likely categories over every topic, most likely first, with calibrated
    /// probabilities: an arXiv paper's likely cross-lists. Empty from the topic stage.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top: Vec<CategoryScore>,
}

/// A category and its calibrated probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryScore {
    /// The category (a subtopic label, e.g. `cs.LG`).
    pub label: String,
    /// Its probability in `[0, 1]`.
    pub score: f32,
}

/// The pipeline stage that is about to handle an envelope; each needs different fields present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Needs a document only.
    Topic,
    /// Needs a topic.
    Subtopic,
    /// Needs a topic and a subtopic.
    Write,
}

/// Size limits checked before any work is done on a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest title + text accepted, in bytes.
    pub max_text_bytes: usize,
}

impl Limits {
    /// SQS caps a message at 256 KiB; leaving room for the envelope's other fields keeps every accepted
    /// document sendable to the next queue.
    pub const DEFAULT_MAX_TEXT_BYTES: usize = 192 * 1024;
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_text_bytes: Self::DEFAULT_MAX_TEXT_BYTES }
    }
}

/// Why a message can never be processed. It goes to the dead-letter queue with
/// [`Rejection::reason`] as its machine-readable reason and is not retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The body is not a JSON envelope.
    #[error("message body is not a valid envelope: {detail}")]
    InvalidJson {
        /// The parser's message.
        detail: String,
    },
    /// Written by a newer or older producer than this build understands.
    #[error("schema version {found} is not supported (this build reads version {SCHEMA_VERSION})")]
    UnsupportedSchemaVersion {
        /// The version the message claims.
        found: u64,
    },
    /// The document has no id, so its result could never be stored idempotently.
    #[error("document has an empty id")]
    MissingId,
    /// Nothing to classify.
    #[error("document {id} has an empty title and text")]
    EmptyText {
        /// The document id.
        id: String,
    },
    /// Larger than [`Limits::max_text_bytes`].
    #[error("document {id} has {bytes} bytes of text, more than the limit of {limit}")]
    TextTooLarge {
        /// The document id.
        id: String,
        /// Its title + text size.
        bytes: usize,
        /// The limit in force.
        limit: usize,
    },
    /// A stage received an envelope that skipped an earlier stage.
    #[error("document {id} reached the {stage:?} stage without a {missing}")]
    MissingClassification {
        /// The document id.
        id: String,
        /// The stage that rejected it.
        stage: Stage,
        /// `topic` or `subtopic`.
        missing: &'static str,
    },
}

impl Rejection {
    /// Its reason, stored with the dead letter.
    pub fn reason(&self) -> DeadLetterReason {
        match self {
            Rejection::InvalidJson { .. } => DeadLetterReason::InvalidJson,
            Rejection::UnsupportedSchemaVersion { .. } => DeadLetterReason::UnsupportedSchemaVersion,
            Rejection::MissingId => DeadLetterReason::MissingId,
            Rejection::EmptyText { .. } => DeadLetterReason::EmptyText,
            Rejection::TextTooLarge { .. } => DeadLetterReason::TextTooLarge,
            Rejection::MissingClassification { .. } => DeadLetterReason::MissingClassification,
        }
    }

    /// Its reason's stable spelling, e.g. `invalid_json`.
    pub fn reason_code(&self) -> &'static str {
        self.reason().as_str()
    }
}

/// `text` without the characters that drive a terminal rather than print: C0 and C1 controls but tab
/// and newline (escape sequences clear a screen or retitle a window) and the bidirectional overrides and
/// isolates (which reorder what a reader sees). Feeds and files carry them as `&#27;` or `\u001b`;
/// `docclass results` and `dlq inspect` print documents to terminals.
pub fn without_control_characters(text: &str) -> std::borrow::Cow<'_, str> {
    let unwanted = |c: char| {
        (c.is_control() && c != '\t' && c != '\n') || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if text.contains(unwanted) {
        text.chars().filter(|&c| !unwanted(c)).collect::<String>().into()
    } else {
        text.into()
    }
}

fn clean(field: &mut String) {
    if let std::borrow::Cow::Owned(cleaned) = without_control_characters(field) {
        *field = cleaned;
    }
}

impl Envelope {
    /// Wraps a freshly ingested document, its text cleaned of control characters
    /// ([`without_control_characters`]): every producer enqueues through here.
    pub fn new(mut document: Document) -> Self {
        for field in [&mut document.id, &mut document.title, &mut document.text, &mut document.source] {
            clean(field);
        }
        if let Some(url) = &mut document.url {
            clean(url);
        }
        Self { schema_version: SCHEMA_VERSION, document, topic: None, subtopic: None }
    }

    /// Parses a queue message body.
    ///
    /// The schema version is read first, so that a message from an incompatible producer is reported as
    /// such rather than as whichever field happened to fail.
    ///
    /// # Errors
    /// [`Rejection::InvalidJson`] or [`Rejection::UnsupportedSchemaVersion`].
    pub fn decode(body: &str) -> Result<Self, Rejection> {
        #[derive(Deserialize)]
        struct VersionOnly {
            schema_version: Option<serde_json::Value>,
        }
        let probe: VersionOnly =
            serde_json::from_str(body).map_err(|error| Rejection::InvalidJson { detail: error.to_string() })?;
        let version = match probe.schema_version {
            None => {
                return Err(Rejection::InvalidJson { detail: "missing field `schema_version`".into() });
            }
            Some(value) => value.as_u64().ok_or_else(|| Rejection::InvalidJson {
                detail: format!("`schema_version` must be a whole number, found {value}"),
            })?,
        };
        if version != u64::from(SCHEMA_VERSION) {
            return Err(Rejection::UnsupportedSchemaVersion { found: version });
        }
        serde_json::from_str(body).map_err(|error| Rejection::InvalidJson { detail: error.to_string() })
    }

    /// Serialises for a queue.
    pub fn encode(&self) -> String {
        // Serialising plain structs of strings, numbers and timestamps cannot fail.
        serde_json::to_string(self).expect("an envelope always serialises")
    }

    /// Checks that `stage` can work on this envelope.
    ///
    /// # Errors
    /// The first [`Rejection`] that applies.
    pub fn validate(&self, stage: Stage, limits: &Limits) -> Result<(), Rejection> {
        let doc = &self.document;
        if doc.id.trim().is_empty() {
            return Err(Rejection::MissingId);
        }
        if doc.title.trim().is_empty() && doc.text.trim().is_empty() {
            return Err(Rejection::EmptyText { id: doc.id.clone() });
        }
        let bytes = doc.title.len() + doc.text.len();
        if bytes > limits.max_text_bytes {
            return Err(Rejection::TextTooLarge { id: doc.id.clone(), bytes, limit: limits.max_text_bytes });
        }
        let missing = match stage {
            Stage::Topic => None,
            Stage::Subtopic => self.topic.is_none().then_some("topic"),
            Stage::Write => {
                if self.topic.is_none() {
                    Some("topic")
                } else {
                    self.subtopic.is_none().then_some("subtopic")
                }
            }
        };
        match missing {
            Some(missing) => Err(Rejection::MissingClassification { id: doc.id.clone(), stage, missing }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(text: &str) -> Document {
        Document {
            id: "doc-1".into(),
            title: String::new(),
            text: text.into(),
            source: "test".into(),
            url: None,
            published: None,
            ingested_at: Utc::now(),
            labels: None,
        }
    }

    #[test]
    fn control_characters_never_enter_the_pipeline() {
        let mut doc = document("clear\u{1b}[2J screen\u{7}, tab\tand\nnewline kept, \u{202e}reversed\u{9b}");
        doc.title = "title\u{1b}]0;pwned\u{7}".into();
        doc.url = Some("https://example.org/\u{0}x".into());
        let envelope = Envelope::new(doc);
        assert_eq!(envelope.document.text, "clear[2J screen, tab\tand\nnewline kept, reversed");
        assert_eq!(envelope.document.title, "title]0;pwned");
        assert_eq!(envelope.document.url.as_deref(), Some("https://example.org/x"));
        assert!(matches!(without_control_characters("plain"), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn round_trips_through_json() {
        let envelope = Envelope::new(document("hello world"));
        assert_eq!(Envelope::decode(&envelope.encode()).unwrap(), envelope);
    }

    #[test]
    fn rejects_unknown_schema_version_by_name() {
        let mut value: serde_json::Value = serde_json::from_str(&Envelope::new(document("x")).encode()).unwrap();
        value["schema_version"] = 99.into();
        let error = Envelope::decode(&value.to_string()).unwrap_err();
        assert_eq!(error, Rejection::UnsupportedSchemaVersion { found: 99 });
        assert_eq!(error.reason_code(), "unsupported_schema_version");
    }

    #[test]
    fn rejects_garbage_as_invalid_json() {
        for body in ["not json", "{}", "[1,2]", r#"{"schema_version":"1"}"#, r#"{"schema_version":1}"#] {
            let error = Envelope::decode(body).unwrap_err();
            assert_eq!(error.reason_code(), "invalid_json", "{body}");
        }
    }

    #[test]
    fn validates_per_stage() {
        let limits = Limits { max_text_bytes: 10 };
        let ok = Envelope::new(document("short"));
        assert_eq!(ok.validate(Stage::Topic, &limits), Ok(()));
        assert_eq!(ok.validate(Stage::Subtopic, &limits).unwrap_err().reason_code(), "missing_classification");
        let empty = Envelope::new(document("  \n"));
        assert_eq!(empty.validate(Stage::Topic, &limits).unwrap_err().reason_code(), "empty_text");
        let large = Envelope::new(document("far more than ten bytes"));
        assert_eq!(large.validate(Stage::Topic, &limits).unwrap_err().reason_code(), "text_too_large");
    }
}
