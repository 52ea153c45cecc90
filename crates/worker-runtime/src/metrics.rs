//! What a worker pool counts and times, cheap enough to update per message, and exported in the
//! Prometheus text format by the services' `/metrics` endpoint.

use docclass_types::{Envelope, Stage};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Counters and histograms shared by the workers of one pool.
#[derive(Debug, Clone)]
pub struct Metrics {
    received: Counter,
    handled: Counter,
    forwarded: Counter,
    acknowledged: Counter,
    dead_lettered: Counter,
    failed: Counter,
    throttled: Counter,
    returned: Counter,
    worker_restarts: Counter,
    labelled: Counter,
    label_agreed: Counter,
    label_listed: Counter,
    /// Messages per receive call.
    batch_size: Histogram,
    /// Handler time per message.
    processing_seconds: Histogram,
    /// Time from ingest to forward, per message; at the table writer, the end-to-end latency.
    age_at_forward_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            received: Counter::default(),
            handled: Counter::default(),
            forwarded: Counter::default(),
            acknowledged: Counter::default(),
            dead_lettered: Counter::default(),
            failed: Counter::default(),
            throttled: Counter::default(),
            returned: Counter::default(),
            worker_restarts: Counter::default(),
            labelled: Counter::default(),
            label_agreed: Counter::default(),
            label_listed: Counter::default(),
            batch_size: Histogram::new([1.0, 2.0, 3.0, 5.0, 8.0, 10.0]),
            // 10 µs to about 20 s.
            processing_seconds: Histogram::new(exponential_buckets(1e-5, 4.0, 11)),
            // 1 ms to about 4.5 hours.
            age_at_forward_seconds: Histogram::new(exponential_buckets(1e-3, 3.0, 17)),
        }
    }
}

/// A point-in-time copy of the counters of [`Metrics`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct MetricsSnapshot {
    /// Deliveries received.
    pub received: u64,
    /// Messages the handler finished.
    pub handled: u64,
    /// Results forwarded downstream.
    pub forwarded: u64,
    /// Messages deleted from the source queue.
    pub acknowledged: u64,
    /// Messages sent to the dead-letter queue.
    pub dead_lettered: u64,
    /// Handler errors and panics, and failed forwards.
    pub failed: u64,
    /// Forwards the destination refused for throttling; each one pauses its worker.
    pub throttled: u64,
    /// Messages given back to the queue (for a retry, or at shutdown).
    pub returned: u64,
    /// Workers restarted after a crash.
    pub worker_restarts: u64,
    /// Handled documents whose source carries a label for this stage (an arXiv feed's category).
    pub labelled: u64,
    /// Of those, predictions equal to the label: the accuracy seen in production is
    /// `label_agreed / labelled`, and a fall in it is drift.
    pub label_agreed: u64,
    /// Of those, at the subtopic stage, predictions among the document's listed categories (its label
    /// or a cross-list).
    pub label_listed: u64,
}

macro_rules! counters {
    ($($field:ident => $method:ident, $help:literal;)*) => {
        impl Metrics {
            $(
                pub(crate) fn $method(&self, n: usize) {
                    self.$field.inc_by(n as u64);
                }
            )*

            /// Reads every counter.
            pub fn snapshot(&self) -> MetricsSnapshot {
                MetricsSnapshot { $($field: self.$field.get()),* }
            }

            /// Adds every metric to `registry`, named `docclass_…`.
            pub fn register(&self, registry: &mut Registry) {
                $(registry.register(concat!("docclass_", stringify!($field)), $help, self.$field.clone());)*
                registry.register("docclass_batch_size", "Messages per receive call", self.batch_size.clone());
                registry.register(
                    "docclass_processing_seconds",
                    "Handler time per message",
                    self.processing_seconds.clone(),
                );
                registry.register(
                    "docclass_age_at_forward_seconds",
                    "Time from ingest to forward per message; at the table writer, the end-to-end latency",
                    self.age_at_forward_seconds.clone(),
                );
            }
        }
    };
}

counters! {
    received => add_received, "Message deliveries received";
    handled => add_handled, "Messages the handler finished";
    forwarded => add_forwarded, "Results forwarded to the next queue or the table";
    acknowledged => add_acknowledged, "Messages deleted from the source queue after forwarding";
    dead_lettered => add_dead_lettered, "Messages sent to the dead-letter queue";
    failed => add_failed, "Handler errors and panics, and failed forwards";
    throttled => add_throttled, "Forwards the destination refused for throttling";
    returned => add_returned, "Messages given back to the queue for a retry or at shutdown";
    worker_restarts => add_worker_restarts, "Workers restarted after a crash";
    labelled => add_labelled, "Handled documents whose source gives a label for this stage";
    label_agreed => add_label_agreed, "Labelled documents whose prediction equals the source's label";
    label_listed => add_label_listed, "Labelled documents whose subtopic is among the source's categories";
}

impl Metrics {
    /// Counts how a handled envelope's prediction at `stage` compares with the label its source gave.
    pub(crate) fn observe_agreement(&self, stage: Stage, envelope: &Envelope) {
        let Some(labels) = &envelope.document.labels else { return };
        let (label, prediction) = match stage {
            Stage::Topic => (&labels.topic, &envelope.topic),
            Stage::Subtopic => (&labels.subtopic, &envelope.subtopic),
            Stage::Write => return,
        };
        let (Some(label), Some(prediction)) = (label, prediction) else { return };
        self.add_labelled(1);
        let agrees = prediction.label == *label;
        self.add_label_agreed(usize::from(agrees));
        if stage == Stage::Subtopic {
            let listed = agrees || labels.categories.contains(&prediction.label);
            self.add_label_listed(usize::from(listed));
        }
    }
}

impl Metrics {
    pub(crate) fn observe_batch(&self, size: usize) {
        self.batch_size.observe(size as f64);
    }

    pub(crate) fn observe_processing(&self, seconds: f64) {
        self.processing_seconds.observe(seconds);
    }

    pub(crate) fn observe_age(&self, seconds: f64) {
        self.age_at_forward_seconds.observe(seconds);
    }
}

/// Gauge members as (labels, value).
pub type GaugeMembers = Vec<(Vec<(String, String)>, f64)>;

/// A gauge family read on each scrape from a closure: for figures kept elsewhere (a classifier's
/// tallies of its shadow model), which may come and go, and whose label values change (model versions).
pub struct ScrapedGauges {
    name: &'static str,
    help: &'static str,
    read: Box<dyn Fn() -> GaugeMembers + Send + Sync>,
}

impl ScrapedGauges {
    /// The family `name`, whose members `read` lists as (labels, value) when scraped.
    pub fn new(
        name: &'static str,
        help: &'static str,
        read: impl Fn() -> GaugeMembers + Send + Sync + 'static,
    ) -> Self {
        Self { name, help, read: Box::new(read) }
    }
}

impl std::fmt::Debug for ScrapedGauges {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("ScrapedGauges").field("name", &self.name).finish()
    }
}

impl prometheus_client::collector::Collector for ScrapedGauges {
    fn encode(&self, mut encoder: prometheus_client::encoding::DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        let members = (self.read)();
        if members.is_empty() {
            return Ok(());
        }
        let mut family =
            encoder.encode_descriptor(self.name, self.help, None, prometheus_client::metrics::MetricType::Gauge)?;
        for (labels, value) in &members {
            prometheus_client::metrics::gauge::ConstGauge::new(*value).encode(family.encode_family(labels)?)?;
        }
        Ok(())
    }
}
