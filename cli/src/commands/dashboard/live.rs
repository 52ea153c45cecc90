//! The running parts of the dashboard: the queues (visible, in flight, age of the oldest message,
//! dead letters), the pools (desired and running), and each service's `/metrics` where it can be
//! reached. Each comes from where that way of running keeps it — the embedded run's own queues, SQS
//! (and CloudWatch for the age), ECS `DescribeServices` or the Docker Engine API.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use adapters_embedded::EmbeddedQueue;
use docclass_types::{MessageSource, Queue, attributes};
use serde::Serialize;

use super::results::{DeadLetters, LETTERS_PER_REASON, Letter, ReasonGroup};

/// One queue as the page draws it.
#[derive(Debug, Clone, Serialize)]
pub(super) struct QueueView {
    /// `ingest`, `subtopic`, `results`.
    pub queue: &'static str,
    pub visible: u64,
    pub in_flight: u64,
    /// Seconds; `None` when nobody reports it (an empty queue, or no CloudWatch data yet).
    pub oldest_age_seconds: Option<f64>,
    /// Messages in its dead-letter queue; `None` when that queue is not known.
    pub dead_letters: Option<u64>,
}

/// One pool.
#[derive(Debug, Clone, Serialize)]
pub(super) struct PoolView {
    pub service: String,
    pub desired: u64,
    pub running: u64,
}

/// One service's `/metrics`, or why it could not be read.
#[derive(Debug, Clone, Serialize)]
pub(super) struct ServiceView {
    pub service: String,
    pub url: String,
    /// `docclass_*` counters without the prefix and `_total` (received, handled, dead_lettered, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counters: Option<BTreeMap<String, f64>>,
    /// Messages handled per minute, over the dashboard's readings of the last minute or two.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handled_per_minute: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreachable: Option<String>,
}

/// Messages handled per stage, per minute over the last minutes, from the cumulative counts the
/// dashboard reads at each refresh (the embedded run's workers, or services' `/metrics`).
#[derive(Default)]
pub(super) struct Rates {
    /// Per stage: (when, count) readings of the window, oldest first.
    readings: std::sync::Mutex<BTreeMap<String, VecDeque<(Instant, f64)>>>,
}

/// The window of the per-stage rates, as the table's throughput.
const RATE_MINUTES: usize = 15;

/// One stage's handled messages per minute, oldest minute first (the last one is the current minute).
#[derive(Debug, Clone, Serialize)]
pub(super) struct StageRate {
    pub stage: String,
    pub per_minute: Vec<u64>,
}

impl Rates {
    /// Notes that `stage` had handled `count` messages by now.
    pub(super) fn record(&self, stage: &str, count: f64) {
        let mut readings = self.readings.lock().expect("the lock is never poisoned: no panics inside");
        let stage = readings.entry(stage.to_owned()).or_default();
        let now = Instant::now();
        stage.push_back((now, count));
        let window = Duration::from_secs(60 * RATE_MINUTES as u64 + 60);
        while stage.front().is_some_and(|(at, _)| now.duration_since(*at) > window) {
            stage.pop_front();
        }
    }

    /// Each stage's per-minute counts: the growth between consecutive readings, put in the minute of
    /// the later one (a restarted service's fall to zero counts as no growth).
    pub(super) fn per_minute(&self) -> Vec<StageRate> {
        let readings = self.readings.lock().expect("the lock is never poisoned: no panics inside");
        let now = Instant::now();
        let mut rates = readings
            .iter()
            .map(|(stage, readings)| {
                let mut per_minute = vec![0u64; RATE_MINUTES];
                for pair in readings.iter().collect::<Vec<_>>().windows(2) {
                    let ((_, before), (at, after)) = (pair[0], pair[1]);
                    let minutes_ago = (now.duration_since(*at).as_secs() / 60) as usize;
                    if minutes_ago < RATE_MINUTES && after > before {
                        per_minute[RATE_MINUTES - 1 - minutes_ago] += (after - before).round() as u64;
                    }
                }
                StageRate { stage: stage.clone(), per_minute }
            })
            .collect::<Vec<_>>();
        // In pipeline order; other names after, as they sort.
        let order = |name: &str| HandledCounts::STAGES.iter().position(|stage| *stage == name).unwrap_or(usize::MAX);
        rates.sort_by(|a, b| order(&a.stage).cmp(&order(&b.stage)).then_with(|| a.stage.cmp(&b.stage)));
        rates
    }
}

