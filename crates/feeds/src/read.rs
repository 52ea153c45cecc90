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
    /// Reading stopped part-way (a truncated `.gz`, a disk error): the rest of the source is not read.
    #[error("{path}: reading stopped at line {line}: {source}")]
    Stopped {
        /// The file.
        path: PathBuf,
        /// 1-based number of the line that could not be read.
        line: usize,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file that holds NUL bytes in its first 8 KiB — an image, an archive, an executable — is no
    /// text: refused as a whole, as ripgrep and git tell binary files, instead of as thousands of bad
    /// records or as a "document" of bytes.
    #[error("{path} is a binary file, not text (it holds NUL bytes)")]
    Binary {
        /// The file.
        path: PathBuf,
    },
    /// A folder entry that is no file to read: a device (`/dev/zero` would never end), a FIFO, a socket,
    /// a symbolic link to a folder (not followed: it could loop) or one that leads nowhere.
    #[error("{path} is {what}: not read")]
    NotAFile {
        /// The entry.
        path: PathBuf,
        /// What it is.
        what: &'static str,
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

/// The longest JSON Lines record (or text file of a folder) read. A document's text may hold 192 KiB
/// (`Limits`) and its envelope must fit an SQS message (256 KiB); a record four times that is no
/// document. Longer ones are refused without being held in memory: a line is skipped to its end, a file
/// not read past the limit.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;

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
        files.sort_by(|a, b| entry_path(a).cmp(entry_path(b)));
        let root = path.to_owned();
        return Ok(Box::new(files.into_iter().map(move |file| text_file(&root, &file?))));
    }
    let mut reader = open_maybe_gzip(path).map_err(io)?;
    if is_binary(reader.fill_buf().map_err(io)?) {
        return Err(ReadError::Binary { path: path.to_owned() });
    }
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
    Box::new(BoundedLines::new(reader).filter_map(move |(line, read)| {
        let record = |detail: String| Some(Err(ReadError::Record { path: path.clone(), line, detail }));
        let bytes = match read {
            Ok(Line::Bytes(bytes)) => bytes,
            Ok(Line::TooLong(length)) => {
                return record(format!("{length} bytes, more than the {MAX_RECORD_BYTES} a record may have"));
            }
            Err(source) => return Some(Err(ReadError::Stopped { path: path.clone(), line, source })),
        };
        let text = match std::str::from_utf8(&bytes) {
            Ok(text) => text,
            Err(error) => return record(format!("not UTF-8 text (byte {})", error.valid_up_to() + 1)),
        };
        if text.trim().is_empty() {
            return None;
        }
        Some(parse_record(text).map(|record| record.into_document(&source)).map_err(|detail| ReadError::Record {
            path: path.clone(),
            line,
            detail,
        }))
    }))
}

/// One line as [`BoundedLines`] reads it.
enum Line {
    /// Its bytes, without the line end.
    Bytes(Vec<u8>),
    /// Longer than [`MAX_RECORD_BYTES`]: skipped, this many bytes long.
    TooLong(usize),
}

/// Lines of at most [`MAX_RECORD_BYTES`], numbered from 1, that end at the first read error.
///
/// Written here because `BufRead::lines` can do neither: it holds a line of any length in memory, and
/// after an error (a truncated gzip stream) it yields the same error for ever, so a reader that counts
/// errors and goes on never ends.
struct BoundedLines<R> {
    reader: R,
    line: usize,
    done: bool,
}

impl<R: BufRead> BoundedLines<R> {
    fn new(reader: R) -> Self {
        Self { reader, line: 0, done: false }
    }
}

