//! The model file: a small header, then the model.
//!
//! ```text
//! offset  size  field
//! 0       8     magic "DOCCLASS"
//! 8       4     format version, little-endian u32
//! 12      4     CRC-32 of the payload, little-endian u32
//! 16      8     payload length, little-endian u64
//! 24      …     payload: the model, then its provenance as JSON text, postcard-encoded
//! ```
//!
//! The version lets a newer build refuse an older file by name (format 3, the model without its
//! provenance, is still read); the checksum turns a truncated or damaged file into a clear error
//! instead of a model that silently predicts nonsense. The model's version is the SHA-256 of the
//! payload: the same model has the same version however the file is compressed or named.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use sha2::Digest;

use crate::Model;

const MAGIC: &[u8; 8] = b"DOCCLASS";
/// The first bytes of a gzip stream (RFC 1952).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// Bumped whenever the payload layout changes.
const FORMAT_VERSION: u32 = 4;
/// The format before the provenance: still read.
const FORMAT_WITHOUT_PROVENANCE: u32 = 3;
const HEADER_BYTES: usize = 24;
/// The most a model file may hold, decompressed. The arXiv model is 28 MB; a file that inflates past
/// this is refused before it is all in memory (a small gzip bomb inflates to gigabytes).
pub const MAX_MODEL_BYTES: u64 = 512 * 1024 * 1024;

/// Why a model file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
    /// The file could not be read or written.
    #[error("cannot access model file {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is something else.
    #[error("{path} is not a docclass model file (train one with `docclass train`)")]
    NotAModel {
        /// The file.
        path: PathBuf,
    },
    /// Written by a build with another format.
    #[error(
        "model file {path} has format version {found}; this build reads version {FORMAT_VERSION} (retrain with `docclass train`)"
    )]
    IncompatibleVersion {
        /// The file.
        path: PathBuf,
        /// Its format version.
        found: u32,
    },
    /// Damaged or truncated.
    #[error("model file {path} is corrupt: {detail}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
}

impl Model {
    /// Writes the model to `path` (atomically: a temporary file renamed into place) and sets its version.
    ///
    /// # Errors
    /// [`ModelFileError::Io`] when the file cannot be written.
    pub fn save(&mut self, path: &Path) -> Result<(), ModelFileError> {
        let io = |source| ModelFileError::Io { path: path.to_owned(), source };
        // Serialising in-memory vectors and maps cannot fail.
        let provenance = serde_json::to_string(&self.provenance).expect("a provenance always serialises");
        let payload = postcard::to_allocvec(&(&*self, provenance)).expect("a model always serialises");
        let checksum = crc32fast::hash(&payload);
        let mut bytes = Vec::with_capacity(HEADER_BYTES + payload.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes.extend_from_slice(&checksum.to_le_bytes());
        bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&payload);

        let temporary = path.with_extension("partial");
        let mut file = std::fs::File::create(&temporary).map_err(io)?;
        file.write_all(&bytes).map_err(io)?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&temporary, path).map_err(io)?;
        self.version = version_name(&payload);
        Ok(())
    }

    /// Reads a model written by [`Model::save`], as it is or gzip-compressed (the container images carry
    /// it compressed: 2.5 MB instead of 6 MB against their 20 MB budget).
    ///
    /// The file is decoded as it is read, never held whole beside the model it decodes to: a classifier's
    /// peak memory is then the model's own (the arXiv model's 28 MB file read first put a classifier's
    /// peak at 68 MB for 49 MB in use afterwards).
    ///
    /// # Errors
    /// A [`ModelFileError`] saying whether the file is missing, foreign, of another format version, or
    /// corrupt.
    pub fn load(path: &Path) -> Result<Self, ModelFileError> {
        let io = |source| ModelFileError::Io { path: path.to_owned(), source };
        let file = BufReader::with_capacity(READ_BUFFER_BYTES, std::fs::File::open(path).map_err(io)?);
        read_plain_or_gzipped(file, path)
    }

    /// Reads a model from the bytes of a file [`Model::save`] wrote, as they are or gzip-compressed: what
    /// a model store downloads. `origin` names them in errors.
    ///
    /// # Errors
    /// As [`Model::load`].
    pub fn from_bytes(bytes: &[u8], origin: &Path) -> Result<Self, ModelFileError> {
        read_plain_or_gzipped(bytes, origin)
    }
}

