//! Why a message was dead-lettered: one enum, so the worker that writes a reason and the tools that read
//! it (`docclass dlq inspect`, the dead-letter file, dashboards) agree on its spelling.

use std::collections::BTreeMap;
use std::fmt;

use crate::queue::{MAX_MESSAGE_ATTRIBUTES, MAX_MESSAGE_BYTES, attributes_bytes};
use crate::{OutgoingMessage, ReceivedMessage, attributes};

/// The longest detail a dead letter keeps, in bytes; a longer one (an error quoting a whole body, say)
/// is cut, so the reason always fits beside the body.
pub const MAX_DETAIL_BYTES: usize = 1024;

/// The dead letter of `original`, taken from `source_queue` for `reason`: the original body and
/// attributes plus docclass's own (reason, detail, source queue, source message id), always within
/// one SQS message, so a letter is never refused and its reason never lost:
///
/// - the detail is cut at [`MAX_DETAIL_BYTES`];
/// - of the original attributes, only as many are kept as leave room for docclass's within SQS's ten
///   (the detail says how many were dropped); an earlier dead letter's attributes are replaced;
/// - a body that no longer fits is cut to what does, and the letter marked
///   [`attributes::DEAD_LETTER_TRUNCATED`] with the original size: a stub, kept for its reason, that
///   `dlq redrive` leaves where it is.
pub fn dead_letter(
    entry_id: impl Into<String>,
    original: &ReceivedMessage,
    source_queue: &str,
    reason: DeadLetterReason,
    detail: &str,
) -> OutgoingMessage {
    // Docclass's four, and one more for the stub mark should it be needed.
    let room = MAX_MESSAGE_ATTRIBUTES - 5;
    let originals: Vec<(&String, &String)> =
        original.attributes.iter().filter(|(name, _)| !name.starts_with(attributes::DEAD_LETTER_PREFIX)).collect();
    let dropped = originals.len().saturating_sub(room);
    let mut detail = detail.to_owned();
    if dropped > 0 {
        detail = format!("{dropped} of the message's attributes dropped to fit SQS's ten; {detail}");
    }
    let mut own = BTreeMap::new();
    own.insert(attributes::DEAD_LETTER_REASON.to_owned(), reason.as_str().to_owned());
    own.insert(attributes::DEAD_LETTER_DETAIL.to_owned(), truncated(&detail, MAX_DETAIL_BYTES).to_owned());
    own.insert(attributes::DEAD_LETTER_SOURCE_QUEUE.to_owned(), truncated(source_queue, 256).to_owned());
    own.insert(attributes::DEAD_LETTER_MESSAGE_ID.to_owned(), truncated(&original.message_id, 256).to_owned());
    let mut letter = OutgoingMessage::new(entry_id, original.body.clone());
    letter.attributes = own.clone();
    letter.attributes.extend(originals.iter().take(room).map(|(name, value)| ((*name).clone(), (*value).clone())));
    if letter.size_bytes() <= MAX_MESSAGE_BYTES {
        return letter;
    }
    // A stub. Original attributes that leave less than half the message for the body go too: the
    // reason and the beginning of the body are what a reader needs.
    if attributes_bytes(&letter.attributes) > MAX_MESSAGE_BYTES / 2 {
        letter.attributes = own;
    }
    letter.attributes.insert(attributes::DEAD_LETTER_TRUNCATED.to_owned(), original.body.len().to_string());
    let room = MAX_MESSAGE_BYTES - attributes_bytes(&letter.attributes);
    letter.body = truncated(&original.body, room).to_owned();
    letter
}

/// What a dead letter says about itself, read from its attributes: the one reader every tool uses
/// (`dlq inspect`/`redrive`, the dead-letter file, the embedded run's table), so none spells an
/// attribute's name itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeadLetter {
    /// The reason as stored: a [`DeadLetterReason`]'s name, or empty where SQS's own redrive moved the
    /// message (it adds no reason).
    pub reason: String,
    /// The human-readable detail (at most [`MAX_DETAIL_BYTES`]).
    pub detail: String,
    /// The queue it was taken from, where known.
    pub source_queue: Option<String>,
    /// The id it had in its source queue, which its copies share, where known.
    pub message_id: Option<String>,
    /// Whether the letter is a stub: it holds only the beginning of its original body.
    pub stub: bool,
    /// A stub's original body size, where its mark says a number.
    pub truncated_from_bytes: Option<u64>,
}

