//! What each feed has done: counters on `/metrics` for Prometheus, and the same figures per feed as
//! JSON on `/feeds`, which `docclass feeds status` prints.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::routing::get;
use chrono::{DateTime, Utc};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};

/// One feed's figures since the service started.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FeedStatus {
    /// The feed.
    pub url: String,
    /// Polls made, whatever their outcome.
    pub polls: u64,
    /// Polls the server answered 304 Not Modified.
    pub not_modified: u64,
    /// Documents enqueued.
    pub new_documents: u64,
    /// Entries not enqueued because they were enqueued before (by an earlier poll, run or replica).
    pub duplicates_skipped: u64,
    /// Entries not enqueued because they are unfit, by reason (`empty_text`, `text_too_large`, `refused`).
    pub documents_skipped: BTreeMap<String, u64>,
    /// Failed polls, by kind (`timeout`, `status`, `too_large`, `parse`, `store`, …).
    pub errors: BTreeMap<String, u64>,
    /// Failed polls since the last success; the feed's backoff grows with it.
    pub consecutive_failures: u32,
    /// When a poll last succeeded.
    pub last_success: Option<DateTime<Utc>>,
    /// The last failure's message, until a poll succeeds.
    pub last_error: Option<String>,
    /// When the feed is polled next.
    pub next_poll: Option<DateTime<Utc>>,
}

/// How one poll of a feed ended.
#[derive(Debug, Clone, PartialEq)]
pub enum PollOutcome {
    /// 304: nothing changed.
    NotModified,
    /// The feed was read.
    Read(PollReport),
    /// The poll failed; the feed backs off.
    Failed {
        /// A short machine-readable kind.
        kind: &'static str,
        /// The error, for humans.
        detail: String,
    },
}

/// What a successful read of a feed did with its entries.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PollReport {
    /// Entries in the feed.
    pub entries: u64,
    /// Documents enqueued.
    pub new_documents: u64,
    /// Entries enqueued before.
    pub duplicates: u64,
    /// Entries left out, by reason.
    pub skipped: BTreeMap<&'static str, u64>,
}

type Labels = Vec<(&'static str, String)>;

/// Shared by every feed's task and the HTTP endpoints.
#[derive(Clone, Default)]
pub struct FeedMetrics {
    status: Arc<Mutex<BTreeMap<String, FeedStatus>>>,
    polls: Family<Labels, Counter>,
    not_modified: Family<Labels, Counter>,
    new_documents: Family<Labels, Counter>,
    duplicates_skipped: Family<Labels, Counter>,
    documents_skipped: Family<Labels, Counter>,
    errors: Family<Labels, Counter>,
    last_success: Family<Labels, Gauge<f64, AtomicU64>>,
}

impl FeedMetrics {
    /// Adds the counters to `registry`, prefixed `docclass_feed_`.
    pub fn register(&self, registry: &mut Registry) {
        let registry = registry.sub_registry_with_prefix("docclass_feed");
        registry.register("polls", "Polls made", self.polls.clone());
        registry.register("not_modified", "Polls answered 304 Not Modified", self.not_modified.clone());
        registry.register("new_documents", "Documents enqueued", self.new_documents.clone());
        registry.register("duplicates_skipped", "Entries enqueued before, skipped", self.duplicates_skipped.clone());
        registry.register("documents_skipped", "Entries left out as unfit, by reason", self.documents_skipped.clone());
        registry.register("errors", "Failed polls, by kind", self.errors.clone());
        registry.register(
            "last_success_timestamp_seconds",
            "Unix time of the last successful poll",
            self.last_success.clone(),
        );
    }

    /// Lists `url` before its first poll, so a feed that never answers still shows up.
    pub fn add_feed(&self, url: &str) {
        self.update(url, |_| {});
    }

    /// Records that `url`'s task panicked and was started again: an error of kind `panicked`, so
    /// `/feeds` and the error counter show it.
    pub fn restarted(&self, url: &str) {
        let detail = "the feed's task panicked (a bug: please report it) and was started again".to_owned();
        self.record(url, &PollOutcome::Failed { kind: "panicked", detail });
    }

    /// Counts one poll of `url`.
    pub fn record(&self, url: &str, outcome: &PollOutcome) {
        let feed = || vec![("feed", url.to_owned())];
        self.polls.get_or_create(&feed()).inc();
        let now = Utc::now();
        match outcome {
            PollOutcome::NotModified => {
                self.not_modified.get_or_create(&feed()).inc();
                self.last_success.get_or_create(&feed()).set(now.timestamp_millis() as f64 / 1000.0);
            }
            PollOutcome::Read(report) => {
                self.new_documents.get_or_create(&feed()).inc_by(report.new_documents);
                self.duplicates_skipped.get_or_create(&feed()).inc_by(report.duplicates);
                for (reason, n) in &report.skipped {
                    self.documents_skipped
                        .get_or_create(&vec![("feed", url.to_owned()), ("reason", (*reason).to_owned())])
                        .inc_by(*n);
                }
                self.last_success.get_or_create(&feed()).set(now.timestamp_millis() as f64 / 1000.0);
            }
            PollOutcome::Failed { kind, .. } => {
                self.errors.get_or_create(&vec![("feed", url.to_owned()), ("kind", (*kind).to_owned())]).inc();
            }
        }
        self.update(url, |status| {
            status.polls += 1;
            match outcome {
                PollOutcome::NotModified => status.not_modified += 1,
                PollOutcome::Read(report) => {
                    status.new_documents += report.new_documents;
                    status.duplicates_skipped += report.duplicates;
                    for (reason, n) in &report.skipped {
                        *status.documents_skipped.entry((*reason).to_owned()).or_default() += n;
                    }
                }
                PollOutcome::Failed { kind, detail } => {
                    *status.errors.entry((*kind).to_owned()).or_default() += 1;
                    status.consecutive_failures += 1;
                    status.last_error = Some(detail.clone());
                    return;
                }
            }
            status.consecutive_failures = 0;
            status.last_success = Some(now);
            status.last_error = None;
        });
    }

    /// Notes when `url` is polled next.
    pub fn scheduled(&self, url: &str, next_poll: DateTime<Utc>) {
        self.update(url, |status| status.next_poll = Some(next_poll));
    }

    /// Every feed's figures, by URL.
    pub fn snapshot(&self) -> Vec<FeedStatus> {
        self.status.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).values().cloned().collect()
    }

    /// `GET /feeds`: [`FeedMetrics::snapshot`] as JSON.
    pub fn router(&self) -> axum::Router {
        let metrics = self.clone();
        axum::Router::new().route("/feeds", get(move || async move { Json(metrics.snapshot()) }))
    }

    fn update(&self, url: &str, change: impl FnOnce(&mut FeedStatus)) {
        let mut status = self.status.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry =
            status.entry(url.to_owned()).or_insert_with(|| FeedStatus { url: url.to_owned(), ..FeedStatus::default() });
        change(entry);
    }
}
