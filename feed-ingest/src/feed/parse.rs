//! Feed documents to entries, with feed-rs.
//!
//! feed-rs reads RSS 0.9/1.0/2.0, Atom and JSON Feed through quick-xml, which resolves only XML's five
//! predefined entities and character references: an internal DTD's entities (billion laughs) and
//! external entities are never expanded, so a hostile feed costs no more than its own bytes.

use chrono::{DateTime, Utc};
use docclass_types::{Document, Labels};
use serde::Serialize;

/// Why a feed could not be read.
#[derive(Debug, thiserror::Error)]
#[error("not a readable RSS or Atom feed: {0}")]
pub struct ParseError(String);

/// One entry of a feed, as text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeedEntry {
    /// The entry's GUID or Atom id; feed-rs derives a stable one from the link and title when the feed
    /// gives none.
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
}

impl FeedEntry {
    /// The document to enqueue; `source` names the feed.
    pub fn into_document(self, source: &str) -> Document {
        let labels = (self.topic.is_some() || self.subtopic.is_some())
            .then_some(Labels { topic: self.topic, subtopic: self.subtopic });
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
        .build()
        .parse(bytes)
        .map_err(|error| ParseError(error.to_string()))?;
    Ok(feed.entries.into_iter().map(entry).collect())
}

fn entry(entry: feed_rs::model::Entry) -> FeedEntry {
    let title = entry.title.map(|title| plain_text(&title.content)).unwrap_or_default();
    let body = entry
        .summary
        .map(|summary| summary.content)
        .or_else(|| entry.content.and_then(|content| content.body))
        .map(|body| plain_text(&body))
        .unwrap_or_default();
    let authors: Vec<&str> = entry.authors.iter().map(|person| person.name.trim()).filter(|n| !n.is_empty()).collect();
    let text = if authors.is_empty() { body } else { format!("{body}\n\nAuthors: {}", authors.join(", ")) };
    let category = entry.categories.first().map(|category| category.term.trim().to_owned()).filter(|t| !t.is_empty());
    let (topic, subtopic) = match category {
        Some(term) => match term.split_once('.') {
            Some((topic, _)) => (Some(topic.to_owned()), Some(term)),
            None => (Some(term), None),
        },
        None => (None, None),
    };
    FeedEntry {
        id: entry.id,
        title,
        text: text.trim().to_owned(),
        url: entry.links.first().map(|link| link.href.clone()),
        published: entry.published.or(entry.updated),
        topic,
        subtopic,
    }
}

/// HTML (or plain text) to plain text: tags dropped, entities decoded, whitespace collapsed. RSS
/// summaries are often HTML; the classifier wants words.
fn plain_text(html: &str) -> String {
    let text = if html.contains('<') || html.contains('&') { nanohtml2text::html2text(html) } else { html.to_owned() };
    text.split_whitespace().collect::<Vec<_>>().join(" ")
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
    fn refuses_what_is_not_a_feed() {
        assert!(parse_feed(b"<html><body>hi</body></html>", "https://example.org/").is_err());
        assert!(parse_feed(b"<rss><channel><item><title>unclosed", "https://example.org/").is_err());
    }
}
