//! The model store: `docclass model publish|status|promote|rollback|list` on a folder and on moto's S3;
//! a watching pool that swaps to a newly published model and refuses, while the old one keeps serving, a
//! file with a flipped byte, a pointer to a missing file and a download that breaks off midway; and a
//! running `docclass run` that switches models mid-stream with nothing lost or duplicated.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use model_store::{ModelStore, StoreUri, Watch};
use test_support::binaries::binary;
use test_support::chaos_proxy::{ChaosProxy, Mode};
use test_support::{data_dir, emulator, eventually, model_file, read, second_model_file};
use text_model::{Model, ServedModel};
use tokio_util::sync::CancellationToken;

/// `docclass model …` against `store`, with the emulator's address and credentials.
fn docclass_model(store: &str, args: &[&str]) -> Output {
    let endpoint = emulator::endpoint();
    Command::new(binary("docclass"))
        .arg("model")
        .args(args)
        .args(["--store", store])
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .unwrap()
}

fn succeeded(output: &Output) -> String {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// The one line a refused command says.
fn refused(output: &Output) -> String {
    assert!(!output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
    let said = String::from_utf8(output.stderr.clone()).unwrap();
    assert_eq!(said.trim_end().lines().count(), 1, "one line: {said}");
    said
}

fn status(store: &str) -> serde_json::Value {
    serde_json::from_str(&succeeded(&docclass_model(store, &["status", "--json"]))).unwrap()
}

fn version_of(path: &Path) -> String {
    Model::load(path).unwrap().version().to_owned()
}

/// Publish, status, promote, rollback and list, on a folder and on S3: the pointers move as they say, the
/// history records each change, and what cannot be done is one line.
#[tokio::test(flavor = "multi_thread")]
async fn publish_promote_and_rollback_round_trip_on_a_folder_and_on_s3() {
    let folder = tempfile::tempdir().unwrap();
    let bucket_name = emulator::unique_name("models");
    let s3 = emulator::create_bucket(&emulator::endpoint(), &bucket_name).await;
    let (first, second) = (model_file(), second_model_file());
    let (a, b) = (version_of(first), version_of(second));
    for store in [folder.path().join("store").display().to_string(), format!("s3://{bucket_name}/docclass")] {
        let empty = status(&store);
        assert!(empty["live"].is_null() && empty["candidate"].is_null(), "{empty}");
        assert!(refused(&docclass_model(&store, &["promote"])).contains("no candidate to promote"));

        let said = succeeded(&docclass_model(&store, &["publish", first.to_str().unwrap()]));
        assert!(said.contains(&format!("live is now {a}")), "{said}");
        let again = succeeded(&docclass_model(&store, &["publish", first.to_str().unwrap()]));
        assert!(again.contains("already live"), "{again}");
        succeeded(&docclass_model(&store, &["publish", second.to_str().unwrap(), "--candidate"]));
        let state = status(&store);
        assert_eq!((&state["live"]["version"], &state["candidate"]["version"]), (&a.clone().into(), &b.clone().into()));

        succeeded(&docclass_model(&store, &["promote", "--reason", "judged better"]));
        let state = status(&store);
        assert_eq!(state["live"]["version"], b.as_str());
        assert!(state["candidate"].is_null());
        succeeded(&docclass_model(&store, &["rollback"]));
        assert_eq!(status(&store)["live"]["version"], a.as_str());
        assert!(refused(&docclass_model(&store, &["rollback"])).contains("nothing to roll back to"));

        let state = status(&store);
        let actions: Vec<&str> =
            state["history"].as_array().unwrap().iter().map(|c| c["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["publish", "publish-candidate", "promote", "rollback"]);
        assert_eq!(state["history"][2]["reason"], "judged better");
        let listed: serde_json::Value =
            serde_json::from_str(&succeeded(&docclass_model(&store, &["list", "--json"]))).unwrap();
        let versions: BTreeSet<&str> =
            listed["models"].as_array().unwrap().iter().map(|m| m["version"].as_str().unwrap()).collect();
        assert_eq!(versions, BTreeSet::from([a.as_str(), b.as_str()]));

        // The live model's file taken away behind the store's back: status names the dangling pointer.
        let key = format!("models/{}.model", a.trim_start_matches("sha256:"));
        if store.starts_with("s3://") {
            s3.delete_object().bucket(&bucket_name).key(format!("docclass/{key}")).send().await.unwrap();
        } else {
            std::fs::remove_file(Path::new(&store).join(&key)).unwrap();
        }
        assert!(refused(&docclass_model(&store, &["status"])).contains("dangling pointer"));
        // A file that is not a model is refused by name, and nothing is stored.
        let junk = folder.path().join("junk.model");
        std::fs::write(&junk, b"not a model").unwrap();
        assert!(
            refused(&docclass_model(&store, &["publish", junk.to_str().unwrap()])).contains("not a docclass model")
        );
    }
    let missing = docclass_model("s3://no-such-bucket-here/x", &["status"]);
    assert!(refused(&missing).contains("does not exist"), "{missing:?}");
}

/// Waits until the watcher has asked the store `ticks` more times: it has seen whatever was there.
async fn ticks(store: &ModelStore, ticks: u64) {
    let start = store.requests();
    eventually(Duration::from_secs(30), "the watcher asks the store", async || {
        (store.requests() >= start + ticks).then_some(())
    })
    .await;
}

/// A pool watching an S3 store swaps to a model published live, and refuses — serving the old one all
/// along — a download that breaks off midway (until it comes whole), a stored file with one flipped byte
/// (a rollback to a model the pool still holds is served from memory instead), and a pointer to a file
/// the store does not hold. Idle, it asks the store once per interval.
#[tokio::test(flavor = "multi_thread")]
async fn a_watching_pool_swaps_models_and_refuses_bad_ones_while_the_old_one_serves() {
    let bucket_name = emulator::unique_name("watch");
    let s3 = emulator::create_bucket(&emulator::endpoint(), &bucket_name).await;
    let proxy = ChaosProxy::start(&emulator::endpoint()).await;
    let uri: StoreUri = format!("s3://{bucket_name}/m").parse().unwrap();
    let direct = ModelStore::open(&uri, &emulator::settings(&emulator::endpoint())).await;
    let watched = ModelStore::open(&uri, &emulator::settings(&proxy.endpoint)).await;
    let (first, second) = (model_file(), second_model_file());
    let (a, b) = (version_of(first), version_of(second));
    direct.publish(first, false, "test").await.unwrap();

    let served = ServedModel::new(Arc::new(model_store::load_live(&watched).await.unwrap().unwrap()));
    assert_eq!(served.version(), a);
    let stop = CancellationToken::new();
    tokio::spawn(Watch::new(watched.clone(), served.clone(), Duration::from_millis(100)).run(stop.clone()));

    // Idle: one conditional read a tick, and nothing else.
    let before = watched.requests();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = watched.requests() - before;
    assert!((1..=11).contains(&idle), "{idle} requests in 1 s at a 100 ms interval");

    // The download breaks off midway: refused, the old model serves; whole again, it is swapped in.
    proxy.set(Mode::CutBodies);
    direct.publish(second, false, "test").await.unwrap();
    ticks(&watched, 4).await;
    assert_eq!(served.version(), a, "a broken download is never served");
    proxy.set(Mode::Pass);
    eventually(Duration::from_secs(30), "the new live model served", async || (served.version() == b).then_some(()))
        .await;

    // One flipped byte in the stored file of the model a rollback puts back: refused, B serves on.
    let key = format!("m/models/{}.model", a.trim_start_matches("sha256:"));
    let stored = s3.get_object().bucket(&bucket_name).key(&key).send().await.unwrap();
    let mut bytes = stored.body.collect().await.unwrap().into_bytes().to_vec();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    s3.put_object().bucket(&bucket_name).key(&key).body(bytes.into()).send().await.unwrap();
    direct.rollback("test", "").await.unwrap();
    // This pool still holds A, beside B, in the shadow (the model B replaced, watched): it puts that back
    // from memory — the very version A, checked when it was first loaded — and never reads the file.
    eventually(Duration::from_secs(30), "the rollback served from memory", async || {
        (served.version() == a).then_some(())
    })
    .await;
    // A pool that never held A must read the damaged file: refused, it serves B on.
    let fresh = ServedModel::new(Arc::new(direct.fetch(&b).await.unwrap()));
    tokio::spawn(Watch::new(watched.clone(), fresh.clone(), Duration::from_millis(100)).run(stop.clone()));
    ticks(&watched, 5).await;
    assert_eq!(fresh.version(), b, "a damaged file is never served");

    // A pointer to a file the store does not hold (deleted behind its back).
    let b_key = format!("m/models/{}.model", b.trim_start_matches("sha256:"));
    s3.delete_object().bucket(&bucket_name).key(&b_key).send().await.unwrap();
    let mut state: serde_json::Value = serde_json::from_slice(
        &s3.get_object()
            .bucket(&bucket_name)
            .key("m/state.json")
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes(),
    )
    .unwrap();
    state["live"]["version"] = "sha256:0123456789abcdef".into();
    s3.put_object()
        .bucket(&bucket_name)
        .key("m/state.json")
        .body(state.to_string().into_bytes().into())
        .send()
        .await
        .unwrap();
    ticks(&watched, 5).await;
    assert_eq!((served.version(), fresh.version()), (a, b), "a dangling pointer changes nothing");
    stop.cancel();
}

/// `docclass run` on a folder store, documents arriving on stdin: a model published mid-stream is
/// served from then on, with no restart; every document is written once, each row naming the
/// version(s) that classified it.
#[test]
fn a_running_embedded_pipeline_switches_to_a_newly_published_model() {
    let _serial = test_support::serial();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let store_arg = store.to_str().unwrap();
    let (first, second) = (model_file(), second_model_file());
    let (a, b) = (version_of(first), version_of(second));
    succeeded(&docclass_model(store_arg, &["publish", first.to_str().unwrap()]));

    let documents = read(data_dir().join(docclass::data::DEV_FILE), 600);
    let db = dir.path().join("run.sqlite");
    let mut run = run_on_stdin(store_arg, &db, &[]);
    let mut stdin = run.stdin.take().unwrap();
    for (i, document) in documents.iter().enumerate() {
        let record = serde_json::json!({"id": document.id, "title": document.title, "text": document.text});
        writeln!(stdin, "{record}").unwrap();
        stdin.flush().unwrap();
        if i == 200 {
            succeeded(&docclass_model(store_arg, &["publish", second.to_str().unwrap()]));
        }
        // ~10 s in all: several of the watcher's 1 s looks after the publish.
        std::thread::sleep(Duration::from_millis(15));
    }
    drop(stdin);
    let output = run.wait_with_output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&succeeded(&output).into_bytes()).unwrap();
    assert_eq!(report["results_written"], 600, "{report}");
    assert_eq!(report["dead_lettered"], 0, "{report}");
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(log.contains(&format!("now serving model {b} (was {a})")), "{log}");

    let table = adapters_embedded::SqliteTable::open_read_only(&db).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (ids, versions) = runtime
        .block_on(table.fold_rows((BTreeSet::new(), BTreeSet::new()), |(ids, versions), row| {
            ids.insert(row.id.clone());
            versions.insert(row.topic_model.clone());
            versions.insert(row.subtopic_model.clone());
        }))
        .unwrap();
    assert_eq!(ids, documents.iter().map(|d| d.id.clone()).collect(), "every document once");
    assert_eq!(versions, BTreeSet::from([a, b]), "rows name the version that classified them");
}

/// `docclass run` reading documents on stdin, serving `store` (looked at every second), writing `db`,
/// with `args` besides.
fn run_on_stdin(store: &str, db: &Path, args: &[&str]) -> std::process::Child {
    Command::new(binary("docclass"))
        .args(["run", "--input", "-", "--json", "--model-store", store, "--model-store-interval-secs", "1"])
        .args(args)
        .arg("--db")
        .arg(db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The store's history, as actions and versions, read straight from a folder store.
fn history(store: &Path) -> Vec<(String, String)> {
    let Ok(bytes) = std::fs::read(store.join("state.json")) else { return Vec::new() };
    let state: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let entries = state["history"].as_array().cloned().unwrap_or_default();
    entries
        .iter()
        .map(|change| (change["action"].as_str().unwrap().to_owned(), change["version"].as_str().unwrap().to_owned()))
        .collect()
}

/// Issue 29's loop on the embedded pipeline, documents arriving on stdin with arXiv's own labels: the
/// ≤ 2015 model live and a refreshed one as candidate (a fifth of documents its canary) — the candidate
/// is promoted on the evidence, then confirmed against the model it replaced; a model trained on
/// shuffled labels, as candidate, is dropped, and published straight to live, rolled back. No restart,
/// every document written once.
#[test]
fn a_candidate_judged_better_on_labelled_papers_is_promoted_and_a_bad_model_never_serves_long() {
    let _serial = test_support::serial();
    let trained = std::time::Instant::now();
    let models = test_support::arxiv_models();
    eprintln!("three arXiv models trained in {:.1} s", trained.elapsed().as_secs_f64());
    let (old, refreshed, shuffled) =
        (version_of(&models.old), version_of(&models.refreshed), version_of(&models.shuffled));
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let store_arg = store.to_str().unwrap();
    succeeded(&docclass_model(store_arg, &["publish", models.old.to_str().unwrap()]));
    succeeded(&docclass_model(store_arg, &["publish", "--candidate", models.refreshed.to_str().unwrap()]));

    let papers = read(data_dir().join("arxiv-recent/dev.jsonl.gz"), 8_000);
    let db = dir.path().join("run.sqlite");
    let judging = ["--corpus", "arxiv", "--promote-after-documents", "400", "--canary-percent", "20"];
    let mut run = run_on_stdin(store_arg, &db, &judging);
    let mut feeder = Feeder { stdin: run.stdin.take().unwrap(), papers: &papers, fed: 0 };
    // Until the pool judges (its first look at the store is a second in); then the candidate's canary.
    let started = std::time::Instant::now();
    while !store.join("judgements").exists() {
        assert!(started.elapsed() < Duration::from_secs(60), "the pool never judged");
        feeder.feed(5);
        std::thread::sleep(Duration::from_millis(100));
    }
    let canary_from = feeder.fed;
    let judging_since = std::time::Instant::now();
    let promoted_at = feeder.feed_until(&store, "promote", &refreshed);
    // For the notes (`--nocapture`): what the promotion took.
    eprintln!(
        "promoted after {} papers fed since judging began, {:.1} s",
        promoted_at - canary_from,
        judging_since.elapsed().as_secs_f64()
    );
    feeder.feed_until(&store, "confirm", &refreshed);
    succeeded(&docclass_model(store_arg, &["publish", "--candidate", models.shuffled.to_str().unwrap()]));
    feeder.feed_until(&store, "drop", &shuffled);
    succeeded(&docclass_model(store_arg, &["publish", models.shuffled.to_str().unwrap()]));
    let total = feeder.feed_until(&store, "rollback", &refreshed);
    let Feeder { stdin, .. } = feeder;
    drop(stdin);
    let output = run.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    let report: serde_json::Value = serde_json::from_slice(&succeeded(&output).into_bytes()).unwrap();
    assert_eq!(report["results_written"], total, "{report}\n{log}");
    assert_eq!(report["dead_lettered"], 0, "{report}");

    let actions: Vec<(String, String)> = history(&store);
    let expected = [
        ("publish", &old),
        ("publish-candidate", &refreshed),
        ("promote", &refreshed),
        ("confirm", &refreshed),
        ("publish-candidate", &shuffled),
        ("drop", &shuffled),
        ("publish", &shuffled),
        ("rollback", &refreshed),
    ];
    let expected: Vec<(String, String)> = expected.iter().map(|(a, v)| ((*a).to_owned(), (*v).clone())).collect();
    assert_eq!(actions, expected, "{log}");
    for line in ["promote", "confirm", "drop", "rollback"] {
        assert!(log.lines().any(|l| l.contains(&format!("{line} sha256:"))), "a log line for the {line}: {log}");
    }
    // Each decision names the figures it was made on.
    let state: serde_json::Value = serde_json::from_slice(&std::fs::read(store.join("state.json")).unwrap()).unwrap();
    for change in state["history"].as_array().unwrap() {
        if ["promote", "confirm", "drop", "rollback"].contains(&change["action"].as_str().unwrap()) {
            assert!(change["judged"]["documents"].as_u64().unwrap() >= 400, "{change}");
            assert!(change["by"].as_str().unwrap().starts_with("docclass-run"), "{change}");
        }
    }

    let table = adapters_embedded::SqliteTable::open_read_only(&db).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let rows = runtime
        .block_on(table.fold_rows(std::collections::BTreeMap::new(), |rows, row| {
            rows.insert(row.id.clone(), (row.topic_model.clone(), row.subtopic_model.clone()));
        }))
        .unwrap();
    let ids: BTreeSet<&String> = papers[..total].iter().map(|p| &p.id).collect();
    assert_eq!(rows.len(), ids.len(), "every paper written once");
    assert!(rows.keys().all(|id| ids.contains(id)));
    // The canary: while the refreshed model was the candidate, the papers whose id hashes under 20 % were
    // answered by it, both stages; the others by the live model.
    let canary: Vec<&docclass_types::Document> = papers[canary_from..promoted_at.min(canary_from + 400)]
        .iter()
        .filter(|p| text_model::judge::in_canary(&p.id, 20.0))
        .collect();
    assert!(canary.len() > 20, "{} canary papers", canary.len());
    for paper in canary {
        assert_eq!(rows[&paper.id], (refreshed.clone(), refreshed.clone()), "{}", paper.id);
    }
}

/// Writes labelled papers to a `docclass run`'s standard input.
struct Feeder<'a> {
    stdin: std::process::ChildStdin,
    papers: &'a [docclass_types::Document],
    /// Papers written so far.
    fed: usize,
}

impl Feeder<'_> {
    fn feed(&mut self, count: usize) {
        assert!(self.fed + count <= self.papers.len(), "out of papers");
        for paper in &self.papers[self.fed..self.fed + count] {
            let labels = paper.labels.clone().unwrap();
            let record = serde_json::json!({"id": paper.id, "title": paper.title, "text": paper.text,
                "topic": labels.topic, "subtopic": labels.subtopic, "categories": labels.categories});
            writeln!(self.stdin, "{record}").unwrap();
        }
        self.stdin.flush().unwrap();
        self.fed += count;
    }

    /// Feeds papers a few at a time until the store's history holds `action` of `version`; returns how
    /// many were fed by then.
    fn feed_until(&mut self, store: &Path, action: &str, version: &str) -> usize {
        let started = std::time::Instant::now();
        while !history(store).iter().any(|(a, v)| a == action && v == version) {
            assert!(started.elapsed() < Duration::from_secs(180), "no {action} of {version}: {:?}", history(store));
            self.feed(20);
            std::thread::sleep(Duration::from_millis(100));
        }
        self.fed
    }
}
