//! Reading documents from files, folders and standard input.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use docclass_types::{Document, Labels};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Why a source, or one record of it, could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file or folder could not be read.
    #[error("cannot read {path}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// One JSON Lines record is malformed; the others are still read.
    #[error("{path}:{line}: not a document record: {detail}")]
    Record {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The parser's message.
        detail: String,
    },
}

/// One line of a JSON Lines corpus: `{"id", "title", "text", "topic", "subtopic", "source"}`; only `text`
/// is required.
#[derive(Deserialize)]
struct Record {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    title: String,
    text: String,
    #[serde(default)]
    topic: Option<String>,
    #[serde(default)]
    subtopic: Option<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default, deserialize_with = "published_time")]
    published: Option<DateTime<Utc>>,
    /// Every category the document is listed in, its own (primary) first: arXiv's cross-lists.
    #[serde(default)]
    categories: Vec<String>,
}

/// A publication time as real data carries it: an RFC 3339 time (`2015-04-14T09:30:00Z`), an RFC 2822
/// one (`Tue, 14 Apr 2015 09:30:00 GMT`, as RSS has it), or a plain date (`2015-04-14`, as arXiv gives
/// it; read as midnight UTC). `null` and a missing field are no time.
fn published_time<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let Some(text) = Option::<String>::deserialize(deserializer)? else { return Ok(None) };
    parse_time(&text).map(Some).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "{text:?} is not a date (2015-04-14), an RFC 3339 time (2015-04-14T09:30:00Z) or an RFC 2822 time"
        ))
    })
}

/// See [`published_time`].
pub(crate) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.to_utc());
    }
    if let Ok(time) = DateTime::parse_from_rfc2822(text) {
        return Some(time.to_utc());
    }
    let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some(date.and_time(chrono::NaiveTime::MIN).and_utc())
}

/// Reads every document under `path`: a JSON Lines file (`.gz` or plain, detected by content), a folder
/// of text files (read recursively, in name order; each file one document), or `-` for JSON Lines on
/// standard input. A malformed record is reported as an `Err` item and reading goes on.
///
/// # Errors
/// [`ReadError::Io`] when the source cannot be opened at all.
pub fn read_documents(path: &Path) -> Result<Box<dyn Iterator<Item = Result<Document, ReadError>> + Send>, ReadError> {
    if path == Path::new("-") {
        return Ok(json_lines(BufReader::new(std::io::stdin()), PathBuf::from("<stdin>")));
    }
    let io = |source| ReadError::Io { path: path.to_owned(), source };
    let metadata = std::fs::metadata(path).map_err(io)?;
    if metadata.is_dir() {
        let mut files = Vec::new();
        collect_files(path, &mut files)?;
        files.sort();
        let root = path.to_owned();
        return Ok(Box::new(files.into_iter().map(move |file| text_file(&root, &file))));
    }
    let reader = open_maybe_gzip(path).map_err(io)?;
    Ok(json_lines(reader, path.to_owned()))
}

/// Opens a file, transparently decompressing gzip (recognised by its magic bytes, not its name).
fn open_maybe_gzip(path: &Path) -> std::io::Result<Box<dyn BufRead + Send>> {
    let mut file = BufReader::new(File::open(path)?);
    let gzip = file.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    Ok(if gzip { Box::new(BufReader::new(flate2::bufread::MultiGzDecoder::new(file))) } else { Box::new(file) })
}

fn json_lines(
    reader: impl BufRead + Send + 'static,
    path: PathBuf,
) -> Box<dyn Iterator<Item = Result<Document, ReadError>> + Send> {
    let source = path.display().to_string();
    Box::new(reader.lines().enumerate().filter_map(move |(index, line)| {
        let line = match line {
            Ok(line) => line,
            Err(source) => return Some(Err(ReadError::Io { path: path.clone(), source })),
        };
        if line.trim().is_empty() {
            return None;
        }
        Some(parse_record(&line).map(|record| record.into_document(&source)).map_err(|detail| ReadError::Record {
            path: path.clone(),
            line: index + 1,
            detail,
        }))
    }))
}

/// Parses one record; the error names the field at fault (`published: "yesterday" is not a date …`),
/// which serde_json's own message (`… at line 1 column 1202`) does not.
fn parse_record(line: &str) -> Result<Record, String> {
    let mut json = serde_json::Deserializer::from_str(line);
    serde_path_to_error::deserialize::<_, Record>(&mut json).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        // serde_json appends the position; within a one-record line the field name says more.
        let message = inner.to_string();
        let message = match message.rfind(" at line ") {
            Some(at) if inner.line() > 0 => message[..at].to_owned(),
            _ => message,
        };
        if path == "." { message } else { format!("{path}: {message}") }
    })
}

impl Record {
    fn into_document(self, default_source: &str) -> Document {
        let id = self.id.filter(|id| !id.trim().is_empty()).unwrap_or_else(|| content_id(&self.title, &self.text));
        let labels = (self.topic.is_some() || self.subtopic.is_some() || !self.categories.is_empty())
            .then_some(Labels { topic: self.topic, subtopic: self.subtopic, categories: self.categories });
        Document {
            id,
            title: self.title,
            text: self.text,
            source: self.source.unwrap_or_else(|| default_source.to_owned()),
            url: self.url,
            published: self.published,
            ingested_at: Utc::now(),
            labels,
        }
    }
}

