//! Polling feeds, each on its own schedule, into the queue — each document once.
//!
//! Every feed runs as its own task: a slow, failing or hostile feed delays only itself. A poll is
//! fetch (conditional GET) → parse → relabel → drop unfit entries → claim the new ids in the
//! de-duplication store → enqueue → confirm. Only a poll that got all the way through moves the feed's
//! validators (ETag, Last-Modified) forward, so a poll that failed halfway is redone in full next time,
//! and the store makes the redo enqueue only what did not make it.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use docclass_types::{Envelope, Limits, MessageSink, SeenDocuments, Stage, TableError};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use worker_runtime::Backoff;

use crate::status::{FeedMetrics, PollOutcome, PollReport};
use feeds::{FeedDefaults, FeedSpec, Fetched, Fetcher, Validators, parse_feed_as};

/// How feeds are polled, beyond each feed's interval.
#[derive(Debug, Clone, Copy)]
pub struct PollSettings {
    /// See [`FeedDefaults::jitter`].
    pub jitter: f64,
    /// See [`FeedDefaults::max_backoff`].
    pub max_backoff: Duration,
    /// How long a claim on an id holds before another poll may take it over; longer than a poll's
    /// enqueue can take, even when the queue pushes back.
    pub claim_lease: Duration,
    /// What an entry must fit in to be enqueued.
    pub limits: Limits,
}

impl Default for PollSettings {
    fn default() -> Self {
        Self::from(&FeedDefaults::default())
    }
}

impl From<&FeedDefaults> for PollSettings {
    fn from(defaults: &FeedDefaults) -> Self {
        Self {
            jitter: defaults.jitter,
            max_backoff: defaults.max_backoff,
            claim_lease: Duration::from_secs(10 * 60),
            limits: Limits::default(),
        }
    }
}

/// The wait before the next poll of a feed polled every `interval` that has failed `failures` times in
/// a row: the interval, doubled per failure up to `max_backoff` (never below the interval), then
/// stretched by `random` ∈ [0, 1) within ± `jitter`.
pub fn next_wait(interval: Duration, failures: u32, settings: &PollSettings, random: f64) -> Duration {
    let base = if failures == 0 {
        interval
    } else {
        let factor = 2u32.saturating_pow(failures.min(16));
        interval.saturating_mul(factor).min(settings.max_backoff.max(interval))
    };
    base.mul_f64(1.0 + settings.jitter * (2.0 * random - 1.0))
}

/// What a feed's task remembers between polls (in memory: after a restart the first poll is a full
/// GET, and the store keeps it from enqueueing anything twice).
#[derive(Debug, Default)]
pub struct FeedState {
    validators: Validators,
    /// Ids of the last successful read, settled one way or another: skipped next time without asking
    /// the store, which keeps a feed that re-serves 1,000 entries from costing 1,000 store calls.
    known: HashSet<String>,
}

/// Polls feeds into a queue; see the module documentation.
pub struct FeedPoller<S, D> {
    fetcher: Fetcher,
    sink: S,
    seen: D,
    metrics: FeedMetrics,
    settings: PollSettings,
}

/// A failed poll: a short kind for metrics, the error for humans.
struct Failure {
    kind: &'static str,
    detail: String,
}

impl Failure {
    fn store(error: &TableError) -> Self {
        Self { kind: "store", detail: error.to_string() }
    }
}

impl<S: MessageSink, D: SeenDocuments> FeedPoller<S, D> {
    /// A poller fetching with `fetcher`, enqueueing on `sink`, remembering in `seen`.
    pub fn new(fetcher: Fetcher, sink: S, seen: D, metrics: FeedMetrics, settings: PollSettings) -> Self {
        Self { fetcher, sink, seen, metrics, settings }
    }

