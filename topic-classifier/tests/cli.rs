//! The binary as a user starts it. (Being an integration test also makes `cargo test` build the binary,
//! which the workspace's end-to-end tests run: see crates/test-support/src/binaries.rs.)

use std::process::{Command, Stdio};

#[test]
fn a_missing_model_is_named_and_stops_the_service() {
    let missing = std::env::temp_dir().join("docclass-no-such-model.bin");
    let output = Command::new(env!("CARGO_BIN_EXE_topic-classifier"))
        .arg("--model")
        .arg(&missing)
        .env_remove("DOCCLASS_INGEST_QUEUE_URL")
        .env_remove("DOCCLASS_SUBTOPIC_QUEUE_URL")
        .stdin(Stdio::null())
        .output()
        .expect("the binary starts");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no usable model at") && stderr.contains(&*missing.to_string_lossy()), "{stderr}");
}
