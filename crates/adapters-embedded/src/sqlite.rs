//! The result table in a SQLite file: one row per document id, and the dead letters of the run that
//! wrote it. The only place that knows the file's schema: the dashboard and `docclass dlq embedded` read
//! it through [`SqliteTable::open_read_only`] and the queries here.
//!
//! rusqlite is synchronous, so every call runs on tokio's blocking pool; one connection behind a mutex is
//! plenty, because a batch is one transaction and SQLite serialises writers anyway.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, SecondsFormat, Utc};
use docclass_types::{Labels, ResultRow, ResultTable, TableError};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS results (
    id              TEXT PRIMARY KEY,
    title           TEXT NOT NULL,
    source          TEXT NOT NULL,
    url             TEXT,
    published       TEXT,
    topic           TEXT NOT NULL,
    topic_score     REAL NOT NULL,
    topic_model     TEXT NOT NULL,
    subtopic        TEXT NOT NULL,
    subtopic_score  REAL NOT NULL,
    subtopic_model  TEXT NOT NULL,
    label_topic     TEXT,
    label_subtopic  TEXT,
    ingested_at     TEXT NOT NULL,
    topic_at        TEXT NOT NULL,
    subtopic_at     TEXT NOT NULL,
    written_at      TEXT NOT NULL,
    top_categories  TEXT,
    label_categories TEXT
);
CREATE INDEX IF NOT EXISTS results_by_topic ON results (topic, written_at);
CREATE TABLE IF NOT EXISTS dead_letters (
    queue       TEXT NOT NULL,
    reason      TEXT NOT NULL,
    detail      TEXT NOT NULL,
    body        TEXT NOT NULL,
    stored_at   TEXT NOT NULL
);
";

const COLUMNS: &str = "id, title, source, url, published, topic, topic_score, topic_model, subtopic, \
    subtopic_score, subtopic_model, label_topic, label_subtopic, ingested_at, topic_at, subtopic_at, written_at, \
    top_categories, label_categories";

/// Columns added after the first release, with their types: a file written by an older build gains
/// them when opened (`CREATE TABLE IF NOT EXISTS` leaves an existing table as it was).
/// `top_categories` is a JSON array of `{"label", "score"}`, `label_categories` one of strings.
const ADDED_COLUMNS: [(&str, &str); 2] = [("top_categories", "TEXT"), ("label_categories", "TEXT")];

/// See the module documentation.
#[derive(Clone)]
pub struct SqliteTable {
    name: String,
    connection: Arc<Mutex<Connection>>,
    /// What `SELECT` names for a row: [`COLUMNS`], with `NULL` for the added columns a file opened
    /// read-only from an older build lacks.
    select: Arc<str>,
}

/// The dead letters of one reason: how many, and the latest few.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterGroup {
    /// Machine-readable reason.
    pub reason: String,
    /// Letters with it.
    pub count: u64,
    /// The latest of them, newest first, bodies cut to the length asked for.
    pub latest: Vec<DeadLetterRecord>,
}

/// What a run wrote, read back from the table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunStatistics {
    /// Rows written at or after the run's start.
    pub rows: u64,
    /// Rows per predicted topic, most frequent first.
    pub per_topic: Vec<(String, u64)>,
    /// Rows that carry a known topic label.
    pub labelled: u64,
    /// Labelled rows whose predicted topic matches the label.
    pub topic_correct: u64,
    /// Labelled rows whose predicted subtopic matches the label.
    pub subtopic_correct: u64,
    /// Labelled rows whose predicted subtopic is the label or one of the source's listed categories.
    pub subtopic_listed: u64,
}

/// A message an embedded run dead-lettered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterRecord {
    /// The queue it was taken from.
    pub queue: String,
    /// Machine-readable reason.
    pub reason: String,
    /// Human-readable detail.
    pub detail: String,
    /// The message body, unchanged.
    pub body: String,
}