/// Reads a model from `reader`, inflating it first when it starts as gzip does; `path` names it in errors.
fn read_plain_or_gzipped<R: BufRead>(mut reader: R, path: &Path) -> Result<Model, ModelFileError> {
    let io = |source| ModelFileError::Io { path: path.to_owned(), source };
    if reader.fill_buf().map_err(io)?.starts_with(&GZIP_MAGIC) {
        let inflated = BufReader::with_capacity(READ_BUFFER_BYTES, flate2::bufread::GzDecoder::new(reader));
        // A damaged stream shows as a read error of the inflated bytes: say it is the gzip's.
        read_model(inflated, path, |error| ModelFileError::Corrupt {
            path: path.to_owned(),
            detail: format!("gzip: {error}"),
        })
    } else {
        read_model(reader, path, io)
    }
}

/// Bytes read from the file (and from the inflated stream) at a time.
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// Room for the bytes the decoder borrows while decoding: the labels (postcard's reader keeps every
/// string it reads in this one buffer; the arXiv model's labels are 2 KB). Allocated zeroed and untouched
/// beyond what the labels fill, so its size costs address space, not memory.
const LABEL_BYTES: usize = 64 * 1024 * 1024;

/// Reads the header and decodes the payload from `reader`; `read_error` says what a failed read means.
fn read_model<R: Read>(
    mut reader: R,
    path: &Path,
    read_error: impl Fn(std::io::Error) -> ModelFileError,
) -> Result<Model, ModelFileError> {
    let corrupt = |detail: String| ModelFileError::Corrupt { path: path.to_owned(), detail };
    let mut header = Vec::with_capacity(HEADER_BYTES);
    reader.by_ref().take(HEADER_BYTES as u64).read_to_end(&mut header).map_err(&read_error)?;
    if header.len() < MAGIC.len() || &header[..MAGIC.len()] != MAGIC {
        return Err(ModelFileError::NotAModel { path: path.to_owned() });
    }
    if header.len() < HEADER_BYTES {
        return Err(corrupt(format!("only {} bytes, shorter than the header", header.len())));
    }
    let field = |at: usize| -> [u8; 4] { header[at..at + 4].try_into().expect("four bytes within the header") };
    let version = u32::from_le_bytes(field(8));
    if version != FORMAT_VERSION && version != FORMAT_WITHOUT_PROVENANCE {
        return Err(ModelFileError::IncompatibleVersion { path: path.to_owned(), found: version });
    }
    let checksum = u32::from_le_bytes(field(12));
    let length = u64::from_le_bytes(header[16..24].try_into().expect("eight bytes within the header"));
    // Refused before anything is inflated: a small gzip bomb would otherwise inflate to gigabytes.
    if length > MAX_MODEL_BYTES {
        return Err(corrupt(format!("holds more than the {MAX_MODEL_BYTES} bytes a model may have")));
    }

    // The checksum is summed over what the decoder reads, in the buffer's chunks, not byte by byte.
    let mut payload = BufReader::with_capacity(READ_BUFFER_BYTES, Checked::new(reader.by_ref().take(length)));
    let mut labels = vec![0_u8; LABEL_BYTES];
    let decoded = if version == FORMAT_WITHOUT_PROVENANCE {
        postcard::from_io::<Model, _>((&mut payload, labels.as_mut_slice())).map(|(model, _)| (model, None))
    } else {
        postcard::from_io::<(Model, String), _>((&mut payload, labels.as_mut_slice()))
            .map(|((model, provenance), _)| (model, Some(provenance)))
    };
    // What the decoder left of the payload still counts towards its length and checksum.
    let drained = std::io::copy(&mut payload, &mut std::io::sink());
    let Checked { hasher, digest, bytes, error, .. } = payload.into_inner();
    if let Some(error) = error {
        return Err(read_error(error));
    }
    drained.map_err(&read_error)?;
    if bytes != length {
        return Err(corrupt(format!("payload is {bytes} bytes, the header says {length}")));
    }
    let mut after = [0_u8; 1];
    if reader.read(&mut after).map_err(&read_error)? > 0 {
        return Err(corrupt(format!("more bytes follow the payload of {length} the header says")));
    }
    let actual = hasher.finalize();
    if actual != checksum {
        return Err(corrupt(format!("checksum {actual:08x} does not match {checksum:08x}")));
    }
    let (mut model, provenance) = decoded.map_err(|error| corrupt(error.to_string()))?;
    model.check().map_err(|detail| corrupt(format!("not a usable model: {detail}")))?;
    model.provenance = match provenance {
        Some(text) => serde_json::from_str(&text).map_err(|error| corrupt(format!("provenance: {error}")))?,
        None => None,
    };
    model.version = digest_name(digest.finalize().as_slice());
    Ok(model)
}

