//! The binary as a user starts it. (Being an integration test also makes `cargo test` build the binary,
//! which the workspace's end-to-end tests run: see crates/test-support/src/binaries.rs.)

use std::process::{Command, Stdio};

#[test]
fn a_results_queue_without_a_table_is_refused_by_name() {
    let output = Command::new(env!("CARGO_BIN_EXE_table-writer"))
        .args(["--input-queue-url", "http://127.0.0.1:9/000000000000/results"])
        .env_remove("DOCCLASS_TABLE")
        .stdin(Stdio::null())
        .output()
        .expect("the binary starts");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--table (DOCCLASS_TABLE) is needed"), "{stderr}");
}
