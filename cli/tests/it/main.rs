//! The `docclass` binary as a user runs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn docclass() -> Command {
    Command::new(env!("CARGO_BIN_EXE_docclass"))
}

fn data_dir() -> PathBuf {
    let given = std::env::var_os("DOCCLASS_DATA_DIR").map(PathBuf::from);
    docclass::data::find_data_dir(given.as_deref()).expect("the labelled corpus (see README, 'Getting the data')")
}

fn succeed(command: &mut Command) -> Output {
    let output = command.output().unwrap();
    assert!(output.status.success(), "{command:?} failed:\n{}", String::from_utf8_lossy(&output.stderr));
    output
}

/// One model for every test here, trained through the CLI.
fn model() -> &'static Path {
    static MODEL: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &MODEL
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("model.bin");
            let output = succeed(docclass().args(["train", "--out"]).arg(&path));
            let stdout = String::from_utf8(output.stdout).unwrap();
            assert!(stdout.contains("Held-out 1126 documents"), "{stdout}");
            (dir, path)
        })
        .1
}

/// Every row of a run's results file, read through adapters-embedded (the schema's one home).
fn rows(db: &Path) -> Vec<docclass_types::ResultRow> {
    let Ok(table) = adapters_embedded::SqliteTable::open_read_only(db) else { return Vec::new() };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(table.fold_rows(Vec::new(), |rows, row| rows.push(row))).unwrap()
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)))
}

#[test]
fn eval_on_dev_reports_the_agreed_keys_and_a_good_macro_f1() {
    let output = succeed(docclass().args(["eval", "--json", "--model"]).arg(model()));
    let report = json(&output);
    assert_eq!(report["documents"], 3717);
    for key in
        ["topic_accuracy", "subtopic_accuracy", "subtopic_macro_f1", "topic_f1_macro", "expected_calibration_error"]
    {
        assert!(report[key].as_f64().is_some(), "missing {key}: {report}");
    }
    // The targets of the model issue; training is seeded, so these do not drift between runs.
    let macro_f1 = report["subtopic_macro_f1"].as_f64().unwrap();
    assert!(macro_f1 >= 0.87, "subtopic macro-F1 {macro_f1} < 0.87");
    let topic_accuracy = report["topic_accuracy"].as_f64().unwrap();
    assert!(topic_accuracy >= 0.93, "topic accuracy {topic_accuracy} < 0.93");
    let calibration_error = report["expected_calibration_error"].as_f64().unwrap();
    assert!((0.0..0.1).contains(&calibration_error), "calibration error {calibration_error}");
    assert_eq!(report["subtopics"].as_array().unwrap().len(), 20);
}

#[test]
fn a_confidence_threshold_trades_coverage_for_accuracy() {
    let all = json(&succeed(docclass().args(["eval", "--json", "--model"]).arg(model())));
    let picky = json(&succeed(docclass().args(["eval", "--json", "--min-score", "0.5", "--model"]).arg(model())));
    let coverage = picky["selective"]["coverage"].as_f64().unwrap();
    let accuracy = picky["selective"]["accuracy"].as_f64().unwrap();
    assert!(coverage > 0.5 && coverage < 1.0, "{picky}");
    assert!(accuracy > all["subtopic_accuracy"].as_f64().unwrap(), "{picky}");

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("results.sqlite");
    succeed(docclass().args(["run", "--min-score", "0.5", "--model"]).arg(model()).arg("--db").arg(&db));
    let written = rows(&db);
    let unknown = written.iter().filter(|row| row.subtopic == "unknown").count() as i64;
    assert_eq!(written.len(), 3717, "low-confidence documents are still written, for review");
    let expected_unknown = ((1.0 - coverage) * 3717.0).round() as i64;
    assert!((unknown - expected_unknown).abs() <= 3, "{unknown} unknown, eval predicted {expected_unknown}");
}

