//! What `/api/status` answers: every part of the dashboard, each known or unreachable.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Sources;
use super::live::{HandledCounts, PoolView, QueueView, ServiceView, StageRate};
use super::results::DeadLetters;

/// What `/api/status` answers. A part that could not be read is `{"unreachable": "why"}`.
#[derive(Debug, Serialize)]
pub(super) struct Status {
    pub(super) source: String,
    pub(super) generated_at: DateTime<Utc>,
    pub(super) refresh_secs: u32,
    /// Rows in the table; absent when the table is unreachable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) results_written: Option<u64>,
    /// Topic → rows.
    pub(super) per_topic: Part<serde_json::Value>,
    /// Subtopic → rows.
    pub(super) per_subtopic: Part<serde_json::Value>,
    /// Subtopic confidence in ten bins of 0.1.
    pub(super) confidence_histogram: Part<serde_json::Value>,
    /// Model version → decisions (topic and subtopic models).
    pub(super) model_versions: Part<serde_json::Value>,
    /// How often predictions agree with the labels documents carried.
    pub(super) agreement: Part<serde_json::Value>,
    /// Rows written per minute over the last minutes, oldest first, and end-to-end latency.
    pub(super) throughput: Part<serde_json::Value>,
    pub(super) latest: Part<serde_json::Value>,
    pub(super) dead_letters: Part<DeadLetters>,
    /// Each queue: visible, in flight, age of the oldest message, dead letters.
    pub(super) queues: Part<Vec<QueueView>>,
    /// Each pool: desired and running.
    pub(super) pools: Part<Vec<PoolView>>,
    /// Messages handled per minute by each stage whose counts are known (the embedded run's, or the
    /// services whose `/metrics` was given), over the refreshes of the last minutes.
    pub(super) stages: Vec<StageRate>,
    /// Each service whose `/metrics` was given.
    pub(super) services: Vec<ServiceView>,
    /// The model store's live model, candidate, what the pools judged and the history; absent without
    /// a store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) models: Option<Part<serde_json::Value>>,
}

impl Status {
    /// Records this reading's per-stage counts and fills in the rates.
    pub(super) fn with_stages(mut self, sources: &Sources) -> Self {
        if let Some(counts) = &sources.stage_counts {
            for (stage, count) in HandledCounts::STAGES.iter().zip(counts.get()) {
                sources.rates.record(stage, count as f64);
            }
        }
        for service in &self.services {
            if let Some(handled) = service.counters.as_ref().and_then(|counters| counters.get("handled")) {
                sources.rates.record(&service.service, *handled);
            }
        }
        self.stages = sources.rates.per_minute();
        self
    }
}

/// A figure, or why it could not be read.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(super) enum Part<T> {
    Known(T),
    Unreachable { unreachable: String },
}

impl<T> Part<T> {
    pub(super) fn of(result: Result<T, String>) -> Self {
        match result {
            Ok(value) => Part::Known(value),
            Err(unreachable) => Part::Unreachable { unreachable },
        }
    }
}
