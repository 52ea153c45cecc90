//! What arXiv's feeds say in their own way, made plain.
//!
//! One paper reaches us under several ids: the API answers `http://arxiv.org/abs/2611.00001v1`, the
//! listing feeds (rss.arxiv.org) `oai:arXiv.org:2611.00001v1`, a cross-list appears in every category's
//! listing, and a replaced paper comes back as `v2`. Keyed on those, the pipeline would classify and
//! store one paper several times; keyed on the paper (`arXiv:2611.00001`), the de-duplication store
//! enqueues it once and the table holds it once, whichever feeds list it.
//!
//! The listings also put a line of bookkeeping in front of each abstract
//! (`arXiv:2611.00001v1 Announce Type: new Abstract: …`), words the classifier should not weigh.
//!
//! And arXiv's categories are two-level everywhere but in physics, whose archives (`hep-th`,
//! `astro-ph.GA`, …) arXiv itself groups as one: [`labels`] makes them topic `physics`.

/// The id of the paper behind an arXiv entry id — `arXiv:` and the identifier without its version
/// (`arXiv:2611.00001`, `arXiv:hep-th/9901001`) — or `None` when the id is not arXiv's.
pub fn paper_id(entry_id: &str) -> Option<String> {
    let id = entry_id.trim();
    let identifier = ["http://arxiv.org/abs/", "https://arxiv.org/abs/", "oai:arxiv.org:"]
        .iter()
        .find_map(|prefix| strip_prefix_ignoring_case(id, prefix))?;
    let identifier = without_version(identifier);
    is_identifier(identifier).then(|| format!("arXiv:{identifier}"))
}

/// The abstract of a listing entry's text: the announcement line in front of it dropped. Text that
/// does not start with one is returned as it is.
pub fn without_announcement(text: &str) -> &str {
    const ABSTRACT: &str = " Abstract: ";
    // The line is short; looking further would cut into an abstract that itself says "Abstract:".
    const LONGEST_ANNOUNCEMENT: usize = 80;
    if !text.starts_with("arXiv:") {
        return text;
    }
    match text.find(ABSTRACT) {
        Some(at) if at <= LONGEST_ANNOUNCEMENT && text[..at].contains(" Announce Type: ") => {
            &text[at + ABSTRACT.len()..]
        }
        _ => text,
    }
}

/// The archives arXiv groups under Physics. Each is an archive of its own, with categories of its own
/// (`hep-th`, `astro-ph.GA`, `physics.optics`); split at the dot like the others they would make a
/// dozen topics, several without subtopics, where arXiv — and the taxonomy this pipeline learns — has
/// one: physics.
const PHYSICS_ARCHIVES: &[&str] = &[
    "astro-ph", "cond-mat", "gr-qc", "hep-ex", "hep-lat", "hep-ph", "hep-th", "math-ph", "nlin", "nucl-ex", "nucl-th",
    "physics", "quant-ph",
];

/// The topic and subtopic of an arXiv category: `cs.LG` is `cs` / `cs.LG`, `math.AG` is `math` /
/// `math.AG`; every physics archive's category is `physics` / the category (`hep-th`, `astro-ph.GA`).
pub fn labels(category: &str) -> (String, Option<String>) {
    let archive = category.split_once('.').map_or(category, |(archive, _)| archive);
    if PHYSICS_ARCHIVES.contains(&archive) {
        return ("physics".to_owned(), Some(category.to_owned()));
    }
    crate::config::split_label(category)
}

fn strip_prefix_ignoring_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

/// `2611.00001v2` → `2611.00001`; an identifier without a version is left as it is.
fn without_version(identifier: &str) -> &str {
    match identifier.rfind('v') {
        Some(at) if at + 1 < identifier.len() && identifier[at + 1..].bytes().all(|b| b.is_ascii_digit()) => {
            &identifier[..at]
        }
        _ => identifier,
    }
}

/// arXiv's two identifier schemes: `YYMM.NNNN(N)` since 2007, `archive(.SUBJ)/YYMMNNN` before.
fn is_identifier(identifier: &str) -> bool {
    let digits =
        |part: &str, lengths: &[usize]| lengths.contains(&part.len()) && part.bytes().all(|b| b.is_ascii_digit());
    match identifier.split_once('/') {
        Some((archive, number)) => {
            !archive.is_empty()
                && archive.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-' || b == b'.')
                && digits(number, &[7])
        }
        None => {
            identifier.split_once('.').is_some_and(|(month, number)| digits(month, &[4]) && digits(number, &[4, 5]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_paper_one_id_across_feeds_and_versions() {
        for id in [
            "http://arxiv.org/abs/2611.00001v1",
            "https://arxiv.org/abs/2611.00001v12",
            "oai:arXiv.org:2611.00001v2",
            "http://arxiv.org/abs/2611.00001",
        ] {
            assert_eq!(paper_id(id).as_deref(), Some("arXiv:2611.00001"), "{id}");
        }
        assert_eq!(paper_id("oai:arXiv.org:hep-th/9901001v3").as_deref(), Some("arXiv:hep-th/9901001"));
        assert_eq!(paper_id("http://arxiv.org/abs/math.AG/0401001v1").as_deref(), Some("arXiv:math.AG/0401001"));
    }

    #[test]
    fn other_ids_are_not_arxiv_papers() {
        for id in [
            "urn:atom:1",
            "https://example.org/abs/2611.00001v1",
            "http://arxiv.org/abs/",
            "http://arxiv.org/abs/list",
            "oai:arXiv.org:2611.0001x",
            "http://arxiv.org/abs/2611.00001v1/extra",
        ] {
            assert_eq!(paper_id(id), None, "{id}");
        }
    }

    #[test]
    fn physics_is_one_topic_and_the_other_archives_their_own() {
        let labels = |category| {
            let (topic, subtopic) = labels(category);
            (topic, subtopic.unwrap_or_default())
        };
        assert_eq!(labels("cs.LG"), ("cs".into(), "cs.LG".into()));
        assert_eq!(labels("math.AG"), ("math".into(), "math.AG".into()));
        assert_eq!(labels("hep-th"), ("physics".into(), "hep-th".into()));
        assert_eq!(labels("astro-ph.GA"), ("physics".into(), "astro-ph.GA".into()));
        assert_eq!(labels("physics.optics"), ("physics".into(), "physics.optics".into()));
        assert_eq!(labels("math-ph"), ("physics".into(), "math-ph".into()), "mathematical physics is physics");
        assert_eq!(labels("q-bio.NC"), ("q-bio".into(), "q-bio.NC".into()));
    }

    #[test]
    fn the_announcement_line_is_dropped() {
        assert_eq!(
            without_announcement("arXiv:2611.00001v1 Announce Type: new Abstract: We show that it works."),
            "We show that it works."
        );
        assert_eq!(without_announcement("arXiv:2611.00001v2 Announce Type: replace-cross Abstract: Text."), "Text.");
        for text in ["Plain abstract. Abstract: not a prefix", "arXiv:2611.00001 is cited here. Abstract: x"] {
            assert_eq!(without_announcement(text), text);
        }
    }
}