#[test]
fn run_over_dev_writes_one_row_per_document() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("results.sqlite");
    let output =
        succeed(docclass().args(["run", "--json", "--workers", "2", "--model"]).arg(model()).arg("--db").arg(&db));
    let report = json(&output);
    assert_eq!(report["documents_in"], 3717);
    assert_eq!(report["results_written"], 3717);
    assert_eq!(report["dead_lettered"], 0);
    assert!(report["docs_per_second"].as_f64().unwrap() > 0.0);
    assert!(report["subtopic_accuracy"].as_f64().unwrap() > 0.8);

    let distinct = |db: &Path| rows(db).into_iter().map(|row| row.id).collect::<std::collections::BTreeSet<_>>();
    assert_eq!((distinct(&db).len(), rows(&db).len()), (3717, 3717));

    // Running again over the same input rewrites the same rows.
    succeed(docclass().args(["run", "--json", "--model"]).arg(model()).arg("--db").arg(&db));
    assert_eq!((distinct(&db).len(), rows(&db).len()), (3717, 3717));
}

#[test]
fn sigterm_stops_a_run_cleanly_and_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("results.sqlite");
    let train = data_dir().join(docclass::data::TRAIN_FILE);
    // Enough input (the train split, many times over) that the run is still going when signalled.
    let child = docclass()
        .args(["run", "--json", "--model"])
        .arg(model())
        .arg("--db")
        .arg(&db)
        .arg("--input")
        .args(std::iter::repeat_n(&train, 30))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Wait until rows are being written, then signal.
    let started = Instant::now();
    loop {
        assert!(started.elapsed() < Duration::from_secs(60), "no rows written within a minute");
        if !rows(&db).is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let signalled = Instant::now();
    let kill = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());

    let output = child.wait_with_output().unwrap();
    let stopped_in = signalled.elapsed();
    assert!(output.status.success(), "exit status {:?}: {}", output.status, String::from_utf8_lossy(&output.stderr));
    assert!(stopped_in < Duration::from_secs(10), "took {stopped_in:?} to stop");
    let report = json(&output);
    assert_eq!(report["interrupted"], true);
    let written = report["results_written"].as_u64().unwrap();
    assert!(written > 0 && written < 11_260, "stopped part-way: {report}");
}

#[test]
fn a_corrupt_model_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let corrupt = dir.path().join("corrupt.model");
    let mut bytes = std::fs::read(model()).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&corrupt, bytes).unwrap();
    let output = docclass().args(["eval", "--model"]).arg(&corrupt).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is corrupt") && stderr.contains("checksum"), "{stderr}");
}

#[test]
fn missing_corpus_says_where_to_get_it() {
    let dir = tempfile::tempdir().unwrap();
    let output =
        docclass().args(["eval", "--data-dir"]).arg(dir.path()).arg("--cache-dir").arg(dir.path()).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("20 Newsgroups") && stderr.contains("Getting the data"), "{stderr}");
}

/// The lines of a gzipped corpus file that `keep` accepts, at most `limit` of them.
fn corpus_lines(file: &str, limit: usize, keep: impl Fn(&serde_json::Value) -> bool) -> Vec<String> {
    let reader = std::fs::File::open(data_dir().join(file)).unwrap();
    let reader = std::io::BufReader::new(flate2::read::MultiGzDecoder::new(reader));
    std::io::BufRead::lines(reader)
        .map(Result::unwrap)
        .filter(|line| keep(&serde_json::from_str(line).unwrap()))
        .take(limit)
        .collect()
}

