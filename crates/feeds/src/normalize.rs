//! A lenient layer in front of feed-rs: the feed as the web serves it, made into the feed feed-rs reads.
//!
//! feed-rs is strict where real feeds are not, and loses whole feeds for it (tried against feedparser,
//! the parser most feed tools stand on, over real-world shapes: feed-rs read nothing from about a third
//! of the feeds feedparser read). Rather than fork it, this pass rewrites what it refuses — one streaming
//! pass with quick-xml, which copies everything else byte for byte:
//!
//! - **Encodings.** The bytes are decoded first, by byte-order mark, then the HTTP `charset`, then the
//!   XML declaration (WHATWG labels: `iso-8859-1` is read as windows-1252, as browsers and feedparser
//!   do), UTF-16 included; the declaration is rewritten to say UTF-8. Invalid sequences become U+FFFD
//!   instead of failing the feed.
//! - **RSS versions.** feed-rs takes `<rss>` only at 0.91, 0.92 and 2.0; RSS without a version, or at
//!   0.93, 0.94, 2.01, is the same dialect, read as 2.0.
//! - **Atom 0.3** (`xmlns="http://purl.org/atom/ns#"`, still served by old blogs and archives) becomes
//!   Atom 1.0: its namespace, `issued`/`modified`/`tagline`/`copyright` as `published`/`updated`/
//!   `subtitle`/`rights`, `mode="escaped"` as `type="html"`.
//! - **Atom text types.** A `type` feed-rs does not know (`""`, `TEXT`, `text/plain`,
//!   `application/xhtml+xml`) made one of `text`, `html`, `xhtml`; one odd entry no longer fails the
//!   whole feed.
//! - **RSS 0.90** (RSS 1.0's elements in Netscape's namespace) is read as RSS 1.0; **RSS 1.0 items
//!   without `<link>`** (feed-rs drops them) get a placeholder, [`NO_LINK`] and their `rdf:about`, which
//!   the caller takes for no link and that id.
//! - **Dublin Core**: an item with `dc:title` / `dc:description` and no `title` / `description` gets
//!   them.
//! - **RSS 2.0 in a namespace** (UserLand's `http://backend.userland.com/rss2`, as a default namespace
//!   or a prefix: `<r:rss>`), which feed-rs reads as unknown elements, is read as plain RSS 2.0; **RSS
//!   items with no `<channel>`** around them get one; **Atom feeds of `<item>`s** (as some generators
//!   write them) have them read as entries.
//!
//! Microsoft's CDF (1997, `<CHANNEL>`) is refused by name: nothing serves it today.
//!
//! And it refuses one thing feed-rs would read: a document type that declares entities. quick-xml never
//! expands them (no billion laughs), but the entry would come out holding `&lol9;`; a feed that declares
//! entities is hostile or broken, and is refused by name, as Python's defusedxml refuses it. Nor does it
//! hand on elements nested deeper than [`MAX_DEPTH`]: quick-xml counts nesting in 16 bits and panicked
//! on ~65,500 levels (a 196 KB feed), which ended `feed-ingest --once` with the other feeds' entries.

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::{Reader, Writer};

/// What begins the link given to an RSS 1.0 item that has none, so feed-rs keeps it; its `rdf:about`
/// follows (the item's id). The caller takes it for no link.
pub(crate) const NO_LINK: &str = "urn:docclass:no-link:";
/// RSS 0.90's namespace: RSS 1.0's elements under another name.
const RSS_090: &str = "http://my.netscape.com/rdf/simple/0.9/";
const RSS_10: &str = "http://purl.org/rss/1.0/";

const ATOM_03: &str = "http://purl.org/atom/ns#";
const ATOM_10: &str = "http://www.w3.org/2005/Atom";

/// The feed, rewritten; and how many items or entries its document holds, so that a parse that finds
/// none of them can be told from a feed that is empty.
pub(crate) struct Normalized {
    /// UTF-8 XML (or the JSON Feed as it came, decoded).
    pub text: String,
    /// `item` and `entry` elements seen.
    pub items: usize,
}