    /// Polls every feed on its own schedule until `shutdown`. A fetch under way is abandoned at the
    /// signal (the next start polls that feed again); once the feed has answered, the poll finishes,
    /// so what was claimed is enqueued and confirmed. A feed's task that panics is logged and started
    /// again after a pause: one feed that trips a bug never stops being polled in silence.
    pub async fn run(self: Arc<Self>, feeds: Vec<FeedSpec>, shutdown: CancellationToken) {
        let mut tasks = JoinSet::new();
        let mut by_task = std::collections::HashMap::new();
        for feed in feeds {
            self.metrics.add_feed(&feed.shown());
            let (poller, stop, spec) = (self.clone(), shutdown.clone(), feed.clone());
            let task = tasks.spawn(async move { poller.poll_forever(spec, stop, Duration::ZERO).await });
            by_task.insert(task.id(), feed);
        }
        while let Some(ended) = tasks.join_next_with_id().await {
            let (id, error) = match ended {
                Ok((id, ())) => (id, None),
                Err(error) => (error.id(), Some(error)),
            };
            let Some(feed) = by_task.remove(&id) else { continue };
            let Some(error) = error else { continue };
            if shutdown.is_cancelled() {
                continue;
            }
            let pause = self.settings.max_backoff.min(Duration::from_secs(60));
            tracing::error!(feed = %feed.shown(), %error, restart_in = ?pause, "a feed's task failed; starting it again");
            self.metrics.restarted(&feed.shown());
            let (poller, stop, spec) = (self.clone(), shutdown.clone(), feed.clone());
            let task = tasks.spawn(async move { poller.poll_forever(spec, stop, pause).await });
            by_task.insert(task.id(), feed);
        }
    }

    async fn poll_forever(&self, feed: FeedSpec, shutdown: CancellationToken, first_wait: Duration) {
        let mut state = FeedState::default();
        let mut failures = 0;
        // Feeds started together begin spread over the first jitter window.
        let mut wait = first_wait + feed.interval.mul_f64(self.settings.jitter * fastrand::f64());
        loop {
            self.metrics.scheduled(&feed.shown(), chrono::Utc::now() + wait);
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            let Some(outcome) = self.poll_once_until(&feed, &mut state, &shutdown).await else { return };
            failures = if matches!(outcome, PollOutcome::Failed { .. }) { failures + 1 } else { 0 };
            wait = next_wait(feed.interval, failures, &self.settings, fastrand::f64());
            if let PollOutcome::Failed { kind, detail } = &outcome {
                tracing::warn!(feed = %feed.shown(), kind, error = %detail, failures, retry_in = ?wait, "poll failed");
            }
        }
    }

    /// Polls `feed` once, records the outcome in the metrics and answers it.
    pub async fn poll_once(&self, feed: &FeedSpec, state: &mut FeedState) -> PollOutcome {
        self.poll_once_until(feed, state, &CancellationToken::new()).await.expect("never stopped")
    }

    /// [`Self::poll_once`], or `None` when `stop` came while the feed had not answered yet.
    async fn poll_once_until(
        &self,
        feed: &FeedSpec,
        state: &mut FeedState,
        stop: &CancellationToken,
    ) -> Option<PollOutcome> {
        let outcome = match self.try_poll(feed, state, stop).await {
            Ok(Some(outcome)) => outcome,
            Ok(None) => return None,
            Err(Failure { kind, detail }) => PollOutcome::Failed { kind, detail },
        };
        if let PollOutcome::Read(report) = &outcome {
            tracing::info!(
                feed = %feed.shown(),
                entries = report.entries,
                new = report.new_documents,
                duplicates = report.duplicates,
                skipped = ?report.skipped,
                "feed polled"
            );
        }
        self.metrics.record(&feed.shown(), &outcome);
        Some(outcome)
    }

