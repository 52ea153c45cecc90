//! The workspace's binaries, for tests that run them as separate processes.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The path of binary `name`, built on demand: `cargo test` builds only the binaries of the package
/// under test, and these belong to other packages.
///
/// # Panics
/// When the build fails.
pub fn binary(name: &str) -> PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--bins"])
            .args(["-p", "feed-ingest", "-p", "topic-classifier", "-p", "subtopic-classifier", "-p", "table-writer"])
            .args(["-p", "docclass", "-p", "deploy"])
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the binaries failed");
    });
    // Test executables live in target/<profile>/deps; binaries one folder up.
    let exe = std::env::current_exe().expect("the test executable's path");
    exe.parent().and_then(Path::parent).expect("target/<profile>").join(name)
}
