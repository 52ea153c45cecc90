//! `docclass dashboard`: one self-contained web page (HTML, SVG and a little JavaScript compiled into the
//! binary: no CDN, no build chain) that shows what a pipeline has done and refreshes itself, and
//! `/api/status`, the same figures as JSON for scripts.
//!
//! This first source is the SQLite file an embedded run (`docclass run`) writes: results per topic and
//! subtopic, the confidence histogram, the model versions, agreement with the sources' labels,
//! throughput and latency over the last minutes, the latest results and the dead letters by reason.
//! Read-only (the file is opened read-only, per request), loopback unless told otherwise; a part that
//! cannot be read is shown as unreachable, never as zero.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

/// Arguments of `docclass dashboard`.
#[derive(Debug, clap::Args)]
pub struct DashboardArgs {
    /// The SQLite file an embedded run wrote (`docclass run --db`).
    #[arg(long, default_value = docclass_types::topology::DEFAULT_DB)]
    db: PathBuf,
    /// Where to serve the page; loopback unless told otherwise.
    #[arg(long, default_value = "127.0.0.1:9200")]
    addr: SocketAddr,
    /// Seconds between the page's refreshes.
    #[arg(long, default_value_t = 3)]
    refresh_secs: u32,
}

/// The page, with its style and script inline.
const PAGE: &str = include_str!("dashboard.html");
/// Rows the page lists as the latest results.
const LATEST: usize = 25;
/// Dead letters listed per reason.
const LETTERS_PER_REASON: usize = 5;
/// The window of the throughput and latency figures.
const WINDOW_MINUTES: i64 = 15;

#[derive(Clone)]
struct Source {
    db: PathBuf,
    refresh_secs: u32,
}

pub fn run(args: DashboardArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let listener = bind(args.addr).await?;
        eprintln!("dashboard of {} on http://{}/ (Ctrl-C to stop)", args.db.display(), listener.local_addr()?);
        serve(listener, args.db, args.refresh_secs, worker_runtime::shutdown_signal()).await
    })
}

/// The dashboard's listener on `addr`.
///
/// # Errors
/// When the address cannot be bound.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding the dashboard to {addr}"))
}

/// Serves the dashboard of the SQLite file `db` on `listener` until `shutdown` completes: what
/// `docclass dashboard` runs, and `docclass run --dashboard` beside its run.
///
/// # Errors
/// When serving fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    db: PathBuf,
    refresh_secs: u32,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let source = Source { db, refresh_secs: refresh_secs.max(1) };
    let app = axum::Router::new().route("/", get(page)).route("/api/status", get(api_status)).with_state(source);
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await?;
    Ok(())
}

async fn page(State(source): State<Source>) -> impl IntoResponse {
    let html = PAGE.replace("{{REFRESH_MS}}", &(u64::from(source.refresh_secs) * 1000).to_string());
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], html)
}

async fn api_status(State(source): State<Source>) -> impl IntoResponse {
    let db = source.db.clone();
    let status = tokio::task::spawn_blocking(move || Status::read(&db))
        .await
        .unwrap_or_else(|error| Status::unreachable(format!("the reader failed: {error}")));
    ([(header::CACHE_CONTROL, "no-store")], Json(status))
}

/// What `/api/status` answers. A part that could not be read is `{"unreachable": "why"}`.
#[derive(Debug, Serialize)]
struct Status {
    source: String,
    generated_at: DateTime<Utc>,
    /// Rows in the table; absent when the table is unreachable.
    #[serde(skip_serializing_if = "Option::is_none")]
    results_written: Option<u64>,
    /// Topic → rows.
    per_topic: Part<BTreeMap<String, u64>>,
    /// Subtopic → rows.
    per_subtopic: Part<BTreeMap<String, u64>>,
    /// Subtopic confidence in ten bins of 0.1.
    confidence_histogram: Part<Vec<u64>>,
    /// Model version → rows (topic and subtopic models).
    model_versions: Part<BTreeMap<String, u64>>,
    /// How often predictions agree with the labels documents carried.
    agreement: Part<Agreement>,
    /// Rows written per minute over the last minutes, oldest first, and end-to-end latency.
    throughput: Part<Throughput>,
    latest: Part<Vec<Latest>>,
    dead_letters: Part<DeadLetters>,
    /// The embedded run's queues live in its process: there is nothing to ask once it has ended.
    queues: Part<()>,
}

