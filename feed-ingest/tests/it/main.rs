//! feed-ingest's one integration-test binary (ripgrep's `tests/tests.rs`): each module one subject.

mod cli;
mod polling;
mod stops;
