//! Feed documents to entries, with feed-rs.
//!
//! feed-rs reads RSS 0.9/1.0/2.0, Atom and JSON Feed through quick-xml, which resolves only XML's five
//! predefined entities and character references: an internal DTD's entities (billion laughs) and
//! external entities are never expanded, so a hostile feed costs no more than its own bytes.
//!
//! Document ids must be stable across polls, or every poll would enqueue the feed again: the entry's
//! GUID or Atom id as given (arXiv's made one per paper, see [`super::arxiv`]), else its link made
//! canonical, else a hash of its title and text. (feed-rs's own fallback ends in a random UUID, so it is
//! replaced.)

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use docclass_types::{Document, Labels};
use serde::Serialize;

use super::arxiv;
use super::config::split_label;

/// Why a feed could not be read.
#[derive(Debug, thiserror::Error)]
#[error("not a readable RSS or Atom feed: {0}")]
pub struct ParseError(String);

/// One entry of a feed, as text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeedEntry {
    /// The entry's GUID or Atom id (an arXiv paper's as `arXiv:2611.00001`, whichever feed and version);
    /// else its canonical link; else `sha256:` and a hash of the title and text.
    pub id: String,
    /// The title, as plain text.
    pub title: String,
    /// The summary or content (an arXiv abstract), as plain text, with the authors appended.
    pub text: String,
    /// The entry's first link.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Publication time, else the last update.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<DateTime<Utc>>,
    /// The category the feed gives first (arXiv lists the primary category first), as a topic…
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// …and a subtopic, when the category has one: arXiv's `cs.LG` is topic `cs`, subtopic `cs.LG`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subtopic: Option<String>,
    /// An arXiv paper's categories as the feed lists them, primary first (cross-lists after); empty for
    /// other feeds, whose categories are free-form tags rather than labels.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
}

impl FeedEntry {
    /// The document to enqueue; `source` names the feed.
    pub fn into_document(self, source: &str) -> Document {
        let labels = (self.topic.is_some() || self.subtopic.is_some()).then_some(Labels {
            topic: self.topic,
            subtopic: self.subtopic,
            categories: self.categories,
        });
        Document {
            id: self.id,
            title: self.title,
            text: self.text,
            source: source.to_owned(),
            url: self.url,
            published: self.published,
            ingested_at: Utc::now(),
            labels,
        }
    }
}

/// The entries of a feed document. `feed_url` resolves relative links.
///
/// # Errors
/// When the bytes are not a feed (malformed XML, HTML, an unknown format).
pub fn parse_feed(bytes: &[u8], feed_url: &str) -> Result<Vec<FeedEntry>, ParseError> {
    let feed = feed_rs::parser::Builder::new()
        .base_uri(Some(feed_url))
        // Left empty here, filled in by `entry` from what is stable.
        .id_generator(|_, _, _| String::new())
        .build()
        .parse(utf8_cleaned(bytes).as_ref())
        .map_err(|error| ParseError(error.to_string()))?;
    Ok(feed.entries.into_iter().map(entry).collect())
}

/// A feed that says (or implies) UTF-8 but holds invalid sequences is common in the wild (one
/// mis-encoded title); quick-xml would refuse the whole feed. Such bytes become U+FFFD instead. Feeds
/// declaring another encoding are left to the parser, which decodes them.
fn utf8_cleaned(bytes: &[u8]) -> Cow<'_, [u8]> {
    if std::str::from_utf8(bytes).is_ok() || declares_other_encoding(bytes) {
        return Cow::Borrowed(bytes);
    }
    Cow::Owned(String::from_utf8_lossy(bytes).into_owned().into_bytes())
}

fn declares_other_encoding(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(200)];
    let head = String::from_utf8_lossy(head).to_ascii_lowercase();
    let Some(declaration) = head.strip_prefix("<?xml").and_then(|rest| rest.split("?>").next()) else {
        return false;
    };
    match declaration.split_once("encoding=") {
        Some((_, value)) => {
            let name = value.trim_start_matches(['"', '\'']).split(['"', '\'']).next().unwrap_or_default();
            !matches!(name, "utf-8" | "utf8")
        }
        None => false,
    }
}

fn entry(entry: feed_rs::model::Entry) -> FeedEntry {
    let title = entry.title.map(|title| plain_text(&title.content)).unwrap_or_default();
    let body = entry
        .summary
        .map(|summary| summary.content)
        .or_else(|| entry.content.and_then(|content| content.body))
        .map(|body| arxiv::without_announcement(&plain_text(&body)).to_owned())
        .unwrap_or_default();
    let authors: Vec<&str> = entry.authors.iter().map(|person| person.name.trim()).filter(|n| !n.is_empty()).collect();
    let text = if authors.is_empty() { body } else { format!("{body}\n\nAuthors: {}", authors.join(", ")) };
    let text = text.trim().to_owned();
    let url = entry.links.first().map(|link| link.href.clone());
    let paper = match entry.id.trim() {
        "" => url.as_deref().and_then(arxiv::paper_id),
        given => arxiv::paper_id(given),
    };
    let category = entry.categories.first().map(|category| category.term.trim()).filter(|t| !t.is_empty());
    let (topic, subtopic) = match category {
        Some(category) => {
            let (topic, subtopic) = if paper.is_some() { arxiv::labels(category) } else { split_label(category) };
            (Some(topic), subtopic)
        }
        None => (None, None),
    };
    let categories = match paper {
        Some(_) => {
            let mut listed: Vec<String> = Vec::new();
            for term in entry.categories.iter().map(|category| category.term.trim()).filter(|t| !t.is_empty()) {
                if !listed.iter().any(|seen| seen == term) {
                    listed.push(term.to_owned());
                }
            }
            listed
        }
        None => Vec::new(),
    };
    let id = bounded_id(match (paper, entry.id.trim()) {
        (Some(paper), _) => paper,
        (None, "") => url.as_deref().and_then(canonical_url).unwrap_or_else(|| crate::read::content_id(&title, &text)),
        (None, given) => given.to_owned(),
    });
    FeedEntry { id, title, text, url, published: entry.published.or(entry.updated), topic, subtopic, categories }
}

