//! A model store: model files kept by version, two pointers — `live`, the model the classifiers serve,
//! and `candidate`, one waiting to be judged — and the history of every change of either.
//!
//! The same layout in a folder (an embedded run, a compose volume) and under an S3 prefix:
//!
//! ```text
//! models/<digest>.model   every model published, gzip-compressed, named by its version: the SHA-256 of
//!                         its payload, which `docclass eval --json` and every result row print
//! state.json              {"live": …, "candidate": …, "history": […]}: the pointers and their history
//! ```
//!
//! Every change of the pointers is a compare-and-swap of `state.json` (S3's conditional `PutObject`,
//! a lock file in a folder), so two operators — or an operator and a pool promoting on its own — never
//! overwrite each other's change. A model file is never changed once written: its name is its digest.
//!
//! Readers ([`watch`]) ask for `state.json` only if it changed (a conditional `GetObject`: an idle pool
//! costs one request per interval, answered with `304 Not Modified`), download a new live model, check
//! that its digest is the one the pointer names, load it beside the one serving, and swap.
#![warn(missing_docs)]

mod backend;
mod folder;
#[cfg(feature = "s3")]
mod s3;
mod state;
pub mod verdict;
mod watch;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use adapters_aws::AwsSettings;
use text_model::Model;
use text_model::judge::Judged;

pub use state::{Action, Change, Pointer, State};
pub use watch::{Judging, ROLLBACK_METRIC, Watch, load_live};

use backend::{Backend, BackendError, Condition, Got};

/// Where a store is: a folder, or `s3://bucket/prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUri {
    /// A folder on this machine (created on first publish).
    Folder(PathBuf),
    /// A bucket and a key prefix (empty, or ending in `/`).
    S3 {
        /// The bucket.
        bucket: String,
        /// The prefix of every key, `""` or ending in `/`.
        prefix: String,
    },
}

impl FromStr for StoreUri {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if let Some(rest) = text.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            // S3's own rule for bucket names: 3–63 of lowercase letters, digits, dots and hyphens.
            let valid_bucket = (3..=63).contains(&bucket.len())
                && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
            if !valid_bucket {
                return Err(format!("{text:?} does not name an S3 bucket (s3://bucket/prefix)"));
            }
            let prefix = prefix.trim_matches('/');
            let prefix = if prefix.is_empty() { String::new() } else { format!("{prefix}/") };
            return Ok(Self::S3 { bucket: bucket.to_owned(), prefix });
        }
        if text.contains("://") && !text.starts_with("file://") {
            return Err(format!("{text:?} is neither a folder nor s3://bucket/prefix"));
        }
        let path = text.strip_prefix("file://").unwrap_or(text);
        if path.is_empty() {
            return Err("an empty model store path".to_owned());
        }
        Ok(Self::Folder(PathBuf::from(path)))
    }
}

impl fmt::Display for StoreUri {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Folder(path) => write!(formatter, "{}", path.display()),
            Self::S3 { bucket, prefix } => write!(formatter, "s3://{bucket}/{prefix}"),
        }
    }
}

/// Why the store could not do what was asked: one line each, naming the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store did not answer, or answered with an error that may pass.
    #[error("model store {store} cannot be reached: {detail}")]
    Unreachable {
        /// The store.
        store: String,
        /// What happened.
        detail: String,
    },
    /// The store answered no: no such bucket, access denied.
    #[error("model store {store} refused: {detail}")]
    Refused {
        /// The store.
        store: String,
        /// What it said.
        detail: String,
    },
    /// A pointer names a model the store does not hold.
    #[error("model store {store} holds no file for model {version} (a dangling pointer)")]
    Missing {
        /// The store.
        store: String,
        /// The version named.
        version: String,
    },
    /// A stored model is damaged, or is not the model its name says.
    #[error("model {version} in store {store} is refused: {detail}")]
    Damaged {
        /// The store.
        store: String,
        /// The version named.
        version: String,
        /// What is wrong.
        detail: String,
    },
    /// `state.json` is not the store's.
    #[error("model store {store}: state.json is unreadable: {detail}")]
    BadState {
        /// The store.
        store: String,
        /// What is wrong.
        detail: String,
    },
    /// The change asked for makes no sense in the store's state (no candidate to promote, nothing to
    /// roll back to).
    #[error("{0}")]
    Invalid(String),
    /// A file to publish is not a model.
    #[error(transparent)]
    File(#[from] text_model::ModelFileError),
}

