//! The flags every service binary takes, feed-ingest included: how it logs, where it serves
//! `/healthz` and `/metrics`, and the container health check.

use std::net::SocketAddr;

use docclass_types::topology::env;
use worker_runtime::telemetry::{self, LogFormat};

/// Flags every service takes (flattened into each binary's own).
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// Log line format on stderr: text or json.
    #[arg(long, env = env::LOG_FORMAT, default_value = "text", value_parser = parse_log_format)]
    pub log_format: LogFormat,
    /// Address of the `/healthz` and `/metrics` endpoint [default: 127.0.0.1 on the service's own port:
    /// feed-ingest 9100, topic-classifier 9101, subtopic-classifier 9102, table-writer 9103; the images
    /// and task definitions set 0.0.0.0, for the orchestrator and the scraper].
    #[arg(long, env = env::METRICS_ADDR)]
    pub metrics_addr: Option<SocketAddr>,
    /// Ask the running service's `/healthz` (at the metrics address) and exit 0 if it is healthy, else
    /// 1: the container health check of images that have no shell or curl.
    #[arg(long)]
    pub healthcheck: bool,
}

impl CommonArgs {
    /// With `--healthcheck`, checks the service on its metrics address and exits; else returns.
    pub fn exit_if_healthcheck(&self, default_port: u16) {
        crate::health::exit_if_healthcheck(self.healthcheck, self.metrics_addr_or(default_port));
    }

    /// The metrics address, or the service's default port on loopback: a service started by hand on a
    /// laptop or a shared host does not publish its metrics to the network unless told to.
    pub fn metrics_addr_or(&self, default_port: u16) -> SocketAddr {
        self.metrics_addr.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], default_port)))
    }

    /// Starts logging on stderr in the chosen format.
    pub fn init_logging(&self) {
        telemetry::init(self.log_format, "info");
    }
}

/// How a service ends: `0`, or `1` with the error as one line on stderr (`topic-classifier: <error>:
/// <cause>`) — never Rust's `Debug` form of it, which returning an error from `main` prints (with a stack
/// backtrace when `RUST_BACKTRACE` is set).
pub fn exit_code(service: &str, result: anyhow::Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{service}: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn parse_log_format(value: &str) -> Result<LogFormat, String> {
    match value {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        other => Err(format!("unknown log format {other:?}: use text or json")),
    }
}
