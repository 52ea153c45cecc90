//! Feed documents to entries, with feed-rs.
//!
//! feed-rs reads RSS 0.9/1.0/2.0, Atom and JSON Feed through quick-xml, which resolves only XML's five
//! predefined entities and character references: an internal DTD's entities (billion laughs) and
//! external entities are never expanded, so a hostile feed costs no more than its own bytes.
//!
//! Document ids must be stable across polls, or every poll would enqueue the feed again: the entry's
//! GUID or Atom id as given (arXiv's made one per paper, see [`crate::arxiv`]), else its link made
//! canonical, else a hash of its title and text. (feed-rs's own fallback ends in a random UUID, so it is
//! replaced.)

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use docclass_types::{Document, Labels};
use serde::Serialize;

use crate::arxiv;
use crate::config::split_label;

/// Why a feed could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// Not a feed feed-rs (after [`crate::normalize`]) can read, or one whose items none could be read.
    #[error("not a readable RSS or Atom feed: {0}")]
    Unreadable(String),
    /// Refused as hostile (its document type declares entities).
    #[error("{0}")]
    Refused(String),
}

impl ParseError {
    /// A short, stable name of the failure, for metrics: `parse` or `refused`.
    pub fn kind(&self) -> &'static str {
        match self {
            ParseError::Unreadable(_) => "parse",
            ParseError::Refused(_) => "refused",
        }
    }
}

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
    /// The document's link: the entry's `alternate` link (or one without `rel`), an HTML one first;
    /// never an `edit`, `self`, `enclosure` or licence link. An RSS item without `<link>` whose GUID is a
    /// URL has that.
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
/// When the bytes are not a feed (malformed XML, HTML, an unknown format), or hold items of which none
/// could be read, or are refused as hostile.
pub fn parse_feed(bytes: &[u8], feed_url: &str) -> Result<Vec<FeedEntry>, ParseError> {
    parse_feed_as(bytes, None, feed_url)
}

/// [`parse_feed`], with the `charset` the HTTP answer gave (it overrides the document's own).
///
/// # Errors
/// As for [`parse_feed`].
pub fn parse_feed_as(bytes: &[u8], charset: Option<&str>, feed_url: &str) -> Result<Vec<FeedEntry>, ParseError> {
    let normalized =
        crate::normalize::normalize(bytes, charset).map_err(|refusal| ParseError::Refused(refusal.to_string()))?;
    let feed = feed_rs::parser::Builder::new()
        .base_uri(Some(feed_url))
        // Left empty here, filled in by `entry` from what is stable.
        .id_generator(|_, _, _| String::new())
        .build()
        .parse(normalized.text.as_bytes())
        .map_err(|error| ParseError::Unreadable(error.to_string()))?;
    // A document with items of which none could be read is a failure, not an empty feed: said so, it
    // shows in `docclass feeds status` instead of passing for a quiet feed.
    if feed.entries.is_empty() && normalized.items > 0 {
        return Err(ParseError::Unreadable(format!(
            "the document holds {} items or entries, and none could be read",
            normalized.items
        )));
    }
    let dialect = Dialect::of(&feed.feed_type);
    Ok(feed.entries.into_iter().map(|e| entry(e, dialect)).collect())
}

/// How a dialect marks up its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    /// Atom says which text is markup (`type`); `text` is text, whatever it holds.
    Atom,
    /// RSS descriptions are HTML; titles are text unless they hold HTML tags (feedparser's rule).
    Rss,
    /// JSON Feed separates `content_html` from `content_text`.
    Json,
}

impl Dialect {
    fn of(feed_type: &feed_rs::model::FeedType) -> Self {
        match feed_type {
            feed_rs::model::FeedType::Atom => Dialect::Atom,
            feed_rs::model::FeedType::JSON => Dialect::Json,
            _ => Dialect::Rss,
        }
    }
}

/// A text construct as plain text, by what its dialect says it is.
fn text_of(text: &feed_rs::model::Text, dialect: Dialect, is_title: bool) -> String {
    let markup = text.content_type.to_string().contains("html");
    let is_markup = match dialect {
        Dialect::Atom | Dialect::Json => markup,
        Dialect::Rss if is_title => markup || looks_like_html(&text.content),
        Dialect::Rss => true,
    };
    let text = if is_markup { plain_text(&text.content) } else { collapsed(&text.content) };
    windows_1252_controls(&text)
}