/// A store, opened: cheap to clone.
#[derive(Clone)]
pub struct ModelStore {
    uri: StoreUri,
    backend: Arc<Backend>,
    requests: Arc<AtomicU64>,
}

/// A model as the store holds it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StoredModel {
    /// Its version.
    pub version: String,
    /// Bytes stored (compressed).
    pub bytes: u64,
    /// When it was stored.
    pub stored_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// How many times a change is tried again when another writer changed `state.json` first.
const CHANGE_ATTEMPTS: usize = 8;

/// The key of the pointers and history.
const STATE_KEY: &str = "state.json";

impl ModelStore {
    /// Opens the store at `uri` (S3 through `aws`); makes no request.
    pub async fn open(uri: &StoreUri, aws: &AwsSettings) -> Self {
        let backend = match uri {
            StoreUri::Folder(path) => Backend::Folder(folder::Folder::new(path.clone())),
            #[cfg(feature = "s3")]
            StoreUri::S3 { bucket, prefix } => Backend::S3(s3::Bucket::new(aws, bucket.clone(), prefix.clone()).await),
            #[cfg(not(feature = "s3"))]
            StoreUri::S3 { .. } => {
                let _ = aws;
                Backend::Unsupported(
                    "this build has no S3 support (the container image's docclass leaves it out): use a folder \
                     store, or a docclass built with its default features",
                )
            }
        };
        Self { uri: uri.clone(), backend: Arc::new(backend), requests: Arc::new(AtomicU64::new(0)) }
    }

    /// Where it is.
    pub fn uri(&self) -> &StoreUri {
        &self.uri
    }

