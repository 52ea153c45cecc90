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
        let mut bytes = std::fs::read(path).map_err(io)?;
        if bytes.starts_with(&GZIP_MAGIC) {
            let mut decompressed = Vec::new();
            flate2::read::GzDecoder::new(bytes.as_slice())
                .read_to_end(&mut decompressed)
                .map_err(|error| ModelFileError::Corrupt { path: path.to_owned(), detail: format!("gzip: {error}") })?;
            bytes = decompressed;
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
