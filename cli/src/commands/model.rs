//! `docclass model`: what a model file is — its version (the content digest every result row carries)
//! and what it was trained on.

use std::path::PathBuf;

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
}

pub fn run(args: ModelArgs) -> anyhow::Result<()> {
    match args.action {
        Action::Show { file, json } => show(&file, json),
    }
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
