//! The scale benchmark's chaos, small enough for the test command: 3,000 real documents and 5 % poison
//! through the four services on an emulator, a classifier or the writer SIGKILLed every 5 s, and two
//! outages of the emulator (connections refused, then stalled). Nothing may be lost, duplicated as a row,
//! misplaced or left queued; no service may crash; and an outage is waited out, not spun on or logged
//! per attempt.

use std::time::Duration;

use test_support::scale::{self, Emulator, Settings};
use test_support::{binaries, data_dir, train_model};

const DOCUMENTS: usize = 3_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_survive_kills_outages_and_poison() {
    let _serial = test_support::serial();
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.bin");
    train_model().save(&model).unwrap();
    let settings = Settings {
        documents: DOCUMENTS,
        input: data_dir().join(docclass::data::TRAIN_FILE),
        model,
        binaries: binaries::binary("docclass").parent().unwrap().to_owned(),
        work: dir.path().join("run"),
        emulator: Emulator::available(),
        kill_every: Some(Duration::from_secs(5)),
        outage: Some(Duration::from_secs(6)),
        outages: 2,
        poison: 0.05,
        workers: 2,
        processes: 1,
        visibility: Duration::from_secs(5),
        stall_limit: Duration::from_secs(90),
        // Fed through feed-ingest's standard input, as the benchmark does by default.
        backlog: Some(1_000),
    };
    let report = scale::run(&settings).await;
    println!("{}", report.text());
    assert!(report.kills >= 1 && report.outages == 2, "the chaos happened: {report:?}");
    assert!(report.poison_injected >= 150, "{report:?}");
    assert!(report.is_clean(), "{}", report.text());
    // Waited out: a service that retried without backing off would log each attempt, dozens a second.
    for (service, lines) in &report.log_lines_during_outages {
        assert!(*lines <= 12, "{service} logged {lines} warnings in two outages:\n{}", report.text());
    }
}
