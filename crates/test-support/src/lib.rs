//! What the workspace's tests share (zero2prod's `spawn_app`, grown): the corpus and one model trained on
//! it, the adapter contract suites, the AWS emulators, a real browser, the binaries as processes, the
//! chaos and throttling proxies, poison, [`eventually`] for conditions that become true, [`serial`] for
//! the heavy tests and `TEST_LOG` for the services' own logs. The scale benchmark's driver (`scale`) is
//! here too: the chaos test runs it small, `scripts/bench-scale.sh` large.

pub mod binaries;
pub mod browser;
pub mod chaos_proxy;
pub mod contract;
pub mod emulator;
pub mod faulty;
pub mod poison;
pub mod processes;
pub mod results_file;
pub mod scale;
pub mod scenario;
pub mod throttling_proxy;

use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, OnceLock, PoisonError};

pub use scenario::Scenario;
use std::time::{Duration, Instant};

use docclass_types::Document;
use text_model::{Example, Model, TrainConfig};

/// The labelled corpus folder (`DOCCLASS_DATA_DIR`, or a `shared/data` above the checkout).
///
/// # Panics
/// When the corpus cannot be found: these tests need it.
pub fn data_dir() -> PathBuf {
    docclass::data::find_data_dir(std::env::var_os("DOCCLASS_DATA_DIR").map(PathBuf::from).as_deref())
        .expect("the labelled corpus (see README, 'Getting the data')")
}

/// Up to `limit` documents of a corpus file.
///
/// # Panics
/// When the file cannot be read.
pub fn read(path: PathBuf, limit: usize) -> Vec<Document> {
    feeds::read_documents(&path).unwrap().take(limit).map(Result::unwrap).collect()
}

/// A model trained on the whole train split (no hold-out, for speed); trained once per test binary.
///
/// # Panics
/// When the corpus is unlabelled.
pub fn train_model() -> Model {
    static TRAINED: OnceLock<Model> = OnceLock::new();
    TRAINED.get_or_init(train).clone()
}

/// [`train_model`]'s model as a file, written once per test binary.
///
/// # Panics
/// When it cannot be written.
pub fn model_file() -> &'static Path {
    static FILE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    written_once(&FILE, "model.bin", train_model)
}

/// Another model, of another version: trained on every fourth document of the train split (a second), for
/// the tests that swap one model for another; it knows every topic the first one does. Written once per
/// test binary.
///
/// # Panics
/// When it cannot be trained or written.
pub fn second_model_file() -> &'static Path {
    static FILE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    written_once(&FILE, "second.model", || {
        let config = TrainConfig { holdout_fraction: 0.0, ..TrainConfig::default() };
        let quarter: Vec<Example> = examples(usize::MAX).into_iter().step_by(4).collect();
        text_model::train(&quarter, &config, &mut |_| {}).unwrap().0
    })
}

/// Three small arXiv models for the tests that judge one model against another on arXiv's own labels
/// (the judging test reads `arxiv-recent/dev` to judge them): written once per test binary.
pub struct ArxivModels {
    /// Trained on papers up to 2015 (every 25th of `arxiv/train`: 8,000).
    pub old: PathBuf,
    /// Trained on those and 8,000 papers of 2025 (every 5th of `arxiv-recent/train`): far better on 2026's.
    pub refreshed: PathBuf,
    /// The refreshed model's papers with their labels shuffled among them: a model that has learnt
    /// nothing, every topic and category still there.
    pub shuffled: PathBuf,
    _dir: tempfile::TempDir,
}

/// [`ArxivModels`], trained the first time they are asked for.
///
/// # Panics
/// When the corpus cannot be read or a model cannot be written.
pub fn arxiv_models() -> &'static ArxivModels {
    static MODELS: OnceLock<ArxivModels> = OnceLock::new();
    MODELS.get_or_init(|| {
        let examples = |file: &str, step: usize| -> Vec<Example> {
            read(data_dir().join(file), usize::MAX).into_iter().step_by(step).map(example).collect()
        };
        let old = examples("arxiv/train.jsonl.gz", 25);
        let mut refreshed = old.clone();
        refreshed.extend(examples("arxiv-recent/train.jsonl.gz", 5));
        let shuffled = shuffled(refreshed.clone(), 29);
        let config = TrainConfig { holdout_fraction: 0.0, ..TrainConfig::arxiv() };
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, examples: &[Example]| {
            let path = dir.path().join(name);
            text_model::train(examples, &config, &mut |_| {}).unwrap().0.save(&path).unwrap();
            path
        };
        ArxivModels {
            old: write("old.model", &old),
            refreshed: write("refreshed.model", &refreshed),
            shuffled: write("shuffled.model", &shuffled),
            _dir: dir,
        }
    })
}