/// A stable id for a document that has none: the same content always gets the same id, so re-ingesting
/// it overwrites its row instead of adding one. Feed entries with no GUID and no link use it too.
pub(crate) fn content_id(title: &str, text: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(title.as_bytes());
    hasher.update([0]);
    hasher.update(text.as_bytes());
    let digest = hasher.finalize();
    let hex: String = digest[..16].iter().map(|byte| format!("{byte:02x}")).collect();
    format!("sha256:{hex}")
}

fn collect_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), ReadError> {
    let io = |source| ReadError::Io { path: dir.to_owned(), source };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let path = entry.path();
        let kind = entry.file_type().map_err(io)?;
        if kind.is_dir() {
            collect_files(&path, files)?;
        } else if kind.is_file() && !entry.file_name().to_string_lossy().starts_with('.') {
            files.push(path);
        }
    }
    Ok(())
}

/// A text file as a document: its path below the folder is its id, its name the title.
fn text_file(root: &Path, file: &Path) -> Result<Document, ReadError> {
    let mut bytes = Vec::new();
    File::open(file)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|source| ReadError::Io { path: file.to_owned(), source })?;
    let relative = file.strip_prefix(root).unwrap_or(file);
    Ok(Document {
        id: format!("file:{}", relative.display()),
        title: file.file_stem().map(|stem| stem.to_string_lossy().into_owned()).unwrap_or_default(),
        // Invalid UTF-8 is replaced rather than refused: the words around it still classify.
        text: String::from_utf8_lossy(&bytes).into_owned(),
        source: root.display().to_string(),
        url: None,
        published: None,
        ingested_at: Utc::now(),
        labels: None,
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn reads_gzipped_json_lines_and_reports_bad_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docs.jsonl.gz");
        let mut gz = flate2::write::GzEncoder::new(File::create(&path).unwrap(), flate2::Compression::fast());
        writeln!(gz, r#"{{"id":"a","title":"T","text":"body","topic":"sci","subtopic":"sci.med"}}"#).unwrap();
        writeln!(gz, "not json").unwrap();
        writeln!(gz).unwrap();
        writeln!(gz, r#"{{"text":"no id here"}}"#).unwrap();
        gz.finish().unwrap();

        let items: Vec<_> = read_documents(&path).unwrap().collect();
        assert_eq!(items.len(), 3);
        let first = items[0].as_ref().unwrap();
        assert_eq!(first.id, "a");
        assert_eq!(first.labels.as_ref().unwrap().subtopic.as_deref(), Some("sci.med"));
        assert!(matches!(items[1], Err(ReadError::Record { line: 2, .. })));
        let third = items[2].as_ref().unwrap();
        assert!(third.id.starts_with("sha256:"));
        assert_eq!(third.id, content_id("", "no id here"), "content ids are stable");
    }

    #[test]
    fn reads_the_dates_real_data_carries_and_names_the_field_at_fault() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("arxiv.jsonl");
        std::fs::write(
            &path,
            concat!(
                r#"{"id":"arXiv:1504.03587","text":"t","published":"2015-04-14","categories":["hep-th","gr-qc"]}"#,
                "\n",
                r#"{"text":"t","published":"2015-04-14T09:30:00+02:00"}"#,
                "\n",
                r#"{"text":"t","published":"Tue, 14 Apr 2015 07:30:00 GMT"}"#,
                "\n",
                r#"{"text":"t","published":null}"#,
                "\n",
                r#"{"text":"t","published":"yesterday"}"#,
                "\n",
                r#"{"text":5}"#,
                "\n",
                r#"{"title":"no text"}"#,
                "\n",
            ),
        )
        .unwrap();
        let items: Vec<_> = read_documents(&path).unwrap().collect();
        let published = |i: usize| items[i].as_ref().unwrap().published.map(|t| t.to_rfc3339());
        assert_eq!(published(0).as_deref(), Some("2015-04-14T00:00:00+00:00"));
        assert_eq!(published(1).as_deref(), Some("2015-04-14T07:30:00+00:00"));
        assert_eq!(published(2).as_deref(), Some("2015-04-14T07:30:00+00:00"));
        assert_eq!(published(3), None);
        let labels = items[0].as_ref().unwrap().labels.clone().unwrap();
        assert_eq!(labels.categories, ["hep-th", "gr-qc"]);
        let error = |i: usize| items[i].as_ref().unwrap_err().to_string();
        assert!(
            error(4).starts_with(&format!(
                "{}:5: not a document record: published: \"yesterday\" is not a date",
                path.display()
            )),
            "{}",
            error(4)
        );
        assert!(error(5).contains(": text: invalid type: integer `5`, expected a string"), "{}", error(5));
        assert!(!error(5).contains("column"), "{}", error(5));
        assert!(error(6).ends_with("missing field `text`"), "{}", error(6));
    }

    #[test]
    fn reads_a_folder_of_text_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/b.txt"), b"second \xff file").unwrap();
        std::fs::write(dir.path().join("a.txt"), "first file").unwrap();
        let docs: Vec<Document> = read_documents(dir.path()).unwrap().map(Result::unwrap).collect();
        assert_eq!(docs.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), ["file:a.txt", "file:sub/b.txt"]);
        assert_eq!(docs[1].title, "b");
        assert!(docs[1].text.contains('\u{fffd}'));
    }
}
