//! A store in a folder: an embedded run's, or a compose volume shared by the containers.
//!
//! Writes go to a temporary file renamed into place, so a reader never sees half a file; changes of
//! `state.json` hold an exclusive lock on `.lock` while they compare and write, so two writers on one
//! machine (or one volume) take turns.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use sha2::Digest;

use crate::backend::{BackendError, Condition, Got};

pub(crate) struct Folder {
    root: PathBuf,
}

impl Folder {
    pub(crate) fn new(root: PathBuf) -> Self {
        Self { root }
    }

    /// Runs blocking file work off the async threads.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Path) -> std::io::Result<T> + Send + 'static,
    ) -> Result<T, BackendError> {
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || work(&root).map_err(|error| refused(&root, &error)))
            .await
            .expect("file work does not panic")
    }

    pub(crate) async fn get(&self, key: &str, known: Option<&str>) -> Result<Got, BackendError> {
        let (key, known) = (key.to_owned(), known.map(str::to_owned));
        self.blocking(move |root| match std::fs::read(root.join(&key)) {
            Ok(bytes) => {
                let tag = tag_of(&bytes);
                Ok(if known.as_deref() == Some(tag.as_str()) { Got::Unchanged } else { Got::Object { bytes, tag } })
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Got::Missing),
            Err(error) => Err(error),
        })
        .await
    }

    pub(crate) async fn put(&self, key: &str, bytes: Vec<u8>, condition: Condition) -> Result<bool, BackendError> {
        let key = key.to_owned();
        self.blocking(move |root| {
            let path = root.join(&key);
            std::fs::create_dir_all(path.parent().expect("a key is under the root"))?;
            // Held until dropped: the compare and the write are one step for every writer of this folder.
            let lock = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(root.join(".lock"))?;
            lock.lock()?;
            let current = match std::fs::read(&path) {
                Ok(bytes) => Some(tag_of(&bytes)),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
                Err(error) => return Err(error),
            };
            let holds = match &condition {
                Condition::Absent => current.is_none(),
                Condition::Matches(tag) => current.as_ref() == Some(tag),
                Condition::Any => true,
            };
            if !holds {
                return Ok(false);
            }
            let temporary = path.with_extension("partial");
            let mut file = std::fs::File::create(&temporary)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            std::fs::rename(&temporary, &path)?;
            Ok(true)
        })
        .await
    }

    pub(crate) async fn exists(&self, key: &str) -> Result<bool, BackendError> {
        let key = key.to_owned();
        self.blocking(move |root| root.join(&key).try_exists()).await
    }

    pub(crate) async fn list(&self, prefix: &str) -> Result<Vec<(String, u64, Option<DateTime<Utc>>)>, BackendError> {
        let prefix = prefix.to_owned();
        self.blocking(move |root| {
            let entries = match std::fs::read_dir(root.join(&prefix)) {
                Ok(entries) => entries,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(error) => return Err(error),
            };
            let mut found = Vec::new();
            for entry in entries {
                let entry = entry?;
                let metadata = entry.metadata()?;
                if metadata.is_file() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    let modified = metadata.modified().ok().map(DateTime::<Utc>::from);
                    found.push((format!("{prefix}{name}"), metadata.len(), modified));
                }
            }
            Ok(found)
        })
        .await
    }
}

/// The tag of a file's content: its SHA-256.
fn tag_of(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes).iter().map(|byte| format!("{byte:02x}")).collect()
}

fn refused(root: &Path, error: &std::io::Error) -> BackendError {
    BackendError::Refused(format!("{}: {error}", root.display()))
}
