//! The four service binaries as a Unix pipeline: feed-ingest | topic-classifier | subtopic-classifier |
//! table-writer, each a real process running the worker runtime over stdin/stdout.

use std::io::Write;
use std::process::{Child, Command, Stdio};

use test_support::binaries::binary;
use test_support::{data_dir, read, results_file, train_model};

const DOCUMENTS: usize = 300;

fn spawn(command: &mut Command) -> Child {
    // Any free port for /metrics: the default ports may be taken on a test machine.
    command
        .env("DOCCLASS_METRICS_ADDR", "127.0.0.1:0")
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"))
}

#[test]
fn four_services_piped_write_one_row_per_document_and_dead_letter_poison() {
    let _serial = test_support::serial();
    let dir = tempfile::tempdir().unwrap();
    let mut model = train_model();
    let model_path = dir.path().join("model.bin");
    model.save(&model_path).unwrap();

    // Input: real documents as JSON Lines.
    let input = dir.path().join("input.jsonl");
    let mut file = std::fs::File::create(&input).unwrap();
    for document in read(data_dir().join(docclass::data::DEV_FILE), DOCUMENTS) {
        let labels = document.labels.unwrap();
        let record = serde_json::json!({
            "id": document.id, "title": document.title, "text": document.text,
            "topic": labels.topic, "subtopic": labels.subtopic,
        });
        writeln!(file, "{record}").unwrap();
    }
    drop(file);

    // feed-ingest writes envelopes; a misbehaving producer adds two poison messages.
    let envelopes = dir.path().join("envelopes.jsonl");
    let ingest = Command::new(binary("feed-ingest")).arg("--input").arg(&input).stderr(Stdio::null()).output().unwrap();
    assert!(ingest.status.success());
    let mut stream = ingest.stdout;
    stream.extend_from_slice(b"{\"not\": \"an envelope\"}\n");
    let first_line = String::from_utf8_lossy(&stream).lines().next().unwrap().to_owned();
    let mut future: serde_json::Value = serde_json::from_str(&first_line).unwrap();
    future["schema_version"] = 2.into();
    stream.extend_from_slice(format!("{future}\n").as_bytes());
    std::fs::write(&envelopes, &stream).unwrap();

    let dead_letters = dir.path().join("dead-letters.jsonl");
    let db = dir.path().join("results.sqlite");
    let mut topic = spawn(
        Command::new(binary("topic-classifier"))
            .arg("--model")
            .arg(&model_path)
            .arg("--dead-letters")
            .arg(&dead_letters)
            .stdin(std::fs::File::open(&envelopes).unwrap())
            .stdout(Stdio::piped()),
    );
    let mut subtopic = spawn(
        Command::new(binary("subtopic-classifier"))
            .arg("--model")
            .arg(&model_path)
            .arg("--dead-letters")
            .arg(&dead_letters)
            .stdin(topic.stdout.take().unwrap())
            .stdout(Stdio::piped()),
    );
    let mut writer = spawn(
        Command::new(binary("table-writer"))
            .arg("--db")
            .arg(&db)
            .arg("--dead-letters")
            .arg(&dead_letters)
            .stdin(subtopic.stdout.take().unwrap()),
    );
    for (name, child) in [("topic", &mut topic), ("subtopic", &mut subtopic), ("writer", &mut writer)] {
        assert!(child.wait().unwrap().success(), "{name} failed");
    }

    let written = results_file::rows(&db);
    let distinct: std::collections::BTreeSet<&str> = written.iter().map(|row| row.id.as_str()).collect();
    let (rows, correct) =
        (distinct.len(), written.iter().filter(|row| row.labels.subtopic.as_ref() == Some(&row.subtopic)).count());
    assert_eq!((rows, written.len()), (DOCUMENTS, DOCUMENTS));
    // The first documents of dev are the hardest groups (alt.atheism, comp.*); the point is that the
    // labels travelled with the documents and the model did its work.
    assert!(correct as f64 / rows as f64 > 0.6, "{correct} of {rows} right");

    let mut reasons: Vec<String> = std::fs::read_to_string(&dead_letters)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap()["reason"].as_str().unwrap().to_owned())
        .collect();
    reasons.sort();
    assert_eq!(reasons, ["invalid_json", "unsupported_schema_version"]);
}
