//! The result-table port, shaped after DynamoDB: one item per document id, written idempotently.

use std::future::Future;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{CategoryScore, Envelope, Labels, Rejection, Stage};

/// One row of the result table: a fully classified document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRow {
    /// Document id: the key.
    pub id: String,
    /// Document title.
    pub title: String,
    /// Where the document came from.
    pub source: String,
    /// Link to the original.
    pub url: Option<String>,
    /// Publication time from the source.
    pub published: Option<DateTime<Utc>>,
    /// Predicted topic.
    pub topic: String,
    /// Confidence of the topic.
    pub topic_score: f32,
    /// Model that chose the topic.
    pub topic_model: String,
    /// Predicted subtopic.
    pub subtopic: String,
    /// Confidence of the subtopic.
    pub subtopic_score: f32,
    /// Model that chose the subtopic.
    pub subtopic_model: String,
    /// The most likely categories over every topic, most likely first, with calibrated probabilities
    /// (the subtopic stage's [`Classification::top`](crate::Classification::top)); empty where the model gave none.
    pub top_categories: Vec<CategoryScore>,
    /// Labels carried by the source, when it had any.
    pub labels: Labels,
    /// When the ingestor enqueued the document.
    pub ingested_at: DateTime<Utc>,
    /// When the topic stage decided.
    pub topic_at: DateTime<Utc>,
    /// When the subtopic stage decided.
    pub subtopic_at: DateTime<Utc>,
    /// When the row was written; a redelivery rewrites it.
    pub written_at: DateTime<Utc>,
}

impl ResultRow {
    /// Builds the row for a fully classified envelope.
    ///
    /// # Errors
    /// [`Rejection::MissingClassification`] when a stage's result is missing.
    pub fn from_envelope(envelope: &Envelope, written_at: DateTime<Utc>) -> Result<Self, Rejection> {
        let missing = |missing| Rejection::MissingClassification {
            id: envelope.document.id.clone(),
            stage: Stage::Write,
            missing,
        };
        let topic = envelope.topic.as_ref().ok_or_else(|| missing("topic"))?;
        let subtopic = envelope.subtopic.as_ref().ok_or_else(|| missing("subtopic"))?;
        let doc = &envelope.document;
        Ok(Self {
            id: doc.id.clone(),
            title: doc.title.clone(),
            source: doc.source.clone(),
            url: doc.url.clone(),
            published: doc.published,
            topic: topic.label.clone(),
            topic_score: topic.score,
            topic_model: topic.model_version.clone(),
            subtopic: subtopic.label.clone(),
            subtopic_score: subtopic.score,
            subtopic_model: subtopic.model_version.clone(),
            top_categories: subtopic.top.clone(),
            labels: doc.labels.clone().unwrap_or_default(),
            ingested_at: doc.ingested_at,
            topic_at: topic.classified_at,
            subtopic_at: subtopic.classified_at,
            written_at,
        })
    }
}

/// What can go wrong writing or reading the table.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TableError {
    /// The table asked us to slow down (DynamoDB `ProvisionedThroughputExceededException`, unprocessed items).
    #[error("table {table} is throttling writes")]
    Throttled {
        /// Table name.
        table: String,
    },
    /// The storage failed.
    #[error("table {table} failed: {detail}")]
    Storage {
        /// Table name.
        table: String,
        /// The underlying error, rendered with its causes.
        detail: String,
        /// Whether the same request may succeed later.
        retriable: bool,
    },
}

impl TableError {
    /// Whether the same call may succeed if tried again later.
    pub fn is_retriable(&self) -> bool {
        match self {
            TableError::Throttled { .. } => true,
            TableError::Storage { retriable, .. } => *retriable,
        }
    }
}

/// The result table.
pub trait ResultTable: Send + Sync + 'static {
    /// The table's name, for logs.
    fn name(&self) -> &str;

    /// Writes rows keyed by document id; writing a row again replaces it, so redelivery is harmless.
    /// Each row succeeds or fails on its own.
    fn put_batch(&self, rows: &[ResultRow]) -> impl Future<Output = Vec<Result<(), TableError>>> + Send;

    /// The row of one document.
    fn get(&self, id: &str) -> impl Future<Output = Result<Option<ResultRow>, TableError>> + Send;

    /// Up to `limit` rows with the given topic, newest first.
    fn query_by_topic(
        &self,
        topic: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<ResultRow>, TableError>> + Send;

    /// Up to `limit` rows of any topic, in whatever order the table keeps them (for browsing).
    fn list(&self, limit: usize) -> impl Future<Output = Result<Vec<ResultRow>, TableError>> + Send;
}

impl<T: ResultTable> ResultTable for std::sync::Arc<T> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn put_batch(&self, rows: &[ResultRow]) -> impl Future<Output = Vec<Result<(), TableError>>> + Send {
        (**self).put_batch(rows)
    }

    fn get(&self, id: &str) -> impl Future<Output = Result<Option<ResultRow>, TableError>> + Send {
        (**self).get(id)
    }

    fn query_by_topic(
        &self,
        topic: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<ResultRow>, TableError>> + Send {
        (**self).query_by_topic(topic, limit)
    }

    fn list(&self, limit: usize) -> impl Future<Output = Result<Vec<ResultRow>, TableError>> + Send {
        (**self).list(limit)
    }
}
