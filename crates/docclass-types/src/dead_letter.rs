//! Why a message was dead-lettered: one enum, so the worker that writes a reason and the tools that read
//! it (`docclass dlq inspect`, the dead-letter file, dashboards) agree on its spelling.

use std::fmt;

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
}

impl DeadLetterReason {
    /// Every reason.
    pub const ALL: [DeadLetterReason; 12] = [
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
}
