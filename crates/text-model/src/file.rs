//! The model file: a small header, then the model.
//!
//! ```text
//! offset  size  field
//! 0       8     magic "DOCCLASS"
//! 8       4     format version, little-endian u32
//! 12      4     CRC-32 of the payload, little-endian u32
//! 16      8     payload length, little-endian u64
//! 24      …     payload: the model, postcard-encoded
//! ```
//!
//! The version lets a newer build refuse an older file by name; the checksum turns a truncated or
//! damaged file into a clear error instead of a model that silently predicts nonsense.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::Model;

const MAGIC: &[u8; 8] = b"DOCCLASS";
/// The first bytes of a gzip stream (RFC 1952).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// Bumped whenever the payload layout changes.
const FORMAT_VERSION: u32 = 3;
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
        let payload = postcard::to_allocvec(self).expect("a model always serialises");
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
        self.version = version_name(checksum);
        Ok(())
    }

    /// Reads a model written by [`Model::save`], as it is or gzip-compressed (the container images carry
    /// it compressed: 2.5 MB instead of 6 MB against their 20 MB budget).
    ///
    /// # Errors
    /// A [`ModelFileError`] saying whether the file is missing, foreign, of another format version, or
    /// corrupt.
    pub fn load(path: &Path) -> Result<Self, ModelFileError> {
        let io = |source| ModelFileError::Io { path: path.to_owned(), source };
        let too_large = || ModelFileError::Corrupt {
            path: path.to_owned(),
            detail: format!("holds more than the {MAX_MODEL_BYTES} bytes a model may have"),
        };
        let mut bytes = Vec::new();
        std::fs::File::open(path).map_err(io)?.take(MAX_MODEL_BYTES + 1).read_to_end(&mut bytes).map_err(io)?;
        if bytes.starts_with(&GZIP_MAGIC) {
            let mut decompressed = Vec::new();
            // One byte past the limit tells a model at the limit from a bomb, without inflating the rest.
            flate2::read::GzDecoder::new(bytes.as_slice())
                .take(MAX_MODEL_BYTES + 1)
                .read_to_end(&mut decompressed)
                .map_err(|error| ModelFileError::Corrupt { path: path.to_owned(), detail: format!("gzip: {error}") })?;
            bytes = decompressed;
        }
        if bytes.len() as u64 > MAX_MODEL_BYTES {
            return Err(too_large());
        }
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(ModelFileError::NotAModel { path: path.to_owned() });
        }
        let corrupt = |detail: String| ModelFileError::Corrupt { path: path.to_owned(), detail };
        if bytes.len() < HEADER_BYTES {
            return Err(corrupt(format!("only {} bytes, shorter than the header", bytes.len())));
        }
        let field = |at: usize| -> [u8; 4] { bytes[at..at + 4].try_into().expect("four bytes within the header") };
        let version = u32::from_le_bytes(field(8));
        if version != FORMAT_VERSION {
            return Err(ModelFileError::IncompatibleVersion { path: path.to_owned(), found: version });
        }
        let checksum = u32::from_le_bytes(field(12));
        let length = u64::from_le_bytes(bytes[16..24].try_into().expect("eight bytes within the header"));
        let payload = &bytes[HEADER_BYTES..];
        if payload.len() as u64 != length {
            return Err(corrupt(format!("payload is {} bytes, the header says {length}", payload.len())));
        }
        let actual = crc32fast::hash(payload);
        if actual != checksum {
            return Err(corrupt(format!("checksum {actual:08x} does not match {checksum:08x}")));
        }
        let mut model: Model = postcard::from_bytes(payload).map_err(|error| corrupt(error.to_string()))?;
        model.version = version_name(checksum);
        Ok(model)
    }
}

fn version_name(checksum: u32) -> String {
    format!("svm-v{FORMAT_VERSION}-{checksum:08x}")
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
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(MAGIC).unwrap();
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