/// A reader that sums a CRC-32 of and counts what passes through it, and keeps the first read error (the
/// decoder above it sees only "unexpected end").
struct Checked<R> {
    inner: R,
    hasher: crc32fast::Hasher,
    /// The SHA-256 of the payload: the model's version.
    digest: sha2::Sha256,
    bytes: u64,
    error: Option<std::io::Error>,
}

impl<R> Checked<R> {
    fn new(inner: R) -> Self {
        Self { inner, hasher: crc32fast::Hasher::new(), digest: sha2::Sha256::new(), bytes: 0, error: None }
    }
}

impl<R: Read> Read for Checked<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        match self.inner.read(buffer) {
            Ok(read) => {
                self.hasher.update(&buffer[..read]);
                self.digest.update(&buffer[..read]);
                self.bytes += read as u64;
                Ok(read)
            }
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => Err(error),
            Err(error) => {
                let answer = std::io::Error::new(error.kind(), error.to_string());
                self.error.get_or_insert(error);
                Err(answer)
            }
        }
    }
}

/// A model's version: the SHA-256 of its payload, as `sha256:` and the first 16 hex digits (64 bits:
/// no two models of one store will share it by chance).
fn version_name(payload: &[u8]) -> String {
    digest_name(sha2::Sha256::digest(payload).as_slice())
}

fn digest_name(digest: &[u8]) -> String {
    let hex: String = digest.iter().take(8).map(|byte| format!("{byte:02x}")).collect();
    format!("sha256:{hex}")
}

/// The `format` a transformer head file (`docclass train --backend bert`, JSON) names itself with.
pub const BERT_HEAD_FORMAT: &str = "docclass-bert-head";

/// What a model file holds, read from its own tag — the linear format's magic, or the JSON head's
/// `format` field — so a loader dispatches on what the file says it is, not on a guess.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelFormat {
    /// A linear model ([`Model::save`]): it starts with the magic `DOCCLASS`, as it is or inside gzip.
    Linear,
    /// A transformer head: a JSON object whose `format` is [`BERT_HEAD_FORMAT`].
    BertHead,
}