/// The embedded run's per-stage counts, updated by the run's progress and read by the dashboard.
#[derive(Default)]
pub struct HandledCounts(pub [std::sync::atomic::AtomicU64; 3]);

impl HandledCounts {
    /// The stages, in order, as their services are named.
    pub(super) const STAGES: [&'static str; 3] = ["topic-classifier", "subtopic-classifier", "table-writer"];

    /// Sets the counts.
    pub fn set(&self, handled: [u64; 3]) {
        for (count, value) in self.0.iter().zip(handled) {
            count.store(value, std::sync::atomic::Ordering::Relaxed);
        }
    }

    pub(super) fn get(&self) -> [u64; 3] {
        [0, 1, 2].map(|stage| self.0[stage].load(std::sync::atomic::Ordering::Relaxed))
    }
}

/// The embedded run's queues, live in this process.
#[derive(Clone)]
pub struct EmbeddedQueues {
    /// Ingest, subtopic, results.
    pub queues: [Arc<EmbeddedQueue>; 3],
    /// Their dead-letter queues, in the same order.
    pub dead_letters: [Arc<EmbeddedQueue>; 3],
}

impl EmbeddedQueues {
    pub(super) fn read(&self) -> Vec<QueueView> {
        Queue::ALL
            .iter()
            .zip(self.queues.iter().zip(&self.dead_letters))
            .map(|(queue, (live, dead))| {
                let depth = live.depth();
                let dead = dead.depth();
                QueueView {
                    queue: queue.suffix(),
                    visible: depth.visible as u64,
                    in_flight: depth.in_flight as u64,
                    oldest_age_seconds: live.oldest_age().map(|age| age.as_secs_f64()),
                    dead_letters: Some((dead.visible + dead.in_flight) as u64),
                }
            })
            .collect()
    }
}

/// The stack's queues on SQS, by URL.
pub(super) struct SqsQueues {
    pub sqs: aws_sdk_sqs::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    /// (queue, its URL, its dead-letter queue's URL) for those given.
    pub urls: Vec<(Queue, String, Option<String>)>,
    /// The age of the oldest message, by queue, as CloudWatch last reported it (it publishes once a
    /// minute: asked at most that often).
    ages: tokio::sync::Mutex<Option<(Instant, HashMap<Queue, f64>)>>,
}

/// How often CloudWatch is asked for the queues' ages.
const AGE_EVERY: Duration = Duration::from_secs(60);

impl SqsQueues {
    pub(super) fn new(
        sqs: aws_sdk_sqs::Client,
        cloudwatch: aws_sdk_cloudwatch::Client,
        urls: Vec<(Queue, String, Option<String>)>,
    ) -> Self {
        Self { sqs, cloudwatch, urls, ages: tokio::sync::Mutex::new(None) }
    }

    /// `GetQueueAttributes` of each queue and dead-letter queue: a few requests per refresh.
    pub(super) async fn read(&self) -> Result<Vec<QueueView>, String> {
        let ages = self.ages().await;
        let mut views = Vec::new();
        for (queue, url, dead_letters) in &self.urls {
            let (visible, in_flight) = self.depth(url).await?;
            let dead_letters = match dead_letters {
                Some(url) => Some(self.depth(url).await.map(|(visible, in_flight)| visible + in_flight)?),
                None => None,
            };
            let oldest_age_seconds = if visible + in_flight == 0 { None } else { ages.get(queue).copied() };
            views.push(QueueView { queue: queue.suffix(), visible, in_flight, oldest_age_seconds, dead_letters });
        }
        Ok(views)
    }

    async fn depth(&self, url: &str) -> Result<(u64, u64), String> {
        adapters_aws::sqs::queue_depth(&self.sqs, url).await.map_err(|error| format!("{url}: {error}"))
    }