/// A labelled document as a training example.
fn example(d: Document) -> Example {
    let labels = d.labels.unwrap_or_default();
    Example {
        id: d.id,
        title: d.title,
        text: d.text,
        topic: labels.topic.unwrap_or_default(),
        subtopic: labels.subtopic.unwrap_or_default(),
        categories: labels.categories,
        published_days: None,
    }
}

/// A model trained on the train split with its labels shuffled among the documents: every topic and
/// category there, nothing learnt — what a broken refresh looks like. Written once per test binary.
///
/// # Panics
/// When it cannot be trained or written.
pub fn shuffled_model_file() -> &'static Path {
    static FILE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    written_once(&FILE, "shuffled.model", || {
        let config = TrainConfig { holdout_fraction: 0.0, ..TrainConfig::default() };
        text_model::train(&shuffled(examples(usize::MAX), 29), &config, &mut |_| {}).unwrap().0
    })
}

/// `examples` with their (topic, subtopic) pairs shuffled among them, cross-lists dropped.
fn shuffled(examples: Vec<Example>, seed: u64) -> Vec<Example> {
    let mut labels: Vec<(String, String)> = examples.iter().map(|e| (e.topic.clone(), e.subtopic.clone())).collect();
    fastrand::Rng::with_seed(seed).shuffle(&mut labels);
    examples
        .into_iter()
        .zip(labels)
        .map(|(e, (topic, subtopic))| Example { topic, subtopic, categories: Vec::new(), ..e })
        .collect()
}

/// The model `make` gives, saved as `name` in a temporary folder the first time `file` is asked for.
fn written_once(
    file: &'static OnceLock<(tempfile::TempDir, PathBuf)>,
    name: &str,
    make: impl FnOnce() -> Model,
) -> &'static Path {
    &file
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(name);
            make().save(&path).unwrap();
            (dir, path)
        })
        .1
}

fn train() -> Model {
    let config = TrainConfig { holdout_fraction: 0.0, ..TrainConfig::default() };
    text_model::train(&examples(usize::MAX), &config, &mut |_| {}).unwrap().0
}

/// Up to `limit` labelled examples of the train split.
fn examples(limit: usize) -> Vec<Example> {
    read(data_dir().join(docclass::data::TRAIN_FILE), limit).into_iter().map(example).collect()
}

/// Held by a heavy test (a whole pipeline, the cluster, an emulator at load) for as long as it runs, so
/// that two of them never share the machine's two cores; light tests run beside it. A guard of our own
/// rather than a `MutexGuard`: it is held across `.await`s, on purpose, for the whole test.
#[must_use = "the guard serialises only while it is held"]
pub struct Serial(());

static BUSY: Mutex<bool> = Mutex::new(false);
static FREED: Condvar = Condvar::new();

/// Waits until no other heavy test runs, then holds the machine until the guard drops (a panicking
/// test included).
pub fn serial() -> Serial {
    let mut busy = BUSY.lock().unwrap_or_else(PoisonError::into_inner);
    while *busy {
        busy = FREED.wait(busy).unwrap_or_else(PoisonError::into_inner);
    }
    *busy = true;
    Serial(())
}

impl Drop for Serial {
    fn drop(&mut self) {
        *BUSY.lock().unwrap_or_else(PoisonError::into_inner) = false;
        FREED.notify_one();
    }
}

/// How often [`eventually`] asks again.
const POLL: Duration = Duration::from_millis(100);

/// Asks `probe` until it answers `Some`, every 100 ms, for at most `within`; answers what it answered.
///
/// # Panics
/// After `within`, naming `what` did not happen.
pub async fn eventually<T>(within: Duration, what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(started.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(POLL).await;
    }
}

/// [`eventually`] for a test without a runtime: the same, sleeping the thread.
///
/// # Panics
/// After `within`, naming `what` did not happen.
pub fn eventually_blocking<T>(within: Duration, what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(started.elapsed() < within, "{what}: not within {within:?}");
        std::thread::sleep(POLL);
    }
}

/// Whether the services' own logs go to the test's output (`TEST_LOG=1`, zero2prod's switch) rather than
/// to files the test keeps quiet; `TEST_LOG=debug` (any level) also sets their `RUST_LOG`.
pub fn test_log() -> Option<String> {
    std::env::var("TEST_LOG").ok().filter(|value| !value.is_empty() && value != "0")
}