impl<R: BufRead> Iterator for BoundedLines<R> {
    type Item = (usize, std::io::Result<Line>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        self.line += 1;
        let (mut bytes, mut length, mut ended) = (Vec::new(), 0_usize, false);
        loop {
            let available = match self.reader.fill_buf() {
                Ok(available) => available,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    self.done = true;
                    return Some((self.line, Err(error)));
                }
            };
            if available.is_empty() {
                self.done = true;
                break;
            }
            let (chunk, used) = match available.iter().position(|&byte| byte == b'\n') {
                Some(at) => (&available[..at], at + 1),
                None => (available, available.len()),
            };
            ended = used > chunk.len();
            length += chunk.len();
            if length <= MAX_RECORD_BYTES {
                bytes.extend_from_slice(chunk);
            }
            self.reader.consume(used);
            if ended {
                break;
            }
        }
        if !ended && length == 0 {
            return None;
        }
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        Some((self.line, Ok(if length > MAX_RECORD_BYTES { Line::TooLong(length) } else { Line::Bytes(bytes) })))
    }
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

/// Whether the first bytes of a file say it is binary: a NUL byte in its first 8 KiB.
fn is_binary(head: &[u8]) -> bool {
    head[..head.len().min(8192)].contains(&0)
}

fn entry_path(entry: &Result<PathBuf, ReadError>) -> &Path {
    match entry {
        Ok(path) | Err(ReadError::NotAFile { path, .. }) => path,
        Err(_) => Path::new(""),
    }
}

/// The files below `dir`, recursively: regular files, and symbolic links to regular files (followed:
/// a folder of links is a common way to pick documents). Hidden entries (`.git`, `.DS_Store`) are
/// passed over; anything else that is no file is an `Err` entry, so it is counted and named.
fn collect_files(dir: &Path, files: &mut Vec<Result<PathBuf, ReadError>>) -> Result<(), ReadError> {
    let io = |source| ReadError::Io { path: dir.to_owned(), source };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let kind = entry.file_type().map_err(io)?;
        let not_a_file = |what| Err(ReadError::NotAFile { path: path.clone(), what });
        if kind.is_dir() {
            collect_files(&path, files)?;
        } else if kind.is_file() {
            files.push(Ok(path));
        } else if kind.is_symlink() {
            files.push(match std::fs::metadata(&path) {
                Ok(target) if target.is_file() => Ok(path),
                Ok(target) if target.is_dir() => not_a_file("a symbolic link to a folder"),
                Ok(_) => not_a_file("a symbolic link to a device, FIFO or socket"),
                Err(_) => not_a_file("a symbolic link that leads nowhere"),
            });
        } else {
            files.push(not_a_file("a device, FIFO or socket"));
        }
    }
    Ok(())
}

