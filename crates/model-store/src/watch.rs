//! Following a store's live pointer while serving: the model swapped between documents, never a restart.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use text_model::{Model, ServedModel};
use tokio_util::sync::CancellationToken;

use crate::{ModelStore, StoreError};

/// The longest wait between two attempts at a model whose download failed: after a failure the wait
/// doubles from the poll interval up to this.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(3600);

/// The store's live model, if it names one: what a service serves from its start.
///
/// # Errors
/// When the store cannot be read or its live model is missing or damaged.
pub async fn load_live(store: &ModelStore) -> Result<Option<Model>, StoreError> {
    let (state, _) = store.state().await?;
    match state.live {
        Some(live) => store.fetch(&live.version).await.map(Some),
        None => Ok(None),
    }
}

/// Watches a store's `live` pointer and swaps the model `served` holds when it moves.
///
/// The new model is downloaded, checked against its digest and loaded while the old one keeps serving,
/// then swapped in between two documents: the old one is freed when the documents it is classifying are
/// done. A model that fails to load is refused with one log line and not tried again (until the pointer
/// names it anew after naming another); a download that fails is tried again after a wait that doubles.
pub struct Watch {
    store: ModelStore,
    served: ServedModel,
    interval: Duration,
}

impl Watch {
    /// Watches `store` every `interval` for `served`.
    pub fn new(store: ModelStore, served: ServedModel, interval: Duration) -> Self {
        Self { store, served, interval }
    }

    /// Runs until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let store = self.store.uri().to_string();
        let mut tag: Option<String> = None;
        let mut wanted: Option<String> = None;
        let mut refused: HashSet<String> = HashSet::new();
        // The version whose download failed, when to try it again, and the wait after that.
        let mut retry: Option<(String, Instant, Duration)> = None;
        let mut unreachable = false;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(self.interval) => {}
            }
            match self.store.state_if_changed(tag.as_deref()).await {
                Ok(None) => {}
                Ok(Some((state, new_tag))) => {
                    tag = new_tag;
                    let live = state.live.map(|pointer| pointer.version);
                    if live != wanted {
                        // A pointer that names a refused model again after naming another gets a new try.
                        refused.retain(|version| Some(version) == live.as_ref());
                        wanted = live;
                    }
                }
                Err(error) => {
                    if !unreachable {
                        tracing::warn!(store, "{error}; still serving model {}", self.served.version());
                    }
                    unreachable = true;
                    continue;
                }
            }
            if std::mem::take(&mut unreachable) {
                tracing::info!(store, "model store answers again");
            }
            let Some(version) = wanted.clone() else { continue };
            let serving = self.served.version();
            if version == serving || refused.contains(&version) {
                continue;
            }
            if retry.as_ref().is_some_and(|(failed, at, _)| *failed == version && Instant::now() < *at) {
                continue;
            }
            let started = Instant::now();
            match self.store.fetch(&version).await {
                Ok(model) => {
                    let bytes = model.heap_bytes();
                    self.served.replace(Arc::new(model));
                    retry = None;
                    tracing::info!(
                        store,
                        model = version,
                        replaced = serving,
                        load_ms = started.elapsed().as_millis() as u64,
                        model_bytes = bytes,
                        "now serving model {version} (was {serving})"
                    );
                }
                Err(error @ (StoreError::Damaged { .. } | StoreError::Missing { .. })) => {
                    tracing::error!(store, model = version, "{error}; still serving model {serving}");
                    refused.insert(version);
                }
                Err(error) => {
                    let wait = match &retry {
                        Some((failed, _, wait)) if *failed == version => (*wait * 2).min(MAX_RETRY_WAIT),
                        _ => self.interval,
                    };
                    tracing::warn!(
                        store,
                        model = version,
                        "{error}; still serving model {serving}, trying again in {}s",
                        wait.as_secs()
                    );
                    retry = Some((version, Instant::now() + wait, wait));
                }
            }
        }
    }
}
