//! The local cluster as README "Containers" runs it: the images `Dockerfiles/build-images.sh` builds,
//! the services as containers wired by `docker-compose.yml`, and the emulator on the host reached
//! through host-gateway (`compose/host-emulator.yml`: this machine can pull no image, LocalStack's
//! included). The whole dev split goes in through the feed-ingest image; the topic pool grows from 1 to 4
//! containers mid-run; then one container of each classifier pool is killed with SIGKILL. Every document
//! must end in the table exactly once, and every queue must drain.
//!
//! Skipped, loudly, where no Docker engine answers — except on CI (`CI=true`, which `.ci/run` sets), where
//! that fails. Prints the figures of README "Containers" (image
//! sizes, start → healthy, start → first message, memory under load, documents/s with 1 and 4 topic
//! containers): `cargo test -p docclass-tests --test it compose_cluster -- --nocapture`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use adapters_aws::load_sdk_config;
use docclass_types::topology::Queue;
use test_support::binaries::binary;
use test_support::emulator::{self, EmulatorServer};
use test_support::processes::Service;
use test_support::scale::Emulator;
use test_support::{Scenario, data_dir, read, train_model};

/// The stack the compose file is brought up as (`DOCCLASS_STACK`): its queues are `docclass-ingest`, ….
const STACK: &str = "docclass";

/// Every image the build script makes.
const IMAGES: [&str; 6] = [
    "docclass-base",
    "docclass-feed-ingest",
    "docclass-topic-classifier",
    "docclass-subtopic-classifier",
    "docclass-table-writer",
    "docclass-cli",
];

/// The limit for one image.
const MAX_IMAGE_BYTES: u64 = 20_000_000;

/// How long each throughput window lasts, when measured: `scripts/bench-compose.sh` sets
/// `DOCCLASS_BENCH_COMPOSE`; the test command measures nothing it does not assert.
const WINDOW: Duration = Duration::from_secs(15);

/// Whether this run is the benchmark's (`scripts/bench-compose.sh`), which measures throughput.
fn benchmarking() -> bool {
    std::env::var_os("DOCCLASS_BENCH_COMPOSE").is_some()
}

/// The services' visibility timeout here: the killed containers' messages come back after it, and the
/// default (60 s) would be most of the test's wait. Still well over a batch's time (milliseconds) and
/// extended while a batch is in work.
const VISIBILITY_SECS: u64 = 20;

/// Documents per file fed through the feed-ingest image.
const CHUNK: usize = 250;

/// Files fed around the kill, not before it: the first just before, the others after.
const KILL_CHUNKS: usize = 3;

/// The topic pool's scale-in window in the scaler test's stack file.
const SCALE_IN_WINDOW: Duration = Duration::from_secs(10);

/// deploy/stack.example.toml with a topic pool of 1 to 4 containers, 5 messages each (one busy
/// container holds 20 in flight: any burst asks for the maximum, however fast the emulator lets it in), and a
/// short scale-in window: what `deploy scale --compose` reads.
fn scaling_stack() -> String {
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/stack.example.toml")).unwrap();
    let topic = "[services.topic-classifier]";
    let (before, after) = example.split_once(topic).expect("the example has a topic pool");
    let rest = &after[after.find("\n[").expect("a section after the topic pool")..];
    let window = SCALE_IN_WINDOW.as_secs();
    format!(
        "{before}{topic}\ncpu = 512\nmemory = 1024\nmin_tasks = 1\nmax_tasks = 4\ntarget_backlog_per_task = 5\n\
         scale_in_window = \"{window}s\"\n{rest}"
    )
}

/// `docker …`, run to the end.
fn docker(args: &[&str]) -> Output {
    Command::new("docker").args(args).output().expect("the docker client runs")
}

