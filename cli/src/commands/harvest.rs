//! `docclass harvest arxiv`: fresh labelled papers from arXiv's OAI-PMH interface, as training data.

use std::path::PathBuf;
use std::time::Duration;

use feeds::harvest::{Harvest, MetadataFormat, harvest};
use feeds::{Fetcher, FetcherConfig};
use indicatif::{ProgressBar, ProgressStyle};

/// Arguments of `docclass harvest`.
#[derive(Debug, clap::Args)]
pub struct HarvestArgs {
    #[command(subcommand)]
    source: Source,
}

#[derive(Debug, clap::Subcommand)]
enum Source {
    /// arXiv's OAI-PMH interface (ListRecords), written as the JSON Lines `docclass train` reads:
    /// id, title, abstract, topic (group), subtopic (primary category), categories (cross-lists).
    Arxiv(ArxivArgs),
}

/// Arguments of `docclass harvest arxiv`.
#[derive(Debug, clap::Args)]
struct ArxivArgs {
    /// An OAI set: cs, math, physics, q-bio, q-fin, stat, eess, econ, or an archive (physics:hep-th)
    /// [default: every set].
    #[arg(long)]
    set: Option<String>,
    /// First datestamp harvested, YYYY-MM-DD.
    #[arg(long, value_parser = date)]
    from: Option<String>,
    /// Last datestamp harvested, YYYY-MM-DD.
    #[arg(long, value_parser = date)]
    until: Option<String>,
    /// The JSON Lines file to write (gzip-compressed when it ends in .gz). An unfinished harvest into
    /// it, stopped by a crash or an error, goes on where it stopped when the same command runs again.
    #[arg(long)]
    out: PathBuf,
    /// Metadata format: both give categories as codes.
    #[arg(long, value_enum, default_value_t = Format::Arxiv)]
    format: Format,
    /// The OAI-PMH base URL.
    #[arg(long, env = "DOCCLASS_ARXIV_OAI", default_value = "https://oaipmh.arxiv.org/oai")]
    endpoint: String,
    /// Seconds between two pages: arXiv asks harvesters to pause between requests.
    #[arg(long, default_value_t = 3.0)]
    pause_secs: f64,
    /// Attempts of one page on 503 (honouring Retry-After), 429, other 5xx and network failures.
    #[arg(long, default_value_t = 8)]
    max_attempts: u32,
    /// Harvest from a loopback, private or link-local address too (a mirror on your own network); as
    /// feed-ingest, refused otherwise, after DNS, on every redirect and through a proxy.
    #[arg(long, env = docclass_types::topology::env::ALLOW_PRIVATE_ADDRESSES)]
    allow_private_addresses: bool,
    /// Harvest from this private network all the same, and from no other (CIDR; repeat).
    #[arg(long = "allow-private-network", env = docclass_types::topology::env::ALLOW_PRIVATE_NETWORKS,
          value_delimiter = ',', value_name = "CIDR")]
    allow_private_networks: Vec<feeds::IpNet>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    /// metadataPrefix=arXiv.
    Arxiv,
    /// metadataPrefix=arXivRaw (every version's date).
    ArxivRaw,
}

fn date(value: &str) -> Result<String, String> {
    chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map(|_| value.to_owned())
        .map_err(|_| format!("{value:?} is not a date like 2025-01-31"))
}

pub fn run(args: HarvestArgs) -> anyhow::Result<()> {
    let Source::Arxiv(args) = args.source;
    anyhow::ensure!(args.pause_secs >= 0.0 && args.pause_secs.is_finite(), "--pause-secs must be 0 or more");
    let harvest_config = Harvest {
        endpoint: args.endpoint.trim_end_matches('?').to_owned(),
        set: args.set,
        from: args.from,
        until: args.until,
        format: match args.format {
            Format::Arxiv => MetadataFormat::Arxiv,
            Format::ArxivRaw => MetadataFormat::ArxivRaw,
        },
        out: args.out,
        pause: Duration::from_secs_f64(args.pause_secs),
        max_attempts: args.max_attempts.max(1),
        // arXiv's Retry-After is seconds to minutes; an hour-long one is waited out an attempt at a time.
        max_retry_after: Duration::from_secs(600),
    };
    // A page of 1,000 arXiv records is a few MB; the feed fetcher's 4 MiB cap is for feeds.
    let private_addresses = if args.allow_private_addresses {
        feeds::PrivateAddresses::allow_all()
    } else {
        feeds::PrivateAddresses::allowing(args.allow_private_networks.clone())
    };
    let fetcher = Fetcher::new(FetcherConfig {
        timeout: Duration::from_secs(180),
        max_bytes: 64 * 1024 * 1024,
        private_addresses,
        ..FetcherConfig::default()
    })?;
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed}] {msg} {wide_bar} {pos}/{len}")
            .expect("static template is valid"),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let result = runtime.block_on(harvest(&harvest_config, &fetcher, &mut |progress| {
        if let Some(size) = progress.complete_list_size {
            bar.set_length(size);
        }
        bar.set_position(progress.papers);
        bar.set_message(format!("harvesting: page {}", progress.pages));
    }));
    bar.finish_and_clear();
    let report = result?;
    println!(
        "Harvested {} papers in {} pages into {}{} ({} deleted or incomplete records passed over).",
        report.papers,
        report.pages,
        harvest_config.out.display(),
        if report.resumed { ", resuming an unfinished harvest" } else { "" },
        report.skipped
    );
    Ok(())
}