    /// Requests made to the store since it was opened: what an idle watcher costs is measured by it.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    fn error(&self, error: BackendError) -> StoreError {
        let store = self.uri.to_string();
        match error {
            BackendError::Unreachable(detail) => StoreError::Unreachable { store, detail },
            BackendError::Refused(detail) => StoreError::Refused { store, detail },
        }
    }

    /// One request to the backend: counted, its failure named after the store. Every request goes
    /// through here, so [`ModelStore::requests`] misses none.
    async fn request<T>(&self, call: impl Future<Output = Result<T, BackendError>>) -> Result<T, StoreError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        call.await.map_err(|error| self.error(error))
    }

    async fn get(&self, key: &str, known: Option<&str>) -> Result<Got, StoreError> {
        self.request(self.backend.get(key, known)).await
    }

    /// The pointers and history, and the tag that names this state for a compare-and-swap (`None`: the
    /// store holds no state yet).
    pub async fn state(&self) -> Result<(State, Option<String>), StoreError> {
        Ok(self.state_if_changed(None).await?.unwrap_or_default())
    }

    /// The state, or `None` when it is still the one `known` names (an S3 `304 Not Modified`).
    pub async fn state_if_changed(&self, known: Option<&str>) -> Result<Option<(State, Option<String>)>, StoreError> {
        match self.get(STATE_KEY, known).await? {
            Got::Unchanged => Ok(None),
            Got::Missing => Ok(Some((State::default(), None))),
            Got::Object { bytes, tag } => {
                let state = serde_json::from_slice(&bytes)
                    .map_err(|error| StoreError::BadState { store: self.uri.to_string(), detail: error.to_string() })?;
                Ok(Some((state, Some(tag))))
            }
        }
    }

    /// Applies `change` to the state and writes it if no one else wrote first (else reads again and
    /// retries): returns the entry it added to the history, or `None` when `change` found nothing to do.
    async fn change(
        &self,
        change: impl Fn(&mut State) -> Result<Option<Change>, StoreError>,
    ) -> Result<Option<Change>, StoreError> {
        for _ in 0..CHANGE_ATTEMPTS {
            let (mut state, tag) = self.state().await?;
            let Some(entry) = change(&mut state)? else { return Ok(None) };
            state.record(entry.clone());
            let bytes = serde_json::to_vec_pretty(&state).expect("a state always serialises");
            let condition = tag.map_or(Condition::Absent, Condition::Matches);
            if self.request(self.backend.put(STATE_KEY, bytes, condition)).await? {
                return Ok(Some(entry));
            }
        }
        Err(StoreError::Unreachable {
            store: self.uri.to_string(),
            detail: format!("state.json changed under {CHANGE_ATTEMPTS} attempts in a row; try again"),
        })
    }

    /// Stores the model file at `file` (verified: a model this build loads) and points `live` at it, or
    /// `candidate` when `as_candidate`. Publishing the version that is already there changes nothing.
    ///
    /// # Errors
    /// When the file is not a usable model, or the store cannot be written.
    pub async fn publish(&self, file: &Path, as_candidate: bool, by: &str) -> Result<Option<Change>, StoreError> {
        let path = file.to_owned();
        let (model, bytes) = tokio::task::spawn_blocking(move || -> Result<_, StoreError> {
            let bytes =
                std::fs::read(&path).map_err(|source| text_model::ModelFileError::Io { path: path.clone(), source })?;
            let model = Model::from_bytes(&bytes, &path)?;
            Ok((model, gzipped(bytes)))
        })
        .await
        .expect("the publish task does not panic")?;
        let version = model.version().to_owned();
        // A model file, once written, is never written again: its name is its digest.
        self.request(self.backend.put(&model_key(&version), bytes, Condition::Absent)).await?;
        let holdout = model.provenance().and_then(|p| p.holdout.clone());
        self.change(|state| {
            let pointer = if as_candidate { &state.candidate } else { &state.live };
            if pointer.as_ref().is_some_and(|p| p.version == version) {
                return Ok(None);
            }
            let action = if as_candidate { Action::PublishCandidate } else { Action::Publish };
            Ok(Some(state.set(action, &version, by, holdout.clone())))
        })
        .await
    }

    /// Makes the candidate live.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] when there is no candidate, or its file is missing.
    pub async fn promote(&self, by: &str, reason: &str) -> Result<Change, StoreError> {
        let (state, _) = self.state().await?;
        let candidate = state.candidate.as_ref().ok_or_else(|| {
            StoreError::Invalid(format!(
                "model store {} has no candidate to promote (publish one with `docclass model publish FILE --candidate`)",
                self.uri
            ))
        })?;
        self.ensure_held(&candidate.version).await?;
        self.change(|state| {
            let candidate = state.candidate.clone().ok_or_else(|| {
                StoreError::Invalid(format!("model store {}: the candidate was taken away meanwhile", self.uri))
            })?;
            let mut change = state.set(Action::Promote, &candidate.version, by, candidate.holdout.clone());
            change.reason = reason.to_owned();
            Ok(Some(change))
        })
        .await
        .map(|change| change.expect("a promotion always changes the state"))
    }

    /// Puts back the model the live one replaced; rolling back again goes one further back.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] when there is no live model or nothing it replaced.
    pub async fn rollback(&self, by: &str, reason: &str) -> Result<Change, StoreError> {
        let (state, _) = self.state().await?;
        let target =
            state.rollback_target().map_err(|why| StoreError::Invalid(format!("model store {}: {why}", self.uri)))?;
        self.ensure_held(&target).await?;
        self.change(|state| {
            let target = state
                .rollback_target()
                .map_err(|why| StoreError::Invalid(format!("model store {}: {why}", self.uri)))?;
            // The figures it was published with come back with it.
            let holdout = state.holdout_of(&target);
            let mut change = state.set(Action::Rollback, &target, by, holdout);
            change.reason = reason.to_owned();
            Ok(Some(change))
        })
        .await
        .map(|change| change.expect("a rollback always changes the state"))
    }

    /// Writes what this process (`instance`) judged of a live model against a shadow, beside what the
    /// other processes judged of the same pair: `judgements/<live>/<shadow>/<instance>.json`.
    ///
    /// # Errors
    /// When the store cannot be written.
    pub async fn write_judged(&self, instance: &str, judged: &Judged) -> Result<(), StoreError> {
        let key = format!("{}{}.json", judged_prefix(&judged.live, &judged.shadow), key_safe(instance));
        let bytes = serde_json::to_vec(judged).expect("counts always serialise");
        self.request(self.backend.put(&key, bytes, Condition::Any)).await.map(|_| ())
    }

    /// What every process judged of `live` against `shadow`, summed. A file that is not a judgement
    /// (or of another pair) is skipped with a warning: one bad writer does not blind the rest.
    ///
    /// # Errors
    /// When the store cannot be read.
    pub async fn judged(&self, live: &str, shadow: &str) -> Result<Judged, StoreError> {
        let prefix = judged_prefix(live, shadow);
        let mut total = Judged::new(live, shadow);
        for (key, _, _) in self.request(self.backend.list(&prefix)).await? {
            let Got::Object { bytes, .. } = self.get(&key, None).await? else { continue };
            match serde_json::from_slice::<Judged>(&bytes) {
                Ok(judged) if judged.live == live && judged.shadow == shadow => total.merge(&judged),
                Ok(_) => tracing::warn!(store = %self.uri, key, "a judgement of another pair of models; skipped"),
                Err(error) => tracing::warn!(store = %self.uri, key, "an unreadable judgement ({error}); skipped"),
            }
        }
        Ok(total)
    }

    /// Carries out `verdict`, reached on what the pools judged of `live` against `shadow`, if the
    /// store still holds that pair (else another process decided first, or an operator changed it):
    /// returns the history entry, or `None` when there was nothing to do.
    ///
    /// # Errors
    /// When the store cannot be read or written.
    pub async fn decide(
        &self,
        verdict: verdict::Verdict,
        live: &str,
        shadow: &str,
        by: &str,
    ) -> Result<Option<Change>, StoreError> {
        use text_model::judge::ShadowRole;
        use verdict::Verdict;
        let (action, role, evidence) = match verdict {
            Verdict::Wait => return Ok(None),
            Verdict::Promote(evidence) => (Action::Promote, ShadowRole::Candidate, evidence),
            Verdict::Drop(evidence) => (Action::Drop, ShadowRole::Candidate, evidence),
            Verdict::Confirm(evidence) => (Action::Confirm, ShadowRole::Previous, evidence),
            Verdict::Rollback(evidence) => (Action::Rollback, ShadowRole::Previous, evidence),
        };
        if action == Action::Rollback {
            self.ensure_held(shadow).await?;
        }
        self.change(|state| {
            let pair = state.live.as_ref().map(|p| p.version.as_str()) == Some(live)
                && state.shadow().is_some_and(|(version, r)| version == shadow && r == role);
            if !pair {
                return Ok(None);
            }
            let (version, holdout) = match action {
                Action::Promote => (shadow, state.candidate.as_ref().and_then(|c| c.holdout.clone())),
                Action::Drop => (shadow, None),
                Action::Confirm => (live, None),
                _ => (shadow, state.holdout_of(shadow)),
            };
            let mut change = state.set(action, version, by, holdout);
            change.reason = match action {
                Action::Promote => format!("the candidate judged better {evidence}"),
                Action::Drop => format!("the candidate judged worse {evidence}"),
                Action::Confirm => format!("judged no worse than the model it replaced {evidence}"),
                _ => format!("the live model judged worse than the one it replaced {evidence}"),
            };
            change.judged = Some(evidence);
            Ok(Some(change))
        })
        .await
    }

    /// Every model the store holds.
    pub async fn models(&self) -> Result<Vec<StoredModel>, StoreError> {
        let mut models: Vec<StoredModel> = self
            .request(self.backend.list(MODELS_PREFIX))
            .await?
            .into_iter()
            .filter_map(|(key, bytes, stored_at)| {
                let hex = key.strip_prefix(MODELS_PREFIX)?.strip_suffix(MODEL_SUFFIX)?;
                Some(StoredModel { version: format!("sha256:{hex}"), bytes, stored_at })
            })
            .collect();
        models.sort_by(|a, b| a.stored_at.cmp(&b.stored_at).then_with(|| a.version.cmp(&b.version)));
        Ok(models)
    }

    /// Whether the store holds `version`'s file.
    pub async fn holds(&self, version: &str) -> Result<bool, StoreError> {
        self.request(self.backend.exists(&model_key(version))).await
    }

    async fn ensure_held(&self, version: &str) -> Result<(), StoreError> {
        if self.holds(version).await? {
            Ok(())
        } else {
            Err(StoreError::Missing { store: self.uri.to_string(), version: version.to_owned() })
        }
    }

    /// Downloads `version` and loads it (on the blocking pool): refused unless its digest is `version`.
    ///
    /// # Errors
    /// [`StoreError::Missing`], [`StoreError::Damaged`], or the store's own failure.
    pub async fn fetch(&self, version: &str) -> Result<Model, StoreError> {
        let key = model_key(version);
        let bytes = match self.get(&key, None).await? {
            Got::Object { bytes, .. } => bytes,
            Got::Missing | Got::Unchanged => {
                return Err(StoreError::Missing { store: self.uri.to_string(), version: version.to_owned() });
            }
        };
        let origin = PathBuf::from(format!("{}{key}", self.uri));
        let model = tokio::task::spawn_blocking(move || Model::from_bytes(&bytes, &origin))
            .await
            .expect("decoding a model does not panic");
        let damaged =
            |detail: String| StoreError::Damaged { store: self.uri.to_string(), version: version.to_owned(), detail };
        let model = model.map_err(|error| damaged(error.to_string()))?;
        if model.version() != version {
            return Err(damaged(format!("its content digest is {}", model.version())));
        }
        Ok(model)
    }
}

