//! The pipeline's layout, in one place: its queues and tables and how they are named, the environment
//! variables that carry their addresses, and the timeouts that must nest for a stop to lose nothing.
//!
//! Every service, `deploy`, `docclass infra`, `docclass dlq` and the tests take these names from here, so
//! adding a stage or renaming a queue is one edit the compiler follows everywhere. `docker-compose.yml`
//! cannot import them; a test (`crates/test-support/src/contract.rs`) checks that it spells them the same way.

use std::time::Duration;

/// The stack name (the prefix of every queue and table name) when none is given.
pub const DEFAULT_STACK: &str = "docclass";

/// What a dead-letter queue's name adds to its queue's.
pub const DEAD_LETTER_SUFFIX: &str = "-dlq";

/// The pipeline's three queues, in the order a document goes through them; each has a dead-letter queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Queue {
    /// feed-ingest → topic-classifier.
    Ingest,
    /// topic-classifier → subtopic-classifier.
    Subtopic,
    /// subtopic-classifier → table-writer.
    Results,
}

impl Queue {
    /// All of them, in pipeline order.
    pub const ALL: [Queue; 3] = [Queue::Ingest, Queue::Subtopic, Queue::Results];

    /// Its name without the stack prefix: `ingest`, `subtopic`, `results`.
    pub const fn suffix(self) -> &'static str {
        match self {
            Queue::Ingest => "ingest",
            Queue::Subtopic => "subtopic",
            Queue::Results => "results",
        }
    }

    /// Its dead-letter queue's name without the stack prefix: `ingest-dlq`, …
    pub const fn dead_letter_suffix(self) -> &'static str {
        match self {
            Queue::Ingest => "ingest-dlq",
            Queue::Subtopic => "subtopic-dlq",
            Queue::Results => "results-dlq",
        }
    }

    /// Its name in `stack`, e.g. `docclass-ingest`.
    pub fn name(self, stack: &str) -> String {
        format!("{stack}-{}", self.suffix())
    }

    /// Its dead-letter queue's name in `stack`, e.g. `docclass-ingest-dlq`.
    pub fn dead_letter_name(self, stack: &str) -> String {
        format!("{stack}-{}", self.dead_letter_suffix())
    }

    /// The environment variable that holds its URL.
    pub const fn url_var(self) -> &'static str {
        match self {
            Queue::Ingest => env::INGEST_QUEUE_URL,
            Queue::Subtopic => env::SUBTOPIC_QUEUE_URL,
            Queue::Results => env::RESULTS_QUEUE_URL,
        }
    }

    /// The environment variable that holds its dead-letter queue's URL.
    pub const fn dead_letter_url_var(self) -> &'static str {
        match self {
            Queue::Ingest => env::INGEST_DLQ_URL,
            Queue::Subtopic => env::SUBTOPIC_DLQ_URL,
            Queue::Results => env::RESULTS_DLQ_URL,
        }
    }

    /// The queue named `suffix` (`ingest`, `subtopic`, `results`).
    pub fn from_suffix(suffix: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|queue| queue.suffix() == suffix)
    }
}

/// The result table's name in `stack`, e.g. `docclass-results`.
pub fn result_table_name(stack: &str) -> String {
    format!("{stack}-results")
}

/// The name of feed-ingest's de-duplication table in `stack`, e.g. `docclass-seen`.
pub fn seen_table_name(stack: &str) -> String {
    format!("{stack}-seen")
}

/// The embedded run's result database when none is given.
pub const DEFAULT_DB: &str = "docclass-results.sqlite";

/// Deliveries after which a worker gives up on a message that keeps failing and dead-letters it with its
/// reason ([`crate::DeadLetterReason::HandlerFailed`], [`crate::DeadLetterReason::ForwardFailed`]).
pub const MAX_ATTEMPTS: u32 = 4;

/// Deliveries after which SQS's own redrive policy moves a message to the dead-letter queue — with no
/// reason. A backstop for a worker that crashes on a message: more than [`MAX_ATTEMPTS`], so that the
/// worker, which says why, always gets there first.
pub const MAX_RECEIVE_COUNT: u32 = 5;