    /// CloudWatch's `ApproximateAgeOfOldestMessage` of each queue, newest datapoint of the last five
    /// minutes; a queue CloudWatch has no data for (an emulator, a new queue) is left out.
    async fn ages(&self) -> HashMap<Queue, f64> {
        let mut cached = self.ages.lock().await;
        if let Some((at, ages)) = cached.as_ref()
            && at.elapsed() < AGE_EVERY
        {
            return ages.clone();
        }
        let mut ages = HashMap::new();
        let now = std::time::SystemTime::now();
        for (queue, url, _) in &self.urls {
            let name = url.rsplit('/').next().unwrap_or_default();
            let answer = self
                .cloudwatch
                .get_metric_statistics()
                .namespace("AWS/SQS")
                .metric_name("ApproximateAgeOfOldestMessage")
                .dimensions(aws_sdk_cloudwatch::types::Dimension::builder().name("QueueName").value(name).build())
                .start_time((now - Duration::from_secs(300)).into())
                .end_time(now.into())
                .period(60)
                .statistics(aws_sdk_cloudwatch::types::Statistic::Maximum)
                .send()
                .await;
            let newest = answer.ok().and_then(|answer| {
                answer
                    .datapoints()
                    .iter()
                    .max_by_key(|point| point.timestamp().map(|t| t.secs()))
                    .and_then(|p| p.maximum())
            });
            if let Some(age) = newest {
                ages.insert(*queue, age);
            }
        }
        *cached = Some((Instant::now(), ages.clone()));
        ages
    }

    /// A look at up to ten letters of each dead-letter queue: a receive with visibility timeout 0, so
    /// the letters stay where they are (only their receive count grows). SQS cannot list a queue; the
    /// groups count this sample, the total is the queues' depth.
    pub(super) async fn dead_letters(&self) -> Result<DeadLetters, String> {
        let mut by_reason: BTreeMap<String, ReasonGroup> = BTreeMap::new();
        let (mut total, mut sampled) = (0, 0);
        for (queue, _, url) in &self.urls {
            let Some(url) = url else { continue };
            let (visible, in_flight) = self.depth(url).await?;
            total += visible + in_flight;
            if visible == 0 {
                continue;
            }
            let letters = adapters_aws::SqsQueue::new(self.sqs.clone(), url.clone());
            let received =
                letters.receive(10, Duration::ZERO, Duration::ZERO).await.map_err(|error| format!("{url}: {error}"))?;
            for letter in received {
                sampled += 1;
                let reason =
                    letter.attributes.get(attributes::DEAD_LETTER_REASON).cloned().unwrap_or_else(|| "unknown".into());
                let group = by_reason.entry(reason).or_insert_with(|| ReasonGroup { count: 0, examples: Vec::new() });
                group.count += 1;
                if group.examples.len() < LETTERS_PER_REASON {
                    group.examples.push(Letter {
                        queue: queue.suffix().to_owned(),
                        detail: letter.attributes.get(attributes::DEAD_LETTER_DETAIL).cloned().unwrap_or_default(),
                        body: letter.body.chars().take(300).collect(),
                    });
                }
            }
        }
        Ok(DeadLetters { total, by_reason, sampled: Some(sampled) })
    }
}

/// Where the pools' sizes come from.
pub(super) enum PoolSource {
    /// Not known here: why.
    Unknown(String),
    /// The embedded run: this many workers per stage.
    Embedded(usize),
    /// The ECS services `<stack>-<service>` of a cluster.
    #[cfg(feature = "deploy")]
    Ecs { clients: deploy::aws::Clients, cluster: String, stack: String },
    /// A compose project's containers, through the Docker Engine API.
    #[cfg(feature = "deploy")]
    Compose(deploy::compose::ComposePools),
}

/// The pools that work off a queue, in pipeline order.
const POOLS: [&str; 3] = ["topic-classifier", "subtopic-classifier", "table-writer"];

impl PoolSource {
    pub(super) async fn read(&self) -> Result<Vec<PoolView>, String> {
        match self {
            PoolSource::Unknown(why) => Err(why.clone()),
            PoolSource::Embedded(workers) => Ok(POOLS
                .iter()
                .map(|service| PoolView {
                    service: (*service).into(),
                    desired: *workers as u64,
                    running: *workers as u64,
                })
                .collect()),
            #[cfg(feature = "deploy")]
            PoolSource::Ecs { clients, cluster, stack } => {
                let counts =
                    deploy::aws::service_counts(clients, cluster, stack).await.map_err(|e| format!("{e:#}"))?;
                Ok(counts
                    .into_iter()
                    .map(|(service, desired, running)| PoolView { service: service.name().into(), desired, running })
                    .collect())
            }
            #[cfg(feature = "deploy")]
            PoolSource::Compose(pools) => {
                let mut views = Vec::new();
                for service in deploy::SERVICES {
                    let (desired, running) = pools.counts(service).await.map_err(|e| format!("{e:#}"))?;
                    views.push(PoolView { service: service.name().into(), desired, running });
                }
                Ok(views)
            }
        }
    }
}

/// Scrapes services' `/metrics`.
pub(super) struct Scraper {
    client: reqwest::Client,
    /// (service, URL).
    targets: Vec<(String, String)>,
    /// Recent (when, handled) readings per service, for the rate.
    history: std::sync::Mutex<HashMap<String, VecDeque<(Instant, f64)>>>,
}

impl Scraper {
    pub(super) fn new(targets: Vec<(String, String)>) -> Self {
        let client = crate::commands::http::client(Duration::from_secs(2));
        Self { client, targets, history: std::sync::Mutex::new(HashMap::new()) }
    }