/// A text file as a document: its path below the folder is its id, its name the title.
fn text_file(root: &Path, file: &Path) -> Result<Document, ReadError> {
    let mut bytes = Vec::new();
    // One byte past the limit tells a file at the limit from a longer one, without reading the rest.
    File::open(file)
        .and_then(|f| f.take(MAX_RECORD_BYTES as u64 + 1).read_to_end(&mut bytes))
        .map_err(|source| ReadError::Io { path: file.to_owned(), source })?;
    if bytes.len() > MAX_RECORD_BYTES {
        return Err(ReadError::Record {
            path: file.to_owned(),
            line: 1,
            detail: format!("more than the {MAX_RECORD_BYTES} bytes a document may have"),
        });
    }
    if is_binary(&bytes) {
        return Err(ReadError::Binary { path: file.to_owned() });
    }
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
    fn a_truncated_gzip_ends_its_source_with_one_error_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("half.jsonl.gz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        for i in 0..2_000 {
            writeln!(gz, r#"{{"id":"d{i}","text":"document number {i} with some words"}}"#).unwrap();
        }
        let whole = gz.finish().unwrap();
        std::fs::write(&path, &whole[..whole.len() / 2]).unwrap();

        // Bounded: before the fix the iterator yielded the same error for ever.
        let items: Vec<_> = read_documents(&path).unwrap().take(10_000).collect();
        assert!(items.len() < 2_000, "read {} items from half a file", items.len());
        let errors: Vec<&ReadError> = items.iter().filter_map(|item| item.as_ref().err()).collect();
        assert_eq!(errors.len(), 1, "{errors:?}");
        let ReadError::Stopped { line, .. } = errors[0] else { panic!("{:?}", errors[0]) };
        assert_eq!(*line, items.len(), "the error is the last item and names the line it stopped at");
        let message = errors[0].to_string();
        assert!(message.contains("half.jsonl.gz") && message.contains(&format!("line {line}")), "{message}");
    }

    #[test]
    fn an_overlong_or_binary_line_is_refused_by_number_and_the_next_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mixed.jsonl");
        let mut file = File::create(&path).unwrap();
        writeln!(file, r#"{{"text":"first"}}"#).unwrap();
        let huge = "x".repeat(3 * MAX_RECORD_BYTES);
        writeln!(file, r#"{{"text":"{huge}"}}"#).unwrap();
        file.write_all(b"\xff\xfe binary\n").unwrap();
        write!(file, "{{\"text\":\"last, no newline\"}}").unwrap();
        drop(file);

        let items: Vec<_> = read_documents(&path).unwrap().collect();
        assert_eq!(items.len(), 4);
        assert_eq!(items[0].as_ref().unwrap().text, "first");
        let error = |i: usize| items[i].as_ref().unwrap_err().to_string();
        assert!(error(1).contains(":2: ") && error(1).contains("more than the 1048576"), "{}", error(1));
        assert!(error(2).contains(":3: ") && error(2).contains("not UTF-8"), "{}", error(2));
        assert_eq!(items[3].as_ref().unwrap().text, "last, no newline");
    }

    #[test]
    fn a_text_file_over_the_limit_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("big.txt"), vec![b'a'; MAX_RECORD_BYTES + 1]).unwrap();
        std::fs::write(dir.path().join("ok.txt"), "fine").unwrap();
        let items: Vec<_> = read_documents(dir.path()).unwrap().collect();
        assert!(items[0].as_ref().is_err_and(|e| e.to_string().contains("more than the")), "{:?}", items[0]);
        assert_eq!(items[1].as_ref().unwrap().text, "fine");
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

    /// Links to files are followed; links to folders, links to nowhere and devices are named and
    /// counted; binary files are refused, not classified; hidden entries are passed over.
    #[cfg(unix)]
    #[test]
    fn a_folder_names_each_entry_it_does_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("linked.txt"), "a linked document").unwrap();
        std::os::unix::fs::symlink(outside.path().join("linked.txt"), dir.path().join("a-link.txt")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("b-folder-link")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("missing"), dir.path().join("c-broken")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("d-zero")).unwrap();
        std::fs::write(dir.path().join("e-image.png"), b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").unwrap();
        std::fs::create_dir(dir.path().join(".git")).unwrap();
        std::fs::write(dir.path().join(".git/config"), "hidden").unwrap();
        let items: Vec<_> = read_documents(dir.path()).unwrap().collect();
        let shown: Vec<String> = items
            .iter()
            .map(|item| match item {
                Ok(document) => document.text.clone(),
                Err(error) => error.to_string().rsplit('/').next().unwrap().to_owned(),
            })
            .collect();
        assert_eq!(
            shown,
            [
                "a linked document",
                "b-folder-link is a symbolic link to a folder: not read",
                "c-broken is a symbolic link that leads nowhere: not read",
                "d-zero is a symbolic link to a device, FIFO or socket: not read",
                "e-image.png is a binary file, not text (it holds NUL bytes)",
            ]
        );
    }

    #[test]
    fn a_binary_file_is_refused_whole_not_as_thousands_of_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("archive.jsonl");
        let mut bytes = b"{\"text\":\"x\"}\n".to_vec();
        bytes.extend((0..40_000u32).map(|n| (n % 251) as u8));
        std::fs::write(&path, bytes).unwrap();
        let error = read_documents(&path).err().expect("refused");
        assert!(
            error.to_string().ends_with("archive.jsonl is a binary file, not text (it holds NUL bytes)"),
            "{error}"
        );
    }
}
