//! The harvest loop: page after page of `ListRecords`, politely, resumable after a crash.
//!
//! Every page is appended to the output as soon as it is read (a gzip member of its own when the output
//! ends in `.gz`: a multi-member file reads as one), and then a checkpoint beside the output records how
//! many bytes are good and the resumption token of the next page. A harvest that dies — a crash, Ctrl-C,
//! a malformed page — is resumed by running the same command again: the output is cut back to the last
//! checkpoint and the harvest goes on from its token, so no paper is written twice or lost. The
//! checkpoint is removed when the list ends.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::StatusCode;
use serde::{Deserialize, Serialize};

use super::page::{MetadataFormat, PageError, parse_page};
use crate::fetch::{FetchError, Fetched, Fetcher, Validators};

/// What to harvest, from where, into what.
#[derive(Debug, Clone)]
pub struct Harvest {
    /// The OAI-PMH base URL (arXiv's: `https://oaipmh.arxiv.org/oai`).
    pub endpoint: String,
    /// An OAI set (`cs`, `math`, `physics:hep-th`, …), or all of them.
    pub set: Option<String>,
    /// First datestamp, `YYYY-MM-DD`.
    pub from: Option<String>,
    /// Last datestamp, `YYYY-MM-DD`.
    pub until: Option<String>,
    /// `arXiv` or `arXivRaw`: both give categories as codes.
    pub format: MetadataFormat,
    /// The JSON Lines file to write (gzip-compressed when it ends in `.gz`).
    pub out: PathBuf,
    /// Pause between two pages (arXiv asks harvesters for a few seconds).
    pub pause: Duration,
    /// Attempts of one page on `503`, `429`, other `5xx` and network failures, before giving up.
    pub max_attempts: u32,
    /// The longest `Retry-After` honoured as given; longer ones wait this long.
    pub max_retry_after: Duration,
}

/// How far a harvest is, after each page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HarvestProgress {
    /// Pages written (with those of the run resumed).
    pub pages: u64,
    /// Papers written.
    pub papers: u64,
    /// Records in the whole list, when the repository says.
    pub complete_list_size: Option<u64>,
}

/// What a finished harvest did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HarvestReport {
    /// Pages written, resumed ones included.
    pub pages: u64,
    /// Papers written, resumed ones included.
    pub papers: u64,
    /// Deleted records and records without an abstract or a category.
    pub skipped: u64,
    /// Whether it went on from a checkpoint.
    pub resumed: bool,
    /// Requests tried again (503 with `Retry-After`, other failures).
    pub retries: u64,
}

/// Why a harvest stopped; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum HarvestError {
    /// A page could not be fetched, even after retrying.
    #[error("{source} (after {attempts} attempts; run the same command again to resume)")]
    Fetch {
        /// The last failure.
        source: FetchError,
        /// Attempts made.
        attempts: u32,
    },
    /// A page is not a usable answer.
    #[error("page {page} ({url}): {source} (what came before is kept; run the same command again to resume)")]
    Page {
        /// 1-based page number.
        page: u64,
        /// The request.
        url: String,
        /// What is wrong with it.
        source: PageError,
    },
    /// The output or the checkpoint could not be written or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The repository no longer takes the resumption token the checkpoint holds (tokens expire).
    #[error(
        "the repository refused the resumption token of page {page} ({message}): tokens expire, so this harvest \
         cannot go on from it. The {papers} papers harvested are kept in {out}; to get the rest, harvest into \
         another file with --from set to the last date you have"
    )]
    ExpiredToken {
        /// 1-based page number asked for.
        page: u64,
        /// The repository's message.
        message: String,
        /// Papers harvested.
        papers: u64,
        /// The output.
        out: PathBuf,
    },
    /// The output exists and no checkpoint says it is unfinished.
    #[error("{0} exists and holds a finished harvest: choose another --out, or delete it to harvest again")]
    Exists(PathBuf),
    /// The repository sent a resumption token it had sent before: paging on would never end.
    #[error(
        "page {page}: the repository sent the resumption token {token:?} a second time, so the list would never \
         end; stopped (the {papers} papers before it are kept)"
    )]
    RepeatedToken {
        /// 1-based page number of the page that repeated it.
        page: u64,
        /// The token.
        token: String,
        /// Papers harvested.
        papers: u64,
    },
    /// Page after page held nothing, each with a new token.
    #[error(
        "pages {first} to {last} held no records, each with a new resumption token: the repository is not \
         getting anywhere; stopped (the {papers} papers before them are kept)"
    )]
    EmptyPages {
        /// The first empty page of the run.
        first: u64,
        /// The last one read.
        last: u64,
        /// Papers harvested.
        papers: u64,
    },
    /// The checkpoint belongs to a harvest of other arguments.
    #[error(
        "{checkpoint} is the checkpoint of another harvest ({other}) into the same file: resume it with those \
         arguments, or delete both files"
    )]
    OtherHarvest {
        /// The checkpoint file.
        checkpoint: PathBuf,
        /// The other harvest's request.
        other: String,
    },
}

