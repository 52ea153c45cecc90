//! The scale benchmark with chaos (`scripts/bench-scale.sh`, and a small run of it in the test command):
//! documents through the four services as processes on an emulator it starts itself, with classifiers
//! and the writer killed without warning and restarted (as ECS restarts a task), the emulator made
//! unreachable for a while (refused, then stalled), and poison of many kinds mixed in. It measures what
//! the run cost and audits what it left: every document exactly once, every poison message in its
//! dead-letter queue with its reason, nothing left in a queue, no service dead.
//!
//! One loop drives the run (every quarter second: sample each process, restart what died, kill what is
//! due, start or end an outage, send a wave of poison, check for the end), so the order of events is
//! plain to read and the same for a small run as for a large one.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use adapters_aws::{SqsQueue, load_sdk_config};
use docclass_types::topology::{Queue, env};
use docclass_types::{MessageSink, MessageSource, OutgoingMessage, attributes};
use serde::Serialize;

use crate::chaos_proxy::{ChaosProxy, Mode};
use crate::emulator::EmulatorServer;
use crate::poison::{self, KINDS};
use crate::processes::Environment;

/// Which AWS emulator to run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Emulator {
    /// ministack (PyPI): keeps connections alive, as AWS does, and answers several times faster.
    Ministack,
    /// moto server (PyPI): slower, and slower still as a queue grows.
    Moto,
}

impl Emulator {
    /// ministack where it is installed, else moto.
    pub fn available() -> Self {
        let ministack = Command::new("python3").args(["-c", "import ministack"]).stderr(Stdio::null()).status();
        if ministack.is_ok_and(|status| status.success()) { Self::Ministack } else { Self::Moto }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Documents to send (the first of `input`).
    pub documents: usize,
    /// A JSON Lines corpus file (gzipped or not), one labelled document a line.
    pub input: PathBuf,
    /// The model the classifiers load.
    pub model: PathBuf,
    /// Where the service binaries are.
    pub binaries: PathBuf,
    /// Where logs and inputs go.
    pub work: PathBuf,
    /// The emulator.
    pub emulator: Emulator,
    /// SIGKILL a random classifier or writer this often; `None` kills nothing.
    pub kill_every: Option<Duration>,
    /// How long each outage lasts; `None` has none.
    pub outage: Option<Duration>,
    /// How many outages, spread over the run (the first refuses connections, the next stalls them, …).
    pub outages: u32,
    /// The share of all messages that is poison.
    pub poison: f64,
    /// Receive loops per service (`DOCCLASS_WORKERS`).
    pub workers: usize,
    /// Processes of each worker service.
    pub processes: usize,
    /// How long a message stays hidden; a killed worker's messages come back after it.
    pub visibility: Duration,
    /// A run that has made no progress for this long is over, and audited as it stands.
    pub stall_limit: Duration,
    /// Documents fed to feed-ingest ahead of those written, at most, as a feed arrives over time;
    /// `None` feeds the whole file at once. The emulators scan a queue's every message on each call
    /// (ministack, moto), so a backlog of 100,000 measures the emulator — slower and slower, until its
    /// answers take longer than the SDK waits — where SQS would not notice it.
    pub backlog: Option<usize>,
}

/// What a run measured and what its audit found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Good documents sent.
    pub documents: usize,
    /// Of them, with no row at the end.
    pub lost: usize,
    /// Rows that are not one of the documents (poison written, say).
    pub extra_rows: usize,
    /// Documents written more than once (writes counted on the wire, not rows).
    pub written_more_than_once: usize,
    /// Writes beyond the first, over all documents.
    pub extra_writes: u64,
    /// Poison messages sent.
    pub poison_injected: usize,
    /// Of them, found in their queue's dead-letter queue with their reason.
    pub dead_lettered: usize,
    /// Poison messages found with another reason, or in another dead-letter queue.
    pub dead_lettered_wrongly: usize,
    /// Second copies of dead letters.
    pub duplicate_dead_letters: usize,
    /// Dead letters that were not poison (a good document given up on), by reason.
    pub good_documents_dead_lettered: BTreeMap<String, usize>,
    /// Dead letters by reason.
    pub dead_letters_by_reason: BTreeMap<String, usize>,
    /// Messages visible or in flight in the three queues at the end.
    pub left_in_queues: u64,
    /// Documents stored per second, from the first send to the last document's first row.
    pub docs_per_second: f64,
    /// End-to-end latency (`written_at − ingested_at`) of the documents' rows.
    pub latency_p50_seconds: f64,
    /// 95th percentile.
    pub latency_p95_seconds: f64,
    /// 99th percentile.
    pub latency_p99_seconds: f64,
    /// CPU seconds (user + system) per 1,000 documents, the four services together.
    pub cpu_seconds_per_1000_docs: f64,
    /// The same, per service.
    pub cpu_seconds_per_1000_docs_by_service: BTreeMap<String, f64>,
    /// Highest resident set of any process of the service, in MB.
    pub peak_rss_mb: BTreeMap<String, f64>,
    /// SQS requests (all operations) per document.
    pub sqs_requests_per_doc: f64,
    /// SQS requests by operation.
    pub sqs_requests: BTreeMap<String, u64>,
    /// DynamoDB write capacity units per document.
    pub dynamodb_write_units_per_doc: f64,
    /// Processes killed by the benchmark.
    pub kills: u32,
    /// Outages that happened.
    pub outages: u32,
    /// Seconds the emulator was unreachable.
    pub outage_seconds: f64,
    /// Requests held and dropped by a stall.
    pub stalled_requests: u64,
    /// CPU seconds each service spent during the outages (all its processes), per second of outage:
    /// near zero when they back off instead of spinning.
    pub cpu_seconds_per_outage_second: BTreeMap<String, f64>,
    /// Warnings and errors each service logged during the outages (all its processes).
    pub log_lines_during_outages: BTreeMap<String, usize>,
    /// Service processes that exited without being killed or stopped (a crash).
    pub crashes: u32,
    /// Services that did not exit 0 on SIGTERM at the end.
    pub unclean_stops: Vec<String>,
    /// feed-ingest's exit: true when it read and sent everything.
    pub ingest_succeeded: bool,
    /// Wall-clock seconds of the whole run.
    pub seconds: f64,
    /// The emulator.
    pub emulator: Emulator,
    /// True when the run ended by its stall limit rather than by finishing.
    pub gave_up: bool,
    /// Documents fed ahead of those written at most (`None`: the whole input at once).
    pub backlog: Option<usize>,
}