/// A refresh as a user makes one — an old corpus plus this year's papers of new categories (eess, econ)
/// in one `train` — keeps the old corpus: the model still files 2016–17 papers. Without the recency
/// floor the old papers weighed ~0.001 each and the model forgot physics and mathematics; such a model
/// is now refused by name, and written only with `--force`.
#[test]
fn a_refresh_with_recent_papers_keeps_the_older_corpus() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, lines: Vec<String>| {
        let path = dir.path().join(name);
        std::fs::write(&path, lines.join("\n")).unwrap();
        path
    };
    let old = write("old.jsonl", corpus_lines("arxiv/train.jsonl.gz", 4000, |_| true));
    // With one hostile record among them (2 MB, past what a record may be): left out with a line, not a
    // reason to refuse the whole file.
    let mut recent_lines = corpus_lines("arxiv-recent/train.jsonl.gz", usize::MAX, |paper| {
        paper["topic"] == "eess" || paper["topic"] == "econ"
    });
    recent_lines.insert(
        1,
        serde_json::json!({"id": "x", "title": "t".repeat(2 << 20), "text": "", "topic": "cs", "subtopic": "cs.LG"})
            .to_string(),
    );
    let recent = write("recent.jsonl", recent_lines);
    let dev = write("dev.jsonl", corpus_lines("arxiv/dev.jsonl.gz", 1000, |_| true));
    let model = dir.path().join("refreshed.model");
    let train = |extra: &[&str]| {
        docclass()
            .args(["train", "--corpus", "arxiv", "--data"])
            .arg(&old)
            .arg(&recent)
            .args(extra)
            .arg("--out")
            .arg(&model)
            .output()
            .unwrap()
    };

    // The weighting that forgot: refused, nothing written.
    let forgetful = train(&["--recency-floor", "0"]);
    assert!(!forgetful.status.success(), "{forgetful:?}");
    let said = String::from_utf8_lossy(&forgetful.stderr);
    assert!(said.contains("the trained model is implausible") && said.contains("nothing was written"), "{said}");
    assert!(!model.exists());

    // The default: both eras.
    let refreshed = train(&[]);
    let said = String::from_utf8_lossy(&refreshed.stderr);
    assert!(refreshed.status.success(), "{said}");
    assert!(said.contains("1 of") && said.contains("left out"), "{said}");
    let report = json(&succeed(
        docclass().args(["eval", "--corpus", "arxiv", "--json", "--model"]).arg(&model).arg("--data").arg(&dev),
    ));
    let topic = report["topic_accuracy"].as_f64().unwrap();
    assert!(topic > 0.6, "the older corpus is kept: topic accuracy {topic} on 2016–17 papers");

    // The file is its own version — the one eval names — and says what it was trained on.
    let shown = json(&succeed(docclass().args(["model", "show", "--json"]).arg(&model)));
    assert_eq!(shown["version"], report["model_version"], "{shown}");
    assert!(shown["version"].as_str().unwrap().starts_with("sha256:"), "{shown}");
    let provenance = &shown["provenance"];
    let files: Vec<&str> = provenance["files"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
    assert!(files.len() == 2 && files[0].ends_with("old.jsonl") && files[1].ends_with("recent.jsonl"), "{shown}");
    assert!(provenance["documents"].as_u64().unwrap() > 4000, "{shown}");
    let (first, last) = (provenance["published"][0].as_str().unwrap(), provenance["published"][1].as_str().unwrap());
    assert!(first < "2016" && last > "2025", "both eras' dates: {first} to {last}");
    assert!(provenance["holdout"]["category_accuracy"].as_f64().unwrap() > 0.2, "{shown}");
    assert!(provenance["topics"].as_array().unwrap().iter().any(|t| t == "eess"), "{shown}");
}

