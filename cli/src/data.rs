//! Finding the labelled corpora and their default models: what the `docclass` command and the tests
//! need, and no service does (a service is given its model; [`service_kit::model_cache_dir`] is where
//! the default one is cached).
//!
//! Two corpora are known by name: 20 Newsgroups, the small classic benchmark, and arXiv, the papers the
//! product exists to sort. Each has its own files under the data folder, its own training recipe and its
//! own cached default model, so switching between them never serves one corpus's model to the other.

use std::path::{Path, PathBuf};

use text_model::TrainConfig;

/// A labelled corpus the CLI knows by name (`--corpus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Corpus {
    /// 20 Newsgroups, by-date split: 7 topics, 20 groups.
    #[value(name = "20ng")]
    Newsgroups,
    /// arXiv papers: 6 groups (physics, math, cs, q-bio, q-fin, stat), their categories as subtopics.
    Arxiv,
}

impl Corpus {
    /// Its name on the command line and in file names.
    pub fn name(self) -> &'static str {
        match self {
            Self::Newsgroups => "20ng",
            Self::Arxiv => "arxiv",
        }
    }

    /// The training split, relative to the data folder.
    pub fn train_file(self) -> &'static str {
        match self {
            Self::Newsgroups => TRAIN_FILE,
            Self::Arxiv => "arxiv/train.jsonl.gz",
        }
    }

    /// The development split, relative to the data folder: what `eval` and `run` read by default.
    pub fn dev_file(self) -> &'static str {
        match self {
            Self::Newsgroups => DEV_FILE,
            Self::Arxiv => "arxiv/dev.jsonl.gz",
        }
    }

    /// The corpus whose documents these are, judged by their ids: arXiv's papers carry `arXiv:` ids
    /// (the corpus, feed-ingest and `docclass harvest` all give that form), anything else is trained
    /// with the general recipe.
    pub fn of_ids<'a>(ids: impl IntoIterator<Item = &'a str>) -> Self {
        let (mut papers, mut all) = (0usize, 0usize);
        for id in ids {
            all += 1;
            papers += usize::from(id.starts_with("arXiv:"));
        }
        if all > 0 && papers * 2 > all { Self::Arxiv } else { Self::Newsgroups }
    }

    /// Categories that the source has retired: no new document can get them, so a model must never
    /// predict them. arXiv split the undivided `astro-ph` into six in 2009 and `cond-mat` long before;
    /// their papers carry no finer category to map them to, so training leaves them out (6,241 of the
    /// 200,000 training papers).
    pub fn retired_subtopics(self) -> &'static [&'static str] {
        match self {
            Self::Newsgroups => &[],
            Self::Arxiv => &["astro-ph", "cond-mat"],
        }
    }

    /// The training recipe measured best for this corpus (README, "Models").
    pub fn train_config(self) -> TrainConfig {
        match self {
            Self::Newsgroups => TrainConfig::default(),
            Self::Arxiv => TrainConfig::arxiv(),
        }
    }

    /// The cached default model's file name.
    fn default_model_file(self) -> &'static str {
        match self {
            Self::Newsgroups => service_kit::DEFAULT_MODEL_FILE,
            Self::Arxiv => "default-arxiv.model",
        }
    }
}

/// 20 Newsgroups' training split, relative to the data folder.
pub const TRAIN_FILE: &str = "20ng/train.jsonl.gz";
/// 20 Newsgroups' development split, used by `run` and `eval` when no input is given.
pub const DEV_FILE: &str = "20ng/dev.jsonl.gz";

/// Where to get the corpora, shown whenever one is missing.
pub const HOW_TO_GET_DATA: &str = "\
docclass trains and judges on labelled gzipped JSON Lines, one document a line:
    {\"id\": \"...\", \"title\": \"...\", \"text\": \"...\", \"topic\": \"sci\", \"subtopic\": \"sci.med\"}
Expected files: <data dir>/20ng/{train,dev}.jsonl.gz (20 Newsgroups, by-date version) and
<data dir>/arxiv/{train,dev}.jsonl.gz (arXiv papers; `docclass harvest arxiv` makes such files).
Point DOCCLASS_DATA_DIR (or --data-dir) at <data dir>, or pass files with --data/--input.
docs/data.md (\"Getting the data\") says where to get both.";

/// Finds the data folder: `explicit` if given, else the first `shared/data` holding `corpus` in the
/// current folder, the executable's folder, or any folder above them.
///
/// # Errors
/// When no such folder holds the corpus's training file; the message says where to get it.
pub fn find_data_dir(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    find_corpus_dir(explicit, Corpus::Newsgroups)
}

/// [`find_data_dir`] for any corpus.
///
/// # Errors
/// When no folder holds the corpus's training file; the message says where to get it.
pub fn find_corpus_dir(explicit: Option<&Path>, corpus: Corpus) -> anyhow::Result<PathBuf> {
    let train = corpus.train_file();
    if let Some(dir) = explicit {
        anyhow::ensure!(dir.join(train).is_file(), "{} holds no {train}.\n\n{HOW_TO_GET_DATA}", dir.display());
        return Ok(dir.to_owned());
    }
    let mut searched = Vec::new();
    let starts = [std::env::current_dir().ok(), std::env::current_exe().ok()];
    for start in starts.iter().flatten() {
        for ancestor in start.ancestors() {
            let candidate = ancestor.join("shared/data");
            if candidate.join(train).is_file() {
                return Ok(candidate);
            }
            searched.push(candidate);
        }
    }
    anyhow::bail!(
        "cannot find the labelled corpus: no {train} under DOCCLASS_DATA_DIR or any shared/data above the \
         current folder or the executable.\n\n{HOW_TO_GET_DATA}"
    )
}

/// A corpus's default model file, in [`service_kit::model_cache_dir`].
pub fn corpus_model_path(cache_dir: Option<&Path>, corpus: Corpus) -> PathBuf {
    service_kit::model_cache_dir(cache_dir).join(corpus.default_model_file())
}
