//! One module per subcommand; `labelled` is what they share: reading labelled data and getting a model.

pub mod bench;
pub mod dashboard;
pub mod dlq;
pub mod eval;
pub mod feeds;
pub mod harvest;
mod http;
pub mod infra;
mod labelled;
pub mod model;
pub mod results;
pub mod run;
pub mod train;

use labelled::{
    default_dev_files, default_train_files, model_or_default, read_examples, train_with_recipe, without_retired,
};
