//! `docclass model`: what a model file is — its version (the content digest every result row carries)
//! and what it was trained on — and the model store the pools serve from: publish, status, promote,
//! rollback, list.

use std::path::PathBuf;
use text_model::judge::{Agreement, Judged, Level, ShadowRole};

use docclass_types::topology::env;
use model_store::{Change, ModelStore, StoreUri};
use service_kit::AwsArgs;
use text_model::Model;

/// Arguments of `docclass model`.
#[derive(Debug, clap::Args)]
pub struct ModelArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// A model file's version and what it was trained on: files, dates, documents, labels, held-out
    /// figures, settings.
    Show {
        /// The model file.
        file: PathBuf,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Store a model file and make it live (every pool watching the store swaps to it), or the candidate.
    Publish {
        /// The model file (`docclass train --out FILE`).
        file: PathBuf,
        /// Make it the candidate instead of live.
        #[arg(long)]
        candidate: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// The live and candidate models and the history of changes.
    Status {
        #[command(flatten)]
        store: StoreArgs,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Make the candidate live.
    Promote {
        #[command(flatten)]
        store: StoreArgs,
        /// Why, for the history.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Put back the model the live one replaced (again: one further back).
    Rollback {
        #[command(flatten)]
        store: StoreArgs,
        /// Why, for the history.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Every model the store holds.
    List {
        #[command(flatten)]
        store: StoreArgs,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// Which store, and how to reach it when it is on S3.
#[derive(Debug, clap::Args)]
struct StoreArgs {
    /// The model store: a folder, or s3://bucket/prefix.
    #[arg(long = "store", env = env::MODEL_STORE, value_parser = |text: &str| text.parse::<StoreUri>())]
    uri: StoreUri,
    #[command(flatten)]
    aws: AwsArgs,
}

impl StoreArgs {
    async fn open(&self) -> ModelStore {
        ModelStore::open(&self.uri, &self.aws.settings()).await
    }
}

pub fn run(args: ModelArgs) -> anyhow::Result<()> {
    let runtime = || tokio::runtime::Builder::new_current_thread().enable_all().build();
    match args.action {
        Action::Show { file, json } => show(&file, json),
        Action::Publish { file, candidate, store } => runtime()?.block_on(publish(&file, candidate, &store)),
        Action::Status { store, json } => runtime()?.block_on(status(&store, json)),
        Action::Promote { store, reason } => runtime()?.block_on(async {
            let change = store.open().await.promote(&by("promote"), &reason).await?;
            say(&store.uri, &change);
            Ok(())
        }),
        Action::Rollback { store, reason } => runtime()?.block_on(async {
            let change = store.open().await.rollback(&by("rollback"), &reason).await?;
            say(&store.uri, &change);
            Ok(())
        }),
        Action::List { store, json } => runtime()?.block_on(list(&store, json)),
    }
}

/// Who makes a change, for the history: the command, and the user where the environment names one.
fn by(command: &str) -> String {
    match std::env::var("USER").or_else(|_| std::env::var("LOGNAME")) {
        Ok(user) if !user.is_empty() => format!("docclass model {command} ({user})"),
        _ => format!("docclass model {command}"),
    }
}

/// One line for a change made.
fn say(store: &StoreUri, change: &Change) {
    let pointer = if change.action == model_store::Action::PublishCandidate { "candidate" } else { "live" };
    match &change.replaced {
        Some(replaced) => println!("{store}: {pointer} is now {} (was {replaced})", change.version),
        None => println!("{store}: {pointer} is now {}", change.version),
    }
}

async fn publish(file: &std::path::Path, candidate: bool, store: &StoreArgs) -> anyhow::Result<()> {
    match store.open().await.publish(file, candidate, &by("publish")).await? {
        Some(change) => say(&store.uri, &change),
        None => println!(
            "{}: {} is already {}; nothing changed",
            store.uri,
            file.display(),
            if candidate { "the candidate" } else { "live" }
        ),
    }
    Ok(())
}

/// The shadow's figures as JSON: per level, the total and each topic, with 95 % intervals.
pub(crate) fn judged_json(role: ShadowRole, judged: &Judged) -> serde_json::Value {
    let figures = |counts: &Agreement| {
        serde_json::json!({
            "documents": counts.documents,
            "same": counts.same,
            "labelled": counts.labelled,
            "live": { "accuracy": counts.live_accuracy(), "interval": counts.live_interval() },
            "shadow": { "accuracy": counts.shadow_accuracy(), "interval": counts.shadow_interval() },
        })
    };
    let level = |groups: &std::collections::BTreeMap<String, Agreement>, level| {
        serde_json::json!({
            "total": figures(&judged.total(level)),
            "topics": groups.iter().map(|(topic, counts)| (topic.clone(), figures(counts))).collect::<serde_json::Map<_, _>>(),
        })
    };
    serde_json::json!({
        "version": judged.shadow,
        "role": role,
        "canary_percent": judged.canary_percent,
        "topic": level(&judged.topic, Level::Topic),
        "category": level(&judged.category, Level::Category),
    })
}

/// The shadow's figures as a table: category level per topic, then the topic level's total.
fn print_judged(role: ShadowRole, judged: &Judged) {
    let role = match role {
        ShadowRole::Candidate => "candidate",
        ShadowRole::Previous => "replaced model, watched",
    };
    println!("  shadow     {} ({role})", judged.shadow);
    let total = judged.total(Level::Category);
    if total.documents == 0 {
        println!("    nothing judged yet");
        return;
    }
    let line = |name: &str, counts: &Agreement| {
        let (live, shadow) = (counts.live_interval(), counts.shadow_interval());
        println!(
            "    {name:<10} {:>8} {:>8}   {:.3} [{:.3}, {:.3}]   {:.3} [{:.3}, {:.3}]   {:.3}",
            counts.documents,
            counts.labelled,
            counts.live_accuracy(),
            live.0,
            live.1,
            counts.shadow_accuracy(),
            shadow.0,
            shadow.1,
            counts.same as f64 / counts.documents.max(1) as f64
        );
    };
    println!("    category   documents labelled   live, 95 % interval     shadow, 95 % interval   same answer");
    for (topic, counts) in &judged.category {
        line(topic, counts);
    }
    line("all", &total);
    let topic = judged.total(Level::Topic);
    if topic.documents > 0 {
        println!("    topic level:");
        line("all", &topic);
    }
}

async fn status(store: &StoreArgs, json: bool) -> anyhow::Result<()> {
    let handle = store.open().await;
    let (state, _) = handle.state().await?;
    // A pointer to a file the store does not hold is shown, then is the command's error.
    let mut dangling = Vec::new();
    for pointer in [&state.live, &state.candidate].into_iter().flatten() {
        if !handle.holds(&pointer.version).await? {
            dangling.push(pointer.version.clone());
        }
    }
    // What the pools judged of the shadow model so far.
    let judged = match (&state.live, state.shadow()) {
        (Some(live), Some((shadow, role))) => Some((role, handle.judged(&live.version, &shadow).await?)),
        _ => None,
    };
    if json {
        let value = serde_json::json!({
            "store": store.uri.to_string(),
            "live": state.live,
            "candidate": state.candidate,
            "shadow": judged.as_ref().map(|(role, judged)| judged_json(*role, judged)),
            "history": state.history,
            "dangling": dangling,
        });
        println!("{value}");
    } else {
        println!("model store {}", store.uri);
        for (name, pointer) in [("live", &state.live), ("candidate", &state.candidate)] {
            match pointer {
                Some(pointer) => {
                    let figures = pointer.holdout.as_ref().map_or(String::new(), |h| {
                        format!(", held-out category accuracy {:.4} on {} documents", h.category_accuracy, h.documents)
                    });
                    println!(
                        "  {name:<10} {} since {}{figures}",
                        pointer.version,
                        pointer.since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    );
                }
                None => println!("  {name:<10} none"),
            }
        }
        if let Some((role, judged)) = &judged {
            print_judged(*role, judged);
        }
        let shown = state.history.len().min(10);
        if shown > 0 {
            println!("  history (latest {shown} of {}):", state.history.len());
        }
        for change in &state.history[state.history.len() - shown..] {
            let replaced = change.replaced.as_ref().map_or(String::new(), |r| format!(" (was {r})"));
            let reason = if change.reason.is_empty() { String::new() } else { format!(": {}", change.reason) };
            println!(
                "    {}  {:<17} {}{replaced} by {}{reason}",
                change.at.format("%Y-%m-%d %H:%M:%S"),
                serde_json::to_value(change.action)?.as_str().unwrap_or_default(),
                change.version,
                change.by
            );
        }
    }
    anyhow::ensure!(
        dangling.is_empty(),
        "model store {} names {} but holds no file for it (a dangling pointer): publish that file again, or roll back",
        store.uri,
        dangling.join(" and ")
    );
    Ok(())
}

async fn list(store: &StoreArgs, json: bool) -> anyhow::Result<()> {
    let handle = store.open().await;
    let models = handle.models().await?;
    let (state, _) = handle.state().await?;
    let role = |version: &str| {
        if state.live.as_ref().is_some_and(|p| p.version == version) {
            "live"
        } else if state.candidate.as_ref().is_some_and(|p| p.version == version) {
            "candidate"
        } else {
            ""
        }
    };
    if json {
        let models: Vec<_> = models
            .iter()
            .map(|m| serde_json::json!({"version": m.version, "bytes": m.bytes, "stored_at": m.stored_at, "role": role(&m.version)}))
            .collect();
        println!("{}", serde_json::json!({ "store": store.uri.to_string(), "models": models }));
        return Ok(());
    }
    if models.is_empty() {
        println!("model store {} holds no model yet (`docclass model publish FILE --store {}`)", store.uri, store.uri);
    }
    for model in &models {
        let when = model.stored_at.map_or(String::from("?"), |at| at.format("%Y-%m-%d %H:%M:%S").to_string());
        println!("{}  {when}  {:>9} bytes  {}", model.version, model.bytes, role(&model.version));
    }
    Ok(())
}

fn show(file: &std::path::Path, json: bool) -> anyhow::Result<()> {
    let model = Model::load(file)?;
    let provenance = model.provenance();
    if json {
        let value = serde_json::json!({
            "version": model.version(),
            "topics": model.topics(),
            "categories": model.subtopic_count(),
            "provenance": provenance,
        });
        println!("{value}");
        return Ok(());
    }
    println!("{}: model {}", file.display(), model.version());
    println!(
        "  {} topics ({}), {} categories",
        model.topics().len(),
        model.topics().join(", "),
        model.subtopic_count()
    );
    let Some(provenance) = provenance else {
        println!("  trained on: not recorded (a file of an older format)");
        return Ok(());
    };
    println!(
        "  trained {} on {} documents of {}",
        provenance.trained_at,
        provenance.documents,
        provenance.files.join(", ")
    );
    if let Some((first, last)) = &provenance.published {
        println!("  published {first} to {last}");
    }
    if let Some(holdout) = &provenance.holdout {
        println!(
            "  held out {} documents: topic accuracy {:.4}, category accuracy {:.4}, category macro-F1 {:.4}",
            holdout.documents, holdout.topic_accuracy, holdout.category_accuracy, holdout.category_macro_f1
        );
    }
    println!("  settings: {}", provenance.recipe);
    Ok(())
}
