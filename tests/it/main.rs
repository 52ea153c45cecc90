//! The workspace's end-to-end tests, one binary with a module per subject (ripgrep's `tests/tests.rs`):
//! one link instead of one per file. What they share — the corpus, emulators, the binaries as
//! processes, the browser, the chaos proxy — is the `test-support` crate.
//!
//! The heavy ones (a whole pipeline, the cluster, the emulators at load) each take
//! [`test_support::serial`] first, so that two of them never share the machine's two cores; the light
//! ones run beside them. `TEST_LOG=1` shows the services' own logs in the test's output.

mod adapter_contracts;
mod aws_pipeline;
mod chaos;
mod compose_cluster;
mod dashboard;
mod deploy_ecs;
mod embedded_pipeline;
mod feed_polling;
mod model_store;
mod service_pipeline;
