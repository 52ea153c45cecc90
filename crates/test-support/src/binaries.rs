//! The workspace's binaries, for tests that run them as separate processes.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The path of binary `name`, as `cargo test` over the workspace built it.
///
/// `cargo test` builds the binaries of every package it tests that has integration tests (each service
/// has some), with the features of the whole test build. A nested `cargo build -p …` of the binaries
/// would resolve features without the dev-dependencies' (tokio's `test-util`, …) and rebuild tokio, the
/// AWS SDK and everything above them a second time: 948 s of a cold CI run. The nested
/// `cargo test --no-run` asks for exactly the outer run's build, so after `cargo test` it finds every
/// artifact fresh and returns in seconds; run alone (`cargo test -p docclass-tests`), it builds what the
/// workspace's tests need, the binaries among them.
///
/// # Panics
/// When the build fails.
pub fn binary(name: &str) -> PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let status = Command::new(env!("CARGO"))
            .args(["test", "--no-run", "--quiet"])
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).expect("the workspace root"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the binaries failed");
    });
    // Test executables live in target/<profile>/deps; binaries one folder up.
    let exe = std::env::current_exe().expect("the test executable's path");
    exe.parent().and_then(Path::parent).expect("target/<profile>").join(name)
}
