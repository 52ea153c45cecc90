//! The feed parser beside feedparser (Python's feed parser, the one most of the web's feed tools stand on)
//! over the corpus in `tests/corpus/`: small hand-made feeds of every dialect and quirk the wild serves
//! — RSS 0.90 to 2.01 and versionless, RSS 1.0, Atom 0.3 and 1.0, JSON Feed, odd text types, links of
//! every `rel`, `xml:base`, Dublin Core, fragments, windows-1252, UTF-16, a charset only the HTTP header
//! gives. Where feedparser reads entries, ours must read the same number, with the same titles
//! (as text) and links, except where [`EXCEPTIONS`] says why not.
//!
//! feedparser runs in `tests/feedparser_dump.py` (`pip install feedparser`; `scripts/test.sh` installs
//! it). Without it the test is skipped with a warning, except on CI, where it fails.

use std::collections::BTreeMap;
use std::path::Path;

use feeds::parse_feed_as;

/// The cases where feed-ingest and feedparser differ on purpose.
const EXCEPTIONS: &[(&str, &str)] = &[
    (
        "billion-laughs.xml",
        "its document type declares entities: feed-ingest refuses the feed (as defusedxml does), \
         feedparser reads one entry titled `&lol3;`",
    ),
    (
        "cdf-channel.xml",
        "Microsoft's Channel Definition Format (1997): feed-ingest refuses it by name, feedparser reads it",
    ),
    ("json-feed-1.0.json", "feedparser does not read JSON Feed; feed-ingest does"),
    ("json-feed-1.1.json", "feedparser does not read JSON Feed; feed-ingest does"),
    (
        "rss-invalid-utf8.xml",
        "one byte that is not UTF-8 in a feed that says UTF-8: feedparser reads the whole document as \
         windows-1252 instead (`ÿ`), feed-ingest keeps UTF-8 and replaces that byte (U+FFFD)",
    ),
];

/// The HTTP `charset` some cases are served with (as in `feedparser_dump.py`'s `HEADERS`).
fn charset(name: &str) -> Option<&'static str> {
    (name == "rss-header-1252.xml").then_some("windows-1252")
}

#[derive(serde::Deserialize)]
struct Answer {
    entries: Vec<Entry>,
}

#[derive(serde::Deserialize, Debug, PartialEq)]
struct Entry {
    title: String,
    link: Option<String>,
}

#[test]
fn feeds_reads_what_feedparser_reads() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/feedparser_dump.py");
    let output = std::process::Command::new("python3").arg(&script).arg(&corpus).output();
    let output = match output {
        Ok(output) if output.status.success() => output,
        failed => {
            let why = match failed {
                Ok(output) => String::from_utf8_lossy(&output.stderr).into_owned(),
                Err(error) => error.to_string(),
            };
            assert!(std::env::var_os("CI").is_none(), "feedparser is needed on CI: {why}");
            eprintln!("SKIPPED: feedparser could not run (pip install feedparser): {why}");
            return;
        }
    };
    let feedparser: BTreeMap<String, Answer> = serde_json::from_slice(&output.stdout).unwrap();
    let exceptions: BTreeMap<&str, &str> = EXCEPTIONS.iter().copied().collect();
    let (mut agreed, mut entries_agreed, mut entries) = (0, 0, 0);
    let mut disagreements = Vec::new();
    let mut stale = Vec::new();
    for (name, answer) in &feedparser {
        let bytes = std::fs::read(corpus.join(name)).unwrap();
        let ours: Vec<Entry> = match parse_feed_as(&bytes, charset(name), "https://example.org/feed") {
            Ok(parsed) => parsed.into_iter().map(|e| Entry { title: e.title, link: e.url }).collect(),
            Err(error) => {
                disagreements.push(format!("{name}: feed-ingest refused it: {error}"));
                Vec::new()
            }
        };
        entries += answer.entries.len();
        entries_agreed += answer.entries.iter().zip(&ours).filter(|(theirs, ours)| theirs == ours).count();
        if ours == answer.entries {
            agreed += 1;
            if exceptions.contains_key(name.as_str()) {
                stale.push(format!("{name} agrees now: drop its exception"));
            }
        } else if !exceptions.contains_key(name.as_str()) {
            disagreements.push(format!("{name}:\n  feedparser  {:?}\n  feed-ingest {ours:?}", answer.entries));
        }
    }
    eprintln!(
        "agreement with feedparser: {agreed} of {} feeds, {entries_agreed} of {entries} entries (title and link); \
         {} documented exceptions",
        feedparser.len(),
        EXCEPTIONS.len()
    );
    disagreements.retain(|line| !exceptions.keys().any(|name| line.starts_with(name)));
    disagreements.extend(stale);
    assert!(disagreements.is_empty(), "feed-ingest and feedparser disagree:\n{}", disagreements.join("\n"));
    for name in exceptions.keys() {
        assert!(feedparser.contains_key(*name), "exception {name} names no corpus file");
    }
}