impl fmt::Debug for ModelStore {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_struct("ModelStore").field("uri", &self.uri.to_string()).finish()
    }
}

const MODELS_PREFIX: &str = "models/";

/// Where the judgements of `live` against `shadow` are.
fn judged_prefix(live: &str, shadow: &str) -> String {
    format!(
        "judgements/{}/{}/",
        key_safe(live.strip_prefix("sha256:").unwrap_or(live)),
        key_safe(shadow.strip_prefix("sha256:").unwrap_or(shadow))
    )
}

/// `text` with only the characters a key part may hold (letters, digits, `-`, `_`, `.`), so a crafted
/// version or instance name cannot name another key.
fn key_safe(text: &str) -> String {
    let safe: String =
        text.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')).take(128).collect();
    safe.trim_start_matches('.').to_owned()
}
const MODEL_SUFFIX: &str = ".model";

/// Where `version`'s file is: `models/<hex digest>.model`. Only the hex digits of a version go into a
/// key, so a crafted version cannot name another key.
fn model_key(version: &str) -> String {
    let hex: String =
        version.strip_prefix("sha256:").unwrap_or(version).chars().filter(char::is_ascii_hexdigit).collect();
    format!("{MODELS_PREFIX}{hex}{MODEL_SUFFIX}")
}

