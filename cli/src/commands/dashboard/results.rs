//! The results part of the dashboard: rows per topic and subtopic, confidence, models, agreement,
//! throughput, latency and the latest rows, computed by one [`Summary`] over the rows of whichever
//! table holds them (the embedded run's SQLite file, or DynamoDB), so both show the same figures the
//! same way; and the dead letters an embedded run kept in its SQLite file.

use std::collections::BTreeMap;
use std::path::Path;

use adapters_embedded::SqliteTable;
use chrono::{DateTime, Utc};
use docclass_types::ResultRow;
use serde::Serialize;

/// Rows the page lists as the latest results.
const LATEST: usize = 25;
/// Dead letters listed per reason.
pub(super) const LETTERS_PER_REASON: usize = 5;
/// How much of a listed dead letter's body the page shows.
const LETTER_BODY_CHARS: usize = 300;
/// Labels listed per figure (topics, categories, model versions), the most frequent; the rest are
/// summed under [`OTHER_LABELS`]. arXiv has 148 categories; a crafted file with a hundred thousand made
/// `/api/status` 3.4 MB.
const MAX_LABELS: usize = 200;
/// The key the labels beyond [`MAX_LABELS`] are summed under.
const OTHER_LABELS: &str = "(other labels)";

/// The window of the throughput and latency figures.
const WINDOW_MINUTES: i64 = 15;

/// As much of a result row as the dashboard shows.
pub(super) struct Row {
    pub id: String,
    pub title: String,
    pub topic: String,
    pub subtopic: String,
    pub subtopic_score: f64,
    pub topic_model: String,
    pub subtopic_model: String,
    pub label_topic: Option<String>,
    pub label_subtopic: Option<String>,
    pub ingested_at: DateTime<Utc>,
    pub written_at: DateTime<Utc>,
}

impl From<ResultRow> for Row {
    fn from(row: ResultRow) -> Self {
        Row {
            id: row.id,
            title: row.title,
            topic: row.topic,
            subtopic: row.subtopic,
            subtopic_score: f64::from(row.subtopic_score),
            topic_model: row.topic_model,
            subtopic_model: row.subtopic_model,
            label_topic: row.labels.topic,
            label_subtopic: row.labels.subtopic,
            ingested_at: row.ingested_at,
            written_at: row.written_at,
        }
    }
}

/// What the results part of `/api/status` says.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Figures {
    pub results_written: u64,
    /// Topic → rows.
    pub per_topic: BTreeMap<String, u64>,
    /// Subtopic → rows.
    pub per_subtopic: BTreeMap<String, u64>,
    /// Subtopic confidence in ten bins of 0.1.
    pub confidence_histogram: Vec<u64>,
    /// Model version → decisions (topic and subtopic models).
    pub model_versions: BTreeMap<String, u64>,
    pub agreement: Agreement,
    pub throughput: Throughput,
    pub latest: Vec<Latest>,
}

/// How often predictions agree with the labels documents carried.
#[derive(Debug, Clone, Default, Serialize)]
pub(super) struct Agreement {
    pub labelled: u64,
    pub topic_correct: u64,
    pub subtopic_correct: u64,
}

/// Rows written per minute over the last minutes before the newest row, oldest first, and their
/// end-to-end latency (written − ingested).
#[derive(Debug, Clone, Serialize)]
pub(super) struct Throughput {
    pub window_minutes: i64,
    pub per_minute: Vec<u64>,
    pub latency_seconds: Option<Latency>,
}

#[derive(Debug, Clone, Serialize)]
pub(super) struct Latency {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub samples: usize,
}

#[derive(Debug, Clone, Serialize)]
pub(super) struct Latest {
    pub id: String,
    pub title: String,
    pub topic: String,
    pub subtopic: String,
    pub score: f64,
    pub label_topic: Option<String>,
    pub written_at: String,
}

/// Adds rows up into [`Figures`].
#[derive(Default)]
pub(super) struct Summary {
    rows: u64,
    per_topic: BTreeMap<String, u64>,
    per_subtopic: BTreeMap<String, u64>,
    histogram: [u64; 10],
    models: BTreeMap<String, u64>,
    agreement: Agreement,
    /// (written, ingested) of every row: the window is only known once the newest row is.
    times: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    latest: Vec<Row>,
}

impl Summary {
    pub(super) fn add(&mut self, row: Row) {
        self.rows += 1;
        *self.per_topic.entry(row.topic.clone()).or_default() += 1;
        *self.per_subtopic.entry(row.subtopic.clone()).or_default() += 1;
        self.histogram[((row.subtopic_score * 10.0).floor() as i64).clamp(0, 9) as usize] += 1;
        *self.models.entry(row.topic_model.clone()).or_default() += 1;
        *self.models.entry(row.subtopic_model.clone()).or_default() += 1;
        if let Some(label) = &row.label_topic {
            self.agreement.labelled += 1;
            self.agreement.topic_correct += u64::from(*label == row.topic);
            self.agreement.subtopic_correct += u64::from(row.label_subtopic.as_deref() == Some(row.subtopic.as_str()));
        }
        self.times.push((row.written_at, row.ingested_at));
        self.latest.push(row);
        if self.latest.len() >= 4 * LATEST {
            self.keep_latest();
        }
    }

