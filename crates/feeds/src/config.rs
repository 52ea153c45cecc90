//! The feed list: which feeds to poll, how often, and how their categories become labels.
//!
//! ```toml
//! [defaults]
//! interval = "15m"       # how often each feed is polled (humantime: "90s", "1h 30m")
//! jitter = 0.1           # each wait is stretched or shrunk by up to this fraction
//! max_backoff = "6h"     # the longest wait after repeated failures
//!
//! [[feed]]
//! url = "https://rss.arxiv.org/atom/cs"
//! interval = "1h"        # overrides the default
//!
//! [[feed]]
//! url = "https://example.org/medicine.rss"
//! unmapped = "drop"      # categories not in `labels` give no label (default "keep": as the feed says)
//! [feed.labels]          # feed category → label; the part before the first '.' is the topic
//! "Cardiology" = "sci.med"
//! "Orbits" = "sci.space"
//! ```

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, ensure};
use serde::Deserialize;

use crate::FeedEntry;

/// The shortest interval a feed may be polled at: more often is a denial of service on its server.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// The longest interval (and backoff) accepted: thirty days. Longer is a typo more often than a wish,
/// and a wait beyond any clock's range would stop the feed's task.
pub const MAX_INTERVAL: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// `interval` within [`MIN_INTERVAL`, `MAX_INTERVAL`], or why not; `what` names it.
///
/// # Errors
/// When it is outside.
pub fn check_interval(what: &str, interval: Duration) -> anyhow::Result<()> {
    ensure!(interval >= MIN_INTERVAL, "{what} is polled more than once a second");
    ensure!(
        interval <= MAX_INTERVAL,
        "{what}: {} is longer than the longest accepted, {}",
        humantime::format_duration(interval),
        humantime::format_duration(MAX_INTERVAL)
    );
    Ok(())
}

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedList {
    /// Settings every feed shares.
    #[serde(default)]
    pub defaults: FeedDefaults,
    /// The feeds, as `[[feed]]` tables.
    #[serde(rename = "feed", default)]
    feeds: Vec<RawFeed>,
}

/// `[defaults]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeedDefaults {
    /// How often a feed is polled unless it says otherwise.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Each wait is multiplied by a random factor in [1 − jitter, 1 + jitter], so feeds started together
    /// drift apart instead of hitting their servers (and the queue) in step.
    pub jitter: f64,
    /// After `n` failures in a row a feed waits `interval × 2ⁿ`, up to this.
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
}

impl Default for FeedDefaults {
    fn default() -> Self {
        Self { interval: Duration::from_secs(15 * 60), jitter: 0.1, max_backoff: Duration::from_secs(6 * 60 * 60) }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeed {
    url: String,
    #[serde(default, with = "humantime_serde")]
    interval: Option<Duration>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    unmapped: Unmapped,
}

/// What happens to a category that `labels` does not name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unmapped {
    /// The category is the label, as the feed gives it (arXiv's `cs.LG` → topic `cs`, subtopic `cs.LG`).
    #[default]
    Keep,
    /// The entry carries no label.
    Drop,
}

/// One feed to poll.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedSpec {
    /// Where it is (http or https).
    pub url: String,
    /// How often to poll it.
    pub interval: Duration,
    /// How its categories become labels.
    pub labels: LabelMap,
}

impl FeedSpec {
    /// A feed polled every `interval`, its categories kept as labels.
    pub fn new(url: impl Into<String>, interval: Duration) -> Self {
        Self { url: url.into(), interval, labels: LabelMap::default() }
    }

    /// The URL as it may be shown — in logs, `/metrics`, `/feeds`, `docclass feeds status` and every
    /// document's `source` (so the result table): [`redact_url`]. `url` itself is only fetched.
    pub fn shown(&self) -> String {
        redact_url(&self.url)
    }
}

/// Query keys whose values are secrets, by any part of the key (`api_key`, `access_token`, `sig`, …).
const SECRET_KEYS: [&str; 10] =
    ["key", "token", "secret", "password", "passwd", "pwd", "auth", "sig", "session", "credential"];

/// `url` without what must not be shown: its user and password are dropped, and the value of each query
/// parameter whose name says secret ([`SECRET_KEYS`]) becomes `***`. A URL with nothing to hide comes
/// back exactly as given (not re-encoded), so sources stay as users wrote them.
pub fn redact_url(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else { return url.to_owned() };
    let mut changed = false;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        // Infallible for http(s) URLs, which have a host; anything else is left to the checks below.
        changed |= parsed.set_username("").is_ok() && parsed.set_password(None).is_ok();
    }
    let secret = |key: &str| {
        let key = key.to_ascii_lowercase();
        SECRET_KEYS.iter().any(|word| key.contains(word))
    };
    if parsed.query_pairs().any(|(key, _)| secret(&key)) {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(key, value)| {
                let value = if secret(&key) { "***".to_owned() } else { value.into_owned() };
                (key.into_owned(), value)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
        changed = true;
    }
    if changed { parsed.to_string() } else { url.to_owned() }
}

/// Feed categories → labels.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelMap {
    labels: BTreeMap<String, String>,
    unmapped: Unmapped,
}

impl LabelMap {
    /// Relabels `entry` from its category (the subtopic the parser read, else the topic).
    pub fn apply(&self, entry: &mut FeedEntry) {
        let Some(category) = entry.subtopic.as_ref().or(entry.topic.as_ref()) else { return };
        match (self.labels.get(category), self.unmapped) {
            (Some(label), _) => {
                let (topic, subtopic) = split_label(label);
                entry.topic = Some(topic);
                entry.subtopic = subtopic;
            }
            (None, Unmapped::Keep) => {}
            (None, Unmapped::Drop) => (entry.topic, entry.subtopic) = (None, None),
        }
    }
}