/// `bytes` gzip-compressed, unless they are already: a store's downloads are a third of the model's size.
fn gzipped(bytes: Vec<u8>) -> Vec<u8> {
    use std::io::Write;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        return bytes;
    }
    let mut encoder =
        flate2::write::GzEncoder::new(Vec::with_capacity(bytes.len() / 3), flate2::Compression::default());
    encoder.write_all(&bytes).expect("writing to memory cannot fail");
    encoder.finish().expect("writing to memory cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_addresses_are_folders_or_buckets() {
        assert_eq!(
            "s3://models-bucket/docclass".parse(),
            Ok(StoreUri::S3 { bucket: "models-bucket".into(), prefix: "docclass/".into() })
        );
        assert_eq!(
            "s3://models-bucket".parse(),
            Ok(StoreUri::S3 { bucket: "models-bucket".into(), prefix: String::new() })
        );
        assert_eq!("/var/models".parse(), Ok(StoreUri::Folder("/var/models".into())));
        assert_eq!("file:///var/models".parse(), Ok(StoreUri::Folder("/var/models".into())));
        for bad in ["s3://", "s3://UPPER/x", "https://example.com/models", ""] {
            assert!(bad.parse::<StoreUri>().is_err(), "{bad}");
        }
        assert_eq!(StoreUri::S3 { bucket: "b".repeat(3), prefix: "p/".into() }.to_string(), "s3://bbb/p/");
    }

    #[test]
    fn a_version_names_one_key_and_no_other() {
        assert_eq!(model_key("sha256:00ff00ff00ff00ff"), "models/00ff00ff00ff00ff.model");
        assert_eq!(model_key("sha256:../../state.json"), "models/ae.model");
    }
}