/// Whether plain-looking text holds HTML: a tag of an element that occurs in titles (`<b>`, `<i>`,
/// `<em>`…). `std::vector<int>` and "the <details> element" do not; feedparser draws the line there too.
fn looks_like_html(text: &str) -> bool {
    const ELEMENTS: [&str; 22] = [
        "a", "abbr", "b", "big", "br", "cite", "code", "em", "font", "i", "img", "p", "q", "s", "small", "span",
        "strike", "strong", "sub", "sup", "tt", "u",
    ];
    text.match_indices('<').any(|(at, _)| {
        let rest = text[at + 1..].trim_start_matches('/');
        let name: String = rest.chars().take_while(char::is_ascii_alphanumeric).collect();
        let after = rest[name.len()..].chars().next();
        ELEMENTS.contains(&name.to_ascii_lowercase().as_str()) && matches!(after, Some('>' | ' ' | '/'))
    })
}

/// Whitespace collapsed.
fn collapsed(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// C1 controls where windows-1252 has punctuation: `&#146;` in a feed means ’, as every browser (and
/// feedparser) reads it; left alone it would be stripped as a control character.
fn windows_1252_controls(text: &str) -> String {
    if !text.contains(|c: char| ('\u{80}'..='\u{9f}').contains(&c)) {
        return text.to_owned();
    }
    text.chars()
        .map(|c| match u32::from(c) {
            code @ 0x80..=0x9f => {
                let byte = [code as u8];
                let (decoded, _, _) = encoding_rs::WINDOWS_1252.decode(&byte);
                decoded.chars().next().unwrap_or(c)
            }
            _ => c,
        })
        .collect()
}

/// The document's link among an entry's links: `alternate` (or no `rel`), HTML first.
fn document_link(links: &[feed_rs::model::Link]) -> Option<String> {
    let alternate = |link: &&feed_rs::model::Link| {
        link.rel.as_deref().is_none_or(|rel| rel.trim().eq_ignore_ascii_case("alternate"))
    };
    let html = |link: &&feed_rs::model::Link| link.media_type.as_deref().is_none_or(|kind| kind.contains("html"));
    let usable =
        |link: &&feed_rs::model::Link| !link.href.starts_with(crate::normalize::NO_LINK) && !link.href.is_empty();
    let candidates: Vec<&feed_rs::model::Link> = links.iter().filter(usable).filter(alternate).collect();
    candidates.iter().copied().find(html).or(candidates.first().copied()).map(|link| link.href.clone())
}

fn entry(entry: feed_rs::model::Entry, dialect: Dialect) -> FeedEntry {
    let title = entry.title.as_ref().map(|title| text_of(title, dialect, true)).unwrap_or_default();
    let body = match (&entry.summary, &entry.content) {
        (Some(summary), _) => Some(text_of(summary, dialect, false)),
        (None, Some(content)) => content.body.as_ref().map(|body| {
            let kind = content.content_type.to_string();
            let markup = kind.contains("html") || (dialect == Dialect::Rss && kind.contains("plain"));
            windows_1252_controls(&if markup { plain_text(body) } else { collapsed(body) })
        }),
        (None, None) => None,
    };
    let body = body.map(|body| arxiv::without_announcement(&body).to_owned()).unwrap_or_default();
    let authors: Vec<&str> = entry.authors.iter().map(|person| person.name.trim()).filter(|n| !n.is_empty()).collect();
    let text = if authors.is_empty() { body } else { format!("{body}\n\nAuthors: {}", authors.join(", ")) };
    let text = text.trim().to_owned();
    // An RSS item with no link whose GUID is a URL (a permalink, as RSS 2.0 has it) links there.
    let url = document_link(&entry.links).or_else(|| {
        let guid = entry.id.trim();
        (dialect == Dialect::Rss && (guid.starts_with("http://") || guid.starts_with("https://")))
            .then(|| guid.to_owned())
    });
    // An RSS 1.0 item's `rdf:about`, where it had no link of its own (see `normalize`).
    let rdf_about = entry
        .links
        .iter()
        .find_map(|link| link.href.strip_prefix(crate::normalize::NO_LINK))
        .filter(|about| !about.trim().is_empty())
        .map(|about| about.trim().to_owned());
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
        (None, "") => rdf_about
            .or_else(|| url.as_deref().and_then(canonical_url))
            .unwrap_or_else(|| crate::read::content_id(&title, &text)),
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

/// A link as an id: tracking parameters (`utm_*`) dropped, scheme and host lower-cased (by the `url`
/// crate's parsing), so the same page reached through two campaigns is one document. The fragment is
/// kept: pages that list several entries as anchors of one page (`/notes#one`, `/notes#two`) are
/// several documents.
fn canonical_url(link: &str) -> Option<String> {
    let mut url = url::Url::parse(link).ok()?;
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
    let text = if html.contains('<') || has_entity_reference(html) {
        nanohtml2text::html2text(&without_link_targets(html))
    } else {
        html.to_owned()
    };
    collapsed(&text)
}

/// `<a href="…">` as `<a>`: nanohtml2text writes a link's target after its words ("see the paper
/// (https://…)"), which is no part of the document's text.
fn without_link_targets(html: &str) -> Cow<'_, str> {
    let opens_link = |rest: &str| {
        let mut chars = rest.chars();
        matches!(chars.next(), Some('a' | 'A')) && matches!(chars.next(), Some(c) if c.is_whitespace())
    };
    if !html.match_indices('<').any(|(at, _)| opens_link(&html[at + 1..])) {
        return Cow::Borrowed(html);
    }
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(at) = rest.find('<') {
        out.push_str(&rest[..at]);
        let tag = &rest[at..];
        if opens_link(&tag[1..]) {
            match tag.find('>') {
                Some(end) => {
                    out.push_str("<a>");
                    rest = &tag[end + 1..];
                }
                None => {
                    out.push_str(tag);
                    rest = "";
                }
            }
        } else {
            out.push('<');
            rest = &tag[1..];
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
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
        assert_eq!(first[0].id, "https://example.org/a?p=1#top");
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

    /// A document with entries of which none could be read is a failure, not an empty feed.
    #[test]
    fn entries_that_cannot_be_read_fail_the_feed_instead_of_passing_for_none() {
        let wrong_namespace = br#"<feed xmlns="http://example.org/not-atom"><title>t</title>
            <entry><id>e1</id><title>Lost</title></entry></feed>"#;
        let error = parse_feed(wrong_namespace, "https://example.org/feed").unwrap_err();
        assert!(error.to_string().contains("holds 1 items or entries, and none could be read"), "{error}");
        assert_eq!(error.kind(), "parse");
        let empty = br#"<rss version="2.0"><channel><title>t</title></channel></rss>"#;
        assert!(parse_feed(empty, "https://example.org/feed").unwrap().is_empty(), "an empty feed is no error");
    }

    /// Text is text unless the feed says it is markup: Atom `type="text"` keeps its angle brackets;
    /// an RSS title is markup only when it holds HTML tags; link targets do not enter the text.
    #[test]
    fn only_markup_loses_its_tags() {
        let atom = br#"<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>f</id>
            <entry><id>e1</id><title type="text">std::vector&lt;int&gt;</title><link href="https://example.org/1"/>
            <summary type="html">See &lt;a href="https://example.org/paper"&gt;the paper&lt;/a&gt;.</summary></entry></feed>"#;
        let entries = parse_feed(atom, "https://example.org/feed").unwrap();
        assert_eq!(entries[0].title, "std::vector<int>");
        assert_eq!(entries[0].text, "See the paper.");
        let rss = br#"<rss version="2.0"><channel><title>t</title>
            <item><title>Bold &lt;b&gt;move&lt;/b&gt;</title><link>https://example.org/1</link></item>
            <item><title>The &lt;details&gt; element</title><link>https://example.org/2</link></item>
            <item><title>It&#146;s</title><link>https://example.org/3</link></item></channel></rss>"#;
        let titles: Vec<String> =
            parse_feed(rss, "https://example.org/feed").unwrap().into_iter().map(|e| e.title).collect();
        assert_eq!(titles, ["Bold move", "The <details> element", "It\u{2019}s"]);
    }

    #[test]
    fn refuses_what_is_not_a_feed() {
        assert!(parse_feed(b"<html><body>hi</body></html>", "https://example.org/").is_err());
        assert!(parse_feed(b"<rss><channel><item><title>unclosed", "https://example.org/").is_err());
    }
}
