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
    /// The longest document id, in bytes. DynamoDB refuses a partition key over 2,048 bytes, and refuses
    /// the whole `BatchWriteItem` holding it; half that leaves room for a store that prefixes ids.
    pub const MAX_ID_BYTES: usize = 1024;
    /// The largest encoded envelope a stage accepts, in bytes: under SQS's 256 KiB by what the later
    /// stages add (two classifications, a few hundred bytes each) and what a dead letter adds
    /// (attributes, [`crate::MAX_DETAIL_BYTES`] of detail), so that an accepted envelope can always be
    /// forwarded and, if it must, dead-lettered whole.
    pub const MAX_ENVELOPE_BYTES: usize = 240 * 1024;
    /// What a later stage accepts: an envelope within [`Self::MAX_ENVELOPE_BYTES`] at ingest, grown by
    /// the classifications since.
    const MAX_CLASSIFIED_ENVELOPE_BYTES: usize = 248 * 1024;
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_text_bytes: Self::DEFAULT_MAX_TEXT_BYTES }
    }
}

/// Why a message can never be processed. It goes to the dead-letter queue with
/// [`Rejection::reason`] as its machine-readable reason and is not retried.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
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
    /// The id is longer than [`Limits::MAX_ID_BYTES`].
    #[error("document id of {bytes} bytes is longer than the limit of {limit} (it begins {prefix:?})")]
    IdTooLong {
        /// The id's first characters.
        prefix: String,
        /// Its size.
        bytes: usize,
        /// The limit in force.
        limit: usize,
    },
    /// The whole envelope, encoded, is larger than a stage accepts.
    #[error("document {id} is {bytes} bytes as an envelope, more than the limit of {limit}")]
    EnvelopeTooLarge {
        /// The document id.
        id: String,
        /// The encoded size.
        bytes: usize,
        /// The limit in force.
        limit: usize,
    },
    /// A classification's label is empty.
    #[error("document {id} has an empty {which} label")]
    EmptyLabel {
        /// The document id.
        id: String,
        /// `topic` or `subtopic`.
        which: &'static str,
    },
    /// A classification's score is not a number in `[0, 1]`.
    #[error("document {id} has a {which} score of {score}, not a number in [0, 1]")]
    ScoreOutOfRange {
        /// The document id.
        id: String,
        /// `topic`, `subtopic` or `top category`.
        which: &'static str,
        /// The score.
        score: f32,
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
            Rejection::IdTooLong { .. } => DeadLetterReason::IdTooLong,
            Rejection::EnvelopeTooLarge { .. } => DeadLetterReason::EnvelopeTooLarge,
            Rejection::EmptyLabel { .. } => DeadLetterReason::EmptyLabel,
            Rejection::ScoreOutOfRange { .. } => DeadLetterReason::ScoreOutOfRange,
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

/// `text` fit for one line of a terminal: every character [`without_control_characters`] would drop,
/// and tab and newline too, shown escaped (`\u{1b}`) instead of acted upon. For output: rows written
/// before ingest stripped controls, and dead letters (which keep a body as it came), still hold them.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_here = |c: char| c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if !text.contains(unsafe_here) {
        return text.into();
    }
    let mut shown = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_here(c) {
            shown.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            shown.push(c);
        }
    }
    shown.into()
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

    /// Checks that `stage` can work on this envelope, and that what it will send on — the next queue's
    /// message, the table's row, a dead letter — will be accepted: what a queue or table would refuse is
    /// refused here, with its own reason, so it never takes a batch of good neighbours down with it.
    ///
    /// # Errors
    /// The first [`Rejection`] that applies.
    pub fn validate(&self, stage: Stage, limits: &Limits) -> Result<(), Rejection> {
        let doc = &self.document;
        if doc.id.trim().is_empty() {
            return Err(Rejection::MissingId);
        }
        if doc.id.len() > Limits::MAX_ID_BYTES {
            let prefix = doc.id[..doc.id.floor_char_boundary(32)].to_owned();
            return Err(Rejection::IdTooLong { prefix, bytes: doc.id.len(), limit: Limits::MAX_ID_BYTES });
        }
        if doc.title.trim().is_empty() && doc.text.trim().is_empty() {
            return Err(Rejection::EmptyText { id: doc.id.clone() });
        }
        let bytes = doc.title.len() + doc.text.len();
        if bytes > limits.max_text_bytes {
            return Err(Rejection::TextTooLarge { id: doc.id.clone(), bytes, limit: limits.max_text_bytes });
        }
        let limit =
            if stage == Stage::Topic { Limits::MAX_ENVELOPE_BYTES } else { Limits::MAX_CLASSIFIED_ENVELOPE_BYTES };
        let bytes = self.encoded_len();
        if bytes > limit {
            return Err(Rejection::EnvelopeTooLarge { id: doc.id.clone(), bytes, limit });
        }
        let needed: &[(&'static str, &Option<Classification>)] = match stage {
            Stage::Topic => &[],
            Stage::Subtopic => &[("topic", &self.topic)],
            Stage::Write => &[("topic", &self.topic), ("subtopic", &self.subtopic)],
        };
        for &(which, classification) in needed {
            let Some(classification) = classification else {
                return Err(Rejection::MissingClassification { id: doc.id.clone(), stage, missing: which });
            };
            classification.check(&doc.id, which)?;
        }
        Ok(())
    }

    /// The size of [`Envelope::encode`]'s answer, without building it.
    fn encoded_len(&self) -> usize {
        struct Count(usize);
        impl std::io::Write for Count {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0 += bytes.len();
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut count = Count(0);
        serde_json::to_writer(&mut count, self).expect("an envelope always serialises");
        count.0
    }
}

impl Classification {
    /// A label the table can index, and scores it can store.
    fn check(&self, id: &str, which: &'static str) -> Result<(), Rejection> {
        if self.label.trim().is_empty() {
            return Err(Rejection::EmptyLabel { id: id.to_owned(), which });
        }
        let in_range = |score: f32| (0.0..=1.0).contains(&score);
        if !in_range(self.score) {
            return Err(Rejection::ScoreOutOfRange { id: id.to_owned(), which, score: self.score });
        }
        if let Some(bad) = self.top.iter().find(|category| !in_range(category.score)) {
            return Err(Rejection::ScoreOutOfRange { id: id.to_owned(), which: "top category", score: bad.score });
        }
        Ok(())
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
    fn printable_text_shows_controls_escaped() {
        assert_eq!(printable("a\u{1b}[2Jb\nc\u{202e}d\u{9b}"), "a\\u{1b}[2Jb\\u{a}c\\u{202e}d\\u{9b}");
        assert!(matches!(printable("plain café"), std::borrow::Cow::Borrowed(_)));
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

    fn classified(label: &str, score: f32) -> Classification {
        Classification {
            label: label.into(),
            score,
            model_version: "m".into(),
            classified_at: Utc::now(),
            top: Vec::new(),
        }
    }

    /// What DynamoDB or SQS would refuse, refused first, each with its own reason.
    #[test]
    fn refuses_what_a_store_would_refuse() {
        let limits = Limits::default();
        let reason = |envelope: &Envelope, stage| envelope.validate(stage, &limits).map_err(|r| r.reason_code());

        let mut long_id = Envelope::new(document("text"));
        long_id.document.id = "é".repeat(Limits::MAX_ID_BYTES / 2 + 1);
        assert_eq!(reason(&long_id, Stage::Topic), Err("id_too_long"));
        long_id.document.id.pop();
        assert_eq!(reason(&long_id, Stage::Topic), Ok(()));

        // Title and text within their limit, but a URL that makes the envelope too large for a queue.
        let mut large = Envelope::new(document("text"));
        large.document.url = Some("u".repeat(Limits::MAX_ENVELOPE_BYTES));
        assert_eq!(reason(&large, Stage::Topic), Err("envelope_too_large"));

        let mut written = Envelope::new(document("text"));
        written.topic = Some(classified("sci", 0.9));
        written.subtopic = Some(classified("sci.med", 0.8));
        assert_eq!(reason(&written, Stage::Write), Ok(()));
        for (topic, subtopic, expected) in [
            ("", 0.5, "empty_label"),
            (" ", 0.5, "empty_label"),
            ("sci", f32::INFINITY, "score_out_of_range"),
            ("sci", f32::NAN, "score_out_of_range"),
            ("sci", 1.5, "score_out_of_range"),
            ("sci", -0.1, "score_out_of_range"),
        ] {
            let mut bad = written.clone();
            bad.topic = Some(classified(topic, 0.9));
            bad.subtopic = Some(classified("sci.med", subtopic));
            assert_eq!(reason(&bad, Stage::Write), Err(expected), "{topic:?} {subtopic}");
        }
        let mut bad_top = written.clone();
        bad_top.subtopic.as_mut().unwrap().top = vec![CategoryScore { label: "x".into(), score: f32::NAN }];
        assert_eq!(reason(&bad_top, Stage::Write), Err("score_out_of_range"));
        let mut empty_subtopic = written.clone();
        empty_subtopic.subtopic = Some(classified("", 0.5));
        assert_eq!(reason(&empty_subtopic, Stage::Write), Err("empty_label"));
        assert_eq!(reason(&empty_subtopic, Stage::Subtopic), Ok(()), "the subtopic stage replaces it");

        // A score that overflows f32 arrives as infinity.
        let mut value: serde_json::Value = serde_json::from_str(&written.encode()).unwrap();
        value["topic"]["score"] = serde_json::json!(1e39);
        let decoded = Envelope::decode(&value.to_string()).unwrap();
        assert_eq!(reason(&decoded, Stage::Subtopic), Err("score_out_of_range"));
    }
}