/// The environment variables the services, the CLI and the deployed task definitions share. Flags read
/// them with clap's `env = env::…`; `deploy` renders them into the task definitions.
pub mod env {
    /// The ingest queue's URL.
    pub const INGEST_QUEUE_URL: &str = "DOCCLASS_INGEST_QUEUE_URL";
    /// The subtopic queue's URL.
    pub const SUBTOPIC_QUEUE_URL: &str = "DOCCLASS_SUBTOPIC_QUEUE_URL";
    /// The results queue's URL.
    pub const RESULTS_QUEUE_URL: &str = "DOCCLASS_RESULTS_QUEUE_URL";
    /// The ingest queue's dead-letter queue's URL.
    pub const INGEST_DLQ_URL: &str = "DOCCLASS_INGEST_DLQ_URL";
    /// The subtopic queue's dead-letter queue's URL.
    pub const SUBTOPIC_DLQ_URL: &str = "DOCCLASS_SUBTOPIC_DLQ_URL";
    /// The results queue's dead-letter queue's URL.
    pub const RESULTS_DLQ_URL: &str = "DOCCLASS_RESULTS_DLQ_URL";
    /// The DynamoDB result table's name.
    pub const TABLE: &str = "DOCCLASS_TABLE";
    /// The DynamoDB table of the ids feed-ingest has enqueued.
    pub const SEEN_TABLE: &str = "DOCCLASS_SEEN_TABLE";
    /// The stack name (prefix of every queue and table name).
    pub const STACK: &str = "DOCCLASS_STACK";
    /// The model file a classifier serves.
    pub const MODEL: &str = "DOCCLASS_MODEL";
    /// The model store a classifier serves the live model of (a folder or `s3://bucket/prefix`).
    pub const MODEL_STORE: &str = "DOCCLASS_MODEL_STORE";
    /// How often, in seconds, a classifier asks its model store whether the live model changed.
    pub const MODEL_STORE_INTERVAL_SECS: &str = "DOCCLASS_MODEL_STORE_INTERVAL_SECS";
    /// Labelled documents both models must have answered before a pool promotes, drops, confirms or
    /// rolls back.
    pub const PROMOTE_AFTER_DOCUMENTS: &str = "DOCCLASS_PROMOTE_AFTER_DOCUMENTS";
    /// `true`: a pool records the shadow's figures but leaves decisions to `docclass model promote`.
    pub const NO_AUTO_PROMOTE: &str = "DOCCLASS_NO_AUTO_PROMOTE";
    /// The share (%) of documents a candidate answers.
    pub const CANARY_PERCENT: &str = "DOCCLASS_CANARY_PERCENT";
    /// Log format: `text` or `json`.
    pub const LOG_FORMAT: &str = "DOCCLASS_LOG_FORMAT";
    /// Where `/healthz` and `/metrics` listen.
    pub const METRICS_ADDR: &str = "DOCCLASS_METRICS_ADDR";
    /// Concurrent receive loops of a worker service.
    pub const WORKERS: &str = "DOCCLASS_WORKERS";
    /// How long a received message stays hidden, in seconds.
    pub const VISIBILITY_TIMEOUT_SECS: &str = "DOCCLASS_VISIBILITY_TIMEOUT_SECS";
    /// Set by the ECS agent in every task's containers: the base of its endpoints, task scale-in
    /// protection's among them.
    pub const ECS_AGENT_URI: &str = "ECS_AGENT_URI";
    /// A service's dead-letter file (stdin/stdout mode).
    pub const DEAD_LETTERS: &str = "DOCCLASS_DEAD_LETTERS";
    /// The embedded run's SQLite result database.
    pub const DB: &str = "DOCCLASS_DB";
    /// Scores under this make a classifier answer "unknown".
    pub const MIN_SCORE: &str = "DOCCLASS_MIN_SCORE";
    /// feed-ingest's feeds file.
    pub const FEEDS: &str = "DOCCLASS_FEEDS";
    /// feed-ingest's feed list itself, as TOML text: how a task definition carries it (`deploy` renders
    /// the stack file's `services.feed-ingest.feeds` into it), with no file to mount.
    pub const FEEDS_TOML: &str = "DOCCLASS_FEEDS_TOML";
    /// feed-ingest may fetch from loopback and private addresses (`true`).
    pub const ALLOW_PRIVATE_ADDRESSES: &str = "DOCCLASS_ALLOW_PRIVATE_ADDRESSES";
    /// The private networks feed-ingest may fetch from all the same (CIDRs, comma-separated).
    pub const ALLOW_PRIVATE_NETWORKS: &str = "DOCCLASS_ALLOW_PRIVATE_NETWORKS";
    /// feed-ingest's SQLite de-duplication store (without DynamoDB).
    pub const SEEN_DB: &str = "DOCCLASS_SEEN_DB";
    /// Where the corpora are (`../shared/data` when unset).
    pub const DATA_DIR: &str = "DOCCLASS_DATA_DIR";
    /// Where `docclass train` caches the default models.
    pub const CACHE_DIR: &str = "DOCCLASS_CACHE_DIR";
    /// The corpus `docclass` works on: `arxiv` or `20ng`.
    pub const CORPUS: &str = "DOCCLASS_CORPUS";
}