/// The checkpoint file's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Checkpoint {
    /// The request it continues, as a query string without the token.
    request: String,
    /// The token of the next page.
    resumption_token: String,
    /// Bytes of the output that hold whole pages.
    bytes: u64,
    pages: u64,
    papers: u64,
    skipped: u64,
}

/// Runs `harvest`, calling `progress` after each page.
///
/// # Errors
/// See [`HarvestError`]; the checkpoint then lets the same harvest go on.
pub async fn harvest(
    harvest: &Harvest,
    fetcher: &Fetcher,
    progress: &mut dyn FnMut(&HarvestProgress),
) -> Result<HarvestReport, HarvestError> {
    let request = first_request(harvest);
    let checkpoint_path = checkpoint_path(&harvest.out);
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| HarvestError::Io { path, source }
    };
    let mut report = HarvestReport::default();
    let mut token = None;
    let mut bytes = 0;
    match std::fs::read(&checkpoint_path) {
        Ok(saved) => {
            let saved: Checkpoint = serde_json::from_slice(&saved).map_err(|error| HarvestError::Io {
                path: checkpoint_path.clone(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, error),
            })?;
            if saved.request != request {
                return Err(HarvestError::OtherHarvest { checkpoint: checkpoint_path, other: saved.request });
            }
            report = HarvestReport {
                pages: saved.pages,
                papers: saved.papers,
                skipped: saved.skipped,
                resumed: true,
                retries: 0,
            };
            // Whatever was written after the checkpoint is a page not yet recorded: cut it off.
            OpenOptions::new()
                .write(true)
                .open(&harvest.out)
                .and_then(|f| f.set_len(saved.bytes))
                .map_err(io(&harvest.out))?;
            bytes = saved.bytes;
            token = Some(saved.resumption_token);
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            if harvest.out.exists() {
                return Err(HarvestError::Exists(harvest.out.clone()));
            }
            File::create(&harvest.out).map_err(io(&harvest.out))?;
        }
        Err(error) => return Err(HarvestError::Io { path: checkpoint_path, source: error }),
    }
    let mut complete_list_size = None;
    // Every token this run was given: a repeat (the same token again, or a cycle) would page for ever.
    let mut tokens: HashSet<String> = token.iter().cloned().collect();
    let mut empty_pages = 0;
    loop {
        let url = match &token {
            None => format!("{}?{request}", harvest.endpoint),
            Some(token) => {
                let mut url = format!("{}?verb=ListRecords&resumptionToken=", harvest.endpoint);
                url.extend(url::form_urlencoded::byte_serialize(token.as_bytes()));
                url
            }
        };
        let body = fetch_patiently(harvest, fetcher, &url, &mut report.retries).await?;
        let page = match parse_page(&body) {
            Ok(page) => page,
            Err(PageError::Oai { code, message }) if code == "badResumptionToken" && token.is_some() => {
                // Resuming would ask with the same token and fail the same way: the checkpoint goes, the
                // papers stay, and the error says how to get the rest.
                let _ = std::fs::remove_file(&checkpoint_path);
                return Err(HarvestError::ExpiredToken {
                    page: report.pages + 1,
                    message,
                    papers: report.papers,
                    out: harvest.out.clone(),
                });
            }
            Err(source) => return Err(HarvestError::Page { page: report.pages + 1, url: url.clone(), source }),
        };
        complete_list_size = page.complete_list_size.or(complete_list_size);
        bytes += append(&harvest.out, &page.papers).map_err(io(&harvest.out))?;
        report.pages += 1;
        report.papers += page.papers.len() as u64;
        report.skipped += page.skipped as u64;
        progress(&HarvestProgress { pages: report.pages, papers: report.papers, complete_list_size });
        let Some(next) = page.resumption_token else { break };
        if !tokens.insert(next.clone()) {
            return Err(HarvestError::RepeatedToken { page: report.pages, token: next, papers: report.papers });
        }
        empty_pages = if page.papers.is_empty() && page.skipped == 0 { empty_pages + 1 } else { 0 };
        if empty_pages >= MAX_EMPTY_PAGES {
            let last = report.pages;
            return Err(HarvestError::EmptyPages { first: last + 1 - empty_pages, last, papers: report.papers });
        }
        let checkpoint = Checkpoint {
            request: request.clone(),
            resumption_token: next.clone(),
            bytes,
            pages: report.pages,
            papers: report.papers,
            skipped: report.skipped,
        };
        write_atomically(&checkpoint_path, &serde_json::to_vec(&checkpoint).expect("a checkpoint serialises"))
            .map_err(io(&checkpoint_path))?;
        token = Some(next);
        tokio::time::sleep(harvest.pause).await;
    }
    match std::fs::remove_file(&checkpoint_path) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(HarvestError::Io { path: checkpoint_path, source: error }),
    }
    Ok(report)
}

