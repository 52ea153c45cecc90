//! One OAI-PMH `ListRecords` answer, read into papers.
//!
//! arXiv serves two metadata formats that give categories as codes (`oai_dc` gives names): `arXiv`
//! (`<id>`, `<created>`, `<title>`, `<categories>`, `<abstract>`) and `arXivRaw` (the same, with the
//! first submission date in `<version version="v1"><date>`). `<categories>` lists the primary first.
//! A `noRecordsMatch` error is an empty set, not a failure (OAI-PMH 2.0 §3.6).

use quick_xml::Reader;
use quick_xml::events::Event;
use serde::Serialize;

/// The metadata formats that carry arXiv's category codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataFormat {
    /// `metadataPrefix=arXiv`.
    Arxiv,
    /// `metadataPrefix=arXivRaw`.
    ArxivRaw,
}

impl MetadataFormat {
    /// The `metadataPrefix` value.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Arxiv => "arXiv",
            Self::ArxivRaw => "arXivRaw",
        }
    }
}

/// A paper as one JSON Lines record, in the shape of the labelled corpora.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HarvestedPaper {
    /// `arXiv:<identifier>`, the form feed-ingest gives the same paper.
    pub id: String,
    /// Title, white space folded.
    pub title: String,
    /// Abstract, white space folded.
    pub text: String,
    /// The primary category's group (`physics` for every physics archive).
    pub topic: String,
    /// The primary category.
    pub subtopic: String,
    /// Every category, primary first.
    pub categories: Vec<String>,
    /// First submission date (`2025-01-02`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    /// The abstract page.
    pub url: String,
    /// Always `arxiv`.
    pub source: &'static str,
}

/// One answer: its papers and where the list goes on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    /// The papers of this page (deleted records are left out).
    pub papers: Vec<HarvestedPaper>,
    /// Deleted records and records without a category or an abstract, passed over.
    pub skipped: usize,
    /// The token for the next page; `None` on the last.
    pub resumption_token: Option<String>,
    /// How many records the whole list holds, when the server says.
    pub complete_list_size: Option<u64>,
}

/// Why an answer could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    /// Not well-formed XML, or not an OAI-PMH answer.
    #[error("not an OAI-PMH answer: {0}")]
    Malformed(String),
    /// The repository answered with an OAI-PMH error.
    #[error("the repository answered {code}: {message}")]
    Oai {
        /// The error code (`badResumptionToken`, `badArgument`, …).
        code: String,
        /// Its message.
        message: String,
    },
}

/// Aliases arXiv lists beside the canonical category (a paper in `math-ph` is also shown as
/// `math.MP`); the shared corpus uses the canonical codes (arXiv/arxiv-base's taxonomy), and so does the
/// harvest.
const ALIASES: &[(&str, &str)] =
    &[("math.MP", "math-ph"), ("math.IT", "cs.IT"), ("stat.TH", "math.ST"), ("cs.NA", "math.NA")];

/// Elements nested deeper than this make a page malformed: OAI-PMH's deepest is 7; the cap keeps a
/// hostile page of nested elements from costing memory in proportion (a 63 MB one cost 662 MB).
pub const MAX_DEPTH: usize = 64;

/// The most text of one element kept: arXiv's longest abstract is under 2,000 characters.
pub const MAX_ELEMENT_TEXT: usize = 256 * 1024;

/// What a harvested record may hold, beyond which it is passed over as hostile: a title's and an
/// abstract's characters (arXiv caps abstracts at 1,920), categories.
const MAX_TITLE_CHARS: usize = 1_000;
const MAX_ABSTRACT_CHARS: usize = 10_000;
const MAX_CATEGORIES: usize = 16;