impl ModelFormat {
    /// Reads the tag of the file at `path`.
    ///
    /// # Errors
    /// [`ModelFileError::Io`] when it cannot be read, [`ModelFileError::NotAModel`] when it carries no
    /// tag of ours, [`ModelFileError::Corrupt`] when its gzip stream is damaged.
    pub fn detect(path: &Path) -> Result<Self, ModelFileError> {
        let io = |source| ModelFileError::Io { path: path.to_owned(), source };
        let not_a_model = || ModelFileError::NotAModel { path: path.to_owned() };
        let mut start = Vec::with_capacity(MAGIC.len());
        std::fs::File::open(path).map_err(io)?.take(MAGIC.len() as u64).read_to_end(&mut start).map_err(io)?;
        if start.starts_with(&GZIP_MAGIC) {
            // The tag is inside: inflate just its bytes.
            let mut inner = [0_u8; MAGIC.len()];
            flate2::read::GzDecoder::new(std::fs::File::open(path).map_err(io)?)
                .read_exact(&mut inner)
                .map_err(|error| ModelFileError::Corrupt { path: path.to_owned(), detail: format!("gzip: {error}") })?;
            return if &inner == MAGIC { Ok(Self::Linear) } else { Err(not_a_model()) };
        }
        if start == MAGIC {
            return Ok(Self::Linear);
        }
        if start.trim_ascii_start().starts_with(b"{") {
            /// The one field that says what a JSON model file is; the rest is the backend's.
            #[derive(serde::Deserialize)]
            struct Tag {
                format: Option<String>,
            }
            let file = std::io::BufReader::new(std::fs::File::open(path).map_err(io)?);
            let tag: Tag = serde_json::from_reader(file).map_err(|_| not_a_model())?;
            if tag.format.as_deref() == Some(BERT_HEAD_FORMAT) {
                return Ok(Self::BertHead);
            }
        }
        Err(not_a_model())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gzip_bomb_is_refused_before_it_is_all_inflated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bomb.bin");
        // A header claiming a payload past the limit, then the zeros to back the claim.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(MAGIC).unwrap();
        gz.write_all(&FORMAT_VERSION.to_le_bytes()).unwrap();
        gz.write_all(&0_u32.to_le_bytes()).unwrap();
        gz.write_all(&(MAX_MODEL_BYTES + 1).to_le_bytes()).unwrap();
        let zeros = vec![0_u8; 1 << 20];
        for _ in 0..(MAX_MODEL_BYTES >> 20) + 1 {
            gz.write_all(&zeros).unwrap();
        }
        let bomb = gz.finish().unwrap();
        assert!(bomb.len() < 1 << 20, "{} bytes", bomb.len());
        std::fs::write(&path, bomb).unwrap();
        let error = Model::load(&path).unwrap_err();
        assert!(error.to_string().contains(&path.display().to_string()), "{error}");
        assert!(matches!(&error, ModelFileError::Corrupt { detail, .. } if detail.contains("more than")), "{error:?}");
    }

    /// A file written with a valid header and checksum around `payload`.
    fn file_around(path: &Path, payload: &[u8]) {
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
        bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        bytes.extend_from_slice(payload);
        std::fs::write(path, bytes).unwrap();
    }

