//! Serving one stage from an SQS queue to its destination: the next queue, or (the writer's own
//! [`worker_runtime::Forward`]) the DynamoDB table. The destination is built by the caller, so a
//! classifier binary holds no DynamoDB code it could never call.

use std::sync::Arc;
use std::time::Duration;

use adapters_aws::{SqsQueue, load_sdk_config};
use aws_config::SdkConfig;
use tokio_util::sync::CancellationToken;
use worker_runtime::{Forward, Handler, Protection, RunReport, ToQueue, WorkerConfig, WorkerPool};

use crate::{AwsArgs, ClassifierArgs, ClassifierService, WorkerArgs};

/// The next SQS queue, by URL: a classifier's destination for [`serve_sqs`].
pub fn to_queue(url: &str) -> impl FnOnce(&SdkConfig) -> ToQueue<SqsQueue> + '_ {
    move |config| ToQueue(SqsQueue::new(aws_sdk_sqs::Client::new(config), url))
}

/// An SQS queue at `url`, for producers such as feed-ingest.
pub async fn sqs_queue(aws: &AwsArgs, url: &str) -> SqsQueue {
    let config = load_sdk_config(&aws.settings()).await;
    SqsQueue::new(aws_sdk_sqs::Client::new(&config), url)
}

/// One stage's place in an SQS pipeline.
pub struct SqsService<'a> {
    /// The service's name, for logs.
    pub name: &'a str,
    /// Its own default port for `/healthz` and `/metrics`.
    pub default_metrics_port: u16,
    /// The queue it consumes.
    pub source_url: &'a str,
    /// The dead-letter queue of its source.
    pub dead_letter_url: &'a str,
}

/// Runs `handler` on messages from the stage's source queue until `shutdown` is cancelled, sending results to
/// the destination `destination` builds from the SDK configuration ([`to_queue`], or the writer's table)
/// and dead letters to its dead-letter queue.
///
/// # Errors
/// When the metrics endpoint cannot be bound or the run's task fails.
pub async fn serve_sqs<H: Handler, F: Forward>(
    stage: SqsService<'_>,
    handler: H,
    destination: impl FnOnce(&SdkConfig) -> F,
    aws: &AwsArgs,
    args: &WorkerArgs,
    shutdown: CancellationToken,
) -> anyhow::Result<RunReport> {
    let SqsService { name, default_metrics_port, source_url, dead_letter_url } = stage;
    args.common.init_logging();
    let config = load_sdk_config(&aws.settings()).await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let source = Arc::new(SqsQueue::new(sqs.clone(), source_url));
    let dead_letters = Arc::new(SqsQueue::new(sqs.clone(), dead_letter_url));
    let worker_config = WorkerConfig {
        workers: args.workers.max(1),
        visibility_timeout: args.visibility_timeout,
        ..WorkerConfig::default()
    };
    tracing::info!(service = name, source = source_url, "serving");
    let metrics_addr = args.common.metrics_addr_or(default_metrics_port);
    let forward = destination(&config);
    let report = run(source, handler, forward, dead_letters, worker_config, metrics_addr, shutdown).await?;
    tracing::info!(service = name, metrics = ?report.metrics, "stopped");
    Ok(report)
}

async fn run<H: Handler, F: Forward>(
    source: Arc<SqsQueue>,
    handler: H,
    forward: F,
    dead_letters: Arc<SqsQueue>,
    config: WorkerConfig,
    metrics_addr: std::net::SocketAddr,
    shutdown: CancellationToken,
) -> anyhow::Result<RunReport> {
    let mut worker = WorkerPool::new(source, Arc::new(handler), Arc::new(forward), dead_letters, config);
    // In an ECS task the agent's endpoint is there: hold scale-in protection while holding messages.
    if let Some(agent) = crate::EcsAgentProtection::from_env() {
        tracing::info!("holding ECS task scale-in protection while messages are in hand");
        let protection = Protection::new(Arc::new(agent), docclass_types::topology::timeouts::TASK_PROTECTION);
        worker = worker.with_protection(Arc::new(protection));
    }
    let worker = Arc::new(worker);
    let mut registry = prometheus_client::registry::Registry::default();
    worker.register_metrics(&mut registry);
    crate::serve_health(metrics_addr, registry, shutdown.clone()).await?;
    Ok(tokio::spawn(worker.run(shutdown)).await?)
}

/// Runs a classifier service until `shutdown`: its model loaded, `handler` built from it and the
/// confidence floor, on SQS when its input queue is given, else over stdin → stdout.
///
/// # Errors
/// When the model cannot be loaded, the input queue is given without the other two, or the service fails.
pub async fn serve_classifier<H: Handler>(
    service: &ClassifierService,
    args: &ClassifierArgs,
    handler: impl FnOnce(text_model::ServedModel, f32) -> H,
    shutdown: CancellationToken,
) -> anyhow::Result<RunReport> {
    let watchers = tokio_util::task::TaskTracker::new();
    let watching = shutdown.child_token();
    // On ECS (its agent sets the metadata variable) standard output goes to CloudWatch Logs, which reads
    // metrics in it; in stdin mode standard output carries the envelopes, so no metric goes there.
    let on_ecs = std::env::var_os("ECS_CONTAINER_METADATA_URI_V4").is_some();
    let metrics_stack =
        std::env::var(docclass_types::topology::env::STACK).ok().filter(|_| on_ecs && args.input_queue_url.is_some());
    let model = crate::serve_model(
        service.name,
        || crate::load_model(args.model.as_deref(), args.cache_dir.as_deref()),
        &args.store,
        &args.aws.settings(),
        &watchers,
        metrics_stack,
        watching.clone(),
    )
    .await?;
    let handler = handler(model, args.min_score);
    let (name, port) = (service.name, service.metrics_port);
    let served = match args.input_queue_url.as_deref() {
        None => {
            let forward = ToQueue(adapters_embedded::StdoutSink::default());
            crate::serve_stdio(name, port, handler, forward, &args.worker, shutdown).await
        }
        Some(source_url) => {
            let needed =
                |flag: &str| format!("--{flag} is needed with --input-queue-url (see --help for its variable)");
            let output = args.output_queue_url.as_deref().ok_or_else(|| anyhow::anyhow!(needed("output-queue-url")))?;
            let dead_letter_url = args
                .dead_letter_queue_url
                .as_deref()
                .ok_or_else(|| anyhow::anyhow!(needed("dead-letter-queue-url")))?;
            let stage = SqsService { name, default_metrics_port: port, source_url, dead_letter_url };
            serve_sqs(stage, handler, to_queue(output), &args.aws, &args.worker, shutdown).await
        }
    };
    // The model store's watcher writes what it judged since its last look, within a bound: a store
    // that does not answer does not hold the stop up.
    watching.cancel();
    watchers.close();
    let _ = tokio::time::timeout(WATCHER_FLUSH, watchers.wait()).await;
    served
}

/// How long a stopping classifier waits for its model store watcher's last write.
const WATCHER_FLUSH: Duration = Duration::from_secs(3);
