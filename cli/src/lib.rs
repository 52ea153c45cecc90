//! The `docclass` command line, and the one-process embedded pipeline it runs.
//!
//! The library half exists so tests can drive the same pipeline the `run` subcommand does.
#![warn(missing_docs)]

pub mod data;
pub mod pipeline;