    /// A checksum only says the bytes are the ones written: an empty model (every list empty, postcard's
    /// zeros) used to load and then panic on every document. It is refused, by name, when loaded.
    #[test]
    fn an_empty_model_with_a_valid_checksum_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.bin");
        // Every list empty, and an empty provenance: postcard's zeros.
        file_around(&path, &[0_u8; 22]);
        let error = Model::load(&path).unwrap_err();
        assert!(
            matches!(&error, ModelFileError::Corrupt { detail, .. } if detail.contains("not a usable model")),
            "{error:?}"
        );
        // A table with no empty slot, which would probe for ever: refused too.
        let mut full = vec![0_u8; 22];
        full[0] = 1; // one slot…
        full.insert(1, 5); // …holding a non-zero entry
        file_around(&path, &full);
        assert!(Model::load(&path).is_err());
    }

    /// A small trained model.
    fn trained() -> Model {
        let examples: Vec<crate::Example> = (0..40)
            .map(|i| crate::Example {
                id: format!("d{i}"),
                title: String::new(),
                text: if i % 2 == 0 { format!("rocket orbit launch {i}") } else { format!("goal match league {i}") },
                topic: if i % 2 == 0 { "sci".into() } else { "rec".into() },
                subtopic: if i % 2 == 0 { "sci.space".into() } else { "rec.sport".into() },
                categories: Vec::new(),
                published_days: None,
            })
            .collect();
        let config = crate::TrainConfig { holdout_fraction: 0.0, min_df: 1, ..crate::TrainConfig::default() };
        crate::train(&examples, &config, &mut |_| {}).unwrap().0
    }

    /// The version is the content digest, the same when saved and when loaded; the provenance travels
    /// in the file; a file of the format before it (3) still loads, without one.
    #[test]
    fn a_model_file_carries_its_provenance_and_is_named_by_its_digest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.bin");
        let mut model = trained();
        let provenance = crate::Provenance {
            trained_at: "2026-12-06T17:00:00Z".into(),
            files: vec!["a.jsonl".into(), "b.jsonl.gz".into()],
            documents: 40,
            published: Some(("2015-01-01".into(), "2025-12-31".into())),
            topics: vec!["rec".into(), "sci".into()],
            categories: 2,
            holdout: None,
            recipe: serde_json::json!({"c": 1.0}),
        };
        model.set_provenance(provenance.clone());
        model.save(&path).unwrap();
        let saved = model.version().to_owned();
        assert!(saved.starts_with("sha256:") && saved.len() == 23, "{saved}");
        let loaded = Model::load(&path).unwrap();
        assert_eq!((loaded.version(), loaded.provenance()), (saved.as_str(), Some(&provenance)));
        model.save(&dir.path().join("again.bin")).unwrap();
        assert_eq!(model.version(), saved, "the same model, the same version");
        // From bytes, as they are and gzipped, as a model store hands them over: the same version.
        let bytes = std::fs::read(&path).unwrap();
        let mut gzipped = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gzipped.write_all(&bytes).unwrap();
        for bytes in [bytes.clone(), gzipped.finish().unwrap()] {
            assert_eq!(Model::from_bytes(&bytes, Path::new("store")).unwrap().version(), saved);
        }
        let mut flipped = bytes.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(matches!(Model::from_bytes(&flipped, Path::new("store")), Err(ModelFileError::Corrupt { .. })));

        let payload = postcard::to_allocvec(&loaded).unwrap();
        let mut old = MAGIC.to_vec();
        old.extend_from_slice(&FORMAT_WITHOUT_PROVENANCE.to_le_bytes());
        old.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        old.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        old.extend_from_slice(&payload);
        std::fs::write(&path, old).unwrap();
        let old = Model::load(&path).unwrap();
        assert_eq!(old.provenance(), None);
        assert_eq!(old.predict("", "rocket launch").topic.label, "sci");
    }

    #[test]
    fn a_file_is_known_by_its_own_tag() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            path
        };
        let mut linear = MAGIC.to_vec();
        linear.extend_from_slice(&[0; 16]);
        assert_eq!(ModelFormat::detect(&write("plain", &linear)).unwrap(), ModelFormat::Linear);
        let mut gzipped = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gzipped.write_all(&linear).unwrap();
        assert_eq!(ModelFormat::detect(&write("gz", &gzipped.finish().unwrap())).unwrap(), ModelFormat::Linear);
        let head = format!(r#"{{"weights": [[0.5]], "format": "{BERT_HEAD_FORMAT}"}}"#);
        assert_eq!(ModelFormat::detect(&write("head", head.as_bytes())).unwrap(), ModelFormat::BertHead);

        // Look-alikes: the tag named in a string, another format, a truncated gzip, nothing at all.
        let mention = format!(r#"{{"note": "{BERT_HEAD_FORMAT}", "format": "other"}}"#);
        for bytes in [mention.as_bytes(), b"{\"format\": 3}", b"DOCCLAS", b"\x1f\x8b\x08", b""] {
            let error = ModelFormat::detect(&write("other", bytes)).unwrap_err();
            assert!(
                matches!(error, ModelFileError::NotAModel { .. } | ModelFileError::Corrupt { .. }),
                "{bytes:?}: {error}"
            );
        }
    }
}