/// `sci.med` is topic `sci`, subtopic `sci.med`; a label without a dot is a topic alone.
pub(crate) fn split_label(label: &str) -> (String, Option<String>) {
    match label.split_once('.') {
        Some((topic, _)) => (topic.to_owned(), Some(label.to_owned())),
        None => (label.to_owned(), None),
    }
}

impl FeedList {
    /// Reads and checks the file at `path`.
    ///
    /// # Errors
    /// When it cannot be read, is not valid TOML of this shape, names a feed twice, names a URL that is
    /// not http(s), or sets an interval under a second or a jitter outside [0, 1).
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in the feed list {}", path.display()))
    }

    /// Parses and checks a feed list; see [`FeedList::load`].
    ///
    /// # Errors
    /// As for [`FeedList::load`].
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let list: FeedList = toml::from_str(text)?;
        ensure!((0.0..1.0).contains(&list.defaults.jitter), "jitter must be in [0, 1), not {}", list.defaults.jitter);
        check_interval("the default interval", list.defaults.interval)?;
        check_interval("max_backoff", list.defaults.max_backoff)?;
        let mut urls = HashSet::new();
        for feed in list.feeds() {
            let scheme =
                url::Url::parse(&feed.url).with_context(|| format!("feed URL {:?}", feed.url))?.scheme().to_owned();
            ensure!(scheme == "http" || scheme == "https", "feed {} is not http or https", feed.url);
            check_interval(&format!("feed {}", feed.url), feed.interval)?;
            ensure!(urls.insert(feed.url.clone()), "feed {} is listed twice", feed.url);
        }
        Ok(list)
    }

    /// The feeds, defaults applied.
    pub fn feeds(&self) -> Vec<FeedSpec> {
        self.feeds
            .iter()
            .map(|raw| FeedSpec {
                url: raw.url.clone(),
                interval: raw.interval.unwrap_or(self.defaults.interval),
                labels: LabelMap { labels: raw.labels.clone(), unmapped: raw.unmapped },
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn urls_are_shown_without_credentials_or_secret_query_values() {
        assert_eq!(
            redact_url("https://user:hunter2@feeds.example.org/rss?api_key=abc&cat=cs.LG&Access_Token=t"),
            "https://feeds.example.org/rss?api_key=***&cat=cs.LG&Access_Token=***"
        );
        let plain = "http://export.arxiv.org/api/query?search_query=cat:cs.LG&max_results=5";
        assert_eq!(redact_url(plain), plain, "nothing to hide: exactly as given");
        assert_eq!(redact_url("not a url"), "not a url");
        assert_eq!(
            FeedSpec::new("https://u:p@example.org/f", Duration::from_secs(60)).shown(),
            "https://example.org/f"
        );
    }

    use super::*;

    fn entry(category: &str) -> FeedEntry {
        let (topic, subtopic) = split_label(category);
        FeedEntry {
            id: "e".into(),
            title: "t".into(),
            text: String::new(),
            url: None,
            published: None,
            topic: Some(topic),
            subtopic,
            categories: Vec::new(),
        }
    }

    #[test]
    fn reads_the_documented_example() {
        let doc = include_str!("config.rs");
        let example: String = doc
            .lines()
            .skip_while(|line| !line.starts_with("//! ```toml"))
            .skip(1)
            .take_while(|line| !line.starts_with("//! ```"))
            .map(|line| format!("{}\n", line.trim_start_matches("//!").trim_start()))
            .collect();
        let list = FeedList::parse(&example).unwrap();
        let feeds = list.feeds();
        assert_eq!(feeds.len(), 2);
        assert_eq!(feeds[0].interval, Duration::from_secs(3600));
        assert_eq!(feeds[1].interval, Duration::from_secs(15 * 60));

        let mut mapped = entry("Cardiology");
        feeds[1].labels.apply(&mut mapped);
        assert_eq!((mapped.topic.as_deref(), mapped.subtopic.as_deref()), (Some("sci"), Some("sci.med")));
        let mut dropped = entry("Gossip");
        feeds[1].labels.apply(&mut dropped);
        assert_eq!((dropped.topic, dropped.subtopic), (None, None));
        let mut kept = entry("cs.LG");
        feeds[0].labels.apply(&mut kept);
        assert_eq!((kept.topic.as_deref(), kept.subtopic.as_deref()), (Some("cs"), Some("cs.LG")));
    }

    #[test]
    fn refuses_what_would_misbehave() {
        for (text, expected) in [
            ("[[feed]]\nurl = \"file:///etc/passwd\"", "not http or https"),
            ("[[feed]]\nurl = \"https://a.example/\"\n[[feed]]\nurl = \"https://a.example/\"", "listed twice"),
            ("[[feed]]\nurl = \"https://a.example/\"\ninterval = \"10ms\"", "more than once a second"),
            ("[defaults]\njitter = 2.0", "jitter"),
            ("[[feed]]\nurl = \"https://a.example/\"\ninterval = \"18000000000000000000s\"", "longer than the longest"),
            ("[defaults]\ninterval = \"400days\"", "longer than the longest"),
            ("[defaults]\nmax_backoff = \"0s\"", "max_backoff"),
            ("[[feed]]\nurl = \"https://a.example/\"\nintervall = \"1h\"", "unknown field"),
        ] {
            let error = format!("{:#}", FeedList::parse(text).unwrap_err());
            assert!(error.contains(expected), "{text}: {error}");
        }
    }
}