impl Report {
    /// True when nothing was lost, duplicated, misplaced or left behind, and no service died.
    pub fn is_clean(&self) -> bool {
        self.lost == 0
            && self.extra_rows == 0
            && self.dead_lettered == self.poison_injected
            && self.dead_lettered_wrongly == 0
            && self.good_documents_dead_lettered.is_empty()
            && self.left_in_queues == 0
            && self.crashes == 0
            && self.unclean_stops.is_empty()
            && self.ingest_succeeded
            && !self.gave_up
    }

    /// The report as a person reads it.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let mut line = |s: String| {
            out.push_str(&s);
            out.push('\n');
        };
        line(format!(
            "{} documents + {} poison on {:?} (fed {} ahead) in {:.0} s: {:.0} documents/s; latency p50 {:.2} s, p95 {:.2} s, p99 {:.2} s",
            self.documents,
            self.poison_injected,
            self.emulator,
            self.backlog.map_or_else(|| "all".to_owned(), |n| format!("at most {n}")),
            self.seconds,
            self.docs_per_second,
            self.latency_p50_seconds,
            self.latency_p95_seconds,
            self.latency_p99_seconds
        ));
        line(format!(
            "chaos: {} kills, {} outages ({:.0} s, {} requests stalled), {} crashes",
            self.kills, self.outages, self.outage_seconds, self.stalled_requests, self.crashes
        ));
        line(format!("CPU: {:.3} CPU-s per 1,000 documents in all", self.cpu_seconds_per_1000_docs));
        for (service, cpu) in &self.cpu_seconds_per_1000_docs_by_service {
            let rss = self.peak_rss_mb.get(service).copied().unwrap_or(0.0);
            let outage = self.cpu_seconds_per_outage_second.get(service).copied().unwrap_or(0.0);
            let logged = self.log_lines_during_outages.get(service).copied().unwrap_or(0);
            line(format!(
                "  {service:<20} {cpu:.3} CPU-s/1000 docs, peak RSS {rss:.1} MB, during outages {outage:.3} CPU-s/s and {logged} warnings"
            ));
        }
        line(format!(
            "calls: {:.2} SQS requests and {:.2} DynamoDB write units per document",
            self.sqs_requests_per_doc, self.dynamodb_write_units_per_doc
        ));
        line(format!(
            "audit: {} lost, {} extra rows, {} written more than once ({} extra writes), {} of {} poison dead-lettered ({} wrongly, {} duplicate letters), {} good documents dead-lettered, {} left in queues{}",
            self.lost,
            self.extra_rows,
            self.written_more_than_once,
            self.extra_writes,
            self.dead_lettered,
            self.poison_injected,
            self.dead_lettered_wrongly,
            self.duplicate_dead_letters,
            self.good_documents_dead_lettered.values().sum::<usize>(),
            self.left_in_queues,
            if self.gave_up { "; GAVE UP: no progress" } else { "" }
        ));
        line(format!(
            "ends: feed-ingest {}; on SIGTERM {}",
            if self.ingest_succeeded { "sent everything" } else { "FAILED" },
            if self.unclean_stops.is_empty() {
                "every service exited 0".to_owned()
            } else {
                format!("NOT CLEAN: {}", self.unclean_stops.join(", "))
            }
        ));
        out
    }
}