/// Why a feed is refused before parsing.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Refusal {
    /// The document type declares entities.
    #[error("the feed's document type declares entities (a billion-laughs attack, or a broken feed): refused")]
    DeclaresEntities,
    /// Elements nested deeper than any feed needs.
    #[error("the feed nests elements more than {MAX_DEPTH} deep (a feed needs a dozen): refused")]
    TooDeep,
    /// Microsoft's Channel Definition Format.
    #[error("the document is a CDF channel (Microsoft's Channel Definition Format, 1997), which is not read")]
    Cdf,
}

/// Decodes `bytes` (see the module documentation) and rewrites what feed-rs would refuse. XML that
/// quick-xml cannot read is handed on decoded but otherwise as it came: feed-rs says what is wrong.
///
/// # Errors
/// [`Refusal`].
pub(crate) fn normalize(bytes: &[u8], http_charset: Option<&str>) -> Result<Normalized, Refusal> {
    let text = decode(bytes, http_charset);
    if text.trim_start().starts_with('{') {
        return Ok(Normalized { text, items: 0 });
    }
    match rewrite(&text) {
        Ok(Some(normalized)) => Ok(normalized),
        Ok(None) => Ok(Normalized { text, items: 0 }),
        Err(refusal) => Err(refusal),
    }
}

/// The bytes as text, by BOM, HTTP charset, XML declaration, or UTF-8.
fn decode(bytes: &[u8], http_charset: Option<&str>) -> String {
    let (encoding, skip) = match encoding_rs::Encoding::for_bom(bytes) {
        Some((encoding, length)) => (encoding, length),
        None => {
            let declared = http_charset
                .and_then(|label| encoding_rs::Encoding::for_label(label.trim().as_bytes()))
                .or_else(|| declared_encoding(bytes));
            (declared.map_or_else(|| sniff_utf16(bytes), |encoding| fix_utf16(encoding, bytes)), 0)
        }
    };
    let (text, _) = encoding.decode_without_bom_handling(&bytes[skip..]);
    text.into_owned()
}

/// The encoding an XML declaration names (`<?xml version="1.0" encoding="ISO-8859-1"?>`), read from
/// its ASCII head.
fn declared_encoding(bytes: &[u8]) -> Option<&'static encoding_rs::Encoding> {
    let head = &bytes[..bytes.len().min(256)];
    let head = String::from_utf8_lossy(head);
    let declaration = head.trim_start().strip_prefix("<?xml")?.split("?>").next()?;
    let (_, value) = declaration.split_once("encoding")?;
    let value = value.trim_start().strip_prefix('=')?.trim_start();
    // Only a quoted value is a label; anything else (a mangled head, found by the property tests: a
    // multi-byte character there once panicked the slicing) names no encoding.
    let quote = value.chars().next().filter(|c| matches!(c, '"' | '\''))?;
    let label = value[quote.len_utf8()..].split(quote).next()?;
    encoding_rs::Encoding::for_label(label.as_bytes())
}

/// UTF-16 without a BOM, told by where the NUL bytes of `<?` fall; else UTF-8.
fn sniff_utf16(bytes: &[u8]) -> &'static encoding_rs::Encoding {
    match bytes {
        [b'<', 0, ..] => encoding_rs::UTF_16LE,
        [0, b'<', ..] => encoding_rs::UTF_16BE,
        _ => encoding_rs::UTF_8,
    }
}

