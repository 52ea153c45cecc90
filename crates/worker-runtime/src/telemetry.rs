//! Logging set-up, done once by each binary.

use std::sync::OnceLock;

use tracing_subscriber::EnvFilter;

/// The format [`init`] installed, for lines written outside a log call ([`json_lines`]).
static FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// Whether stderr carries JSON log lines: then every line a binary writes there must be one, or a
/// collector that parses each line breaks on it.
pub fn json_lines() -> bool {
    FORMAT.get() == Some(&LogFormat::Json)
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// For people at a terminal.
    Text,
    /// One JSON object per line, for CloudWatch and other collectors.
    Json,
}

/// Installs the global subscriber: `RUST_LOG`-style filtering (default `default_filter`), to stderr so
/// that stdout stays free for a command's output.
pub fn init(format: LogFormat, default_filter: &str) {
    let _ = FORMAT.set(format);
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    // Colour only for a terminal: a log file or a container's log stream gets plain text, not escapes.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    // Ignoring the error: a subscriber already installed (by a test harness) is fine.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