    pub(super) async fn read(&self) -> Vec<ServiceView> {
        let mut views = Vec::new();
        for (service, url) in &self.targets {
            let answer = crate::commands::http::get_text(&self.client, url).await;
            let mut view = ServiceView {
                service: service.clone(),
                url: url.clone(),
                counters: None,
                handled_per_minute: None,
                unreachable: None,
            };
            match answer {
                Ok(text) => {
                    let counters = counters(&text);
                    if let Some(handled) = counters.get("handled") {
                        view.handled_per_minute = self.rate(service, *handled);
                    }
                    view.counters = Some(counters);
                }
                Err(why) => view.unreachable = Some(why),
            }
            views.push(view);
        }
        views
    }

    /// Handled per minute between the oldest reading of the last two minutes and this one.
    fn rate(&self, service: &str, handled: f64) -> Option<f64> {
        let mut history = self.history.lock().expect("the lock is never poisoned: no panics inside");
        let readings = history.entry(service.to_owned()).or_default();
        let now = Instant::now();
        readings.push_back((now, handled));
        while readings.front().is_some_and(|(at, _)| now.duration_since(*at) > Duration::from_secs(120)) {
            readings.pop_front();
        }
        let (at, first) = *readings.front()?;
        let seconds = now.duration_since(at).as_secs_f64();
        // A restarted service starts its counters at zero: no rate across that.
        (seconds >= 1.0 && handled >= first).then(|| (handled - first) * 60.0 / seconds)
    }
}

/// The `docclass_*` counters of a Prometheus text exposition, summed over labels, without the prefix
/// and the `_total` suffix.
fn counters(text: &str) -> BTreeMap<String, f64> {
    let mut counters = BTreeMap::new();
    for line in text.lines().filter(|line| line.starts_with("docclass_")) {
        let Some((name, value)) = line.rsplit_once(' ') else { continue };
        let name = name.split('{').next().unwrap_or(name);
        let Some(name) = name.strip_prefix("docclass_").and_then(|name| name.strip_suffix("_total")) else { continue };
        if let Ok(value) = value.parse::<f64>() {
            *counters.entry(name.to_owned()).or_default() += value;
        }
    }
    counters
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_read_from_the_exposition_format() {
        let text = "# HELP docclass_handled Messages the handler finished.\n# TYPE docclass_handled counter\n\
                    docclass_handled_total 42\ndocclass_dead_lettered_total{reason=\"a\"} 1\n\
                    docclass_dead_lettered_total{reason=\"b\"} 2\ndocclass_batch_size_sum 10\n# EOF\n";
        let counters = counters(text);
        assert_eq!(counters.get("handled"), Some(&42.0));
        assert_eq!(counters.get("dead_lettered"), Some(&3.0));
        assert!(!counters.contains_key("batch_size_sum"), "{counters:?}");
    }
}