    async fn try_poll(
        &self,
        feed: &FeedSpec,
        state: &mut FeedState,
        stop: &CancellationToken,
    ) -> Result<Option<PollOutcome>, Failure> {
        let fetched = tokio::select! {
            fetched = self.fetcher.fetch(&feed.url, &state.validators) => fetched,
            () = stop.cancelled() => return Ok(None),
        };
        let (bytes, validators, charset) = match fetched {
            Ok(Fetched::NotModified) => return Ok(Some(PollOutcome::NotModified)),
            Ok(Fetched::Body { bytes, validators, charset }) => (bytes, validators, charset),
            Err(error) => return Err(Failure { kind: error.kind(), detail: error.reason() }),
        };
        // Shown, not fetched: the URL given to the parser resolves relative links and names every
        // document's source, and neither may carry the feed's credentials or keys.
        let shown = feed.shown();
        let entries = parse_feed_as(&bytes, charset.as_deref(), &shown)
            .map_err(|error| Failure { kind: error.kind(), detail: error.to_string() })?;

        let mut report = PollReport { entries: entries.len() as u64, ..PollReport::default() };
        let mut in_this_read = HashSet::new();
        let mut candidates = Vec::new();
        for mut entry in entries {
            feed.labels.apply(&mut entry);
            let document = entry.into_document(&shown);
            // A feed listing an entry twice, or an entry settled by the last read: not new.
            if !in_this_read.insert(document.id.clone()) || state.known.contains(&document.id) {
                report.duplicates += 1;
                continue;
            }
            let envelope = Envelope::new(document);
            match envelope.validate(Stage::Topic, &self.settings.limits) {
                Ok(()) => candidates.push(envelope.document),
                Err(rejection) => {
                    tracing::warn!(feed = %shown, %rejection, "entry left out");
                    *report.skipped.entry(rejection.reason_code()).or_default() += 1;
                }
            }
        }

        let ids: Vec<String> = candidates.iter().map(|document| document.id.clone()).collect();
        let won = self.seen.claim(&ids, self.settings.claim_lease).await.map_err(|e| Failure::store(&e))?;
        let mut claimed = Vec::new();
        let mut to_enqueue = Vec::new();
        for (document, won) in candidates.into_iter().zip(won) {
            if won {
                claimed.push(document.id.clone());
                to_enqueue.push(Ok(document));
            } else {
                report.duplicates += 1;
            }
        }
        let stats = crate::enqueue(to_enqueue.into_iter(), &self.sink, |_| {}).await;
        report.new_documents = stats.enqueued;
        if stats.refused > 0 {
            report.skipped.insert("refused", stats.refused);
        }
        // Refused documents are confirmed too: sending them again could never succeed.
        self.confirm(&claimed).await.map_err(|e| Failure::store(&e))?;

        state.validators = validators;
        state.known = in_this_read;
        Ok(Some(PollOutcome::Read(report)))
    }

    /// Confirms with a few retries: an unconfirmed claim is not lost, but once its lease runs out the
    /// documents behind it are enqueued again.
    async fn confirm(&self, ids: &[String]) -> Result<(), TableError> {
        let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        let mut attempt = 0;
        loop {
            match self.seen.confirm(ids).await {
                Err(error) if error.is_retriable() && attempt < 5 => {
                    attempt += 1;
                    tokio::time::sleep(backoff.delay(attempt)).await;
                }
                result => return result,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_the_interval_then_backs_off_to_the_cap_within_the_jitter() {
        let settings = PollSettings { jitter: 0.1, max_backoff: Duration::from_secs(3600), ..PollSettings::default() };
        let interval = Duration::from_secs(600);
        assert_eq!(next_wait(interval, 0, &settings, 0.5), interval);
        assert_eq!(next_wait(interval, 1, &settings, 0.5), Duration::from_secs(1200));
        assert_eq!(next_wait(interval, 2, &settings, 0.5), Duration::from_secs(2400));
        assert_eq!(next_wait(interval, 3, &settings, 0.5), Duration::from_secs(3600));
        assert_eq!(next_wait(interval, 300, &settings, 0.5), Duration::from_secs(3600));
        assert_eq!(next_wait(interval, 0, &settings, 0.0), Duration::from_secs(540));
        assert!(next_wait(interval, 0, &settings, 0.999_999) <= Duration::from_secs(660));
        // A feed polled less often than the cap is never polled more often for failing.
        let daily = Duration::from_secs(86_400);
        assert_eq!(next_wait(daily, 4, &settings, 0.5), daily);
    }
}
