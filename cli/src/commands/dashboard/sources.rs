//! Where each part of the dashboard is read from, and one reading of all of them ([`Sources::status`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use adapters_aws::{DynamoTable, load_sdk_config};
use chrono::Utc;
use docclass_types::topology::env;
use docclass_types::{Queue, ResultTable};

use super::DashboardArgs;
use super::live::{EmbeddedQueues, HandledCounts, PoolSource, Rates, Scraper, SqsQueues};
use super::results::{self, DeadLetters, Figures};
use super::status::{Part, Status};

/// Where the results come from.
enum ResultSource {
    /// An embedded run's SQLite file, read at most once per refresh interval.
    Sqlite(PathBuf),
    /// The DynamoDB table, scanned at most once per `every`.
    Dynamo { table: DynamoTable, every: Duration },
}

/// Where the queues come from.
enum QueueSource {
    /// Not known here: why.
    Unknown(String),
    /// The embedded run's, in this process.
    Embedded(EmbeddedQueues),
    /// SQS.
    Sqs(Box<SqsQueues>),
}

/// One reading of the table and the dead-letter queues: when, the figures, the letters.
type Reading = (Instant, Result<Figures, String>, Result<DeadLetters, String>);

/// Everything the dashboard reads.
pub struct Sources {
    results: ResultSource,
    queues: QueueSource,
    pools: PoolSource,
    scraper: Scraper,
    /// The last DynamoDB reading and dead-letter look, with when they were taken (kept for
    /// `--table-every-secs`, longer than a refresh: each reading is a scan of the table).
    cached: tokio::sync::Mutex<Option<Reading>>,
    /// The last answer of `/api/status`, with when it was made: asked again within a refresh, the
    /// dashboard answers it again instead of asking SQS, ECS and every `/metrics` once more per request.
    answered: tokio::sync::Mutex<Option<(Instant, serde_json::Value)>>,
    pub(super) refresh_secs: u32,
    /// The embedded run's per-stage counts, when serving one.
    pub(super) stage_counts: Option<Arc<HandledCounts>>,
    pub(super) rates: Rates,
    /// The model store the pools serve from, when given.
    store: Option<model_store::ModelStore>,
}

impl Sources {
    /// What `docclass run --dashboard` shows: its SQLite file, its queues, its workers per stage and what
    /// each stage has handled.
    pub fn embedded(db: PathBuf, queues: EmbeddedQueues, workers: usize, counts: Arc<HandledCounts>) -> Self {
        let mut sources = Self::new(
            ResultSource::Sqlite(db),
            QueueSource::Embedded(queues),
            PoolSource::Embedded(workers),
            Vec::new(),
            2,
        );
        sources.stage_counts = Some(counts);
        sources
    }

    fn new(
        results: ResultSource,
        queues: QueueSource,
        pools: PoolSource,
        metrics: Vec<(String, String)>,
        refresh_secs: u32,
    ) -> Self {
        Self {
            results,
            queues,
            pools,
            scraper: Scraper::new(metrics),
            cached: tokio::sync::Mutex::new(None),
            answered: tokio::sync::Mutex::new(None),
            refresh_secs: refresh_secs.max(1),
            stage_counts: None,
            rates: Rates::default(),
            store: None,
        }
    }

    /// Shows the model store at `uri` too (the Models panel).
    pub async fn with_model_store(
        mut self,
        uri: Option<&model_store::StoreUri>,
        aws: &adapters_aws::AwsSettings,
    ) -> Self {
        if let Some(uri) = uri {
            self.store = Some(model_store::ModelStore::open(uri, aws).await);
        }
        self
    }

    /// The Models panel's figures: live, candidate, the shadow's judgement, the latest history first.
    async fn models(store: &model_store::ModelStore) -> Result<serde_json::Value, String> {
        let (state, _) = store.state().await.map_err(|error| error.to_string())?;
        let shadow = match (&state.live, state.shadow()) {
            (Some(live), Some((shadow, role))) => {
                let judged = store.judged(&live.version, &shadow).await.map_err(|error| error.to_string())?;
                Some(crate::commands::model::judged_json(role, &judged))
            }
            _ => None,
        };
        let history: Vec<_> = state.history.iter().rev().take(12).collect();
        Ok(serde_json::json!({
            "store": store.uri().to_string(),
            "live": state.live,
            "candidate": state.candidate,
            "shadow": shadow,
            "history": history,
        }))
    }

    /// The sources `args` name.
    pub(super) async fn of(args: &DashboardArgs) -> anyhow::Result<Self> {
        let Some(table) = &args.table else {
            let why = "an embedded run's queues live only while it runs (docclass run --dashboard shows them)";
            return Ok(Self::new(
                ResultSource::Sqlite(args.db.clone()),
                QueueSource::Unknown(why.into()),
                PoolSource::Unknown("an embedded run's workers live only while it runs".into()),
                args.metrics.clone(),
                args.refresh_secs,
            )
            .with_model_store(args.model_store.as_ref(), &args.aws.settings())
            .await);
        };
        let config = load_sdk_config(&args.aws.settings()).await;
        let results = ResultSource::Dynamo {
            table: DynamoTable::new(aws_sdk_dynamodb::Client::new(&config), table),
            every: Duration::from_secs(u64::from(args.table_every_secs)),
        };
        let urls: Vec<_> = Queue::ALL
            .into_iter()
            .filter_map(|queue| {
                let (url, dead_letters) = args.queues.given(queue);
                Some((queue, url?.to_owned(), dead_letters.map(str::to_owned)))
            })
            .collect();
        let queues = if urls.is_empty() {
            QueueSource::Unknown(format!(
                "no queue URLs: set {} and the others (eval \"$(docclass infra up)\" does)",
                env::INGEST_QUEUE_URL
            ))
        } else {
            let sqs = aws_sdk_sqs::Client::new(&config);
            QueueSource::Sqs(Box::new(SqsQueues::new(sqs, aws_sdk_cloudwatch::Client::new(&config), urls)))
        };
        Ok(Self::new(results, queues, pools(args).await?, args.metrics.clone(), args.refresh_secs)
            .with_model_store(args.model_store.as_ref(), &args.aws.settings())
            .await)
    }