impl DeadLetter {
    /// Reads the dead-letter attributes of a message; the others are ignored.
    pub fn from_attributes(attributes: &BTreeMap<String, String>) -> Self {
        let get = |name: &str| attributes.get(name).cloned();
        Self {
            reason: get(attributes::DEAD_LETTER_REASON).unwrap_or_default(),
            detail: get(attributes::DEAD_LETTER_DETAIL).unwrap_or_default(),
            source_queue: get(attributes::DEAD_LETTER_SOURCE_QUEUE),
            message_id: get(attributes::DEAD_LETTER_MESSAGE_ID),
            // A stub mark that does not parse still marks a stub; its size is then unknown.
            stub: attributes.contains_key(attributes::DEAD_LETTER_TRUNCATED),
            truncated_from_bytes: get(attributes::DEAD_LETTER_TRUNCATED).and_then(|size| size.parse().ok()),
        }
    }

    /// Whether the letter holds only the beginning of its original body (and so is never redriven).
    pub fn is_stub(&self) -> bool {
        self.stub
    }

    /// The message's attributes without docclass's dead-letter ones: what it carried before.
    pub fn original_attributes(attributes: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        attributes
            .iter()
            .filter(|(name, _)| !name.starts_with(attributes::DEAD_LETTER_PREFIX))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect()
    }
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
fn truncated(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The machine-readable reason a dead letter carries (attribute
/// [`crate::attributes::DEAD_LETTER_REASON`]); its [`DeadLetterReason::as_str`] is what is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeadLetterReason {
    /// The body is not a JSON envelope ([`crate::Rejection::InvalidJson`]).
    InvalidJson,
    /// Written by a producer of another schema version.
    UnsupportedSchemaVersion,
    /// The document has an empty id.
    MissingId,
    /// The document has an empty title and text.
    EmptyText,
    /// The document's text is over the size limit.
    TextTooLarge,
    /// A stage received an envelope that skipped an earlier stage.
    MissingClassification,
    /// The subtopic stage was given a topic its model does not know.
    UnknownTopic,
    /// The handler failed on every delivery.
    HandlerFailed,
    /// The next queue (or the table) refused the message for good.
    ForwardRejected,
    /// Forwarding failed on every delivery.
    ForwardFailed,
    /// Too large for any queue message (a line on a service's standard input, say).
    MessageTooLarge,
    /// Moved by the queue's own redrive, not by a worker (the embedded queue says so; SQS's redrive adds no
    /// reason at all).
    MaxReceiveCountExceeded,
    /// The document id is longer than a table key may be ([`crate::Limits::MAX_ID_BYTES`]).
    IdTooLong,
    /// A classification's label is empty: it could not be a key of the table's `by-topic` index.
    EmptyLabel,
    /// A classification's score is not a number in `[0, 1]` (DynamoDB refuses infinities and NaN).
    ScoreOutOfRange,
    /// The encoded envelope is larger than a queue message may grow to
    /// ([`crate::Limits::MAX_ENVELOPE_BYTES`]).
    EnvelopeTooLarge,
}

impl DeadLetterReason {
    /// Every reason.
    pub const ALL: [DeadLetterReason; 16] = [
        Self::InvalidJson,
        Self::UnsupportedSchemaVersion,
        Self::MissingId,
        Self::EmptyText,
        Self::TextTooLarge,
        Self::MissingClassification,
        Self::UnknownTopic,
        Self::HandlerFailed,
        Self::ForwardRejected,
        Self::ForwardFailed,
        Self::MessageTooLarge,
        Self::MaxReceiveCountExceeded,
        Self::IdTooLong,
        Self::EmptyLabel,
        Self::ScoreOutOfRange,
        Self::EnvelopeTooLarge,
    ];

    /// Its stable spelling, e.g. `invalid_json`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidJson => "invalid_json",
            Self::UnsupportedSchemaVersion => "unsupported_schema_version",
            Self::MissingId => "missing_id",
            Self::EmptyText => "empty_text",
            Self::TextTooLarge => "text_too_large",
            Self::MissingClassification => "missing_classification",
            Self::UnknownTopic => "unknown_topic",
            Self::HandlerFailed => "handler_failed",
            Self::ForwardRejected => "forward_rejected",
            Self::ForwardFailed => "forward_failed",
            Self::MessageTooLarge => "message_too_large",
            Self::MaxReceiveCountExceeded => "max_receive_count_exceeded",
            Self::IdTooLong => "id_too_long",
            Self::EmptyLabel => "empty_label",
            Self::ScoreOutOfRange => "score_out_of_range",
            Self::EnvelopeTooLarge => "envelope_too_large",
        }
    }