/// The worker services, killed and restarted by the chaos; feed-ingest reads its file once and is not.
const WORKERS: [&str; 3] = ["topic-classifier", "subtopic-classifier", "table-writer"];

/// One process of a service and what it has spent.
struct Process {
    service: &'static str,
    child: Child,
    /// CPU seconds at the last sample.
    cpu: f64,
    /// Peak RSS at the last sample, in bytes.
    rss: u64,
    log: PathBuf,
}

impl Process {
    fn sample(&mut self, ticks: f64) {
        if let Some((cpu, rss)) = read_proc(self.child.id(), ticks) {
            self.cpu = cpu;
            self.rss = self.rss.max(rss);
        }
    }
}

/// CPU seconds and peak RSS of a live process, from /proc.
fn read_proc(pid: u32, ticks: f64) -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let (user, system): (f64, f64) = (fields.get(11)?.parse().ok()?, fields.get(12)?.parse().ok()?);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.split_whitespace().next()?.parse().ok()?;
    Some(((user + system) / ticks, kb * 1024))
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok()?.trim().parse().ok())
        .unwrap_or(100.0)
}

/// What each service spent, over all its processes, dead and alive, and where each logged.
#[derive(Default)]
struct Spent {
    cpu: BTreeMap<&'static str, f64>,
    rss: BTreeMap<&'static str, u64>,
    /// The logs of the processes retired so far, by service.
    logs: Vec<(&'static str, PathBuf)>,
}

impl Spent {
    fn retire(&mut self, process: &Process) {
        *self.cpu.entry(process.service).or_default() += process.cpu;
        let peak = self.rss.entry(process.service).or_default();
        *peak = (*peak).max(process.rss);
        self.logs.push((process.service, process.log.clone()));
    }

    fn with_live<'a>(&self, live: impl Iterator<Item = &'a Process>) -> BTreeMap<&'static str, f64> {
        let mut cpu = self.cpu.clone();
        for process in live {
            *cpu.entry(process.service).or_default() += process.cpu;
        }
        cpu
    }
}

