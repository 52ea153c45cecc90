//! The sinks of the stdio mode (`feed-ingest | topic-classifier | …`): standard output, the next
//! process's standard input, and a JSON Lines file of dead letters.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use docclass_types::{BatchResults, DeadLetter, MessageSink, OutgoingMessage, QueueError};

/// Writes each message body as one line on standard output: the next service's standard input.
pub struct StdoutSink {
    /// Serialises writers so lines never interleave.
    out: Mutex<std::io::Stdout>,
}

impl Default for StdoutSink {
    fn default() -> Self {
        Self { out: Mutex::new(std::io::stdout()) }
    }
}

impl MessageSink for StdoutSink {
    fn name(&self) -> &str {
        "stdout"
    }

    async fn send_batch(&self, messages: &[OutgoingMessage]) -> BatchResults {
        let mut out = self.out.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let written = messages.iter().try_for_each(|m| writeln!(out, "{}", m.body)).and_then(|()| out.flush());
        messages.iter().map(|_| written.as_ref().map_err(|error| transport("stdout", error)).copied()).collect()
    }
}

/// Appends dead letters to a JSON Lines file.
pub struct DeadLetterFile {
    path: PathBuf,
    file: Mutex<std::fs::File>,
}

impl DeadLetterFile {
    /// Opens `path` for appending, creating it if needed.
    ///
    /// # Errors
    /// When the file cannot be opened.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self { path: path.to_owned(), file: Mutex::new(file) })
    }
}

impl MessageSink for DeadLetterFile {
    fn name(&self) -> &str {
        self.path.to_str().unwrap_or("dead-letters")
    }

    async fn send_batch(&self, messages: &[OutgoingMessage]) -> BatchResults {
        let mut file = self.file.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        messages
            .iter()
            .map(|message| {
                let letter = DeadLetter::from_attributes(&message.attributes);
                let line = serde_json::json!({
                    "reason": letter.reason,
                    "detail": letter.detail,
                    "queue": letter.source_queue.unwrap_or_default(),
                    "body": message.body,
                });
                writeln!(file, "{line}").and_then(|()| file.flush()).map_err(|error| transport(self.name(), &error))
            })
            .collect()
    }
}

fn transport(queue: &str, error: &std::io::Error) -> QueueError {
    QueueError::Transport { queue: queue.to_owned(), detail: error.to_string(), retriable: false }
}