/// Empty pages in a row, each with a new token, after which a harvest stops: a repository may send an
/// empty page now and then (deleted records filtered out), never this many running.
pub const MAX_EMPTY_PAGES: u64 = 20;

/// The checkpoint beside `out`.
pub(crate) fn checkpoint_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".checkpoint");
    out.with_file_name(name)
}

/// The query of the first `ListRecords` request.
fn first_request(harvest: &Harvest) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("verb", "ListRecords").append_pair("metadataPrefix", harvest.format.prefix());
    for (key, value) in [("set", &harvest.set), ("from", &harvest.from), ("until", &harvest.until)] {
        if let Some(value) = value {
            query.append_pair(key, value);
        }
    }
    query.finish()
}

/// Fetches `url`, waiting out `503`/`429` as the server's `Retry-After` asks and other server or network
/// failures with a doubling pause, up to `max_attempts`.
async fn fetch_patiently(
    harvest: &Harvest,
    fetcher: &Fetcher,
    url: &str,
    retries: &mut u64,
) -> Result<Vec<u8>, HarvestError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let error = match fetcher.fetch(url, &Validators::default()).await {
            Ok(Fetched::Body { bytes, .. }) => return Ok(bytes),
            // No validators were sent: a 304 is the server's mistake; ask again.
            Ok(Fetched::NotModified) => None,
            Err(error) => Some(error),
        };
        let wait = match &error {
            // Asking again gets the same too-large answer.
            Some(FetchError::TooLarge { .. }) => {
                return Err(HarvestError::Fetch { source: error.expect("matched Some"), attempts: attempt });
            }
            Some(FetchError::Status { status, retry_after: Some(wait), .. })
                if matches!(*status, StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS) =>
            {
                (*wait).min(harvest.max_retry_after)
            }
            Some(FetchError::Status { status, .. })
                if !status.is_server_error() && *status != StatusCode::TOO_MANY_REQUESTS =>
            {
                // A 4xx other than 429 will not change by asking again.
                return Err(HarvestError::Fetch { source: error.expect("matched Some"), attempts: attempt });
            }
            _ => Duration::from_secs(1 << attempt.min(6)).min(harvest.max_retry_after),
        };
        if attempt >= harvest.max_attempts {
            let source = error.unwrap_or(FetchError::Transport {
                url: url.to_owned(),
                detail: "answered 304 with no validators".into(),
            });
            return Err(HarvestError::Fetch { source, attempts: attempt });
        }
        *retries += 1;
        // A warning, not an info line: a wait of minutes must show even where no progress bar does.
        let why = error.as_ref().map_or_else(|| "a 304 with no validators".to_owned(), FetchError::reason);
        tracing::warn!(url, attempt, "harvest: {why}; asking again in {} s", wait.as_secs());
        tokio::time::sleep(wait).await;
    }
}

/// Appends papers as JSON lines (one gzip member for the lot when `out` ends in `.gz`), synced to
/// disk before the checkpoint that counts them; returns the bytes written.
fn append(out: &Path, papers: &[super::HarvestedPaper]) -> std::io::Result<u64> {
    let mut lines = Vec::new();
    for paper in papers {
        serde_json::to_writer(&mut lines, paper)?;
        lines.push(b'\n');
    }
    let bytes = if out.extension().is_some_and(|extension| extension == "gz") {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(&lines)?;
        encoder.finish()?
    } else {
        lines
    };
    let mut file = OpenOptions::new().append(true).open(out)?;
    file.write_all(&bytes)?;
    file.sync_data()?;
    Ok(bytes.len() as u64)
}

/// Writes `path` through a temporary file renamed over it, so a crash leaves the old or the new one.
fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    let temporary = path.with_file_name(name);
    let mut file = File::create(&temporary)?;
    file.write_all(contents)?;
    file.sync_data()?;
    std::fs::rename(&temporary, path)
}
