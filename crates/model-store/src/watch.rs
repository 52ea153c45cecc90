//! Following a store's live pointer while serving: the model swapped between documents, never a restart.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use text_model::judge::{Judged, Level, ShadowRole};
use text_model::{Classifier, Model, ServedModel, Shadow};
use tokio_util::sync::CancellationToken;

use crate::verdict::{self, Rules, Verdict};
use crate::{Action, ModelStore, StoreError};

/// The longest wait between two attempts at a model whose download failed: after a failure the wait
/// doubles from the poll interval up to this.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(3600);

/// The metric a rollback publishes, once per rollback, under [`adapters_aws::emf::NAMESPACE`].
pub const ROLLBACK_METRIC: &str = "ModelRollbacks";

/// Prints one embedded-metric-format line on standard output.
fn emit(dimensions: &[(&str, &str)], metrics: &[(&str, f64, &str)]) {
    println!("{}", adapters_aws::emf::line(dimensions, metrics, chrono::Utc::now().timestamp_millis()));
}

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
///
/// It also keeps the store's shadow model ([`crate::State::shadow`]: a candidate, or the model a new live
/// one replaced) beside the live one, writes what this process judged of the pair into the store each
/// interval, and — unless told not to — applies [`crate::verdict`] to what every process judged:
/// promotes, drops, confirms or rolls back, one log line and one history entry each.
pub struct Watch {
    store: ModelStore,
    served: ServedModel,
    interval: Duration,
    judging: Judging,
}

/// How a watcher judges a shadow model.
#[derive(Debug, Clone)]
pub struct Judging {
    /// Decide on the evidence (else only record it, and leave decisions to an operator).
    pub auto: bool,
    /// The thresholds.
    pub rules: Rules,
    /// Names this process's judgement file and its decisions in the history (`topic-classifier
    /// ip-10-0-1-7/1`).
    pub instance: String,
    /// Publish the pools' judgement and every rollback as CloudWatch metrics of this stack, printed on
    /// standard output in the embedded metric format (on ECS: see [`adapters_aws::emf`]).
    pub metrics_stack: Option<String>,
}

impl Judging {
    /// Automatic decisions by default rules, for `service` (a binary's name), in a process named by
    /// its host, its process id and a random number.
    pub fn automatic(service: &str) -> Self {
        let host = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "host".into());
        Self {
            auto: true,
            rules: Rules::default(),
            instance: format!("{service}-{host}-{}-{:08x}", std::process::id(), fastrand::u32(..)),
            metrics_stack: None,
        }
    }
}

/// What the watcher knows between two ticks.
#[derive(Default)]
struct Seen {
    tag: Option<String>,
    /// The live model the store names.
    live: Option<String>,
    /// The shadow model the store names, and why.
    shadow: Option<(String, ShadowRole)>,
    refused: HashSet<String>,
    /// The version whose download failed, when to try it again, and the wait after that.
    retry: Option<(String, Instant, Duration)>,
    unreachable: bool,
    /// The model this tick's swap replaced, until `follow_shadow` takes it: the shadow while the swap is
    /// watched, without a download.
    replaced: Option<Arc<dyn Classifier>>,
    /// The judgement last written, so an idle pool does not write it again.
    written: Option<Judged>,
}

impl Watch {
    /// Watches `store` every `interval` for `served`, deciding on evidence by default rules.
    pub fn new(store: ModelStore, served: ServedModel, interval: Duration) -> Self {
        Self { store, served, interval, judging: Judging::automatic("docclass") }
    }

    /// Judges as `judging` says.
    pub fn judging(self, judging: Judging) -> Self {
        Self { judging, ..self }
    }

