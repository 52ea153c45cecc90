//! The text classifier behind both classifier stages: tokenizer, sparse TF-IDF features, one-vs-rest
//! linear SVMs, a two-level (topic → subtopic) model, model files, training and evaluation.
//!
//! Everything here is synchronous, pure code: the services call it from the worker runtime's blocking
//! pool.
//!
//! Why not linfa for the model itself: linfa's linear models and naive Bayes take dense `ndarray`
//! matrices, and 11,000 documents × 200,000 n-gram features is 8.8 GB dense in f32 where the sparse form
//! is about 40 MB; linfa-preprocessing's `TfIdfVectorizer::transform` recomputes IDF from the batch it is
//! given, so one document alone gets wrong weights. The sparse pieces (vectorizer, SVM solver) are small
//! and written here; linfa's confusion matrix cross-checks our metrics in the tests.
#![warn(missing_docs)]

mod classifier;
mod feature_index;
mod features;
mod file;
pub mod judge;
mod linear;
pub mod metrics;
mod model;
mod provenance;
mod tokenize;
mod train;

pub use classifier::{Classifier, ServedModel, Serving, Shadow};
pub use features::{SparseVector, Vocabulary};
pub use file::{BERT_HEAD_FORMAT, MAX_MODEL_BYTES, ModelFileError, ModelFormat};
pub use linear::{CrossListed, LinearModel};
pub use model::{Model, Prediction, Scored, SubtopicAnswer, TOP_CATEGORIES, top_categories};
pub use provenance::{HoldoutFigures, Provenance};
pub use tokenize::for_each_token;
pub use train::{Example, RECENCY_FLOOR, TrainConfig, TrainError, TrainReport, train};