/// A figure, or why it could not be read.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Part<T> {
    Known(T),
    Unreachable { unreachable: String },
}

impl<T> Part<T> {
    fn of(result: rusqlite::Result<T>) -> Self {
        match result {
            Ok(value) => Part::Known(value),
            Err(error) => Part::Unreachable { unreachable: error.to_string() },
        }
    }
}

#[derive(Debug, Serialize)]
struct Agreement {
    labelled: u64,
    topic_correct: u64,
    subtopic_correct: u64,
}

#[derive(Debug, Serialize)]
struct Throughput {
    window_minutes: i64,
    per_minute: Vec<u64>,
    latency_seconds: Option<Latency>,
}

#[derive(Debug, Serialize)]
struct Latency {
    p50: f64,
    p95: f64,
    p99: f64,
    samples: usize,
}

#[derive(Debug, Serialize)]
struct Latest {
    id: String,
    title: String,
    topic: String,
    subtopic: String,
    score: f64,
    label_topic: Option<String>,
    written_at: String,
}

#[derive(Debug, Serialize)]
struct DeadLetters {
    total: u64,
    by_reason: BTreeMap<String, ReasonGroup>,
}

#[derive(Debug, Serialize)]
struct ReasonGroup {
    count: u64,
    examples: Vec<Letter>,
}

#[derive(Debug, Serialize)]
struct Letter {
    queue: String,
    detail: String,
    body: String,
}

impl Status {
    fn unreachable(why: String) -> Self {
        fn part<T>(why: &str) -> Part<T> {
            Part::Unreachable { unreachable: why.to_owned() }
        }
        Status {
            source: "sqlite".into(),
            generated_at: Utc::now(),
            results_written: None,
            per_topic: part(&why),
            per_subtopic: part(&why),
            confidence_histogram: part(&why),
            model_versions: part(&why),
            agreement: part(&why),
            throughput: part(&why),
            latest: part(&why),
            dead_letters: part(&why),
            queues: Part::Unreachable { unreachable: "an embedded run's queues live only while it runs".into() },
        }
    }

    fn read(db: &std::path::Path) -> Self {
        if !db.is_file() {
            return Self::unreachable(format!("no results at {}", db.display()));
        }
        let connection = match Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY) {
            Ok(connection) => connection,
            Err(error) => return Self::unreachable(format!("{}: {error}", db.display())),
        };
        let counts = |sql: &str| -> rusqlite::Result<BTreeMap<String, u64>> {
            let mut query = connection.prepare(sql)?;
            let rows = query.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)? as u64)))?;
            rows.collect()
        };
        let results_written =
            connection.query_row("SELECT COUNT(*) FROM results", [], |row| row.get::<_, i64>(0)).ok().map(|n| n as u64);
        Status {
            source: format!("sqlite:{}", db.display()),
            generated_at: Utc::now(),
            results_written,
            per_topic: Part::of(counts("SELECT topic, COUNT(*) FROM results GROUP BY topic")),
            per_subtopic: Part::of(counts("SELECT subtopic, COUNT(*) FROM results GROUP BY subtopic")),
            confidence_histogram: Part::of(histogram(&connection)),
            model_versions: Part::of(counts(
                "SELECT model, SUM(n) FROM (SELECT topic_model AS model, COUNT(*) AS n FROM results GROUP BY topic_model
                 UNION ALL SELECT subtopic_model, COUNT(*) FROM results GROUP BY subtopic_model) GROUP BY model",
            )),
            agreement: Part::of(connection.query_row(
                "SELECT COUNT(*), COALESCE(SUM(topic = label_topic), 0), COALESCE(SUM(subtopic = label_subtopic), 0)
                 FROM results WHERE label_topic IS NOT NULL",
                [],
                |row| {
                    Ok(Agreement {
                        labelled: row.get::<_, i64>(0)? as u64,
                        topic_correct: row.get::<_, i64>(1)? as u64,
                        subtopic_correct: row.get::<_, i64>(2)? as u64,
                    })
                },
            )),
            throughput: Part::of(throughput(&connection)),
            latest: Part::of(latest(&connection)),
            dead_letters: Part::of(dead_letters(&connection)),
            queues: Part::Unreachable { unreachable: "an embedded run's queues live only while it runs".into() },
        }
    }
}