    /// Runs until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut seen = Seen::default();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => {
                    // What was judged since the last interval is evidence too: written before leaving.
                    self.write_judged(&mut seen).await;
                    return;
                }
                () = tokio::time::sleep(self.interval) => {}
            }
            if !self.read_state(&mut seen).await {
                continue;
            }
            self.follow_live(&mut seen).await;
            self.follow_shadow(&mut seen).await;
            if self.judge(&mut seen).await {
                // A decision moved a pointer: read it at once rather than an interval later.
                seen.tag = None;
                if self.read_state(&mut seen).await {
                    self.follow_live(&mut seen).await;
                    self.follow_shadow(&mut seen).await;
                }
            }
        }
    }

    /// Reads `state.json` if it changed; false while the store cannot be read.
    async fn read_state(&self, seen: &mut Seen) -> bool {
        let store = self.store.uri().to_string();
        match self.store.state_if_changed(seen.tag.as_deref()).await {
            Ok(None) => {}
            Ok(Some((state, new_tag))) => {
                seen.tag = new_tag;
                let live = state.live.as_ref().map(|pointer| pointer.version.clone());
                if live != seen.live {
                    // A pointer that names a refused model again after naming another gets a new try.
                    seen.refused.retain(|version| Some(version) == live.as_ref());
                    seen.live = live;
                }
                seen.shadow = state.shadow();
            }
            Err(error) => {
                if !seen.unreachable {
                    tracing::warn!(store, "{error}; still serving model {}", self.served.version());
                }
                seen.unreachable = true;
                return false;
            }
        }
        if std::mem::take(&mut seen.unreachable) {
            tracing::info!(store, "model store answers again");
        }
        true
    }

    /// Swaps the live model when the store names another.
    async fn follow_live(&self, seen: &mut Seen) {
        let store = self.store.uri().to_string();
        let Some(version) = seen.live.clone() else { return };
        let serving = self.served.version();
        if version == serving || seen.refused.contains(&version) {
            return;
        }
        if seen.retry.as_ref().is_some_and(|(failed, at, _)| *failed == version && Instant::now() < *at) {
            return;
        }
        let started = Instant::now();
        // The shadow, when it is the model now named live (a promotion), needs no download.
        let held = self.served.shadow().map(|shadow| shadow.model).filter(|model| model.version() == version);
        let loaded = match held {
            Some(model) => Ok(model),
            None => self.store.fetch(&version).await.map(|model| Arc::new(model) as Arc<dyn Classifier>),
        };
        match loaded {
            Ok(model) => {
                seen.replaced = Some(self.served.replace(model));
                seen.retry = None;
                tracing::info!(
                    store,
                    model = version,
                    replaced = serving,
                    load_ms = started.elapsed().as_millis() as u64,
                    "now serving model {version} (was {serving})"
                );
            }
            Err(error @ (StoreError::Damaged { .. } | StoreError::Missing { .. })) => {
                tracing::error!(store, model = version, "{error}; still serving model {serving}");
                seen.refused.insert(version);
            }
            Err(error) => {
                let wait = match &seen.retry {
                    Some((failed, _, wait)) if *failed == version => (*wait * 2).min(MAX_RETRY_WAIT),
                    _ => self.interval,
                };
                tracing::warn!(
                    store,
                    model = version,
                    "{error}; still serving model {serving}, trying again in {}s",
                    wait.as_secs()
                );
                seen.retry = Some((version, Instant::now() + wait, wait));
            }
        }
    }

    /// Puts the store's shadow model beside the live one, or takes it away.
    async fn follow_shadow(&self, seen: &mut Seen) {
        let store = self.store.uri().to_string();
        // Only this tick's swap needs it: kept longer, every replaced model would stay in memory.
        let replaced = seen.replaced.take();
        let current = self.served.shadow();
        let Some((version, role)) = seen.shadow.clone() else {
            if current.is_some() {
                self.served.set_shadow(None);
                tracing::info!(store, "no model in the shadow any more");
            }
            return;
        };
        if current.as_ref().is_some_and(|shadow| shadow.model.version() == version && shadow.role == role) {
            return;
        }
        if seen.refused.contains(&version) || version == self.served.version() {
            return;
        }
        let spare = replaced.filter(|model| model.version() == version);
        let model = match spare {
            Some(model) => model,
            None => match self.store.fetch(&version).await {
                Ok(model) => Arc::new(model),
                Err(error) => {
                    tracing::error!(store, model = version, "{error}; it is not judged");
                    if matches!(error, StoreError::Damaged { .. } | StoreError::Missing { .. }) {
                        seen.refused.insert(version);
                    }
                    return;
                }
            },
        };
        let why = match role {
            ShadowRole::Candidate => "the candidate",
            ShadowRole::Previous => "the model it replaced",
        };
        self.served.set_shadow(Some(Shadow { model, role }));
        tracing::info!(
            store,
            model = version,
            "judging model {} against {why}, {version}, on the documents' labels",
            self.served.version()
        );
    }

    /// Writes this process's judgement if it changed since it was last written; returns it when written.
    async fn write_judged(&self, seen: &mut Seen) -> Option<Judged> {
        let judged = self.served.judged()?;
        if judged.is_empty() || seen.written.as_ref() == Some(&judged) {
            return None;
        }
        if let Err(error) = self.store.write_judged(&self.judging.instance, &judged).await {
            tracing::warn!(store = %self.store.uri(), "{error}; the judgement is written again next time");
            return None;
        }
        seen.written = Some(judged.clone());
        Some(judged)
    }

    /// Writes this process's judgement, and applies the rule to every process's. True when a decision
    /// moved a pointer.
    async fn judge(&self, seen: &mut Seen) -> bool {
        let store = self.store.uri().to_string();
        let Some(shadow) = self.served.shadow() else { return false };
        let Some(judged) = self.write_judged(seen).await else { return false };
        if !self.judging.auto && self.judging.metrics_stack.is_none() {
            return false;
        }
        let all = match self.store.judged(&judged.live, &judged.shadow).await {
            Ok(all) => all,
            Err(error) => {
                tracing::warn!(store, "{error}; deciding next time");
                return false;
            }
        };
        let counts = all.total(Level::Category);
        if let Some(stack) = &self.judging.metrics_stack {
            emit(
                &[("Stack", stack), ("Role", shadow.role.name())],
                &[
                    ("ShadowLabelledDocuments", counts.labelled as f64, "Count"),
                    ("LiveAccuracy", 100.0 * counts.live_accuracy(), "Percent"),
                    ("ShadowAccuracy", 100.0 * counts.shadow_accuracy(), "Percent"),
                ],
            );
        }
        if !self.judging.auto {
            return false;
        }
        let verdict = verdict::verdict(shadow.role, &counts, &self.judging.rules);
        if verdict == Verdict::Wait {
            return false;
        }
        match self.store.decide(verdict, &judged.live, &judged.shadow, &self.judging.instance).await {
            Ok(Some(change)) => {
                let line = format!("{:?} {}: {}", change.action, change.version, change.reason).to_lowercase();
                match change.action {
                    Action::Rollback | Action::Drop => tracing::warn!(store, model = change.version, "{line}"),
                    _ => tracing::info!(store, model = change.version, "{line}"),
                }
                if let (Action::Rollback, Some(stack)) = (change.action, &self.judging.metrics_stack) {
                    // What the stack's rollback alarm watches (deploy renders it with the model store).
                    emit(&[("Stack", stack)], &[(ROLLBACK_METRIC, 1.0, "Count")]);
                }
                true
            }
            Ok(None) => true,
            Err(error) => {
                tracing::warn!(store, "{error}; deciding next time");
                false
            }
        }
    }
}