/// The output's stdout, after checking it succeeded.
fn succeeded(output: Output, what: &str) -> String {
    assert!(output.status.success(), "{what} failed:\n{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("docker prints UTF-8")
}

/// The images of this test run, removed when it ends however it ends.
struct Images {
    tag: String,
}

impl Images {
    fn reference(&self, image: &str) -> String {
        format!("{image}:{}", self.tag)
    }
}

impl Drop for Images {
    fn drop(&mut self) {
        let references: Vec<String> = IMAGES.iter().map(|image| self.reference(image)).collect();
        let mut args = vec!["rmi", "--force"];
        args.extend(references.iter().map(String::as_str));
        let _ = docker(&args);
    }
}

/// One compose project of this test run, taken down when it ends however it ends.
struct Compose {
    program: Vec<&'static str>,
    project: String,
    root: PathBuf,
    variables: Vec<(&'static str, String)>,
}

impl Compose {
    /// The compose command at `root` (`docker compose`, else the older `docker-compose`) with the
    /// host-emulator override, as README "Containers" shows it.
    fn new(root: &Path, variables: Vec<(&'static str, String)>) -> Self {
        let plugin = Command::new("docker").args(["compose", "version"]).output();
        let program = if plugin.is_ok_and(|output| output.status.success()) {
            vec!["docker", "compose"]
        } else {
            vec!["docker-compose"]
        };
        let project = format!("docclass-test-{}", std::process::id());
        Self { program, project, root: root.to_owned(), variables }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(self.program[0]);
        command
            .args(&self.program[1..])
            .args(["--project-name", &self.project])
            .arg("--file")
            .arg(self.root.join("docker-compose.yml"))
            .arg("--file")
            .arg(self.root.join("compose/host-emulator.yml"))
            .args(args)
            .envs(self.variables.iter().map(|(name, value)| (name, value)))
            .current_dir(&self.root);
        command
    }

    fn run(&self, args: &[&str]) -> String {
        succeeded(self.command(args).output().unwrap(), &format!("compose {}", args.join(" ")))
    }

    /// The ids of the service's containers, running or not.
    fn containers(&self, service: &str) -> Vec<String> {
        self.run(&["ps", "--quiet", service]).lines().map(str::to_owned).collect()
    }
}

impl Drop for Compose {
    fn drop(&mut self) {
        let _ =
            self.command(&["--profile", "tools", "down", "--volumes", "--remove-orphans", "--timeout", "5"]).output();
    }
}

/// A container's `docker inspect` record.
fn inspect(container: &str) -> serde_json::Value {
    let records: serde_json::Value =
        serde_json::from_str(&succeeded(docker(&["inspect", container]), "inspect")).unwrap();
    records[0].clone()
}

fn timestamp(value: &serde_json::Value) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(value.as_str().expect("a timestamp")).expect("RFC 3339")
}

/// Waits until every container is healthy; answers how long each took from its start.
fn wait_healthy(containers: &[String]) -> Vec<Duration> {
    let started = Instant::now();
    containers
        .iter()
        .map(|container| {
            loop {
                let record = inspect(container);
                let health = &record["State"]["Health"];
                if health["Status"] == "healthy" {
                    let first_pass = health["Log"]
                        .as_array()
                        .and_then(|log| log.iter().find(|probe| probe["ExitCode"] == 0))
                        .expect("a healthy container has passed a probe");
                    let took = timestamp(&first_pass["End"]) - timestamp(&record["State"]["StartedAt"]);
                    break took.to_std().unwrap_or_default();
                }
                assert!(started.elapsed() < Duration::from_secs(120), "{container} not healthy: {health}");
                std::thread::sleep(Duration::from_millis(250));
            }
        })
        .collect()
}

/// Consecutive phases of the test and how long each took.
struct Phases {
    since: Instant,
    ended: Vec<(&'static str, Duration)>,
}

impl Default for Phases {
    fn default() -> Self {
        Self { since: Instant::now(), ended: Vec::new() }
    }
}

impl Phases {
    fn end(&mut self, name: &'static str) {
        self.ended.push((name, self.since.elapsed()));
        self.since = Instant::now();
    }

    fn report(&mut self) -> String {
        self.end("stop");
        self.ended
            .iter()
            .map(|(name, took)| format!("{name} {:.0} s", took.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn seconds(durations: &[Duration]) -> String {
    durations.iter().map(|d| format!("{:.1} s", d.as_secs_f64())).collect::<Vec<_>>().join(", ")
}

/// Whether a Docker engine answers; on CI its absence fails instead (`CI=true`, which `.ci/run` sets).
fn docker_or_skip() -> bool {
    if docker(&["info"]).status.success() {
        return true;
    }
    // On CI a missing engine is a broken machine, not a reason to pass.
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but no Docker engine answers `docker info`: the container test cannot run"
    );
    eprintln!(
        "\n\n*** SKIPPED compose_cluster: no Docker engine answers `docker info`. The container images, \
         the compose stack and its chaos test are NOT tested on this machine. ***\n"
    );
    false
}

/// The images built, the cluster started, the documents through it with kills, the scaler, the stop:
/// once, each step kept for the tests below.
fn run() -> &'static Scenario {
    static RUN: OnceLock<Scenario> = OnceLock::new();
    RUN.get_or_init(|| {
        Scenario::run(async || {
            let mut scenario = Scenario::default();
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root").to_owned();
            let dir = tempfile::tempdir().unwrap();
            // Where the test's time goes, printed with the figures.
            let mut phases = Phases::default();
            // The images, with the model every classifier image carries; removed when this ends.
            let images = Images { tag: format!("test-{}", std::process::id()) };
            let sizes = scenario
                .step("images", async {
                    let model = dir.path().join("model.bin");
                    train_model().save(&model).unwrap();
                    let built = Command::new(root.join("Dockerfiles/build-images.sh"))
                        .env("DOCCLASS_IMAGE_TAG", &images.tag)
                        .env("DOCCLASS_MODEL", &model)
                        .output()
                        .unwrap();
                    succeeded(built, "Dockerfiles/build-images.sh");
                    let mut sizes = Vec::new();
                    for image in IMAGES {
                        let config = inspect(&images.reference(image));
                        let size = config["Size"].as_u64().unwrap();
                        assert!(size <= MAX_IMAGE_BYTES, "{image} is {size} bytes");
                        assert_eq!(config["Config"]["User"], "65532:65532", "{image} runs as non-root");
                        assert_eq!(config["Config"]["StopSignal"], "SIGTERM", "{image}");
                        let labels = &config["Config"]["Labels"];
                        assert!(labels["org.opencontainers.image.revision"].as_str().is_some_and(|r| r.len() >= 7), "{labels}");
                        assert!(labels["org.opencontainers.image.version"].is_string(), "{labels}");
                        if image.ends_with("-classifier") || image.ends_with("-writer") || image.ends_with("-ingest") {
                            let check = &config["Config"]["Healthcheck"]["Test"];
                            assert_eq!(check[0], "CMD", "{image}: {check}");
                            assert_eq!(check[2], "--healthcheck", "{image}: {check}");
                        }
                        sizes.push(format!("{image} {:.1} MB", size as f64 / 1e6));
                    }
                    sizes
                })
                .await;
            let Some(sizes) = sizes else { return scenario };
            phases.end("images built");
            let setup = scenario
                .step("started", async {
                    // The emulator on the host, which containers reach through host-gateway: on all interfaces, because
                    // the address host-gateway stands for is the engine's setting (docker0's by default), and it lives
                    // only as long as this test.
                    // ministack where it is installed (it answers several times faster than moto, which made this
                    // test's documents phase four minutes), else moto.
                    let emulator = match Emulator::available() {
                        Emulator::Ministack => EmulatorServer::ministack("0.0.0.0", &dir.path().join("ministack.log")),
                        Emulator::Moto => EmulatorServer::moto("0.0.0.0"),
                    };
                    let port = emulator.endpoint.rsplit(':').next().unwrap();
                    let compose = Compose::new(
                        &root,
                        vec![
                            ("DOCCLASS_AWS_ENDPOINT", format!("http://host.docker.internal:{port}")),
                            ("DOCCLASS_IMAGE_TAG", images.tag.clone()),
                            ("DOCCLASS_STACK", STACK.to_owned()),
                            ("DOCCLASS_VISIBILITY_TIMEOUT_SECS", VISIBILITY_SECS.to_string()),
                            ("DOCCLASS_MODEL_STORE_INTERVAL_SECS", "2".to_owned()),
                        ],
                    );
                    let settings = emulator::settings(&emulator.endpoint);
                    let config = load_sdk_config(&settings).await;
                    let (sqs, dynamodb) = (aws_sdk_sqs::Client::new(&config), aws_sdk_dynamodb::Client::new(&config));

                    // The stack without its topic pool (init runs first: compose's dependency).
                    compose.run(&["up", "--detach", "--scale", "subtopic-classifier=2", "subtopic-classifier", "table-writer"]);
                    let mut downstream = compose.containers("subtopic-classifier");
                    downstream.extend(compose.containers("table-writer"));
                    let healthy = wait_healthy(&downstream);
                    // The queues compose's init step created, by suffix (`ingest`, `ingest-dlq`, …), as the emulator
                    // names them (its account id is its own).
                    let mut urls = BTreeMap::new();
                    for queue in Queue::ALL {
                        for (suffix, name) in
                            [(queue.suffix(), queue.name(STACK)), (queue.dead_letter_suffix(), queue.dead_letter_name(STACK))]
                        {
                            let answer = sqs.get_queue_url().queue_name(name).send().await;
                            urls.insert(suffix, answer.expect("the init step created the queues").queue_url.expect("a URL"));
                        }
                    }

                    // The dev split as JSON Lines files of CHUNK documents, fed through the feed-ingest image one file at
                    // a time while the ingest queue is short: the emulators' costs grow with a queue's length (moto
                    // recounts the whole queue for every message it hands out, ministack scans it on every call), and a
                    // backlog of thousands would measure the emulator, not docclass.
                    let documents = read(data_dir().join(docclass::data::DEV_FILE), usize::MAX);
                    let input_ids: BTreeSet<String> = documents.iter().map(|d| d.id.clone()).collect();
                    assert_eq!(input_ids.len(), documents.len(), "the dev split's ids are unique");
                    let chunks = dir.path().join("chunks");
                    std::fs::create_dir(&chunks).unwrap();
                    let chunk_names: Vec<String> = documents
                        .chunks(CHUNK)
                        .enumerate()
                        .map(|(number, chunk)| {
                            let name = format!("{number:02}.jsonl");
                            let lines: Vec<String> = chunk
                                .iter()
                                .map(|d| serde_json::json!({"id": d.id, "title": d.title, "text": d.text}).to_string())
                                .collect();
                            std::fs::write(chunks.join(&name), lines.join("\n")).unwrap();
                            name
                        })
                        .collect();
                    (emulator, compose, sqs, dynamodb, urls, healthy, downstream, documents, input_ids, chunks, chunk_names)
                })
                .await;
            let Some((emulator, compose, sqs, dynamodb, urls, healthy, downstream, documents, input_ids, chunks, chunk_names)) = setup
            else {
                return scenario;
            };
            let queue_url = |suffix: &str| urls[suffix].clone();
            let compose = std::sync::Arc::new(compose);
            let chunks_volume = format!("{}:/chunks:ro", chunks.display());
            let figures = scenario
                .step("stored", async {
                    let feed = {
                        let (compose, chunks) = (compose.clone(), chunks_volume.clone());
                        move |name: &str| {
                            let file = format!("/chunks/{name}");
                            compose.run(&["run", "--rm", "--no-deps", "--volume", &chunks, "feed-ingest", "--input", &file]);
                        }
                    };
                    let ingest_depth = async || emulator::messages_left(&sqs, &queue_url("ingest")).await;
                    let stored = async || emulator::item_count(&dynamodb, "docclass-results").await;

                    // One topic container: how soon after its start it has handled a message.
                    feed(&chunk_names[0]);
                    assert_eq!(ingest_depth().await, CHUNK as u64, "the first file enqueued, once");
                    let started = Instant::now();
                    compose.run(&["up", "--detach", "--no-deps", "--scale", "topic-classifier=1", "topic-classifier"]);
                    while ingest_depth().await == CHUNK as u64 {
                        assert!(started.elapsed() < Duration::from_secs(120), "the topic classifier took nothing");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    let first_message = started.elapsed();

                    // The rest but the last few files, fed in the background whenever the ingest queue runs short; the
                    // last ones go in around the kill below, so that it comes mid-run however fast the emulator is.
                    let held_back = chunk_names.len() - KILL_CHUNKS;
                    // One file fed in the background of this async test (a `docker compose run` blocks).
                    let feed_now = move |name: String| {
                        let feed = feed.clone();
                        tokio::task::spawn_blocking(move || feed(&name))
                    };
                    let feeder = {
                        let (sqs, url, rest) = (sqs.clone(), queue_url("ingest"), chunk_names[1..held_back].to_vec());
                        let feed_now = feed_now.clone();
                        tokio::spawn(async move {
                            for name in rest {
                                let waiting = Instant::now();
                                while emulator::messages_left(&sqs, &url).await > CHUNK as u64 / 2 {
                                    assert!(waiting.elapsed() < Duration::from_secs(300), "the ingest queue stopped draining");
                                    tokio::time::sleep(Duration::from_millis(250)).await;
                                }
                                feed_now(name).await.unwrap();
                            }
                        })
                    };
                    // Documents stored per second over a window: only in the benchmark.
                    let throughput = async || {
                        if !benchmarking() {
                            return None;
                        }
                        let (from, window) = (stored().await, Instant::now());
                        tokio::time::sleep(WINDOW).await;
                        Some(stored().await.saturating_sub(from) as f64 / window.elapsed().as_secs_f64())
                    };
                    let one_container = throughput().await;

                    // Four topic containers, mid-run.
                    compose.run(&["up", "--detach", "--no-deps", "--no-recreate", "--scale", "topic-classifier=4", "topic-classifier"]);
                    let topic = compose.containers("topic-classifier");
                    assert_eq!(topic.len(), 4);
                    // The pool as `docclass dashboard --compose` reads it through the Docker Engine API.
                    let pools = deploy::compose::ComposePools::connect(&compose.project, 30).await.unwrap();
                    assert_eq!(pools.counts(deploy::Service::TopicClassifier).await.unwrap().1, 4, "four running");
                    let topic_healthy = wait_healthy(&topic);
                    let four_containers = throughput().await;

                    // Memory under load, then one container of each classifier pool killed without warning.
                    let mut running = topic.clone();
                    running.extend(downstream.iter().cloned());
                    let mut stats_args = vec!["stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}} {{.CPUPerc}}"];
                    stats_args.extend(running.iter().map(String::as_str));
                    let stats = succeeded(docker(&stats_args), "docker stats");
                    feeder.await.unwrap();
                    // The kill comes while a file is going in: the victims die holding some of its messages.
                    let going_in = feed_now(chunk_names[held_back].clone());
                    let waiting = Instant::now();
                    while ingest_depth().await == 0 && !going_in.is_finished() {
                        assert!(waiting.elapsed() < Duration::from_secs(60), "the file before the kill never arrived");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    let stored_before_kill = stored().await;
                    assert!(stored_before_kill < documents.len(), "the kill must come mid-run, not after {stored_before_kill}");
                    let victims = [topic[1].clone(), compose.containers("subtopic-classifier")[0].clone()];
                    for victim in &victims {
                        succeeded(docker(&["kill", victim]), "docker kill");
                    }
                    going_in.await.unwrap();
                    for name in &chunk_names[held_back + 1..] {
                        feed_now(name.clone()).await.unwrap();
                    }

                    // Every document exactly once; the killed containers' messages come back after their visibility
                    // timeout (VISIBILITY_SECS) to the survivors.
                    let mut ids = BTreeSet::new();
                    while ids.len() < documents.len() {
                        assert!(
                            started.elapsed() < Duration::from_secs(600),
                            "only {} of {} documents stored",
                            ids.len(),
                            documents.len()
                        );
                        tokio::time::sleep(Duration::from_secs(2)).await;
                        ids = emulator::item_ids(&dynamodb, "docclass-results").await;
                    }
                    assert_eq!(ids, input_ids, "every document, nothing else");
                    assert_eq!(emulator::item_count(&dynamodb, "docclass-results").await, documents.len(), "each once");
                    for (queue, url) in &urls {
                        loop {
                            let left = emulator::messages_left(&sqs, url).await;
                            if left == 0 {
                                break;
                            }
                            assert!(started.elapsed() < Duration::from_secs(660), "{left} messages left in {queue}");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                    (first_message, one_container, four_containers, stats, topic_healthy)
                })
                .await;
            phases.end("documents through, queues drained");
            scenario
                .step("published", async {
                    // A new model published into the compose volume from the cli container, as README "Refreshing
                    // the model" shows: every classifier container swaps to it, none restarted.
                    let model = test_support::second_model_file();
                    let version = text_model::Model::load(model).unwrap().version().to_owned();
                    let mount = format!("{}:/tmp/new.model:ro", model.display());
                    let said = compose.run(&["run", "--rm", "--no-deps", "--volume", &mount, "cli", "model", "publish", "/tmp/new.model"]);
                    assert!(said.contains(&format!("live is now {version}")), "{said}");
                    let classifiers: Vec<String> =
                        ["topic-classifier", "subtopic-classifier"].iter().flat_map(|service| compose.containers(service)).collect();
                    let running: Vec<&String> = classifiers.iter().filter(|id| inspect(id)["State"]["Running"] == true).collect();
                    assert!(running.len() >= 2, "{classifiers:?}");
                    let waiting = Instant::now();
                    for container in running {
                        loop {
                            let logs = docker(&["logs", container]);
                            if String::from_utf8_lossy(&logs.stderr).contains(&format!("now serving model {version}")) {
                                break;
                            }
                            assert!(waiting.elapsed() < Duration::from_secs(60), "{container} never swapped to {version}");
                            tokio::time::sleep(Duration::from_millis(500)).await;
                        }
                        assert_eq!(inspect(container)["RestartCount"], 0, "{container} swapped without a restart");
                    }
                })
                .await;
            scenario
                .step("scaled", async {
                    // The compose scaler, `deploy scale --compose`: with the queues empty the topic pool shrinks to its
                    // minimum, but not before the scale-in window has passed; a burst grows it to its maximum at once.
                    let stack_file = dir.path().join("stack.toml");
                    std::fs::write(&stack_file, scaling_stack()).unwrap();
                    let log = std::fs::File::create(dir.path().join("scaler.log")).unwrap();
                    let scaler_started = Instant::now();
                    let scaler = Service(
                        Command::new(binary("deploy"))
                            .args(["scale", "--stack", &stack_file.display().to_string(), "--watch", "--interval", "2s"])
                            .args(["--compose", &compose.project])
                            .env("AWS_ENDPOINT_URL", &emulator.endpoint)
                            .envs([("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test")])
                            .stdout(log)
                            .spawn()
                            .unwrap(),
                    );
                    // Asked of the engine, not of compose: the scaler may remove a container between a listing and an
                    // inspection.
                    let project_label = format!("label=com.docker.compose.project={}", compose.project);
                    let running_topic = || {
                        let args = ["ps", "--quiet", "--filter", &project_label, "--filter"];
                        let listed = docker(&[&args[..], &["label=com.docker.compose.service=topic-classifier"]].concat());
                        succeeded(listed, "docker ps").lines().count()
                    };
                    let scaler_log = dir.path().join("scaler.log");
                    let wait_for_pool = |size: usize, what: &str| {
                        let waiting = Instant::now();
                        while running_topic() != size {
                            let log = std::fs::read_to_string(&scaler_log).unwrap_or_default();
                            let tail: Vec<&str> = log.lines().rev().take(12).collect();
                            assert!(
                                waiting.elapsed() < Duration::from_secs(180),
                                "the scaler never {what}; its last lines:\n{tail:#?}"
                            );
                            std::thread::sleep(Duration::from_millis(500));
                        }
                    };
                    wait_for_pool(1, "shrank the idle topic pool to 1");
                    assert!(scaler_started.elapsed() >= SCALE_IN_WINDOW, "scaled in before the window was over");
                    // The whole split again, in one go: one topic container takes some seconds over it even on the faster
                    // emulator, so the scaler, sampling every 2 s, sees the backlog (a few files' worth it could miss).
                    let burst: Vec<String> = chunk_names.iter().map(|name| format!("/chunks/{name}")).collect();
                    let mut run = vec!["run", "--rm", "--no-deps", "--volume", &chunks_volume, "feed-ingest", "--input"];
                    run.extend(burst.iter().map(String::as_str));
                    compose.run(&run);
                    wait_for_pool(4, "grew the topic pool to 4 under a burst");
                    wait_for_pool(1, "shrank the topic pool again after the burst");
                    drop(scaler);
                    // Those documents were sent again: written again, over the same items.
                    assert_eq!(emulator::item_ids(&dynamodb, "docclass-results").await, input_ids);
                    assert_eq!(emulator::item_count(&dynamodb, "docclass-results").await, documents.len());
                })
                .await;
            phases.end("scaler");
            scenario
                .step("stopped", async {
                    // `docker stop` (SIGTERM): every container left drains and exits 0 within the grace period.
                    let services = ["topic-classifier", "subtopic-classifier", "table-writer"];
                    let survivors: Vec<String> = services
                        .iter()
                        .flat_map(|service| compose.containers(service))
                        .filter(|id| inspect(id)["State"]["Running"] == true)
                        .collect();
                    compose.run(&["stop", "--timeout", "30"]);
                    for container in &survivors {
                        let state = &inspect(container)["State"];
                        assert_eq!(state["ExitCode"], 0, "{container}: {state}");
                    }
                })
                .await;
            if let Some((first_message, one_container, four_containers, stats, topic_healthy)) = figures {
                let rate = |figure: Option<f64>| figure.map_or_else(|| "-".to_owned(), |rate| format!("{rate:.1}"));
                let (one_container, four_containers) = (rate(one_container), rate(four_containers));
                eprintln!(
                    "\ncompose_cluster figures ({} documents):\n  image sizes: {}\n  start → healthy: topic {} | \
                     subtopic and writer {}\n  topic start → first message processed: {:.1} s\n  documents/s stored \
                     (end to end; scripts/bench-compose.sh): 1 topic container {one_container}, 4 topic containers {four_containers}\n  under load \
                     (name, memory, CPU):\n{}\n  time: {}",
                    documents.len(),
                    sizes.join(", "),
                    seconds(&topic_healthy),
                    seconds(&healthy),
                    first_message.as_secs_f64(),
                    stats.lines().map(|line| format!("    {line}")).collect::<Vec<_>>().join("\n"),
                    phases.report(),
                );
            }
            drop(compose);
            drop(emulator);
            scenario
        })
    })
}

#[test]
fn the_images_are_small_non_root_labelled_and_health_checked() {
    if docker_or_skip() {
        run().check("images");
    }
}

#[test]
fn the_cluster_starts_on_the_host_emulator_and_gets_healthy() {
    if docker_or_skip() {
        run().check("started");
    }
}

#[test]
fn every_document_is_stored_once_though_containers_scale_and_are_killed() {
    if docker_or_skip() {
        run().check("stored");
    }
}

#[test]
fn a_model_published_into_the_compose_volume_reaches_every_classifier() {
    if docker_or_skip() {
        run().check("published");
    }
}

#[test]
fn the_compose_scaler_waits_out_its_window_and_grows_under_a_burst() {
    if docker_or_skip() {
        run().check("scaled");
    }
}

#[test]
fn every_container_left_stops_cleanly_on_sigterm() {
    if docker_or_skip() {
        run().check("stopped");
    }
}
