//! The item layout of a result row, stable because users read it with `aws dynamodb scan`.
//!
//! | attribute | type | |
//! |---|---|---|
//! | `id` | S | partition key: the document id |
//! | `title`, `source`, `topic`, `topic_model`, `subtopic`, `subtopic_model` | S | |
//! | `topic_score`, `subtopic_score` | N | in [0, 1] |
//! | `url`, `published`, `label_topic`, `label_subtopic` | S | only when known |
//! | `ingested_at`, `topic_at`, `subtopic_at`, `written_at` | S | RFC 3339, UTC, microseconds |
//! | `top_categories` | L of M `{label: S, score: N}` | most likely first; only when the model gave any |
//! | `label_categories` | L of S | the source's categories, primary first (arXiv cross-lists); only when known |
//!
//! The `by-topic` index has `topic` as partition key and `written_at` as sort key.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, SecondsFormat, Utc};
use docclass_types::{CategoryScore, Labels, ResultRow};

pub(crate) type Item = HashMap<String, AttributeValue>;

fn timestamp(time: DateTime<Utc>) -> AttributeValue {
    AttributeValue::S(time.to_rfc3339_opts(SecondsFormat::Micros, true))
}

pub(crate) fn to_item(row: &ResultRow) -> Item {
    let mut item = Item::new();
    let mut text = |key: &str, value: &str| {
        item.insert(key.to_owned(), AttributeValue::S(value.to_owned()));
    };
    text("id", &row.id);
    text("title", &row.title);
    text("source", &row.source);
    text("topic", &row.topic);
    text("topic_model", &row.topic_model);
    text("subtopic", &row.subtopic);
    text("subtopic_model", &row.subtopic_model);
    for (key, value) in [
        ("url", row.url.as_deref()),
        ("label_topic", row.labels.topic.as_deref()),
        ("label_subtopic", row.labels.subtopic.as_deref()),
    ] {
        if let Some(value) = value {
            text(key, value);
        }
    }
    item.insert("topic_score".into(), AttributeValue::N(row.topic_score.to_string()));
    item.insert("subtopic_score".into(), AttributeValue::N(row.subtopic_score.to_string()));
    if let Some(published) = row.published {
        item.insert("published".into(), timestamp(published));
    }
    if !row.top_categories.is_empty() {
        let top = row
            .top_categories
            .iter()
            .map(|category| {
                AttributeValue::M(HashMap::from([
                    ("label".to_owned(), AttributeValue::S(category.label.clone())),
                    ("score".to_owned(), AttributeValue::N(category.score.to_string())),
                ]))
            })
            .collect();
        item.insert("top_categories".into(), AttributeValue::L(top));
    }
    if !row.labels.categories.is_empty() {
        let listed = row.labels.categories.iter().map(|c| AttributeValue::S(c.clone())).collect();
        item.insert("label_categories".into(), AttributeValue::L(listed));
    }
    item.insert("ingested_at".into(), timestamp(row.ingested_at));
    item.insert("topic_at".into(), timestamp(row.topic_at));
    item.insert("subtopic_at".into(), timestamp(row.subtopic_at));
    item.insert("written_at".into(), timestamp(row.written_at));
    item
}

/// Reads an item back; `None` names the first attribute that is missing or malformed.
pub(crate) fn from_item(item: &Item) -> Result<ResultRow, String> {
    let text = |key: &str| item.get(key).and_then(|v| v.as_s().ok()).cloned();
    let required = |key: &str| text(key).ok_or_else(|| format!("attribute `{key}` missing or not a string"));
    let number = |key: &str| -> Result<f32, String> {
        item.get(key)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("attribute `{key}` missing or not a number"))
    };
    let time = |key: &str| -> Result<DateTime<Utc>, String> {
        let value = required(key)?;
        DateTime::parse_from_rfc3339(&value).map(|t| t.with_timezone(&Utc)).map_err(|e| format!("`{key}`: {e}"))
    };
    let list = |key: &str| item.get(key).and_then(|v| v.as_l().ok()).map(Vec::as_slice).unwrap_or_default();
    let top_categories = list("top_categories")
        .iter()
        .map(|entry| {
            let entry = entry.as_m().map_err(|_| "`top_categories` holds a non-map".to_owned())?;
            let label = entry.get("label").and_then(|v| v.as_s().ok()).cloned();
            let score = entry.get("score").and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok());
            match (label, score) {
                (Some(label), Some(score)) => Ok(CategoryScore { label, score }),
                _ => Err("`top_categories` holds an entry without a label and a score".to_owned()),
            }
        })
        .collect::<Result<_, String>>()?;
    let label_categories = list("label_categories")
        .iter()
        .map(|c| c.as_s().cloned().map_err(|_| "`label_categories` holds a non-string".to_owned()))
        .collect::<Result<_, String>>()?;
    Ok(ResultRow {
        id: required("id")?,
        title: required("title")?,
        source: required("source")?,
        url: text("url"),
        published: text("published").map(|_| time("published")).transpose()?,
        topic: required("topic")?,
        topic_score: number("topic_score")?,
        topic_model: required("topic_model")?,
        subtopic: required("subtopic")?,
        subtopic_score: number("subtopic_score")?,
        subtopic_model: required("subtopic_model")?,
        top_categories,
        labels: Labels { topic: text("label_topic"), subtopic: text("label_subtopic"), categories: label_categories },
        ingested_at: time("ingested_at")?,
        topic_at: time("topic_at")?,
        subtopic_at: time("subtopic_at")?,
        written_at: time("written_at")?,
    })
}