/// Reads one `ListRecords` answer.
///
/// # Errors
/// [`PageError::Malformed`] for anything but a well-formed OAI-PMH answer; [`PageError::Oai`] for a
/// repository error other than `noRecordsMatch`.
pub fn parse_page(xml: &[u8]) -> Result<Page, PageError> {
    let mut reader = Reader::from_reader(xml);
    let mut buffer = Vec::new();
    let mut path: Vec<String> = Vec::new();
    let mut page = Page::default();
    let mut record = Record::default();
    let mut text = String::new();
    let mut error_code: Option<String> = None;
    let mut seen_root = false;
    loop {
        let event = reader
            .read_event_into(&mut buffer)
            .map_err(|error| PageError::Malformed(format!("at byte {}: {error}", reader.buffer_position())))?;
        match event {
            Event::Start(start) => {
                let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
                if path.is_empty() {
                    if name != "OAI-PMH" {
                        return Err(PageError::Malformed(format!("the root element is <{name}>, not <OAI-PMH>")));
                    }
                    seen_root = true;
                }
                match name.as_str() {
                    "record" => record = Record::default(),
                    "header" => record.deleted |= attribute(&start, b"status").as_deref() == Some("deleted"),
                    "resumptionToken" => {
                        for attribute in start.attributes().flatten() {
                            if attribute.key.local_name().as_ref() == b"completeListSize" {
                                page.complete_list_size = String::from_utf8_lossy(&attribute.value).parse().ok();
                            }
                        }
                    }
                    "error" => {
                        let code = start.attributes().flatten().find(|a| a.key.local_name().as_ref() == b"code");
                        error_code =
                            Some(code.map(|a| String::from_utf8_lossy(&a.value).into_owned()).unwrap_or_default());
                    }
                    _ => {}
                }
                path.push(name);
                if path.len() > MAX_DEPTH {
                    return Err(PageError::Malformed(format!("elements nested more than {MAX_DEPTH} deep")));
                }
                text.clear();
            }
            Event::Empty(start) if start.local_name().as_ref() == b"error" => {
                error_code = Some(attribute(&start, b"code").unwrap_or_default());
                finish_error(&mut error_code, "")?;
            }
            Event::Text(content) => {
                let decoded = content.decode().map_err(|error| PageError::Malformed(error.to_string()))?;
                push_capped(&mut text, &decoded);
            }
            Event::CData(content) => push_capped(&mut text, &String::from_utf8_lossy(&content)),
            Event::GeneralRef(reference) => {
                if let Ok(Some(character)) = reference.resolve_char_ref() {
                    text.push(character);
                } else {
                    let name = reference.decode().map_err(|error| PageError::Malformed(error.to_string()))?;
                    match name.as_ref() {
                        "amp" => text.push('&'),
                        "lt" => text.push('<'),
                        "gt" => text.push('>'),
                        "quot" => text.push('"'),
                        "apos" => text.push('\''),
                        other => return Err(PageError::Malformed(format!("unknown entity &{other};"))),
                    }
                }
            }
            Event::End(_) => {
                let Some(name) = path.pop() else {
                    return Err(PageError::Malformed("a closing tag without its opening".into()));
                };
                let parent = path.last().map(String::as_str);
                match (name.as_str(), parent) {
                    ("id", Some("arXiv" | "arXivRaw")) => record.id = text.trim().to_owned(),
                    ("title", Some("arXiv" | "arXivRaw")) => record.title = folded(&text),
                    ("abstract", Some("arXiv" | "arXivRaw")) => record.text = folded(&text),
                    ("categories", Some("arXiv" | "arXivRaw")) => {
                        record.categories = text.split_whitespace().map(str::to_owned).collect();
                    }
                    ("created", Some("arXiv")) => record.published = Some(text.trim().to_owned()),
                    ("date", Some("version")) if record.published.is_none() => {
                        record.published = crate::read::parse_time(&text).map(|t| t.date_naive().to_string());
                    }
                    ("record", _) => match std::mem::take(&mut record).into_paper() {
                        Some(paper) => page.papers.push(paper),
                        None => page.skipped += 1,
                    },
                    ("resumptionToken", _) => {
                        let token = text.trim();
                        page.resumption_token = (!token.is_empty()).then(|| token.to_owned());
                    }
                    ("error", _) => finish_error(&mut error_code, text.trim())?,
                    _ => {}
                }
                text.clear();
            }
            Event::Eof => break,
            _ => {}
        }
        buffer.clear();
    }
    if !seen_root {
        return Err(PageError::Malformed("no <OAI-PMH> element".into()));
    }
    if !path.is_empty() {
        return Err(PageError::Malformed(format!("ends inside <{}>", path.join("><"))));
    }
    Ok(page)
}

