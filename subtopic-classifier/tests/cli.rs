//! The binary as a user starts it. (Being an integration test also makes `cargo test` build the binary,
//! which the workspace's end-to-end tests run: see crates/test-support/src/binaries.rs.)

use std::process::{Command, Stdio};

#[test]
fn a_file_that_is_no_model_is_named_and_stops_the_service() {
    let not_a_model = std::env::temp_dir().join(format!("docclass-not-a-model-{}.bin", std::process::id()));
    std::fs::write(&not_a_model, "hep-th, math.AG, cs.LG\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_subtopic-classifier"))
        .arg("--model")
        .arg(&not_a_model)
        .env_remove("DOCCLASS_SUBTOPIC_QUEUE_URL")
        .stdin(Stdio::null())
        .output()
        .expect("the binary starts");
    std::fs::remove_file(&not_a_model).unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("no usable model at {}", not_a_model.display())), "{stderr}");
}
