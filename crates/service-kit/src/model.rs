//! A service's model: where the default one is cached, and loading whichever file it is given — a
//! linear model or, in a build with the `bert` feature, a transformer head.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use adapters_aws::AwsSettings;
use anyhow::Context;
use model_store::verdict::Rules;
use model_store::{Judging, ModelStore, Watch};
use text_model::{Classifier, Model, ModelFormat, ServedModel};
use tokio_util::sync::CancellationToken;

use crate::ModelStoreArgs;

/// The file name, in [`model_cache_dir`], of the default model a service loads when given none: the one
/// `docclass train` and `docclass run` cache for 20 Newsgroups.
pub const DEFAULT_MODEL_FILE: &str = "default-20ng.model";

/// Where default models are cached: `cache_dir` if given, else the user's cache folder
/// (`$XDG_CACHE_HOME/docclass` or `~/.cache/docclass` on Linux), else the temporary folder.
pub fn model_cache_dir(cache_dir: Option<&Path>) -> PathBuf {
    cache_dir
        .map(Path::to_owned)
        .unwrap_or_else(|| dirs::cache_dir().unwrap_or_else(std::env::temp_dir).join("docclass"))
}

/// Loads `path`, or the default model that `docclass train`/`docclass run` cache: a linear model file,
/// or, in a build with the `bert` feature, a transformer head file (`docclass train --backend bert`).
///
/// # Errors
/// When the file is missing, corrupt or incompatible, or needs a feature this build lacks; the message
/// says how to get one.
pub fn load_model(path: Option<&Path>, cache_dir: Option<&Path>) -> anyhow::Result<Arc<dyn Classifier>> {
    let path = path.map(Path::to_owned).unwrap_or_else(|| model_cache_dir(cache_dir).join(DEFAULT_MODEL_FILE));
    let how = || {
        format!(
            "no usable model at {} (train one with `docclass train --out FILE`, or run `docclass run` once to cache the default)",
            path.display()
        )
    };
    // The file says what it is (text_model::ModelFormat); a build without the bert feature still knows
    // a head file when it sees one, and says which build it needs.
    match ModelFormat::detect(&path).with_context(how)? {
        ModelFormat::Linear => Ok(Arc::new(Model::load(&path).with_context(how)?)),
        ModelFormat::BertHead => load_bert(&path).with_context(how),
    }
}

/// The model a pool serves: with a store, the store's live model, followed until `shutdown` (a watcher
/// swaps it when the store's pointer moves); else, or while the store names none or cannot be read, the
/// `fallback` — a service's model file, the image's baked-in model. The watcher also judges the
/// store's shadow model as `store` says, naming `service` in its decisions; it runs on `watchers` until
/// `shutdown`, then writes what was judged since its last look. With `metrics_stack`, the judgement and
/// every rollback are also CloudWatch metrics of that stack (embedded metric format on standard output).
///
/// # Errors
/// When neither the store nor the file gives a model.
pub async fn serve_model(
    service: &str,
    fallback: impl FnOnce() -> anyhow::Result<Arc<dyn Classifier>>,
    store: &ModelStoreArgs,
    aws: &AwsSettings,
    watchers: &tokio_util::task::TaskTracker,
    metrics_stack: Option<String>,
    shutdown: CancellationToken,
) -> anyhow::Result<ServedModel> {
    let Some(uri) = &store.model_store else {
        return Ok(ServedModel::new(fallback()?));
    };
    let store_handle = ModelStore::open(uri, aws).await;
    let served = match model_store::load_live(&store_handle).await {
        Ok(Some(model)) => {
            tracing::info!(store = %uri, model = model.version(), "serving the store's live model");
            ServedModel::new(Arc::new(model))
        }
        outcome => {
            match outcome {
                Err(error) => tracing::warn!(store = %uri, "{error}: serving the model file until the store gives one"),
                _ => {
                    tracing::info!(store = %uri, "the model store names no live model yet: serving the model file until it does")
                }
            }
            ServedModel::new(fallback().with_context(|| format!("and model store {uri} gave no live model"))?)
        }
    };
    served.set_canary_percent(store.canary_percent);
    let judging = Judging {
        auto: !store.no_auto_promote,
        rules: Rules { min_documents: store.promote_after_documents },
        metrics_stack,
        ..Judging::automatic(service)
    };
    // On `watchers`, so that a caller can wait for the watcher's last write of what was judged.
    watchers.spawn(Watch::new(store_handle, served.clone(), store.model_store_interval).judging(judging).run(shutdown));
    Ok(served)
}

#[cfg(feature = "bert")]
fn load_bert(path: &Path) -> anyhow::Result<Arc<dyn Classifier>> {
    Ok(Arc::new(bert_backend::BertClassifier::load(path)?))
}

#[cfg(not(feature = "bert"))]
fn load_bert(path: &Path) -> anyhow::Result<Arc<dyn Classifier>> {
    anyhow::bail!(
        "{} is a transformer (bert) model, and this build has no `bert` feature: build with `--features bert` (see docs/models.md, 'Transformer backend')",
        path.display()
    )
}