impl SqliteTable {
    /// Opens (creating if needed) the table in the SQLite file at `path`.
    ///
    /// # Errors
    /// When the file cannot be opened or the schema cannot be created.
    pub fn open(path: &Path) -> Result<Self, TableError> {
        let name = path.display().to_string();
        let connection = open_connection(path, SCHEMA)?;
        add_missing_columns(&connection).map_err(|error| storage_error(&name, error))?;
        Ok(Self { name, connection: Arc::new(Mutex::new(connection)), select: COLUMNS.into() })
    }

    /// Opens the file an embedded run wrote (or is writing) for reading only: it is never created,
    /// changed or migrated, and a run writing it is never blocked (WAL readers do not block the writer).
    ///
    /// # Errors
    /// When there is no such file, or it is not a results file.
    pub fn open_read_only(path: &Path) -> Result<Self, TableError> {
        let name = path.display().to_string();
        let storage = |error: rusqlite::Error| storage_error(&name, error);
        if !path.is_file() {
            return Err(TableError::Storage { table: name, detail: "no such file".into(), retriable: false });
        }
        let connection = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(storage)?;
        connection.busy_timeout(std::time::Duration::from_secs(5)).map_err(storage)?;
        let present = column_names(&connection).map_err(storage)?;
        if present.is_empty() {
            return Err(TableError::Storage { table: name, detail: "not a results file".into(), retriable: false });
        }
        let select: Vec<String> = COLUMNS
            .split(", ")
            .map(|column| {
                if present.iter().any(|name| name == column) { column.to_owned() } else { format!("NULL AS {column}") }
            })
            .collect();
        Ok(Self { name, connection: Arc::new(Mutex::new(connection)), select: select.join(", ").into() })
    }