/// A GUID (or link) longer than a table key may be is still a document: its hash stands for it, as
/// stable across polls as the GUID itself. (Shorter ids are kept as given: readable in the table.)
fn bounded_id(id: String) -> String {
    if id.len() <= docclass_types::Limits::MAX_ID_BYTES {
        return id;
    }
    crate::read::content_id(&id, "")
}

/// A link as an id: fragment and tracking parameters (`utm_*`) dropped, scheme and host lower-cased
/// (by the `url` crate's parsing), so the same page reached through two campaigns is one document.
fn canonical_url(link: &str) -> Option<String> {
    let mut url = url::Url::parse(link).ok()?;
    url.set_fragment(None);
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(name, _)| !name.starts_with("utm_"))
        .map(|(n, v)| (n.into_owned(), v.into_owned()))
        .collect();
    if kept.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(kept);
    }
    Some(url.into())
}

/// HTML (or plain text) to plain text: tags dropped, entities decoded, whitespace collapsed. RSS
/// summaries are often HTML; the classifier wants words. Text with no tag and no complete entity
/// reference is left as it is: HTML's legacy entities without `;` would otherwise turn a plain
/// "&lE" into "≦" (found by the property tests).
fn plain_text(html: &str) -> String {
    let text =
        if html.contains('<') || has_entity_reference(html) { nanohtml2text::html2text(html) } else { html.to_owned() };
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether `text` holds `&name;` or `&#number;`.
fn has_entity_reference(text: &str) -> bool {
    text.match_indices('&').any(|(at, _)| {
        let rest = &text[at + 1..];
        let name_length = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '#')).unwrap_or(rest.len());
        name_length > 0 && rest[name_length..].starts_with(';')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rss_with_html_summaries() {
        let rss = br#"<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
            <item><guid>item-1</guid><title>First &amp; best</title><link>https://example.org/1</link>
            <description>&lt;p&gt;Hello &lt;b&gt;world&lt;/b&gt;&lt;/p&gt;</description>
            <pubDate>Tue, 24 Nov 2026 10:00:00 GMT</pubDate><category>cs.LG</category></item>
            </channel></rss>"#;
        let entries = parse_feed(rss, "https://example.org/feed").unwrap();
        assert_eq!(entries.len(), 1);
        let entry = &entries[0];
        assert_eq!(
            (entry.id.as_str(), entry.title.as_str(), entry.text.as_str()),
            ("item-1", "First & best", "Hello world")
        );
        assert_eq!(entry.url.as_deref(), Some("https://example.org/1"));
        assert_eq!((entry.topic.as_deref(), entry.subtopic.as_deref()), (Some("cs"), Some("cs.LG")));
        assert!(entry.published.is_some());
    }

    #[test]
    fn entries_without_guid_get_ids_that_do_not_change_between_polls() {
        let rss = br#"<rss version="2.0"><channel><title>t</title>
            <item><title>Linked</title><link>https://Example.org/a?utm_source=x&amp;p=1#top</link></item>
            <item><title>Bare</title><description>Only words</description></item>
            </channel></rss>"#;
        let first = parse_feed(rss, "https://example.org/feed").unwrap();
        let second = parse_feed(rss, "https://example.org/feed").unwrap();
        assert_eq!(first, second);
        assert_eq!(first[0].id, "https://example.org/a?p=1");
        assert!(first[1].id.starts_with("sha256:"), "{}", first[1].id);
    }

    /// A GUID longer than DynamoDB takes as a key would block the feed on the seen store, poll after
    /// poll; its hash stands in, stable between polls.
    #[test]
    fn a_guid_too_long_for_a_key_becomes_a_stable_hash() {
        let guid = "g".repeat(3000);
        let rss = format!(
            r#"<rss version="2.0"><channel><title>t</title><item><guid>{guid}</guid><title>Long</title></item>
            <item><guid>short</guid><title>Short</title></item></channel></rss>"#
        );
        let first = parse_feed(rss.as_bytes(), "https://example.org/feed").unwrap();
        let second = parse_feed(rss.as_bytes(), "https://example.org/feed").unwrap();
        assert!(first[0].id.starts_with("sha256:") && first[0].id.len() < 100, "{}", first[0].id);
        assert_eq!(first[0].id, second[0].id);
        assert_eq!(first[1].id, "short");
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        let mut rss = b"<rss version=\"2.0\"><channel><title>t</title><item><guid>g</guid><title>caf".to_vec();
        rss.extend_from_slice(&[0xE9, 0xFF]);
        rss.extend_from_slice(b"</title></item></channel></rss>");
        let entries = parse_feed(&rss, "https://example.org/feed").unwrap();
        assert_eq!(entries[0].title, "caf\u{FFFD}\u{FFFD}");
        let latin1 = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><rss version=\"2.0\"><channel><title>t</title><item><guid>g</guid><title>caf\xE9</title></item></channel></rss>";
        assert_eq!(parse_feed(latin1, "https://example.org/feed").unwrap()[0].title, "caf\u{e9}");
    }

    #[test]
    fn refuses_what_is_not_a_feed() {
        assert!(parse_feed(b"<html><body>hi</body></html>", "https://example.org/").is_err());
        assert!(parse_feed(b"<rss><channel><item><title>unclosed", "https://example.org/").is_err());
    }
}
