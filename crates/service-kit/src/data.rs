//! Finding the labelled corpus and the default model.

use std::path::{Path, PathBuf};

/// The corpus folder's expected layout, relative to the data folder.
pub const TRAIN_FILE: &str = "20ng/train.jsonl.gz";
/// The development split, used by `run` and `eval` when no input is given.
pub const DEV_FILE: &str = "20ng/dev.jsonl.gz";

/// Where to get the corpus, shown whenever it is missing.
pub const HOW_TO_GET_DATA: &str = "\
docclass trains and judges on 20 Newsgroups, by-date version (Jason Rennie's redistribution of Ken Lang's
corpus), as gzipped JSON Lines, one document a line:
    {\"id\": \"...\", \"title\": \"...\", \"text\": \"...\", \"topic\": \"sci\", \"subtopic\": \"sci.med\"}
Expected files: <data dir>/20ng/train.jsonl.gz (the by-date train split) and <data dir>/20ng/dev.jsonl.gz.
Point DOCCLASS_DATA_DIR (or --data-dir) at <data dir>, or pass files with --data/--input.
README.md, section \"Getting the data\", shows how to build the files from the public by-date tarball.";

/// Finds the data folder: `explicit` if given, else the first `shared/data` holding the corpus in the
/// current folder, the executable's folder, or any folder above them.
pub fn find_data_dir(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(dir) = explicit {
        anyhow::ensure!(
            dir.join(TRAIN_FILE).is_file(),
            "{} holds no {TRAIN_FILE}.\n\n{HOW_TO_GET_DATA}",
            dir.display()
        );
        return Ok(dir.to_owned());
    }
    let mut searched = Vec::new();
    let starts = [std::env::current_dir().ok(), std::env::current_exe().ok()];
    for start in starts.iter().flatten() {
        for ancestor in start.ancestors() {
            let candidate = ancestor.join("shared/data");
            if candidate.join(TRAIN_FILE).is_file() {
                return Ok(candidate);
            }
            searched.push(candidate);
        }
    }
    anyhow::bail!(
        "cannot find the labelled corpus: no {TRAIN_FILE} under DOCCLASS_DATA_DIR or any shared/data above the \
         current folder or the executable.\n\n{HOW_TO_GET_DATA}"
    )
}

/// The default model's file: in `cache_dir` if given, else in the user's cache folder
/// (`$XDG_CACHE_HOME/docclass` or `~/.cache/docclass` on Linux), else in the temporary folder.
pub fn default_model_path(cache_dir: Option<&Path>) -> PathBuf {
    let dir = cache_dir
        .map(Path::to_owned)
        .unwrap_or_else(|| dirs::cache_dir().unwrap_or_else(std::env::temp_dir).join("docclass"));
    dir.join("default-20ng.model")
}