    /// [`Sources::status`] as JSON, read at most once per refresh interval however many pages ask: one
    /// reading at a time, the others wait for it and share it.
    pub(super) async fn status_json(&self) -> serde_json::Value {
        let mut answered = self.answered.lock().await;
        let fresh = Duration::from_secs(u64::from(self.refresh_secs));
        if let Some((at, answer)) = answered.as_ref()
            && at.elapsed() < fresh
        {
            return answer.clone();
        }
        let answer = serde_json::to_value(self.status().await).expect("the status is plain data");
        *answered = Some((Instant::now(), answer.clone()));
        answer
    }

    /// Everything, now.
    async fn status(&self) -> Status {
        let (source, results, dead_letters) = match &self.results {
            ResultSource::Sqlite(db) => {
                // A scan of the whole file: [`Sources::status_json`] asks at most once per refresh.
                let (figures, letters) = results::sqlite_reading(db).await;
                (format!("sqlite:{}", db.display()), figures, letters)
            }
            ResultSource::Dynamo { table, every } => {
                let mut cached = self.cached.lock().await;
                if cached.as_ref().is_none_or(|(at, _, _)| at.elapsed() >= *every) {
                    let figures = read_table(table).await;
                    let letters = match &self.queues {
                        QueueSource::Sqs(queues) => queues.dead_letters().await,
                        _ => Err("no dead-letter queue URLs".to_owned()),
                    };
                    *cached = Some((Instant::now(), figures, letters));
                }
                let (at, figures, letters) = cached.as_ref().expect("just filled");
                let read_at = Utc::now() - chrono::Duration::from_std(at.elapsed()).unwrap_or_default();
                (
                    format!("dynamodb:{} (read {})", table.name(), read_at.format("%H:%M:%S")),
                    figures.clone(),
                    letters.clone(),
                )
            }
        };
        let queues = match &self.queues {
            QueueSource::Unknown(why) => Err(why.clone()),
            QueueSource::Embedded(queues) => Ok(queues.read()),
            QueueSource::Sqs(queues) => queues.read().await,
        };
        let (results_written, figures) = match results {
            Ok(figures) => (Some(figures.results_written), Ok(figures)),
            Err(why) => (None, Err(why)),
        };
        let part = |pick: fn(&Figures) -> serde_json::Value| match &figures {
            Ok(figures) => Part::Known(pick(figures)),
            Err(why) => Part::Unreachable { unreachable: why.clone() },
        };
        Status {
            source,
            generated_at: Utc::now(),
            refresh_secs: self.refresh_secs,
            results_written,
            per_topic: part(|f| serde_json::json!(f.per_topic)),
            per_subtopic: part(|f| serde_json::json!(f.per_subtopic)),
            confidence_histogram: part(|f| serde_json::json!(f.confidence_histogram)),
            model_versions: part(|f| serde_json::json!(f.model_versions)),
            agreement: part(|f| serde_json::json!(f.agreement)),
            throughput: part(|f| serde_json::json!(f.throughput)),
            latest: part(|f| serde_json::json!(f.latest)),
            dead_letters: Part::of(dead_letters),
            queues: Part::of(queues),
            pools: Part::of(self.pools.read().await),
            stages: Vec::new(),
            services: self.scraper.read().await,
            models: match &self.store {
                Some(store) => Some(Part::of(Self::models(store).await)),
                None => None,
            },
        }
        .with_stages(self)
    }
}

/// Every row of the table, added up. One scan: read capacity in proportion to the table's size.
async fn read_table(table: &DynamoTable) -> Result<Figures, String> {
    let rows = table.list(usize::MAX).await.map_err(|error| error.to_string())?;
    let mut summary = results::Summary::default();
    for row in rows {
        summary.add(row.into());
    }
    Ok(summary.finish())
}

#[cfg(feature = "deploy")]
async fn pools(args: &DashboardArgs) -> anyhow::Result<PoolSource> {
    if let Some(cluster) = &args.cluster {
        let clients = deploy::aws::Clients::new(&args.aws.settings()).await;
        return Ok(PoolSource::Ecs { clients, cluster: cluster.clone(), stack: args.stack.clone() });
    }
    if let Some(project) = &args.compose {
        let pools = deploy::compose::ComposePools::connect(project, 30).await?;
        return Ok(PoolSource::Compose(pools));
    }
    Ok(PoolSource::Unknown("give --cluster (ECS) or --compose PROJECT (Docker) to see the pools".into()))
}

#[cfg(not(feature = "deploy"))]
async fn pools(_: &DashboardArgs) -> anyhow::Result<PoolSource> {
    Ok(PoolSource::Unknown("this build has no deploy feature: pools are not read".into()))
}