    /// Folds every row into `state`, one at a time: a table of any size is read in constant memory.
    ///
    /// # Errors
    /// When the query fails.
    pub async fn fold_rows<A: Send + 'static>(
        &self,
        state: A,
        mut add: impl FnMut(&mut A, ResultRow) + Send + 'static,
    ) -> Result<A, TableError> {
        let sql = format!("SELECT {} FROM results", self.select);
        self.blocking(move |connection| {
            let mut state = state;
            let mut query = connection.prepare(&sql)?;
            for row in query.query_map([], read_row)? {
                add(&mut state, row?);
            }
            Ok(state)
        })
        .await
    }

    /// The dead letters by reason (most frequent first), each with its `latest` newest letters, bodies cut
    /// to `body_chars` characters.
    ///
    /// # Errors
    /// When the query fails.
    pub async fn dead_letter_groups(
        &self,
        latest: usize,
        body_chars: usize,
    ) -> Result<Vec<DeadLetterGroup>, TableError> {
        let (latest, body_chars) = (to_sql_limit(latest), to_sql_limit(body_chars));
        self.blocking(move |connection| {
            let mut counts = connection
                .prepare("SELECT reason, COUNT(*) AS n FROM dead_letters GROUP BY reason ORDER BY n DESC, reason")?;
            let mut groups: Vec<DeadLetterGroup> = counts
                .query_map([], |row| {
                    Ok(DeadLetterGroup { reason: row.get(0)?, count: row.get(1)?, latest: Vec::new() })
                })?
                .collect::<Result<_, _>>()?;
            let mut examples = connection.prepare(
                "SELECT queue, reason, detail, substr(body, 1, ?3) FROM dead_letters WHERE reason = ?1
                 ORDER BY stored_at DESC LIMIT ?2",
            )?;
            for group in &mut groups {
                group.latest = examples
                    .query_map(params![group.reason, latest, body_chars], read_letter)?
                    .collect::<Result<_, _>>()?;
            }
            Ok(groups)
        })
        .await
    }

    /// The `limit` newest dead letters, whole.
    ///
    /// # Errors
    /// When the query fails.
    pub async fn latest_dead_letters(&self, limit: usize) -> Result<Vec<DeadLetterRecord>, TableError> {
        let limit = to_sql_limit(limit);
        self.blocking(move |connection| {
            let mut query = connection
                .prepare("SELECT queue, reason, detail, body FROM dead_letters ORDER BY stored_at DESC LIMIT ?1")?;
            query.query_map([limit], read_letter)?.collect()
        })
        .await
    }

    /// The file behind the table.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(&self.name)
    }

    /// Counts what was written since `since`, for a run's summary.
    ///
    /// # Errors
    /// When the query fails.
    pub async fn statistics_since(&self, since: DateTime<Utc>) -> Result<RunStatistics, TableError> {
        let since = timestamp(since);
        self.blocking(move |connection| {
            let mut stats = connection.query_row(
                "SELECT COUNT(*),
                        COUNT(label_topic),
                        COALESCE(SUM(label_topic = topic), 0),
                        COALESCE(SUM(label_subtopic = subtopic), 0),
                        COALESCE(SUM(label_topic IS NOT NULL AND (label_subtopic = subtopic
                            OR EXISTS (SELECT 1 FROM json_each(label_categories) WHERE value = subtopic))), 0)
                 FROM results WHERE written_at >= ?1",
                [&since],
                |row| {
                    Ok(RunStatistics {
                        rows: row.get(0)?,
                        labelled: row.get(1)?,
                        topic_correct: row.get(2)?,
                        subtopic_correct: row.get(3)?,
                        subtopic_listed: row.get(4)?,
                        per_topic: Vec::new(),
                    })
                },
            )?;
            let mut query = connection.prepare(
                "SELECT topic, COUNT(*) AS n FROM results WHERE written_at >= ?1 GROUP BY topic ORDER BY n DESC, topic",
            )?;
            stats.per_topic =
                query.query_map([&since], |row| Ok((row.get(0)?, row.get(1)?)))?.collect::<Result<_, _>>()?;
            Ok(stats)
        })
        .await
    }

    /// Keeps the dead letters of an embedded run in the same file, so that nothing a run refused is lost
    /// when the process (and its in-memory dead-letter queues) ends.
    ///
    /// # Errors
    /// When the insert fails.
    pub async fn store_dead_letters(&self, letters: Vec<DeadLetterRecord>) -> Result<(), TableError> {
        let stored_at = timestamp(Utc::now());
        self.blocking(move |connection| {
            let transaction = connection.transaction()?;
            {
                let mut insert = transaction.prepare_cached(
                    "INSERT INTO dead_letters (queue, reason, detail, body, stored_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                for letter in &letters {
                    insert.execute(params![letter.queue, letter.reason, letter.detail, letter.body, stored_at])?;
                }
            }
            transaction.commit()
        })
        .await
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, TableError> {
        run_blocking(&self.connection, &self.name, work).await
    }
}

/// The columns of the results table; none when there is no such table.
fn column_names(connection: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut query = connection.prepare("SELECT name FROM pragma_table_info('results')")?;
    query.query_map([], |row| row.get(0))?.collect()
}

/// Adds the [`ADDED_COLUMNS`] that a results table written by an older build lacks.
fn add_missing_columns(connection: &Connection) -> rusqlite::Result<()> {
    let present = column_names(connection)?;
    for (column, kind) in ADDED_COLUMNS {
        if !present.iter().any(|name| name == column) {
            connection.execute_batch(&format!("ALTER TABLE results ADD COLUMN {column} {kind}"))?;
        }
    }
    Ok(())
}

/// A list as a JSON column; `NULL` when empty.
fn json_column<T: serde::Serialize>(items: &[T]) -> Option<String> {
    // Serialising strings and numbers cannot fail.
    (!items.is_empty()).then(|| serde_json::to_string(items).expect("a list of labels serialises"))
}

/// Reads a JSON column written by [`json_column`]; `NULL` is the empty list.
fn from_json_column<T: serde::de::DeserializeOwned>(index: usize, text: Option<String>) -> rusqlite::Result<Vec<T>> {
    let Some(text) = text else { return Ok(Vec::new()) };
    serde_json::from_str(&text)
        .map_err(|error| rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(error)))
}