/// Writes the first `count` records of `input` to `output` as they are; answers their ids.
fn take_documents(input: &Path, count: usize, output: &Path) -> Vec<String> {
    let file = std::fs::File::open(input).unwrap_or_else(|e| panic!("{}: {e}", input.display()));
    let mut reader = std::io::BufReader::new(file);
    let gzipped = reader.fill_buf().map(|head| head.starts_with(&[0x1f, 0x8b])).unwrap_or(false);
    let lines: Box<dyn BufRead> = if gzipped {
        Box::new(std::io::BufReader::new(flate2::bufread::MultiGzDecoder::new(reader)))
    } else {
        Box::new(reader)
    };
    let mut out = std::io::BufWriter::new(std::fs::File::create(output).unwrap());
    let mut ids = Vec::with_capacity(count);
    for line in lines.lines().map(Result::unwrap).filter(|l| !l.trim().is_empty()).take(count) {
        let record: serde_json::Value = serde_json::from_str(&line).expect("a JSON Lines corpus");
        ids.push(record["id"].as_str().expect("every record has an id").to_owned());
        writeln!(out, "{line}").unwrap();
    }
    out.flush().unwrap();
    assert_eq!(ids.len(), count, "{} holds only {} documents", input.display(), ids.len());
    ids
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Warnings and errors in a log between two instants (the services log RFC 3339 timestamps first).
fn warnings_between(log: &Path, windows: &[(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)]) -> usize {
    let Ok(text) = std::fs::read_to_string(log) else { return 0 };
    text.lines()
        .filter(|line| line.contains("WARN") || line.contains("ERROR"))
        .filter_map(|line| {
            // Past any colour codes, to the timestamp.
            let stamp = line.trim_start_matches(|c: char| !c.is_ascii_digit()).split_whitespace().next()?;
            chrono::DateTime::parse_from_rfc3339(stamp).ok().map(|t| t.with_timezone(&chrono::Utc))
        })
        .filter(|time| windows.iter().any(|(from, to)| time >= from && time <= to))
        .count()
}

/// Runs the benchmark: [`Scene::set_up`] starts the emulator behind the chaos proxy, the stack and the
/// services; [`drive`] feeds the documents and the poison while it kills services and cuts the emulator
/// off, until everything is written and the queues are empty (or nothing moves for `stall_limit`);
/// [`stop`] sends every service SIGTERM; [`audit`] counts what arrived, what was lost, duplicated or
/// misplaced, and what it cost.
///
/// # Panics
/// When the emulator, a binary or the input is missing: the run cannot start.
pub async fn run(settings: &Settings) -> Report {
    let mut scene = Scene::set_up(settings).await;
    let driven = drive(&mut scene).await;
    let unclean_stops = stop(&mut scene, &driven).await;
    audit(scene, driven, unclean_stops).await
}

/// What the run set up, and the services it runs.
struct Scene<'a> {
    settings: &'a Settings,
    started: Instant,
    ticks: f64,
    /// Kept for its lifetime: the emulator stops when the scene is dropped.
    #[allow(dead_code)]
    emulator: EmulatorServer,
    proxy: ChaosProxy,
    environment: Environment,
    sqs: aws_sdk_sqs::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
    /// The documents' file and their ids.
    input: PathBuf,
    ids: Vec<String>,
    /// What is still to send, last first, with its kind.
    poison: Vec<(usize, OutgoingMessage)>,
    poison_count: usize,
    logs: PathBuf,
    incarnations: usize,
    live: Vec<Process>,
    spent: Spent,
}

impl<'a> Scene<'a> {
    async fn set_up(settings: &'a Settings) -> Scene<'a> {
        let started = Instant::now();
        let ticks = clock_ticks();
        std::fs::create_dir_all(&settings.work).unwrap();
        let emulator = match settings.emulator {
            Emulator::Ministack => EmulatorServer::ministack("127.0.0.1", &settings.work.join("emulator.log")),
            Emulator::Moto => EmulatorServer::moto("127.0.0.1"),
        };
        let proxy = ChaosProxy::start(&emulator.endpoint).await;
        let stack = crate::emulator::unique_name("scale");
        // The services reach the emulator through the proxy; the audit and the poison go to it directly.
        let mut environment = Environment::on_emulator(&proxy.endpoint, &stack).with_binaries(&settings.binaries);
        environment.set(env::WORKERS, &settings.workers.to_string());
        environment.set(env::VISIBILITY_TIMEOUT_SECS, &settings.visibility.as_secs().to_string());
        environment.set(env::MODEL, &settings.model.display().to_string());
        environment.infra_up(&[]);
        let config = load_sdk_config(&crate::emulator::settings(&emulator.endpoint)).await;
        let (sqs, dynamodb) = (aws_sdk_sqs::Client::new(&config), aws_sdk_dynamodb::Client::new(&config));
        let table = environment.get(env::TABLE).to_owned();

        let input = settings.work.join("input.jsonl");
        let ids = take_documents(&settings.input, settings.documents, &input);

        // Poison: a share of all messages, of every kind in turn, sent in waves of ten while the documents go.
        let poison_count = ((settings.documents as f64) * settings.poison / (1.0 - settings.poison)).round() as usize;
        let mut poison: Vec<(usize, OutgoingMessage)> = (0..poison_count)
            .map(|n| {
                let kind = n % KINDS.len();
                let id = format!("poison-{}-{n}", KINDS[kind].name);
                let mut message = OutgoingMessage::new("0", KINDS[kind].body(&id));
                message.attributes.insert(poison::MARK.into(), format!("{kind}:{n}"));
                (kind, message)
            })
            .collect();
        poison.reverse();

        let logs = settings.work.join("logs");
        std::fs::create_dir_all(&logs).unwrap();
        let mut scene = Scene {
            settings,
            started,
            ticks,
            emulator,
            proxy,
            environment,
            sqs,
            dynamodb,
            table,
            input,
            ids,
            poison,
            poison_count,
            logs,
            incarnations: 0,
            live: Vec::new(),
            spent: Spent::default(),
        };
        for &service in &WORKERS {
            for _ in 0..settings.processes {
                let process = scene.spawn(service, &[], Stdio::null());
                scene.live.push(process);
            }
        }
        scene
    }

    /// Starts one process of `service`, its log a file of its own.
    fn spawn(&mut self, service: &'static str, args: &[&std::ffi::OsStr], stdin: Stdio) -> Process {
        self.incarnations += 1;
        let log = self.logs.join(format!("{service}-{}.log", self.incarnations));
        let child = self
            .environment
            .command(service)
            .args(args)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(stdin)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("{service}: {e}"));
        Process { service, child, cpu: 0.0, rss: 0, log }
    }

