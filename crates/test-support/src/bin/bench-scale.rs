//! `bench-scale`: the scale benchmark with chaos (see `scale.rs`), run by `scripts/bench-scale.sh`.
//! Prints the report as text, then as one JSON object on the last line of stdout; exits 1 when the
//! audit finds a document lost, a poison message misplaced, a queue not empty or a service dead.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use test_support::scale::{self, Emulator, Settings};

/// N documents of the arXiv train split through the four services on an emulator, with chaos.
#[derive(Debug, Parser)]
#[command(about)]
struct Args {
    /// Documents to send.
    #[arg(long, default_value_t = 100_000)]
    docs: usize,
    /// SIGKILL a random classifier or writer process this often (seconds); it is restarted a second
    /// later, as ECS would start a new task.
    #[arg(long, value_name = "SECS")]
    kill_every: Option<f64>,
    /// Make the emulator unreachable this long (seconds), `--outages` times.
    #[arg(long, value_name = "SECS")]
    outage: Option<f64>,
    /// How many outages, at even shares of the run: the first refuses connections, the second stalls
    /// them (a black hole), and so on.
    #[arg(long, default_value_t = 2)]
    outages: u32,
    /// The share of all messages that is poison, of 22 kinds over the three queues.
    #[arg(long, default_value_t = 0.0, value_name = "FRACTION")]
    poison: f64,
    /// The documents (JSON Lines, gzipped or not); default: the arXiv train split of the shared data.
    #[arg(long)]
    input: Option<PathBuf>,
    /// A model file; default: one trained on the arXiv train split first (about a minute).
    #[arg(long)]
    model: Option<PathBuf>,
    /// `ministack` or `moto`; default: ministack where it is installed.
    #[arg(long, value_parser = ["ministack", "moto"])]
    emulator: Option<String>,
    /// Receive loops per service.
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// Processes per worker service.
    #[arg(long, default_value_t = 1)]
    processes: usize,
    /// Visibility timeout of the queues (seconds): a killed worker's messages come back after it.
    #[arg(long, default_value_t = 10)]
    visibility_secs: u64,
    /// Documents fed ahead of those written, at most, as a feed arrives over time (0: the whole input at
    /// once). The emulators slow down with a queue's length as SQS does not; a backlog of 100,000 on
    /// ministack measures ministack.
    #[arg(long, default_value_t = 5_000)]
    backlog: usize,
    /// Where the service binaries are; default: beside this one.
    #[arg(long)]
    binaries: Option<PathBuf>,
    /// Keep the logs and inputs in this folder (default: a temporary folder, removed).
    #[arg(long)]
    keep: Option<PathBuf>,
}

fn main() {
    let args = Args::parse();
    if let Err(error) = run(args) {
        eprintln!("bench-scale: {error:#}");
        std::process::exit(2);
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!((0.0..0.5).contains(&args.poison), "--poison is a fraction in [0, 0.5), not {}", args.poison);
    anyhow::ensure!(args.docs > 0, "--docs must be at least 1");
    let seconds = |s: Option<f64>, flag: &str| -> anyhow::Result<Option<Duration>> {
        s.map(|s| Duration::try_from_secs_f64(s).map_err(|_| anyhow::anyhow!("{flag} takes seconds, not {s}")))
            .transpose()
    };
    let binaries = match args.binaries {
        Some(folder) => folder,
        None => std::env::current_exe()?.parent().expect("a folder").to_owned(),
    };
    for service in ["docclass", "feed-ingest", "topic-classifier", "subtopic-classifier", "table-writer"] {
        anyhow::ensure!(
            binaries.join(service).exists(),
            "{} has no {service}: build the binaries first (cargo build --release --bins)",
            binaries.display()
        );
    }
    let work = match &args.keep {
        Some(folder) => folder.clone(),
        None => std::env::temp_dir().join(format!("docclass-bench-scale-{}", std::process::id())),
    };
    std::fs::create_dir_all(&work)?;
    let input = match args.input {
        Some(input) => input,
        None => test_support::data_dir().join("arxiv/train.jsonl.gz"),
    };
    let model = match args.model {
        Some(model) => model,
        None => {
            let model = work.join("model.bin");
            eprintln!("bench-scale: training the arXiv model (about a minute)");
            let trained = std::process::Command::new(binaries.join("docclass"))
                .args(["--corpus", "arxiv", "train", "--out"])
                .arg(&model)
                .stdout(std::process::Stdio::null())
                .status()?;
            anyhow::ensure!(trained.success(), "training the model failed");
            model
        }
    };
    let emulator = match args.emulator.as_deref() {
        Some("moto") => Emulator::Moto,
        Some(_) => Emulator::Ministack,
        None => Emulator::available(),
    };
    let settings = Settings {
        documents: args.docs,
        input,
        model,
        binaries,
        work: work.clone(),
        emulator,
        kill_every: seconds(args.kill_every, "--kill-every")?,
        outage: seconds(args.outage, "--outage")?,
        outages: args.outages,
        poison: args.poison,
        workers: args.workers,
        processes: args.processes,
        visibility: Duration::from_secs(args.visibility_secs),
        stall_limit: Duration::from_secs(120),
        backlog: (args.backlog > 0).then_some(args.backlog),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let report = runtime.block_on(scale::run(&settings));
    print!("{}", report.text());
    println!("{}", serde_json::to_string(&report)?);
    if args.keep.is_none() {
        let _ = std::fs::remove_dir_all(&work);
    }
    if !report.is_clean() {
        eprintln!("bench-scale: the audit failed (see the figures above)");
        std::process::exit(1);
    }
    Ok(())
}