/// The value of an element's attribute, by local name.
fn attribute(element: &quick_xml::events::BytesStart<'_>, name: &[u8]) -> Option<String> {
    element
        .attributes()
        .flatten()
        .find(|attribute| attribute.key.local_name().as_ref() == name)
        .map(|attribute| String::from_utf8_lossy(&attribute.value).into_owned())
}

/// An OAI-PMH `<error>`: `noRecordsMatch` means an empty list; any other code fails the page.
fn finish_error(code: &mut Option<String>, message: &str) -> Result<(), PageError> {
    match code.take() {
        Some(code) if code == "noRecordsMatch" => Ok(()),
        Some(code) => Err(PageError::Oai { code, message: message.to_owned() }),
        None => Ok(()),
    }
}

/// Appends `more` to an element's text up to [`MAX_ELEMENT_TEXT`] bytes, and no further: a record whose
/// text reaches the cap is past every limit of `Record::into_paper`, and is passed over.
fn push_capped(text: &mut String, more: &str) {
    let room = MAX_ELEMENT_TEXT.saturating_sub(text.len());
    let mut end = room.min(more.len());
    while !more.is_char_boundary(end) {
        end -= 1;
    }
    text.push_str(&more[..end]);
}

/// Runs of white space (LaTeX sources wrap abstracts at 80 columns) as one space, control characters
/// dropped: they have no place in a title or an abstract, and would travel into every file and table
/// the paper reaches.
fn folded(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `id` is an arXiv identifier: `2501.00001` (new style, version optional) or `hep-th/9901001`
/// (old style) — nothing path-like, nothing else.
fn is_arxiv_id(id: &str) -> bool {
    let new_style = |id: &str| {
        let (number, version) = id.split_once('v').unwrap_or((id, "1"));
        let (yymm, serial) = number.split_once('.').unwrap_or(("", ""));
        yymm.len() == 4
            && (4..=5).contains(&serial.len())
            && yymm.bytes().chain(serial.bytes()).all(|b| b.is_ascii_digit())
            && !version.is_empty()
            && version.len() <= 3
            && version.bytes().all(|b| b.is_ascii_digit())
    };
    let old_style = |id: &str| {
        let Some((archive, number)) = id.split_once('/') else { return false };
        !archive.is_empty()
            && archive.len() <= 16
            && archive.bytes().all(|b| b.is_ascii_lowercase() || b == b'-' || b == b'.' || b.is_ascii_uppercase())
            && number.len() == 7
            && number.bytes().all(|b| b.is_ascii_digit())
    };
    new_style(id) || old_style(id)
}

#[derive(Debug, Default)]
struct Record {
    deleted: bool,
    id: String,
    title: String,
    text: String,
    categories: Vec<String>,
    published: Option<String>,
}

impl Record {
    /// The paper, or `None` for a record to pass over: deleted, incomplete, or hostile (an id that is
    /// not arXiv's, a title or abstract far past arXiv's own limits, a category list of dozens).
    fn into_paper(self) -> Option<HarvestedPaper> {
        if self.deleted || self.text.is_empty() || !is_arxiv_id(&self.id) {
            return None;
        }
        if self.title.chars().count() > MAX_TITLE_CHARS
            || self.text.chars().count() > MAX_ABSTRACT_CHARS
            || self.categories.len() > MAX_CATEGORIES
            || self.categories.iter().any(|c| c.len() > 32 || !c.bytes().all(|b| b.is_ascii_graphic()))
        {
            return None;
        }
        let mut categories: Vec<String> = Vec::new();
        for category in self.categories {
            let canonical = ALIASES.iter().find(|(alias, _)| *alias == category).map_or(category.as_str(), |(_, c)| c);
            if !categories.iter().any(|seen| seen == canonical) {
                categories.push(canonical.to_owned());
            }
        }
        let primary = categories.first()?.clone();
        let (topic, subtopic) = crate::arxiv::labels(&primary);
        Some(HarvestedPaper {
            url: format!("https://arxiv.org/abs/{}", self.id),
            id: format!("arXiv:{}", self.id),
            title: self.title,
            text: self.text,
            topic,
            subtopic: subtopic.unwrap_or(primary),
            categories,
            published: self.published,
            source: "arxiv",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARXIV_PAGE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">
<responseDate>2025-02-01T10:00:00Z</responseDate>
<request verb="ListRecords" metadataPrefix="arXiv" set="cs" from="2025-01-01">http://export.arxiv.org/oai2</request>
<ListRecords>
<record><header><identifier>oai:arXiv.org:2501.00001</identifier><datestamp>2025-01-02</datestamp><setSpec>cs</setSpec></header>
<metadata><arXiv xmlns="http://arxiv.org/OAI/arXiv/"><id>2501.00001</id><created>2024-12-31</created>
<authors><author><keyname>Noether</keyname><forenames>E.</forenames></author></authors>
<title>Learning   with
  $\mathbb{R}^d$ &amp; friends</title><categories>cs.LG stat.ML math.IT</categories>
<abstract>  We learn
  things &lt;fast&gt;.
</abstract></arXiv></metadata></record>
<record><header status="deleted"><identifier>oai:arXiv.org:2501.00002</identifier><datestamp>2025-01-03</datestamp></header></record>
<record><header><identifier>oai:arXiv.org:2501.00003</identifier><datestamp>2025-01-03</datestamp></header>
<metadata><arXiv xmlns="http://arxiv.org/OAI/arXiv/"><id>2501.00003</id><created>2025-01-02</created>
<title>Strings</title><categories>hep-th math-ph math.MP</categories><abstract>Dualities.</abstract></arXiv></metadata></record>
<resumptionToken cursor="0" completeListSize="5">6960524|1001</resumptionToken>
</ListRecords></OAI-PMH>"#;

    #[test]
    fn reads_papers_labels_and_the_token() {
        let page = parse_page(ARXIV_PAGE.as_bytes()).unwrap();
        assert_eq!(page.resumption_token.as_deref(), Some("6960524|1001"));
        assert_eq!(page.complete_list_size, Some(5));
        assert_eq!(page.skipped, 1, "the deleted record");
        assert_eq!(page.papers.len(), 2);
        let first = &page.papers[0];
        assert_eq!(first.id, "arXiv:2501.00001");
        assert_eq!(first.title, r"Learning with $\mathbb{R}^d$ & friends");
        assert_eq!(first.text, "We learn things <fast>.");
        assert_eq!((first.topic.as_str(), first.subtopic.as_str()), ("cs", "cs.LG"));
        assert_eq!(first.categories, ["cs.LG", "stat.ML", "cs.IT"]);
        assert_eq!(first.published.as_deref(), Some("2024-12-31"));
        let second = &page.papers[1];
        assert_eq!((second.topic.as_str(), second.subtopic.as_str()), ("physics", "hep-th"));
        assert_eq!(second.categories, ["hep-th", "math-ph"], "the alias folds into its canonical code");
    }

    #[test]
    fn reads_arxiv_raw_and_the_last_page() {
        let raw = r#"<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><ListRecords>
<record><header><identifier>oai:arXiv.org:2501.00004</identifier></header><metadata>
<arXivRaw xmlns="http://arxiv.org/OAI/arXivRaw/"><id>2501.00004</id><title>T</title>
<version version="v1"><date>Thu, 2 Jan 2025 18:00:01 GMT</date><size>10kb</size></version>
<version version="v2"><date>Mon, 6 Jan 2025 09:00:00 GMT</date></version>
<categories>q-bio.NC</categories><abstract>Neurons.</abstract></arXivRaw></metadata></record>
<resumptionToken cursor="1000" completeListSize="1001"/></ListRecords></OAI-PMH>"#;
        let page = parse_page(raw.as_bytes()).unwrap();
        assert_eq!(page.resumption_token, None, "an empty token ends the list");
        assert_eq!(page.papers[0].published.as_deref(), Some("2025-01-02"), "the first version's date");
        assert_eq!((page.papers[0].topic.as_str(), page.papers[0].subtopic.as_str()), ("q-bio", "q-bio.NC"));
    }

    #[test]
    fn an_empty_set_is_no_error_and_other_errors_are() {
        let empty = r#"<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><request>x</request>
<error code="noRecordsMatch">No records match</error></OAI-PMH>"#;
        assert_eq!(parse_page(empty.as_bytes()).unwrap(), Page::default());
        let bad = r#"<OAI-PMH><error code="badResumptionToken">expired</error></OAI-PMH>"#;
        assert_eq!(
            parse_page(bad.as_bytes()).unwrap_err().to_string(),
            "the repository answered badResumptionToken: expired"
        );
        for (broken, expected) in [
            ("<html><body>Service unavailable</body></html>", "the root element is <html>"),
            ("<OAI-PMH><ListRecords><record>", "ends inside <OAI-PMH><ListRecords><record>"),
            ("", "no <OAI-PMH> element"),
        ] {
            let error = parse_page(broken.as_bytes()).unwrap_err().to_string();
            assert!(error.contains(expected), "{broken:?}: {error}");
        }
    }

    /// A record as arXiv's format carries it, with its fields given.
    fn hostile(id: &str, title: &str, categories: &str) -> String {
        format!(
            "<record><header><identifier>oai:arXiv.org:x</identifier></header><metadata><arXiv><id>{id}</id>\
             <title>{title}</title><categories>{categories}</categories><abstract>An abstract.</abstract>\
             </arXiv></metadata></record>"
        )
    }

    /// Records as an attacker would write them are passed over (counted as skipped), not written as they
    /// came: a path-like id, a 5 MB title, 10,000 categories; control characters are dropped from what is
    /// kept. A page of elements nested thousands deep is malformed, not a page of 0 papers.
    #[test]
    fn hostile_records_are_passed_over_and_deep_nesting_is_malformed() {
        let records = [
            hostile("2501.00001", "A \u{7}fine\u{1b}[31m title", "cs.LG"),
            hostile("../../etc/passwd", "Path", "cs.LG"),
            hostile("2501.00002", &"x".repeat(5 * 1024 * 1024), "cs.LG"),
            hostile("2501.00003", "Many", &vec!["cs.LG"; 10_000].join(" ")),
            hostile("hep-th/9901001", "Old style", "hep-th"),
        ];
        let xml = format!("<OAI-PMH><ListRecords>{}</ListRecords></OAI-PMH>", records.concat());
        let page = parse_page(xml.as_bytes()).unwrap();
        let kept: Vec<(&str, &str)> = page.papers.iter().map(|p| (p.id.as_str(), p.title.as_str())).collect();
        assert_eq!(kept, [("arXiv:2501.00001", "A fine [31m title"), ("arXiv:hep-th/9901001", "Old style")]);
        assert_eq!(page.skipped, 3);

        let deep = format!("<OAI-PMH>{}", "<a>".repeat(70_000));
        let error = parse_page(deep.as_bytes()).unwrap_err().to_string();
        assert!(error.contains("nested more than"), "{error}");
    }
}