/// Opens (creating if needed) the SQLite file at `path` and creates `schema` in it.
pub(crate) fn open_connection(path: &Path, schema: &str) -> Result<Connection, TableError> {
    let name = path.display().to_string();
    let storage = |error: rusqlite::Error| storage_error(&name, error);
    let connection = Connection::open(path).map_err(storage)?;
    // WAL lets a user read the file with `sqlite3` while the pipeline writes.
    connection.pragma_update(None, "journal_mode", "WAL").map_err(storage)?;
    connection.pragma_update(None, "synchronous", "NORMAL").map_err(storage)?;
    connection.busy_timeout(std::time::Duration::from_secs(5)).map_err(storage)?;
    connection.execute_batch(schema).map_err(storage)?;
    Ok(connection)
}

/// Runs `work` on the connection, off the async threads.
pub(crate) async fn run_blocking<T: Send + 'static>(
    connection: &Arc<Mutex<Connection>>,
    name: &str,
    work: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
) -> Result<T, TableError> {
    let connection = connection.clone();
    let result = tokio::task::spawn_blocking(move || {
        // A panic inside `work` would poison the lock; rusqlite leaves the connection usable, so
        // recover it rather than failing every later call.
        let mut connection = connection.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        work(&mut connection)
    })
    .await;
    match result {
        Ok(result) => result.map_err(|error| storage_error(name, error)),
        Err(join_error) => {
            Err(TableError::Storage { table: name.to_owned(), detail: join_error.to_string(), retriable: true })
        }
    }
}

fn storage_error(table: &str, error: rusqlite::Error) -> TableError {
    let retriable = matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    );
    TableError::Storage { table: table.to_owned(), detail: error.to_string(), retriable }
}

/// Fixed-width UTC timestamps, so that comparing the text compares the times.
fn timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_time(text: String) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(&text)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|error| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(error)))
}