/// arXiv as a user meets it: a model trained on a slice of the train split (the full 200,000 papers
/// belong to benchmarks), judged on 2016–2017 papers, run through the pipeline with cross-lists.
#[test]
fn arxiv_ranks_categories_and_judges_cross_lists() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("arxiv.model");
    let arxiv = |command: &mut Command| {
        command.arg("--data-dir").arg(data_dir()).args(["--corpus", "arxiv"]);
    };
    let mut train = docclass();
    arxiv(&mut train);
    let output = succeed(train.args(["train", "--limit", "6000", "--out"]).arg(&model));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Left out 6241 documents of retired categories (astro-ph, cond-mat)"), "{stderr}");

    // 2,000 dev papers, the first of the file, as the input of eval and run.
    let dev = dir.path().join("dev.jsonl");
    let papers: Vec<String> = {
        let file = std::fs::File::open(data_dir().join("arxiv/dev.jsonl.gz")).unwrap();
        let reader = std::io::BufReader::new(flate2::read::MultiGzDecoder::new(file));
        std::io::BufRead::lines(reader).take(2000).map(Result::unwrap).collect()
    };
    std::fs::write(&dev, papers.join("\n")).unwrap();
    let mut eval = docclass();
    arxiv(&mut eval);
    let report = json(&succeed(eval.args(["eval", "--json", "--model"]).arg(&model).arg("--data").arg(&dev)));
    let key = |name: &str| report[name].as_f64().unwrap_or_else(|| panic!("missing {name}: {report}"));
    let (accuracy, top3, listed) =
        (key("subtopic_accuracy"), key("subtopic_top3_accuracy"), key("subtopic_listed_accuracy"));
    assert!(accuracy > 0.3, "a 6,000-paper model is far better than chance over 140 categories: {accuracy}");
    assert!(top3 > accuracy && listed > accuracy, "accuracy {accuracy}, top-3 {top3}, listed {listed}");
    assert!(key("topic_accuracy") > 0.8, "{report}");
    let categories = report["subtopics"].as_array().unwrap();
    assert!(
        categories.iter().all(|c| c["label"] != "astro-ph" || c["support"] != 0),
        "a retired category is never predicted"
    );

    let db = dir.path().join("results.sqlite");
    let mut run = docclass();
    arxiv(&mut run);
    let report = json(&succeed(
        run.args(["run", "--json", "--model"]).arg(&model).arg("--input").arg(&dev).arg("--db").arg(&db),
    ));
    assert_eq!(report["results_written"], 2000);
    let listed_in_run = report["subtopic_listed_accuracy"].as_f64().unwrap();
    assert!((listed_in_run - listed).abs() < 1e-9, "the pipeline agrees with eval: {listed_in_run} vs {listed}");
    let subtopic_stage = &report["stages"]["subtopic"];
    assert_eq!(subtopic_stage["labelled"], 2000, "{report}");
    let paper = rows(&db).into_iter().find(|row| row.id == "arXiv:1609.02516").expect("the paper's row");
    let top = &paper.top_categories;
    assert_eq!(top.len(), 3, "{top:?}");
    let scores: Vec<f32> = top.iter().map(|c| c.score).collect();
    assert!(scores.windows(2).all(|pair| pair[0] >= pair[1]) && scores.iter().sum::<f32>() <= 1.0 + 1e-6, "{top:?}");
    assert_eq!(paper.labels.categories, ["physics.optics"]);

    // `docclass results` shows the ranking and the agreement line.
    let output = succeed(docclass().args(["results", "--limit", "5", "--db"]).arg(&db));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("Agreement with the sources' labels (5 labelled rows)"), "{stdout}");
}

/// A half-downloaded input: `run` classifies what it could read, ends (it used to loop on the read error
/// for ever), and fails, saying how many records were not enqueued.
#[test]
fn a_truncated_input_is_classified_as_far_as_it_goes_and_fails_the_run() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("half.jsonl.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    for i in 0..2_000 {
        writeln!(gz, r#"{{"id":"d{i}","text":"a paper on the cohomology of schemes, number {i}"}}"#).unwrap();
    }
    let whole = gz.finish().unwrap();
    std::fs::write(&input, &whole[..whole.len() / 2]).unwrap();
    let db = dir.path().join("results.sqlite");
    let mut child = docclass()
        .args(["run", "--json", "--model"])
        .arg(model())
        .arg("--db")
        .arg(&db)
        .arg("--input")
        .arg(&input)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("docclass run did not end on a truncated input");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = child.wait_with_output().unwrap();
    assert!(!status.success(), "{output:?}");
    let report = json(&output);
    let written = report["results_written"].as_u64().unwrap();
    assert!(written > 0 && written < 2_000, "{report}");
    assert_eq!(report["unreadable"], 1, "{report}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("1 input records were unreadable"), "{stderr}");
}

/// `docclass results` on a file that is not a results file (an empty one, say) says so in one line and
/// leaves the file as it was; it used to write the schema into it.
#[test]
fn results_on_a_file_that_is_not_a_results_file_leaves_it_alone() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.sqlite");
    std::fs::write(&empty, b"").unwrap();
    let output = docclass().args(["results", "--db"]).arg(&empty).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("not a results file"), "{stderr}");
    assert_eq!(std::fs::metadata(&empty).unwrap().len(), 0, "nothing written");
    let nan = docclass().args(["run", "--min-score", "NaN"]).output().unwrap();
    assert!(!nan.status.success() && String::from_utf8_lossy(&nan.stderr).contains("from 0 to 1"));
}