    fn keep_latest(&mut self) {
        self.latest.sort_by(|a, b| b.written_at.cmp(&a.written_at).then_with(|| a.id.cmp(&b.id)));
        self.latest.truncate(LATEST);
    }

    pub(super) fn finish(mut self) -> Figures {
        self.keep_latest();
        let mut per_minute = vec![0; WINDOW_MINUTES as usize];
        let mut latencies = Vec::new();
        if let Some(newest) = self.times.iter().map(|(written, _)| *written).max() {
            let start = newest - chrono::Duration::minutes(WINDOW_MINUTES);
            for (written, ingested) in self.times.iter().filter(|(written, _)| *written > start) {
                let minute = ((*written - start).num_seconds() / 60).clamp(0, WINDOW_MINUTES - 1) as usize;
                per_minute[minute] += 1;
                latencies.push((*written - *ingested).num_microseconds().unwrap_or(0) as f64 / 1e6);
            }
        }
        latencies.sort_by(f64::total_cmp);
        let quantile = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
        let latency_seconds = (!latencies.is_empty()).then(|| Latency {
            p50: quantile(0.5),
            p95: quantile(0.95),
            p99: quantile(0.99),
            samples: latencies.len(),
        });
        Figures {
            results_written: self.rows,
            per_topic: top(self.per_topic),
            per_subtopic: top(self.per_subtopic),
            confidence_histogram: self.histogram.to_vec(),
            model_versions: top(self.models),
            agreement: self.agreement,
            throughput: Throughput { window_minutes: WINDOW_MINUTES, per_minute, latency_seconds },
            latest: self
                .latest
                .into_iter()
                .map(|row| Latest {
                    id: row.id,
                    title: row.title,
                    topic: row.topic,
                    subtopic: row.subtopic,
                    score: row.subtopic_score,
                    label_topic: row.label_topic,
                    written_at: row.written_at.to_rfc3339(),
                })
                .collect(),
        }
    }
}

/// The figures and the dead letters of the SQLite file an embedded run wrote (or is writing), read
/// through a read-only open: every row folded into a [`Summary`], the letters grouped by reason.
pub(super) async fn sqlite_reading(db: &Path) -> (Result<Figures, String>, Result<DeadLetters, String>) {
    let table = match SqliteTable::open_read_only(db) {
        Ok(table) => table,
        Err(_) if !db.exists() => {
            let why = format!("no results at {}", db.display());
            return (Err(why.clone()), Err(why));
        }
        Err(error) => return (Err(error.to_string()), Err(error.to_string())),
    };
    let figures = table
        .fold_rows(Summary::default(), |summary, row| summary.add(row.into()))
        .await
        .map(Summary::finish)
        .map_err(|error| error.to_string());
    let letters = table
        .dead_letter_groups(LETTERS_PER_REASON, LETTER_BODY_CHARS)
        .await
        .map(|groups| {
            let by_reason: BTreeMap<String, ReasonGroup> = groups
                .into_iter()
                .map(|group| {
                    let examples = group
                        .latest
                        .into_iter()
                        .map(|letter| Letter { queue: letter.queue, detail: letter.detail, body: letter.body })
                        .collect();
                    (group.reason, ReasonGroup { count: group.count, examples })
                })
                .collect();
            DeadLetters { total: by_reason.values().map(|group| group.count).sum(), by_reason, sampled: None }
        })
        .map_err(|error| error.to_string());
    (figures, letters)
}

/// Dead letters, grouped by reason, a few examples each.
#[derive(Debug, Clone, Serialize)]
pub(super) struct DeadLetters {
    pub total: u64,
    pub by_reason: BTreeMap<String, ReasonGroup>,
    /// Set when the groups count a sample of the letters, not all of them (SQS cannot be listed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampled: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub(super) struct ReasonGroup {
    pub count: u64,
    pub examples: Vec<Letter>,
}

#[derive(Debug, Clone, Serialize)]
pub(super) struct Letter {
    pub queue: String,
    pub detail: String,
    pub body: String,
}

/// The [`MAX_LABELS`] most frequent labels of `counts`, the rest summed under [`OTHER_LABELS`]: the
/// total stays the same (the page's bars still add up to the rows), the answer stays small.
fn top(counts: BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    if counts.len() <= MAX_LABELS {
        return counts;
    }
    let mut ranked: Vec<(String, u64)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let rest: u64 = ranked.drain(MAX_LABELS..).map(|(_, count)| count).sum();
    let mut kept: BTreeMap<String, u64> = ranked.into_iter().collect();
    *kept.entry(OTHER_LABELS.to_owned()).or_default() += rest;
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_the_top_labels_are_listed_and_the_total_is_kept() {
        let few: BTreeMap<String, u64> = [("a".to_owned(), 3), ("b".to_owned(), 1)].into();
        assert_eq!(top(few.clone()), few);
        let many: BTreeMap<String, u64> = (0..10_000).map(|n| (format!("label-{n:05}"), 1 + n % 7)).collect();
        let total: u64 = many.values().sum();
        let listed = top(many);
        assert_eq!(listed.len(), MAX_LABELS + 1);
        assert_eq!(listed.values().sum::<u64>(), total);
        assert!(listed.iter().filter(|(label, _)| *label != OTHER_LABELS).all(|(_, count)| *count == 7));
    }
}
