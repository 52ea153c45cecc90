//! The few operations a store needs of where it keeps its objects, on a folder or on S3.

use chrono::{DateTime, Utc};

use crate::folder::Folder;
#[cfg(feature = "s3")]
use crate::s3::Bucket;

/// Where the objects are.
pub(crate) enum Backend {
    Folder(Folder),
    #[cfg(feature = "s3")]
    S3(Bucket),
    /// A store this build cannot reach: every operation is refused with why.
    #[cfg_attr(feature = "s3", allow(dead_code))]
    Unsupported(&'static str),
}

/// What a read found.
pub(crate) enum Got {
    /// The object, and the tag naming this content (S3's ETag; a digest in a folder).
    Object { bytes: Vec<u8>, tag: String },
    /// Nothing under the key.
    Missing,
    /// Still the content the caller's tag names.
    Unchanged,
}

/// When a write may happen.
pub(crate) enum Condition {
    /// Only if nothing is under the key yet.
    Absent,
    /// Only if the content is still the one this tag names.
    Matches(String),
    /// Whatever is there: an object only its one writer writes (a process's judgement).
    Any,
}

/// Why an operation failed.
pub(crate) enum BackendError {
    /// No answer, or one that may change on its own (a timeout, a 5xx): only a remote store has these.
    #[cfg_attr(not(feature = "s3"), allow(dead_code))]
    Unreachable(String),
    /// A definite no (no bucket, access denied).
    Refused(String),
}

impl Backend {
    /// Reads `key`; with `known`, only if its content is no longer the one `known` names.
    pub(crate) async fn get(&self, key: &str, known: Option<&str>) -> Result<Got, BackendError> {
        match self {
            Self::Folder(folder) => folder.get(key, known).await,
            #[cfg(feature = "s3")]
            Self::S3(bucket) => bucket.get(key, known).await,
            Self::Unsupported(why) => Err(BackendError::Refused((*why).to_owned())),
        }
    }

    /// Writes `key` if `condition` holds: `Ok(false)` when it did not (someone else wrote first, or the
    /// object already exists).
    pub(crate) async fn put(&self, key: &str, bytes: Vec<u8>, condition: Condition) -> Result<bool, BackendError> {
        match self {
            Self::Folder(folder) => folder.put(key, bytes, condition).await,
            #[cfg(feature = "s3")]
            Self::S3(bucket) => bucket.put(key, bytes, condition).await,
            Self::Unsupported(why) => Err(BackendError::Refused((*why).to_owned())),
        }
    }

    /// Whether something is under `key`.
    pub(crate) async fn exists(&self, key: &str) -> Result<bool, BackendError> {
        match self {
            Self::Folder(folder) => folder.exists(key).await,
            #[cfg(feature = "s3")]
            Self::S3(bucket) => bucket.exists(key).await,
            Self::Unsupported(why) => Err(BackendError::Refused((*why).to_owned())),
        }
    }

    /// The keys under `prefix`, with their sizes and times.
    pub(crate) async fn list(&self, prefix: &str) -> Result<Vec<(String, u64, Option<DateTime<Utc>>)>, BackendError> {
        match self {
            Self::Folder(folder) => folder.list(prefix).await,
            #[cfg(feature = "s3")]
            Self::S3(bucket) => bucket.list(prefix).await,
            Self::Unsupported(why) => Err(BackendError::Refused((*why).to_owned())),
        }
    }
}