/// A count as SQLite's integer; anything beyond it means "all".
fn to_sql_limit(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

fn read_letter(row: &Row<'_>) -> rusqlite::Result<DeadLetterRecord> {
    Ok(DeadLetterRecord { queue: row.get(0)?, reason: row.get(1)?, detail: row.get(2)?, body: row.get(3)? })
}

fn read_row(row: &Row<'_>) -> rusqlite::Result<ResultRow> {
    Ok(ResultRow {
        id: row.get(0)?,
        title: row.get(1)?,
        source: row.get(2)?,
        url: row.get(3)?,
        published: row.get::<_, Option<String>>(4)?.map(parse_time).transpose()?,
        topic: row.get(5)?,
        topic_score: row.get(6)?,
        topic_model: row.get(7)?,
        subtopic: row.get(8)?,
        subtopic_score: row.get(9)?,
        subtopic_model: row.get(10)?,
        top_categories: from_json_column(17, row.get(17)?)?,
        labels: Labels { topic: row.get(11)?, subtopic: row.get(12)?, categories: from_json_column(18, row.get(18)?)? },
        ingested_at: parse_time(row.get(13)?)?,
        topic_at: parse_time(row.get(14)?)?,
        subtopic_at: parse_time(row.get(15)?)?,
        written_at: parse_time(row.get(16)?)?,
    })
}

impl ResultTable for SqliteTable {
    fn name(&self) -> &str {
        &self.name
    }

    async fn put_batch(&self, rows: &[ResultRow]) -> Vec<Result<(), TableError>> {
        let count = rows.len();
        let rows = rows.to_vec();
        let written = self
            .blocking(move |connection| {
                let transaction = connection.transaction()?;
                {
                    let mut insert = transaction.prepare_cached(&format!(
                        "INSERT OR REPLACE INTO results ({COLUMNS}) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)"
                    ))?;
                    for row in &rows {
                        insert.execute(params![
                            row.id,
                            row.title,
                            row.source,
                            row.url,
                            row.published.map(timestamp),
                            row.topic,
                            row.topic_score,
                            row.topic_model,
                            row.subtopic,
                            row.subtopic_score,
                            row.subtopic_model,
                            row.labels.topic,
                            row.labels.subtopic,
                            timestamp(row.ingested_at),
                            timestamp(row.topic_at),
                            timestamp(row.subtopic_at),
                            timestamp(row.written_at),
                            json_column(&row.top_categories),
                            json_column(&row.labels.categories),
                        ])?;
                    }
                }
                transaction.commit()
            })
            .await;
        // One transaction: the whole batch succeeds or fails together.
        match written {
            Ok(()) => (0..count).map(|_| Ok(())).collect(),
            Err(error) => (0..count).map(|_| Err(error.clone())).collect(),
        }
    }

    async fn get(&self, id: &str) -> Result<Option<ResultRow>, TableError> {
        let (id, select) = (id.to_owned(), self.select.clone());
        self.blocking(move |connection| {
            connection.query_row(&format!("SELECT {select} FROM results WHERE id = ?1"), [id], read_row).optional()
        })
        .await
    }

    async fn list(&self, limit: usize) -> Result<Vec<ResultRow>, TableError> {
        let (limit, select) = (to_sql_limit(limit), self.select.clone());
        self.blocking(move |connection| {
            let mut query = connection
                .prepare_cached(&format!("SELECT {select} FROM results ORDER BY written_at DESC LIMIT ?1"))?;
            query.query_map([limit], read_row)?.collect()
        })
        .await
    }

    async fn query_by_topic(&self, topic: &str, limit: usize) -> Result<Vec<ResultRow>, TableError> {
        let (topic, select) = (topic.to_owned(), self.select.clone());
        let limit = to_sql_limit(limit);
        self.blocking(move |connection| {
            let mut query = connection.prepare_cached(&format!(
                "SELECT {select} FROM results WHERE topic = ?1 ORDER BY written_at DESC LIMIT ?2"
            ))?;
            query.query_map(params![topic, limit], read_row)?.collect()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::SubsecRound;
    use docclass_types::CategoryScore;

    fn row(id: &str, topic: &str, written_at: DateTime<Utc>) -> ResultRow {
        ResultRow {
            id: id.into(),
            title: "t".into(),
            source: "s".into(),
            url: None,
            published: None,
            topic: topic.into(),
            topic_score: 0.9,
            topic_model: "m".into(),
            subtopic: format!("{topic}.x"),
            subtopic_score: 0.8,
            subtopic_model: "m".into(),
            top_categories: vec![
                CategoryScore { label: format!("{topic}.x"), score: 0.7 },
                CategoryScore { label: "stat.ML".into(), score: 0.2 },
            ],
            labels: Labels {
                topic: Some("sci".into()),
                subtopic: Some("sci.x".into()),
                categories: vec!["sci.x".into(), "stat.ML".into()],
            },
            ingested_at: written_at,
            topic_at: written_at,
            subtopic_at: written_at,
            written_at,
        }
    }

    #[tokio::test]
    async fn writes_are_idempotent_by_document_id() {
        let dir = tempfile::tempdir().unwrap();
        let table = SqliteTable::open(&dir.path().join("r.sqlite")).unwrap();
        // Stored with microsecond precision.
        let start = Utc::now().trunc_subsecs(6);
        let first = row("a", "sci", start);
        assert!(table.put_batch(&[first.clone(), row("b", "rec", start)]).await.iter().all(Result::is_ok));
        let mut rewritten = first.clone();
        rewritten.topic_score = 0.5;
        assert!(table.put_batch(&[rewritten.clone()]).await.iter().all(Result::is_ok));

        assert_eq!(table.get("a").await.unwrap(), Some(rewritten));
        assert_eq!(table.get("missing").await.unwrap(), None);
        let sci = table.query_by_topic("sci", 10).await.unwrap();
        assert_eq!(sci.len(), 1);

        let stats = table.statistics_since(start).await.unwrap();
        assert_eq!(stats.rows, 2);
        assert_eq!(stats.labelled, 2);
        assert_eq!(stats.topic_correct, 1);
        assert_eq!(stats.subtopic_correct, 1);
        assert_eq!(stats.subtopic_listed, 1, "sci.x is listed; rec.x is not");
        assert_eq!(stats.per_topic, vec![("rec".to_string(), 1), ("sci".to_string(), 1)]);
    }

    #[tokio::test]
    async fn a_file_of_an_older_build_gains_the_new_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite");
        let old_schema = SCHEMA.replace(",\n    top_categories  TEXT,\n    label_categories TEXT", "");
        assert!(!old_schema.contains("top_categories"), "the old schema lacks the new columns");
        drop(open_connection(&path, &old_schema).unwrap());

        let table = SqliteTable::open(&path).unwrap();
        let written = row("a", "sci", Utc::now().trunc_subsecs(6));
        assert!(table.put_batch(std::slice::from_ref(&written)).await.iter().all(Result::is_ok));
        assert_eq!(table.get("a").await.unwrap(), Some(written));
        drop(table);
        SqliteTable::open(&path).expect("opening it again adds nothing twice");
    }

    #[tokio::test]
    async fn a_read_only_open_reads_an_old_file_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite");
        let old_schema = SCHEMA.replace(",\n    top_categories  TEXT,\n    label_categories TEXT", "");
        let old = open_connection(&path, &old_schema).unwrap();
        old.execute_batch(
            "INSERT INTO results VALUES ('a', 't', 's', NULL, NULL, 'sci', 0.9, 'm', 'sci.x', 0.8, 'm', 'sci', NULL,
             '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z',
             '2026-01-01T00:00:00.000000Z')",
        )
        .unwrap();
        drop(old);
        let before = std::fs::read(&path).unwrap();

        let table = SqliteTable::open_read_only(&path).unwrap();
        let topics = table.fold_rows(Vec::new(), |topics, row| topics.push((row.id, row.topic))).await.unwrap();
        assert_eq!(topics, [("a".to_owned(), "sci".to_owned())]);
        assert_eq!(table.get("a").await.unwrap().unwrap().top_categories, []);
        assert!(table.put_batch(&[row("b", "rec", Utc::now())]).await[0].is_err(), "read-only");
        drop(table);
        assert_eq!(std::fs::read(&path).unwrap(), before, "not migrated, not written");

        assert!(SqliteTable::open_read_only(&dir.path().join("missing.sqlite")).is_err());
        assert!(!dir.path().join("missing.sqlite").exists(), "never created");
    }

    #[tokio::test]
    async fn dead_letters_are_read_by_reason_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.sqlite");
        let table = SqliteTable::open(&path).unwrap();
        let letter = |reason: &str, body: &str| DeadLetterRecord {
            queue: "ingest".into(),
            reason: reason.into(),
            detail: format!("{reason} detail"),
            body: body.into(),
        };
        table.store_dead_letters(vec![letter("invalid_json", "first")]).await.unwrap();
        table.store_dead_letters(vec![letter("invalid_json", "second body"), letter("too_large", "x")]).await.unwrap();

        let reader = SqliteTable::open_read_only(&path).unwrap();
        let groups = reader.dead_letter_groups(1, 3).await.unwrap();
        let summary: Vec<(&str, u64, Vec<&str>)> = groups
            .iter()
            .map(|g| (g.reason.as_str(), g.count, g.latest.iter().map(|l| l.body.as_str()).collect()))
            .collect();
        assert_eq!(summary, [("invalid_json", 2, vec!["sec"]), ("too_large", 1, vec!["x"])]);
        let latest = reader.latest_dead_letters(10).await.unwrap();
        assert_eq!(latest.len(), 3);
        assert_eq!(latest[2], letter("invalid_json", "first"), "whole, oldest last");
    }
}