/// A label says "UTF-16" (WHATWG reads it as little-endian): the bytes say which.
fn fix_utf16(encoding: &'static encoding_rs::Encoding, bytes: &[u8]) -> &'static encoding_rs::Encoding {
    if encoding == encoding_rs::UTF_16LE || encoding == encoding_rs::UTF_16BE {
        return sniff_utf16(bytes);
    }
    // A document in UTF-16 that labels itself otherwise is still UTF-16.
    let sniffed = sniff_utf16(bytes);
    if sniffed == encoding_rs::UTF_8 { encoding } else { sniffed }
}

/// What the pass knows of the document so far.
#[derive(Default)]
struct State {
    depth: usize,
    root: Root,
    items: usize,
    /// Inside an RSS item (1.0 or 2.0): what it had, for what to add at its end.
    item: Option<Item>,
    /// Inside a `dc:title` / `dc:description` of an item: its raw text so far.
    capturing: Option<(&'static str, String)>,
    /// The prefix RSS's own elements carry (`r` of `<r:rss>`), dropped from each.
    rss_prefix: Option<Vec<u8>>,
    /// The new name of the element just opened, when it was renamed: pushed on [`State::renames`] for
    /// a start tag, so that its end tag is renamed alike.
    renamed: Option<String>,
    /// Per open element, its new name if it was renamed.
    renames: Vec<Option<String>>,
    /// An RSS root has had a `<channel>` (its own, or one opened here around items that had none).
    channel: bool,
    /// A `<channel>` was opened here: it is closed before the root's end.
    inserted_channel: bool,
    /// To write before the element just opened.
    before: Option<Event<'static>>,
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum Root {
    #[default]
    Unknown,
    Rss,
    Rdf,
    Atom03,
    Atom,
}

#[derive(Default)]
struct Item {
    depth: usize,
    about: Option<String>,
    has_link: bool,
    has_title: bool,
    has_description: bool,
    dc_title: Option<String>,
    dc_description: Option<String>,
}

/// The deepest nesting of elements handed on: a feed needs a dozen levels, an XHTML entry body a few
/// dozen more; far below the 65,535 that quick-xml's 16-bit counter holds.
pub(crate) const MAX_DEPTH: usize = 1_000;

fn rewrite(text: &str) -> Result<Option<Normalized>, Refusal> {
    let mut reader = Reader::from_str(text);
    let mut writer = Writer::new(Vec::with_capacity(text.len() + 64));
    let mut state = State::default();
    loop {
        let event = match reader.read_event() {
            Ok(event) => event,
            // Malformed: feed-rs reads it as it came and names the fault.
            Err(_) => return Ok(None),
        };
        let event = match event {
            Event::Eof => break,
            Event::DocType(doctype) => {
                let declaration = String::from_utf8_lossy(&doctype).to_ascii_uppercase();
                if declaration.contains("<!ENTITY") {
                    return Err(Refusal::DeclaresEntities);
                }
                Event::DocType(doctype)
            }
            Event::Decl(declaration) => {
                let version = declaration.version().ok().map(|v| String::from_utf8_lossy(&v).into_owned());
                let standalone =
                    declaration.standalone().and_then(Result::ok).map(|s| String::from_utf8_lossy(&s).into_owned());
                Event::Decl(BytesDecl::new(version.as_deref().unwrap_or("1.0"), Some("utf-8"), standalone.as_deref()))
            }
            Event::Start(start) => {
                if state.depth == 0 && start.local_name().as_ref() == b"CHANNEL" {
                    return Err(Refusal::Cdf);
                }
                let start = state.open(start);
                if let Some(before) = state.before.take() {
                    writer.write_event(before).expect("writing to memory");
                }
                let renamed = state.renamed.take();
                state.renames.push(renamed);
                state.depth += 1;
                if state.depth > MAX_DEPTH {
                    return Err(Refusal::TooDeep);
                }
                Event::Start(start)
            }
            Event::Empty(start) => {
                // Opened and closed at once: it counts (an empty `<link/>`), and captures nothing.
                let start = state.open(start);
                if let Some(before) = state.before.take() {
                    writer.write_event(before).expect("writing to memory");
                }
                state.renamed = None;
                state.close_item_child();
                Event::Empty(start)
            }
            Event::End(end) => {
                state.depth = state.depth.saturating_sub(1);
                if state.depth == 1 && state.inserted_channel && state.renames.len() == 2 {
                    // The root's own end comes next: close the channel opened for its items first.
                    writer.write_event(Event::End(BytesEnd::new("channel"))).expect("writing to memory");
                    state.inserted_channel = false;
                    state.renames.pop();
                    state.depth -= 1;
                }
                if let Some(additions) = state.close(&end) {
                    for addition in additions {
                        writer.write_event(addition).expect("writing to memory");
                    }
                }
                match state.renames.pop().flatten() {
                    Some(new) => Event::End(BytesEnd::new(new)),
                    None => Event::End(state.renamed_end(end)),
                }
            }
            Event::Text(text) => {
                if let Some((_, captured)) = &mut state.capturing {
                    captured.push_str(&String::from_utf8_lossy(&text));
                }
                Event::Text(text)
            }
            Event::GeneralRef(reference) => {
                if let Some((_, captured)) = &mut state.capturing {
                    captured.push('&');
                    captured.push_str(&String::from_utf8_lossy(&reference));
                    captured.push(';');
                }
                Event::GeneralRef(reference)
            }
            Event::CData(data) => {
                if let Some((_, captured)) = &mut state.capturing {
                    captured.push_str(&quick_xml::escape::escape(String::from_utf8_lossy(&data).as_ref()));
                }
                Event::CData(data)
            }
            other => other,
        };
        writer.write_event(event).expect("writing to memory");
    }
    let text = String::from_utf8(writer.into_inner()).expect("UTF-8 in, UTF-8 out");
    Ok(Some(Normalized { text, items: state.items }))
}

/// `name`'s local part (after any prefix).
fn local(name: &[u8]) -> &[u8] {
    name.rsplit(|&byte| byte == b':').next().unwrap_or(name)
}

/// `start` under another name, its attributes kept.
fn renamed(start: &BytesStart<'_>, name: &str) -> BytesStart<'static> {
    let mut renamed = BytesStart::new(name.to_owned());
    for attribute in start.attributes().flatten() {
        renamed.push_attribute(attribute);
    }
    renamed
}

/// `name` with its local part replaced.
fn with_local(name: &[u8], new: &str) -> String {
    let name = String::from_utf8_lossy(name);
    match name.rsplit_once(':') {
        Some((prefix, _)) => format!("{prefix}:{new}"),
        None => new.to_owned(),
    }
}

/// Atom 0.3 names that Atom 1.0 spells otherwise.
fn atom03_rename(local: &[u8]) -> Option<&'static str> {
    match local {
        b"issued" => Some("published"),
        b"modified" => Some("updated"),
        b"tagline" => Some("subtitle"),
        b"copyright" => Some("rights"),
        _ => None,
    }
}

/// A text construct's `type` as feed-rs knows it; `is_content` keeps real media types (a base64 or
/// `src` content), which feed-rs reads as the Atom specification says.
fn atom_type(value: &str, is_content: bool) -> Option<&'static str> {
    let value = value.trim().to_ascii_lowercase();
    Some(match value.as_str() {
        "" | "text" | "text/plain" => "text",
        "html" | "text/html" => "html",
        "xhtml" | "application/xhtml+xml" => "xhtml",
        other if other.starts_with("text/") => "text",
        _ if is_content => return None,
        other if other.contains("html") => "html",
        _ => "text",
    })
}

impl State {
    /// Rewrites an opening (or empty) tag, and notes what it says of the document.
    fn open<'a>(&mut self, start: BytesStart<'a>) -> BytesStart<'a> {
        let name = start.name().as_ref().to_vec();
        let local_name = local(&name).to_vec();
        if self.depth == 0 {
            return self.open_root(start, &local_name);
        }
        // RSS's own elements under a prefix: read as plain RSS.
        let start = match &self.rss_prefix {
            Some(prefix) if name.len() > prefix.len() && name.starts_with(prefix) && name[prefix.len()] == b':' => {
                let plain = String::from_utf8_lossy(&local_name).into_owned();
                self.renamed = Some(plain.clone());
                renamed(&start, &plain)
            }
            _ => start,
        };
        if self.root == Root::Rss && self.depth == 1 {
            match local_name.as_slice() {
                b"channel" => self.channel = true,
                b"item" if !self.channel => {
                    // Items straight under <rss>: a channel around them, as feedparser reads them.
                    self.channel = true;
                    self.inserted_channel = true;
                    self.before = Some(Event::Start(BytesStart::new("channel")));
                    // The item opens inside it.
                    self.depth += 1;
                    self.renames.push(None);
                }
                _ => {}
            }
        }
        if matches!(self.root, Root::Atom | Root::Atom03) && self.depth == 1 && local_name == b"item" {
            // An Atom feed of <item>s: entries under another name.
            self.items += 1;
            self.renamed = Some(with_local(&name, "entry"));
            return renamed(&start, &with_local(&name, "entry"));
        }
        match (self.root, local_name.as_slice()) {
            (Root::Rss | Root::Rdf, b"item") => {
                self.items += 1;
                let about = start
                    .attributes()
                    .flatten()
                    .find(|attribute| local(attribute.key.as_ref()) == b"about")
                    .map(|attribute| String::from_utf8_lossy(&attribute.value).into_owned());
                self.item = Some(Item { depth: self.depth, about, ..Item::default() });
            }
            (Root::Atom | Root::Atom03, b"entry") => self.items += 1,
            _ => {}
        }
        if let Some(item) = &mut self.item
            && self.depth == item.depth + 1
        {
            let prefix_dc = name.starts_with(b"dc:");
            match (prefix_dc, local_name.as_slice()) {
                (false, b"link") => item.has_link = true,
                (false, b"title") => item.has_title = true,
                (false, b"description") => item.has_description = true,
                (true, b"title") => self.capturing = Some(("title", String::new())),
                (true, b"description") => self.capturing = Some(("description", String::new())),
                _ => {}
            }
        }
        if matches!(self.root, Root::Atom | Root::Atom03) {
            return self.open_atom(start, &name, &local_name);
        }
        start
    }

    fn open_root<'a>(&mut self, start: BytesStart<'a>, local_name: &[u8]) -> BytesStart<'a> {
        match local_name {
            b"rss" => {
                self.root = Root::Rss;
                let start = self.plain_rss_root(start);
                let version = start
                    .attributes()
                    .flatten()
                    .find(|attribute| attribute.key.as_ref() == b"version")
                    .map(|attribute| String::from_utf8_lossy(&attribute.value).trim().to_owned());
                if matches!(version.as_deref(), Some("2.0" | "0.91" | "0.92")) {
                    return start;
                }
                // The same dialect under another number, or none: read as 2.0.
                let mut fixed = BytesStart::new(String::from_utf8_lossy(start.name().as_ref()).into_owned());
                for attribute in start.attributes().flatten().filter(|a| a.key.as_ref() != b"version") {
                    fixed.push_attribute(attribute);
                }
                fixed.push_attribute(("version", "2.0"));
                fixed
            }
            b"RDF" => {
                self.root = Root::Rdf;
                let old = |attribute: &quick_xml::events::attributes::Attribute<'_>| {
                    attribute.key.as_ref().starts_with(b"xmlns") && attribute.value.as_ref() == RSS_090.as_bytes()
                };
                if !start.attributes().flatten().any(|attribute| old(&attribute)) {
                    return start;
                }
                let mut fixed = BytesStart::new(String::from_utf8_lossy(start.name().as_ref()).into_owned());
                for attribute in start.attributes().flatten() {
                    if old(&attribute) {
                        let key = String::from_utf8_lossy(attribute.key.as_ref()).into_owned();
                        fixed.push_attribute((key.as_str(), RSS_10));
                    } else {
                        fixed.push_attribute(attribute);
                    }
                }
                fixed
            }
            b"feed" => {
                let atom03 = start.attributes().flatten().any(|attribute| {
                    attribute.key.as_ref().starts_with(b"xmlns") && attribute.value.as_ref() == ATOM_03.as_bytes()
                });
                if !atom03 {
                    self.root = Root::Atom;
                    return start;
                }
                self.root = Root::Atom03;
                let mut fixed = BytesStart::new(String::from_utf8_lossy(start.name().as_ref()).into_owned());
                for attribute in start.attributes().flatten() {
                    if attribute.key.as_ref().starts_with(b"xmlns") && attribute.value.as_ref() == ATOM_03.as_bytes() {
                        let key = String::from_utf8_lossy(attribute.key.as_ref()).into_owned();
                        fixed.push_attribute((key.as_str(), ATOM_10));
                    } else if attribute.key.as_ref() != b"version" {
                        fixed.push_attribute(attribute);
                    }
                }
                fixed
            }
            _ => start,
        }
    }

    /// Atom 0.3's names and modes, and text types feed-rs does not know.
    fn open_atom<'a>(&mut self, start: BytesStart<'a>, name: &[u8], local_name: &[u8]) -> BytesStart<'a> {
        let renamed = if self.root == Root::Atom03 { atom03_rename(local_name) } else { None };
        let text_construct = matches!(
            renamed.map(str::as_bytes).unwrap_or(local_name),
            b"title" | b"subtitle" | b"summary" | b"content" | b"rights"
        );
        if renamed.is_none() && !text_construct {
            return start;
        }
        let is_content = local_name == b"content";
        let new_name = match renamed {
            Some(new) => with_local(name, new),
            None => String::from_utf8_lossy(name).into_owned(),
        };
        let mut fixed = BytesStart::new(new_name);
        let mut mode = None;
        let mut kind = None;
        for attribute in start.attributes().flatten() {
            match attribute.key.as_ref() {
                b"type" if text_construct => kind = Some(String::from_utf8_lossy(&attribute.value).into_owned()),
                b"mode" if self.root == Root::Atom03 => {
                    mode = Some(String::from_utf8_lossy(&attribute.value).into_owned())
                }
                _ => fixed.push_attribute(attribute),
            }
        }
        if text_construct {
            let kind = match (mode.as_deref(), kind.as_deref()) {
                // Atom 0.3: escaped markup is Atom 1.0's html; inline XML its xhtml.
                (Some("escaped"), Some(kind)) if atom_type(kind, false) != Some("text") => Some("html"),
                (Some("escaped"), None) => Some("html"),
                (Some("xml"), _) => Some("xhtml"),
                (_, Some(kind)) => atom_type(kind, is_content),
                (_, None) => None,
            };
            match kind {
                Some(kind) => fixed.push_attribute(("type", kind)),
                // A real media type of a content: kept as given.
                None => {
                    if let Some(original) = start.attributes().flatten().find(|a| a.key.as_ref() == b"type") {
                        fixed.push_attribute(original);
                    }
                }
            }
        }
        fixed
    }

    /// An empty child of an item (`<link/>`) counts as that child, and captures nothing.
    fn close_item_child(&mut self) {
        self.capturing = None;
    }

    /// Closes an element: what an item lacked is written just before its end tag.
    fn close(&mut self, end: &BytesEnd<'_>) -> Option<Vec<Event<'static>>> {
        let local_name = local(end.name().as_ref()).to_vec();
        if let Some((field, captured)) = self.capturing.take() {
            if let Some(item) = &mut self.item {
                match field {
                    "title" => item.dc_title = Some(captured),
                    _ => item.dc_description = Some(captured),
                }
            }
            return None;
        }
        let item = self.item.as_ref()?;
        if local_name != b"item" || self.depth != item.depth {
            return None;
        }
        let item = self.item.take().expect("checked just above");
        let mut additions = Vec::new();
        let mut element = |name: &'static str, raw: String| {
            additions.push(Event::Start(BytesStart::new(name)));
            additions.push(Event::Text(BytesText::from_escaped(raw)));
            additions.push(Event::End(BytesEnd::new(name)));
        };
        if let (false, Some(title)) = (item.has_title, item.dc_title) {
            element("title", title);
        }
        if let (false, Some(description)) = (item.has_description, item.dc_description) {
            element("description", description);
        }
        if self.root == Root::Rdf && !item.has_link {
            element("link", format!("{NO_LINK}{}", item.about.unwrap_or_default()));
        }
        Some(additions)
    }

    /// An `<rss>` root in a namespace (`<r:rss xmlns:r=…>`, or `xmlns=…` on `<rss>`) as a plain one: its
    /// prefix noted, to be dropped from RSS's elements; a default namespace dropped, so that they are in
    /// none, as feed-rs reads RSS.
    fn plain_rss_root<'a>(&mut self, start: BytesStart<'a>) -> BytesStart<'a> {
        let name = start.name().as_ref().to_vec();
        let prefixed = name.contains(&b':');
        let has_default = start.attributes().flatten().any(|a| a.key.as_ref() == b"xmlns");
        if !prefixed && !has_default {
            return start;
        }
        if prefixed {
            self.rss_prefix = name.split(|&b| b == b':').next().map(<[u8]>::to_vec);
            self.renamed = Some("rss".to_owned());
        }
        let mut plain = BytesStart::new("rss");
        for attribute in start.attributes().flatten().filter(|a| a.key.as_ref() != b"xmlns") {
            plain.push_attribute(attribute);
        }
        plain
    }

    fn renamed_end<'a>(&self, end: BytesEnd<'a>) -> BytesEnd<'a> {
        if self.root != Root::Atom03 {
            return end;
        }
        match atom03_rename(local(end.name().as_ref())) {
            Some(new) => BytesEnd::new(with_local(end.name().as_ref(), new)),
            None => end,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalized(xml: &str) -> String {
        normalize(xml.as_bytes(), None).unwrap().text
    }

    #[test]
    fn rss_of_any_version_is_read_as_two() {
        assert!(normalized("<rss><channel/></rss>").contains(r#"<rss version="2.0">"#));
        assert!(normalized(r#"<rss version="0.94"><channel/></rss>"#).contains(r#"version="2.0""#));
        assert!(normalized(r#"<rss version="0.91"><channel/></rss>"#).contains(r#"version="0.91""#));
    }

    #[test]
    fn entity_declarations_are_refused() {
        let laughs = r#"<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><rss version="2.0"><channel><item><title>&lol2;</title></item></channel></rss>"#;
        assert!(matches!(normalize(laughs.as_bytes(), None), Err(Refusal::DeclaresEntities)));
        let plain_doctype = r#"<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" "http://my.netscape.com/publish/formats/rss-0.91.dtd"><rss version="0.91"><channel/></rss>"#;
        assert!(normalize(plain_doctype.as_bytes(), None).is_ok());
    }

    #[test]
    fn a_mangled_declaration_names_no_encoding() {
        for head in ["<?xml encoding=é?><rss/>", "<?xml encoding=\"", "<?xml encoding=", "<?xml encoding='ü"] {
            assert_eq!(declared_encoding(head.as_bytes()), None, "{head}");
        }
        assert_eq!(declared_encoding(b"<?xml version='1.0' encoding='latin1'?>"), Some(encoding_rs::WINDOWS_1252));
    }

    #[test]
    fn decodes_by_bom_header_and_declaration() {
        let latin =
            b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><rss><channel><title>caf\xe9 \x92</title></channel></rss>";
        let text = normalized(std::str::from_utf8(&String::from_utf8_lossy(latin).into_owned().into_bytes()).unwrap());
        assert!(text.contains("utf-8"), "{text}");
        let text = normalize(latin, None).unwrap().text;
        assert!(text.contains("café \u{2019}"), "windows-1252 for ISO-8859-1: {text}");
        let header =
            normalize(b"<rss><channel><title>caf\xe9</title></channel></rss>", Some("windows-1252")).unwrap().text;
        assert!(header.contains("café"), "{header}");
        let utf16: Vec<u8> = "\u{feff}<rss><channel><title>π</title></channel></rss>"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert!(normalize(&utf16, None).unwrap().text.contains("<title>π</title>"));
    }

    /// Shapes feedparser reads and feed-rs did not: RSS 2.0 in UserLand's namespace (default or
    /// prefixed), RSS items with no channel, an Atom feed of `<item>`s; CDF is refused by name.
    #[test]
    fn namespaced_rss_channel_less_items_and_atom_items_are_read_and_cdf_is_named() {
        let read = |xml: &str| crate::parse_feed(xml.as_bytes(), "https://example.org/feed").unwrap();
        let titles = |xml: &str| read(xml).into_iter().map(|entry| entry.title).collect::<Vec<_>>();
        let default_ns = r#"<rss version="2.0" xmlns="http://backend.userland.com/rss2" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>c</title><item><title>One</title><dc:creator>x</dc:creator></item></channel></rss>"#;
        assert_eq!(titles(default_ns), ["One"]);
        let prefixed = r#"<r:rss version="2.0" xmlns:r="http://backend.userland.com/rss2"><r:channel><r:title>c</r:title><r:item><r:title>Two</r:title><r:link>http://example.org/2</r:link></r:item></r:channel></r:rss>"#;
        let entries = read(prefixed);
        assert_eq!((entries[0].title.as_str(), entries[0].url.as_deref()), ("Two", Some("http://example.org/2")));
        let channel_less = r#"<rss><item><title>Three</title><description><![CDATA[<img alt="&#169;" />]]></description></item><item><title>Four</title></item></rss>"#;
        assert_eq!(titles(channel_less), ["Three", "Four"]);
        let atom_items = r#"<feed xmlns="http://www.w3.org/2005/Atom"><item><title>Five</title></item></feed>"#;
        assert_eq!(titles(atom_items), ["Five"]);
        let cdf = r#"<?xml version="1.0"?><CHANNEL HREF="http://example.org/"><ITEM HREF="http://example.org/1"><TITLE>t</TITLE></ITEM></CHANNEL>"#;
        assert!(matches!(normalize(cdf.as_bytes(), None), Err(Refusal::Cdf)));
    }
}