    fn queue(&self, queue: Queue) -> SqsQueue {
        SqsQueue::new(self.sqs.clone(), self.environment.get(queue.url_var()))
    }

    fn dead_letter_queue(&self, queue: Queue) -> SqsQueue {
        SqsQueue::new(self.sqs.clone(), self.environment.get(queue.dead_letter_url_var()))
    }
}

/// What driving the run saw.
struct Driven {
    sent_at: Instant,
    ingest: Process,
    ingest_succeeded: bool,
    kills: u32,
    crashes: u32,
    outages_done: u32,
    outage_windows: Vec<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)>,
    outage_cpu: BTreeMap<&'static str, f64>,
    all_written_at: Option<Duration>,
    gave_up: bool,
}

/// Feeds the documents and the poison, kills and restarts services, cuts the emulator off, until the
/// end (every document written, the ingest done, the poison sent, the queues empty twice over) or a
/// stall.
async fn drive(scene: &mut Scene<'_>) -> Driven {
    let settings = scene.settings;
    let ids = scene.ids.clone();
    let wanted: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
    let sent_at = Instant::now();
    // Paced: the file goes to feed-ingest's standard input, no further ahead of the writes than the
    // backlog allows (see `Settings::backlog`).
    let feed_allowed = Arc::new(AtomicUsize::new(settings.backlog.unwrap_or_default()));
    let input = scene.input.clone();
    let mut ingest = match settings.backlog {
        None => scene.spawn("feed-ingest", &["--input".as_ref(), input.as_os_str()], Stdio::null()),
        Some(_) => {
            let mut ingest = scene.spawn("feed-ingest", &["--input".as_ref(), "-".as_ref()], Stdio::piped());
            let stdin = ingest.child.stdin.take().expect("a piped standard input");
            let allowed = feed_allowed.clone();
            std::thread::spawn(move || feed_paced(&input, stdin, &allowed));
            ingest
        }
    };
    let mut ingest_status = None;

    let mut kills = 0;
    let mut crashes = 0;
    let mut next_kill = settings.kill_every.map(|every| Instant::now() + every);
    let mut pending_restarts: Vec<(Instant, &'static str)> = Vec::new();
    let outage_length = settings.outage.unwrap_or_default();
    let outages = if settings.outage.is_some() { settings.outages } else { 0 };
    let mut outages_done = 0;
    let mut outage_ends: Option<Instant> = None;
    let mut outage_windows = Vec::new();
    let mut outage_cpu_start = BTreeMap::new();
    let mut outage_cpu: BTreeMap<&'static str, f64> = BTreeMap::new();
    let mut last_progress = (0, Instant::now());
    let mut all_written_at = None;
    let mut empty_checks = 0;
    let mut next_queue_check = Instant::now();
    let mut gave_up = false;
    let mut interval = tokio::time::interval(Duration::from_millis(250));

    loop {
        interval.tick().await;
        let now = Instant::now();
        for process in scene.live.iter_mut().chain(std::iter::once(&mut ingest)) {
            process.sample(scene.ticks);
        }

        // Restart what died: a kill of ours after a second, as ECS would start a new task; anything else
        // that exited is a crash, restarted too and counted.
        let mut index = 0;
        while index < scene.live.len() {
            if let Ok(Some(_)) = scene.live[index].child.try_wait() {
                let process = scene.live.swap_remove(index);
                crashes += 1;
                say(&format!("{} exited by itself (a crash); restarting it", process.service));
                scene.spent.retire(&process);
                let restarted = scene.spawn(process.service, &[], Stdio::null());
                scene.live.push(restarted);
            } else {
                index += 1;
            }
        }
        let due: Vec<&'static str> =
            pending_restarts.iter().filter(|(at, _)| *at <= now).map(|(_, service)| *service).collect();
        pending_restarts.retain(|(at, _)| *at > now);
        for service in due {
            let restarted = scene.spawn(service, &[], Stdio::null());
            scene.live.push(restarted);
        }
        if let Some(at) = next_kill
            && at <= now
            && !scene.live.is_empty()
        {
            let mut victim = scene.live.swap_remove(fastrand::usize(..scene.live.len()));
            victim.sample(scene.ticks);
            let _ = victim.child.kill();
            let _ = victim.child.wait();
            scene.spent.retire(&victim);
            pending_restarts.push((now + Duration::from_secs(1), victim.service));
            kills += 1;
            next_kill = settings.kill_every.map(|every| now + every);
        }
        if ingest_status.is_none()
            && let Ok(Some(status)) = ingest.child.try_wait()
        {
            ingest_status = Some(status);
        }

        // Poison, ten at a time, until it is all sent.
        if !scene.poison.is_empty() {
            let mut by_queue: HashMap<Queue, Vec<OutgoingMessage>> = HashMap::new();
            let from = scene.poison.len().saturating_sub(10);
            for (kind, message) in scene.poison.drain(from..) {
                by_queue.entry(KINDS[kind].queue).or_default().push(message);
            }
            for (target, mut messages) in by_queue {
                for (n, message) in messages.iter_mut().enumerate() {
                    message.entry_id = n.to_string();
                }
                let results = scene.queue(target).send_batch(&messages).await;
                assert!(results.iter().all(Result::is_ok), "the emulator refused poison: {results:?}");
            }
        }

        // Progress: distinct documents written, as the proxy saw the writes.
        let written = scene.proxy.written_among(wanted.iter().copied());
        if written > last_progress.0 {
            last_progress = (written, now);
        }
        if let Some(backlog) = settings.backlog {
            feed_allowed.store(written + backlog, Ordering::Relaxed);
        }
        if written == wanted.len() && all_written_at.is_none() {
            all_written_at = Some(sent_at.elapsed());
        }

        // Outages at even shares of the documents written: after a third and two thirds for two.
        if let Some(ends) = outage_ends {
            if now >= ends {
                scene.proxy.set(Mode::Pass);
                outage_ends = None;
                if let Some((_, to)) = outage_windows.last_mut() {
                    *to = chrono::Utc::now();
                }
                let during = scene.spent.with_live(scene.live.iter());
                for (service, cpu) in during {
                    let before = outage_cpu_start.get(service).copied().unwrap_or(0.0);
                    *outage_cpu.entry(service).or_default() += cpu - before;
                }
                last_progress.1 = now;
            }
        } else if outages_done < outages
            && written * (outages as usize + 1) >= wanted.len() * (outages_done as usize + 1)
        {
            let mode = if outages_done % 2 == 0 { Mode::Refuse } else { Mode::Stall };
            say(&format!("outage {}: {mode:?} for {:?}", outages_done + 1, outage_length));
            outage_cpu_start = scene.spent.with_live(scene.live.iter());
            scene.proxy.set(mode);
            outage_ends = Some(now + outage_length);
            outage_windows.push((chrono::Utc::now(), chrono::Utc::now() + outage_length));
            outages_done += 1;
        }

        // The end: everything written, the ingest done, the poison sent, and the queues empty twice over.
        if written == wanted.len() && ingest_status.is_some() && scene.poison.is_empty() && outage_ends.is_none() {
            if now >= next_queue_check {
                next_queue_check = now + Duration::from_secs(1);
                let mut left = 0;
                for target in Queue::ALL {
                    left += crate::emulator::messages_left(&scene.sqs, scene.queue(target).url()).await;
                }
                empty_checks = if left == 0 { empty_checks + 1 } else { 0 };
                if empty_checks >= 2 {
                    break;
                }
            }
        } else if now - last_progress.1 > settings.stall_limit && outage_ends.is_none() {
            gave_up = true;
            say(&format!("no progress for {:?}: giving up and auditing", settings.stall_limit));
            break;
        }
    }
    Driven {
        sent_at,
        ingest,
        ingest_succeeded: ingest_status.is_some_and(|s| s.success()),
        kills,
        crashes,
        outages_done,
        outage_windows,
        outage_cpu,
        all_written_at,
        gave_up,
    }
}

/// Stops every service as ECS would (SIGTERM), after a last sample; answers those that did not stop
/// cleanly. A process restarted moments ago may still be loading its model, before its signal handlers
/// exist and with nothing in hand; it is given up to 30 s to start serving first, so that the stop tests
/// the drain, not the start-up.
async fn stop(scene: &mut Scene<'_>, driven: &Driven) -> Vec<String> {
    let starting_by = Instant::now() + Duration::from_secs(30);
    while Instant::now() < starting_by
        && scene
            .live
            .iter()
            .any(|p| !std::fs::read_to_string(&p.log).is_ok_and(|log| log.contains(" serving service=")))
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut unclean_stops = Vec::new();
    for process in &mut scene.live {
        process.sample(scene.ticks);
        let _ = Command::new("kill").args(["-TERM", &process.child.id().to_string()]).status();
    }
    for process in &mut scene.live {
        let deadline = Instant::now() + Duration::from_secs(25);
        let status = loop {
            if let Ok(Some(status)) = process.child.try_wait() {
                break Some(status);
            }
            if Instant::now() > deadline {
                let _ = process.child.kill();
                break None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        if !status.is_some_and(|s| s.success()) {
            unclean_stops.push(format!("{} ({status:?})", process.service));
        }
    }
    for process in scene.live.iter().chain(std::iter::once(&driven.ingest)) {
        scene.spent.retire(process);
    }
    unclean_stops
}

/// The audit: rows, writes, dead letters, what is left, and what it all cost.
async fn audit(scene: Scene<'_>, driven: Driven, unclean_stops: Vec<String>) -> Report {
    let settings = scene.settings;
    let wanted: BTreeSet<&str> = scene.ids.iter().map(String::as_str).collect();
    let rows = rows(&scene.dynamodb, &scene.table).await;
    let lost = wanted.iter().filter(|id| !rows.contains_key(**id)).count();
    let extra_rows = rows.keys().filter(|id| !wanted.contains(id.as_str())).count();
    let traffic = scene.proxy.traffic();
    let repeated: Vec<u32> = traffic.writes.values().filter(|n| **n > 1).copied().collect();
    let mut latencies: Vec<f64> =
        wanted.iter().filter_map(|id| rows.get(*id)).copied().filter(|l| l.is_finite()).collect();
    latencies.sort_by(f64::total_cmp);

    let mut letters_by_reason: BTreeMap<String, usize> = BTreeMap::new();
    let mut good_dead_lettered: BTreeMap<String, usize> = BTreeMap::new();
    let mut seen_poison = BTreeSet::new();
    let (mut dead_lettered, mut wrongly, mut duplicates) = (0, 0, 0);
    for target in Queue::ALL {
        let dlq = scene.dead_letter_queue(target);
        let mut empty = 0;
        while empty < 3 {
            let letters = dlq.receive(10, Duration::from_secs(600), Duration::from_secs(1)).await.unwrap_or_default();
            empty = if letters.is_empty() { empty + 1 } else { 0 };
            for letter in letters {
                let reason = letter.attributes.get(attributes::DEAD_LETTER_REASON).cloned().unwrap_or_default();
                *letters_by_reason.entry(reason.clone()).or_default() += 1;
                let Some(mark) = letter.attributes.get(poison::MARK) else {
                    *good_dead_lettered.entry(reason).or_default() += 1;
                    continue;
                };
                if !seen_poison.insert(mark.clone()) {
                    duplicates += 1;
                    continue;
                }
                let kind = mark.split(':').next().and_then(|k| k.parse::<usize>().ok()).and_then(|k| KINDS.get(k));
                match kind {
                    Some(kind) if kind.queue == target && kind.reason == reason => dead_lettered += 1,
                    _ => wrongly += 1,
                }
            }
        }
    }
    let mut left_in_queues = 0;
    for target in Queue::ALL {
        left_in_queues += crate::emulator::messages_left(&scene.sqs, scene.queue(target).url()).await;
    }
    scene.environment.infra_down();

    let documents = settings.documents as f64;
    let per_thousand = |cpu: f64| cpu / documents * 1000.0;
    let outage_seconds = settings.outage.unwrap_or_default().as_secs_f64() * f64::from(driven.outages_done);
    let mut log_lines = BTreeMap::new();
    for (service, log) in &scene.spent.logs {
        *log_lines.entry((*service).to_owned()).or_default() += warnings_between(log, &driven.outage_windows);
    }
    let elapsed = driven.all_written_at.unwrap_or_else(|| driven.sent_at.elapsed()).as_secs_f64();
    let spent = &scene.spent;
    Report {
        documents: settings.documents,
        lost,
        extra_rows,
        written_more_than_once: repeated.len(),
        extra_writes: repeated.iter().map(|n| u64::from(n - 1)).sum(),
        poison_injected: scene.poison_count,
        dead_lettered,
        dead_lettered_wrongly: wrongly,
        duplicate_dead_letters: duplicates,
        good_documents_dead_lettered: good_dead_lettered,
        dead_letters_by_reason: letters_by_reason,
        left_in_queues,
        docs_per_second: documents / elapsed,
        latency_p50_seconds: percentile(&latencies, 0.50),
        latency_p95_seconds: percentile(&latencies, 0.95),
        latency_p99_seconds: percentile(&latencies, 0.99),
        cpu_seconds_per_1000_docs: per_thousand(spent.cpu.values().sum()),
        cpu_seconds_per_1000_docs_by_service: spent
            .cpu
            .iter()
            .map(|(s, c)| ((*s).to_owned(), per_thousand(*c)))
            .collect(),
        peak_rss_mb: spent.rss.iter().map(|(s, r)| ((*s).to_owned(), *r as f64 / 1e6)).collect(),
        sqs_requests_per_doc: traffic.requests_to("AmazonSQS") as f64 / documents,
        sqs_requests: traffic
            .requests
            .iter()
            .filter(|(op, _)| op.starts_with("AmazonSQS"))
            .map(|(op, n)| (op.trim_start_matches("AmazonSQS.").to_owned(), *n))
            .collect(),
        dynamodb_write_units_per_doc: traffic.write_units as f64 / documents,
        kills: driven.kills,
        outages: driven.outages_done,
        outage_seconds,
        stalled_requests: traffic.stalled,
        cpu_seconds_per_outage_second: driven
            .outage_cpu
            .iter()
            .map(|(s, c)| ((*s).to_owned(), if outage_seconds > 0.0 { c / outage_seconds } else { 0.0 }))
            .collect(),
        log_lines_during_outages: log_lines,
        crashes: driven.crashes,
        unclean_stops,
        ingest_succeeded: driven.ingest_succeeded,
        seconds: scene.started.elapsed().as_secs_f64(),
        emulator: settings.emulator,
        gave_up: driven.gave_up,
        backlog: settings.backlog,
    }
}

/// Each row's end-to-end latency in seconds, by id.
async fn rows(dynamodb: &aws_sdk_dynamodb::Client, table: &str) -> HashMap<String, f64> {
    let items = crate::emulator::scan(dynamodb, table, "id, ingested_at, written_at").await;
    items
        .iter()
        .filter_map(|item| {
            let text = |key: &str| item.get(key).and_then(|v| v.as_s().ok()).cloned();
            let time = |key: &str| text(key).and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok());
            let latency = match (time("ingested_at"), time("written_at")) {
                (Some(from), Some(to)) => (to - from).num_microseconds().unwrap_or(0) as f64 / 1e6,
                _ => f64::NAN,
            };
            Some((text("id")?, latency))
        })
        .collect()
}

/// A line of the benchmark's own progress, on stderr (stdout carries the report).
fn say(text: &str) {
    eprintln!("bench-scale: {text}");
}

/// Writes `input`'s lines to feed-ingest's standard input, no more than `allowed` of them so far; closes
/// it (feed-ingest then sends what it holds and exits) after the last.
fn feed_paced(input: &Path, mut stdin: std::process::ChildStdin, allowed: &AtomicUsize) {
    let lines = std::io::BufReader::new(std::fs::File::open(input).expect("the benchmark's input"));
    for (fed, line) in lines.lines().enumerate() {
        while fed >= allowed.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let line = line.expect("the benchmark's input reads");
        // A feed-ingest that died takes its pipe with it; the audit reports the missing documents.
        if writeln!(stdin, "{line}").is_err() {
            return;
        }
    }
}