    /// The reason spelled `text`, if it is one.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|reason| reason.as_str() == text)
    }
}

impl fmt::Display for DeadLetterReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_reads_back() {
        for reason in DeadLetterReason::ALL {
            assert_eq!(DeadLetterReason::parse(reason.as_str()), Some(reason));
        }
        let mut spellings: Vec<_> = DeadLetterReason::ALL.iter().map(|r| r.as_str()).collect();
        spellings.dedup();
        assert_eq!(spellings.len(), DeadLetterReason::ALL.len());
        assert_eq!(DeadLetterReason::parse("no_such_reason"), None);
    }

    fn received(body: String, attributes: usize) -> ReceivedMessage {
        ReceivedMessage {
            message_id: "m-1".into(),
            receipt: crate::Receipt("r".into()),
            body,
            receive_count: 1,
            attributes: (0..attributes).map(|n| (format!("attribute-{n}"), "value".to_owned())).collect(),
        }
    }

    #[test]
    fn what_dead_letter_writes_from_attributes_reads() {
        let letter = dead_letter("e", &received("body".into(), 2), "ingest", DeadLetterReason::EmptyText, "no text");
        let read = DeadLetter::from_attributes(&letter.attributes);
        assert_eq!(read.reason, "empty_text");
        assert_eq!(read.detail, "no text");
        assert_eq!(read.source_queue.as_deref(), Some("ingest"));
        assert_eq!(read.message_id.as_deref(), Some("m-1"));
        assert!(!read.is_stub());
        assert_eq!(DeadLetter::original_attributes(&letter.attributes), received(String::new(), 2).attributes);

        let stub =
            dead_letter("e", &received("x".repeat(MAX_MESSAGE_BYTES), 0), "q", DeadLetterReason::TextTooLarge, "");
        let read = DeadLetter::from_attributes(&stub.attributes);
        assert!(read.is_stub());
        assert_eq!(read.truncated_from_bytes, Some(MAX_MESSAGE_BYTES as u64));
        // A letter SQS's own redrive moved carries nothing of docclass's.
        assert_eq!(DeadLetter::from_attributes(&BTreeMap::new()), DeadLetter::default());
    }

    #[test]
    fn a_dead_letter_keeps_its_body_attributes_and_reason() {
        let mut original = received("{\"schema_version\":1}".into(), 2);
        original.attributes.insert(attributes::DEAD_LETTER_REASON.into(), "an_earlier_reason".into());
        let letter = dead_letter("0", &original, "ingest", DeadLetterReason::InvalidJson, "bad");
        assert_eq!(letter.body, original.body);
        assert_eq!(letter.attributes[attributes::DEAD_LETTER_REASON], "invalid_json");
        assert_eq!(letter.attributes[attributes::DEAD_LETTER_DETAIL], "bad");
        assert_eq!(letter.attributes[attributes::DEAD_LETTER_MESSAGE_ID], "m-1");
        assert_eq!(letter.attributes["attribute-1"], "value");
        assert_eq!(letter.attributes.len(), 6);
        assert!(!letter.attributes.contains_key(attributes::DEAD_LETTER_TRUNCATED));
    }

    #[test]
    fn a_dead_letter_always_fits_one_message() {
        // A body at the limit, a detail of a megabyte, and more attributes than SQS takes.
        let body = "é".repeat(MAX_MESSAGE_BYTES / 2);
        let letter = dead_letter(
            "0",
            &received(body.clone(), 9),
            "ingest",
            DeadLetterReason::HandlerFailed,
            &"x".repeat(1 << 20),
        );
        assert!(letter.size_bytes() <= MAX_MESSAGE_BYTES, "{} bytes", letter.size_bytes());
        assert!(letter.attributes.len() <= MAX_MESSAGE_ATTRIBUTES, "{:?}", letter.attributes.keys());
        assert_eq!(letter.attributes[attributes::DEAD_LETTER_REASON], "handler_failed");
        let detail = &letter.attributes[attributes::DEAD_LETTER_DETAIL];
        assert!(detail.len() <= MAX_DETAIL_BYTES && detail.starts_with("4 of the message's attributes dropped"));
        assert_eq!(letter.attributes[attributes::DEAD_LETTER_TRUNCATED], body.len().to_string());
        assert!(body.starts_with(&letter.body) && letter.body.len() > MAX_MESSAGE_BYTES - 4096);
    }
}
