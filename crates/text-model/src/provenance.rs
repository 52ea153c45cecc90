//! What a model was trained on, carried inside its file: `docclass model show` prints it, and a model
//! store judges a candidate by it. Kept as JSON within the file, so that fields can be added without
//! another format version.

use serde::{Deserialize, Serialize};

/// Where a model came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// When training finished (RFC 3339, UTC).
    pub trained_at: String,
    /// The training files, as given.
    pub files: Vec<String>,
    /// Training documents (after any left out).
    pub documents: u64,
    /// The first and last publication dates among them (`YYYY-MM-DD`), when they are dated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<(String, String)>,
    /// Topics and categories it can answer.
    pub topics: Vec<String>,
    /// How many categories (subtopics) it can answer.
    pub categories: usize,
    /// Its figures on the held-out documents, when any were held out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout: Option<HoldoutFigures>,
    /// The training settings, as `docclass train` printed them.
    #[serde(default)]
    pub recipe: serde_json::Value,
}

/// A model's figures on documents held out of its training.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HoldoutFigures {
    /// Documents held out.
    pub documents: u64,
    /// Topic accuracy.
    pub topic_accuracy: f64,
    /// Category (subtopic) accuracy, end to end.
    pub category_accuracy: f64,
    /// Category macro-F1.
    pub category_macro_f1: f64,
}