/// Timeouts that must nest, or a stop loses work: a stopping service drains within [`timeouts::DRAIN`];
/// the orchestrator kills it after [`timeouts::STOP`] (ECS's `stopTimeout`, compose's
/// `stop_grace_period`); a message a killed worker held comes back after [`timeouts::VISIBILITY`], so
/// that must be longer still, or a message being finished would be handed to a second worker.
/// The order is asserted at compile time, below the module: a change that breaks it does not build.
pub mod timeouts {
    use super::Duration;

    /// Longest a worker's long poll waits for messages; a stop lets a running poll finish.
    pub const RECEIVE_WAIT: Duration = Duration::from_secs(10);
    /// How long a stopping worker may take to finish the messages it holds.
    pub const DRAIN: Duration = Duration::from_secs(20);
    /// How long ECS and compose wait after SIGTERM before they kill a container.
    pub const STOP: Duration = Duration::from_secs(30);
    /// How long a received message stays hidden from other workers.
    pub const VISIBILITY: Duration = Duration::from_secs(60);
    /// How long one setting of ECS task scale-in protection lasts (renewed at half of it while the task
    /// holds messages): a task that dies protected blocks scale-in of itself no longer than this.
    pub const TASK_PROTECTION: Duration = Duration::from_secs(10 * 60);
}

// The order the pipeline's safety rests on, checked by the compiler.
const _: () = {
    use timeouts::*;
    assert!(
        RECEIVE_WAIT.as_millis() < DRAIN.as_millis(),
        "a stop lets a running poll finish, which must end within the drain"
    );
    assert!(DRAIN.as_millis() < STOP.as_millis(), "the drain must end before the orchestrator kills the container");
    assert!(
        STOP.as_millis() < VISIBILITY.as_millis(),
        "a killed worker's messages must not come back while it may still be finishing them"
    );
    assert!(MAX_ATTEMPTS < MAX_RECEIVE_COUNT, "the worker, which says why, must dead-letter before SQS's redrive");
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_stack() {
        assert_eq!(Queue::Ingest.name("docclass"), "docclass-ingest");
        assert_eq!(Queue::Results.dead_letter_name("s"), "s-results-dlq");
        for queue in Queue::ALL {
            assert_eq!(queue.dead_letter_suffix(), format!("{}{DEAD_LETTER_SUFFIX}", queue.suffix()));
            assert_eq!(Queue::from_suffix(queue.suffix()), Some(queue));
            assert!(queue.url_var().starts_with("DOCCLASS_") && queue.url_var().ends_with("_QUEUE_URL"));
            assert!(queue.dead_letter_url_var().ends_with("_DLQ_URL"));
        }
        assert_eq!(result_table_name("docclass"), "docclass-results");
    }
}
