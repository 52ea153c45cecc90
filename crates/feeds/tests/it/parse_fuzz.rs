//! Property tests over the feed parser's entry point, `parse_feed`: whatever bytes a server sends, it
//! answers entries or an error — never a panic, never an entry without an id — and a well-formed feed's
//! text comes back as written. (A `cargo fuzz` target would need a nightly toolchain; proptest runs in
//! the ordinary test command, 256 cases per property, shrinking any failure to a small input.)

use feeds::parse_feed;
use proptest::prelude::*;

const FIXTURE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>t</title>
<item><guid>g-1</guid><title>One &amp; two</title><link>https://example.org/1?utm_source=x</link>
<description>&lt;p&gt;Hello &lt;b&gt;world&lt;/b&gt;&lt;/p&gt;</description><category>cs.LG</category>
<pubDate>Mon, 23 Nov 2026 09:00:00 GMT</pubDate></item>
<item><title>No guid</title><description>plain</description></item>
</channel></rss>"#;

fn xml_escaped(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn entries_are_sound(bytes: &[u8]) {
    if let Ok(entries) = parse_feed(bytes, "https://example.org/feed") {
        for entry in entries {
            assert!(!entry.id.trim().is_empty(), "an entry without an id: {entry:?}");
        }
    }
}

/// Words as a feed carries them: letters of several scripts, punctuation, and a bare `&` (no `<`, which
/// the HTML-to-text step would rightly take for a tag).
fn words() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9éü中 ,.:!?'&-]{1,40}".prop_filter("some letters", |s| s.trim().chars().any(char::is_alphanumeric))
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        entries_are_sound(&bytes);
    }

    #[test]
    fn mangled_feeds_never_panic(
        cut in 0..FIXTURE.len(),
        flips in proptest::collection::vec((0..FIXTURE.len(), any::<u8>()), 0..8),
    ) {
        let mut bytes = FIXTURE.as_bytes().to_vec();
        for (at, byte) in flips {
            bytes[at] = byte;
        }
        bytes.truncate(cut.max(1));
        entries_are_sound(&bytes);
        entries_are_sound(&FIXTURE.as_bytes()[..cut]);
    }

    #[test]
    fn well_formed_feeds_keep_their_text(items in proptest::collection::vec((words(), words()), 1..6)) {
        let body: String = items
            .iter()
            .enumerate()
            .map(|(i, (title, text))| {
                format!("<item><guid>id-{i}</guid><title>{}</title><description>{}</description></item>",
                    xml_escaped(title), xml_escaped(text))
            })
            .collect();
        let feed = format!(r#"<rss version="2.0"><channel><title>t</title>{body}</channel></rss>"#);
        let entries = parse_feed(feed.as_bytes(), "https://example.org/feed").unwrap();
        prop_assert_eq!(entries.len(), items.len());
        let collapse = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        for (i, (entry, (title, _))) in entries.iter().zip(&items).enumerate() {
            prop_assert_eq!(&entry.id, &format!("id-{i}"));
            prop_assert_eq!(&entry.title, &collapse(title));
            prop_assert!(!entry.text.is_empty());
        }
    }
}

/// ~70,000 nested elements (a 420 KB feed) overflowed quick-xml's 16-bit nesting counter: a panic that
/// ended `feed-ingest --once` with every other feed's entries. Refused by name, and an entry with a
/// reasonably deep XHTML body still reads.
#[test]
fn deep_nesting_is_refused_not_a_panic() {
    let nested = |depth: usize| {
        format!(
            "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title><item><guid>g</guid>\
             <title>deep</title><description>{}x{}</description></item></channel></rss>",
            "<b>".repeat(depth),
            "</b>".repeat(depth)
        )
    };
    let error = parse_feed(nested(70_000).as_bytes(), "https://example.org/feed").unwrap_err();
    assert!(error.to_string().contains("nests elements more than"), "{error}");
    assert_eq!(parse_feed(nested(50).as_bytes(), "https://example.org/feed").unwrap().len(), 1);
}