fn histogram(connection: &Connection) -> rusqlite::Result<Vec<u64>> {
    let mut bins = vec![0; 10];
    let mut query =
        connection.prepare("SELECT MIN(CAST(subtopic_score * 10 AS INTEGER), 9), COUNT(*) FROM results GROUP BY 1")?;
    for row in query.query_map([], |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)))? {
        let (bin, count) = row?;
        bins[bin.clamp(0, 9) as usize] += count as u64;
    }
    Ok(bins)
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).ok().map(|time| time.with_timezone(&Utc))
}

/// Rows per minute of the last [`WINDOW_MINUTES`] before the newest row, and the latency
/// (written − ingested) of those rows.
fn throughput(connection: &Connection) -> rusqlite::Result<Throughput> {
    let newest: Option<String> = connection.query_row("SELECT MAX(written_at) FROM results", [], |row| row.get(0))?;
    let mut per_minute = vec![0; WINDOW_MINUTES as usize];
    let Some(newest) = newest.as_deref().and_then(parse_time) else {
        return Ok(Throughput { window_minutes: WINDOW_MINUTES, per_minute, latency_seconds: None });
    };
    let start = newest - chrono::Duration::minutes(WINDOW_MINUTES);
    let mut query = connection.prepare("SELECT ingested_at, written_at FROM results WHERE written_at > ?1")?;
    let mut latencies = Vec::new();
    for row in query.query_map([start.to_rfc3339()], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))? {
        let (ingested, written) = row?;
        let (Some(ingested), Some(written)) = (parse_time(&ingested), parse_time(&written)) else { continue };
        let minute = ((written - start).num_seconds() / 60).clamp(0, WINDOW_MINUTES - 1) as usize;
        per_minute[minute] += 1;
        latencies.push((written - ingested).num_microseconds().unwrap_or(0) as f64 / 1e6);
    }
    latencies.sort_by(f64::total_cmp);
    let quantile = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    let latency_seconds = (!latencies.is_empty()).then(|| Latency {
        p50: quantile(0.5),
        p95: quantile(0.95),
        p99: quantile(0.99),
        samples: latencies.len(),
    });
    Ok(Throughput { window_minutes: WINDOW_MINUTES, per_minute, latency_seconds })
}

fn latest(connection: &Connection) -> rusqlite::Result<Vec<Latest>> {
    let mut query = connection.prepare(
        "SELECT id, title, topic, subtopic, subtopic_score, label_topic, written_at FROM results
         ORDER BY written_at DESC LIMIT ?1",
    )?;
    let rows = query.query_map([LATEST as i64], |row| {
        Ok(Latest {
            id: row.get(0)?,
            title: row.get(1)?,
            topic: row.get(2)?,
            subtopic: row.get(3)?,
            score: row.get(4)?,
            label_topic: row.get(5)?,
            written_at: row.get(6)?,
        })
    })?;
    rows.collect()
}

fn dead_letters(connection: &Connection) -> rusqlite::Result<DeadLetters> {
    let mut by_reason = BTreeMap::new();
    let mut query = connection.prepare("SELECT reason, COUNT(*) FROM dead_letters GROUP BY reason")?;
    for row in query.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)))? {
        let (reason, count) = row?;
        by_reason.insert(reason, ReasonGroup { count: count as u64, examples: Vec::new() });
    }
    let mut examples = connection.prepare(
        "SELECT queue, detail, substr(body, 1, 300) FROM dead_letters WHERE reason = ?1
         ORDER BY stored_at DESC LIMIT ?2",
    )?;
    for (reason, group) in &mut by_reason {
        let rows = examples.query_map(rusqlite::params![reason, LETTERS_PER_REASON as i64], |row| {
            Ok(Letter { queue: row.get(0)?, detail: row.get(1)?, body: row.get(2)? })
        })?;
        group.examples = rows.collect::<rusqlite::Result<_>>()?;
    }
    let total = by_reason.values().map(|group| group.count).sum();
    Ok(DeadLetters { total, by_reason })
}
