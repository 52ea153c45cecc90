//! Workspace-level tests live in this package's test targets; see `embedded_pipeline.rs`.
