//! The stack file: one description of a deployment, from which task definitions, IAM policies,
//! scaling policies and the `apply` plan all follow. See `deploy/stack.example.toml`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
pub use docclass_types::Queue;
use docclass_types::{default_ports, topology};
use serde::Deserialize;

use crate::scaling::ScalingPolicy;

/// The tag on everything `apply` creates (and `render` writes), its value the stack's name.
pub const STACK_TAG: &str = "docclass:stack";

/// The four services, in pipeline order.
pub const SERVICES: [Service; 4] =
    [Service::FeedIngest, Service::TopicClassifier, Service::SubtopicClassifier, Service::TableWriter];

/// One of the pipeline's services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    /// Reads feeds into the ingest queue.
    FeedIngest,
    /// Ingest queue → subtopic queue.
    TopicClassifier,
    /// Subtopic queue → results queue.
    SubtopicClassifier,
    /// Results queue → the table.
    TableWriter,
}

impl Service {
    /// Its binary's (and container's, and image's) name.
    pub fn name(self) -> &'static str {
        match self {
            Service::FeedIngest => "feed-ingest",
            Service::TopicClassifier => "topic-classifier",
            Service::SubtopicClassifier => "subtopic-classifier",
            Service::TableWriter => "table-writer",
        }
    }

    /// The port of its `/healthz` and `/metrics`.
    pub fn metrics_port(self) -> u16 {
        match self {
            Service::FeedIngest => default_ports::FEED_INGEST,
            Service::TopicClassifier => default_ports::TOPIC_CLASSIFIER,
            Service::SubtopicClassifier => default_ports::SUBTOPIC_CLASSIFIER,
            Service::TableWriter => default_ports::TABLE_WRITER,
        }
    }

    /// The queue whose backlog it works off, if it scales by one.
    pub fn input_queue(self) -> Option<Queue> {
        match self {
            Service::FeedIngest => None,
            Service::TopicClassifier => Some(Queue::Ingest),
            Service::SubtopicClassifier => Some(Queue::Subtopic),
            Service::TableWriter => Some(Queue::Results),
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        SERVICES.into_iter().find(|service| service.name() == name)
    }
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stack {
    /// Prefix of every resource name (queues, tables, services, roles), as `docclass infra up --stack`.
    pub name: String,
    /// AWS region.
    pub region: String,
    /// The account the stack lives in (for ARNs and queue URLs).
    pub account_id: String,
    /// ECS cluster name.
    pub cluster: String,
    /// Image registry, e.g. `123456789012.dkr.ecr.us-east-1.amazonaws.com`; each service's image is
    /// `<registry>/docclass-<service>:<tag>` unless it names its own.
    pub registry: String,
    /// Image tag.
    pub tag: String,
    /// Where tasks run.
    pub network: Network,
    /// Logging.
    #[serde(default)]
    pub logs: Logs,
    /// The CloudWatch alarms `apply` creates, and who hears them.
    #[serde(default)]
    pub alarms: Alarms,
    /// The model store the classifiers serve from; without it, each serves the model its image bakes in.
    #[serde(default)]
    pub models: Option<Models>,
    /// Per service, by its name.
    services: BTreeMap<String, ServiceSpec>,
}

/// `[models]`: where the classifiers' live model is kept (`docclass model publish --store`). `apply`
/// creates the bucket if it is missing (tagged with the stack; `destroy` removes it unless
/// `--keep-data`) and lets the classifier task roles read the prefix.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Models {
    /// `s3://bucket/prefix`.
    pub store: String,
}

impl Models {
    /// The bucket and the key prefix (`""` or ending in `/`).
    ///
    /// # Panics
    /// On a store [`Stack::parse`] did not check.
    pub fn location(&self) -> (String, String) {
        match self.store.parse() {
            Ok(model_store::StoreUri::S3 { bucket, prefix }) => (bucket, prefix),
            _ => panic!("models.store was checked to be s3://bucket/prefix"),
        }
    }
}

/// `[network]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// `FARGATE` (default) or `EC2`.
    #[serde(default)]
    pub launch_type: LaunchType,
    /// Subnets of the tasks' network interfaces (awsvpc).
    pub subnets: Vec<String>,
    /// Their security groups.
    pub security_groups: Vec<String>,
    /// Whether tasks get a public IP (needed in public subnets without a NAT to reach ECR and SQS).
    #[serde(default)]
    pub assign_public_ip: bool,
}

/// Where tasks run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum LaunchType {
    /// Serverless; awsvpc networking.
    #[default]
    #[serde(rename = "FARGATE")]
    Fargate,
    /// On the cluster's EC2 container instances; awsvpc networking too, so security groups apply per task.
    #[serde(rename = "EC2")]
    Ec2,
}

impl LaunchType {
    /// As the ECS API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            LaunchType::Fargate => "FARGATE",
            LaunchType::Ec2 => "EC2",
        }
    }
}

/// `[logs]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Logs {
    /// CloudWatch Logs group; each service writes streams under its own prefix.
    pub group: String,
    /// Days logs are kept.
    pub retention_days: u32,
}

impl Default for Logs {
    fn default() -> Self {
        Self { group: "/ecs/docclass".into(), retention_days: 30 }
    }
}

/// `[alarms]`: when the CloudWatch alarms `apply` creates go off (see [`crate::monitoring`]).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Alarms {
    /// The ingest queue's oldest message older than this: documents are waiting too long.
    #[serde(with = "humantime_serde")]
    pub oldest_message_age: Duration,
    /// A pool running at its `max_tasks` for longer than this: it needs a higher ceiling.
    #[serde(with = "humantime_serde")]
    pub pool_at_max_for: Duration,
    /// An SNS topic the alarms notify when they go off and when they clear; none: the alarms only show
    /// in the console and on the dashboard.
    pub alarm_topic_arn: Option<String>,
}

impl Default for Alarms {
    fn default() -> Self {
        Self {
            oldest_message_age: Duration::from_secs(15 * 60),
            pool_at_max_for: Duration::from_secs(30 * 60),
            alarm_topic_arn: None,
        }
    }
}

/// The shortest threshold an alarm can tell: CloudWatch's one-minute period of the SQS and ECS metrics.
pub const MIN_ALARM_DURATION: Duration = Duration::from_secs(60);
/// The longest an ingest message can be old: SQS keeps a message at most 14 days.
pub const MAX_MESSAGE_AGE: Duration = Duration::from_secs(14 * 24 * 3600);
/// The longest a pool can be watched at its maximum: CloudWatch evaluates an alarm over at most a day.
pub const MAX_POOL_AT_MAX: Duration = Duration::from_secs(24 * 3600);

/// `[services.<name>]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// CPU units (1024 = one vCPU).
    pub cpu: u32,
    /// Memory, MiB.
    pub memory: u32,
    /// Fewest tasks.
    #[serde(default = "one")]
    pub min_tasks: u32,
    /// Most tasks.
    #[serde(default = "one")]
    pub max_tasks: u32,
    /// Messages one task should have waiting; or give `target_latency` and `seconds_per_message`.
    pub target_backlog_per_task: Option<u32>,
    /// How long a message may wait…
    #[serde(default, with = "humantime_serde")]
    pub target_latency: Option<Duration>,
    /// …when a task takes this long for each (measured: `docclass bench`, or the service's
    /// `docclass_processing_seconds`).
    pub seconds_per_message: Option<f64>,
    /// How long a lower backlog must last before the pool shrinks.
    #[serde(default = "five_minutes", with = "humantime_serde")]
    pub scale_in_window: Duration,
    /// Seconds ECS waits after SIGTERM before killing the container; the service drains in that time.
    #[serde(default = "stop_timeout_secs")]
    pub stop_timeout_secs: u32,
    /// This service's image, instead of `<registry>/docclass-<service>:<tag>`.
    pub image: Option<String>,
    /// Extra environment (e.g. `DOCCLASS_MIN_SCORE`); not the names deploy sets itself
    /// ([`RESERVED_ENVIRONMENT`]).
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// feed-ingest only: its feed list, in the feed-list format (README "Feeds"), as a table of the stack
    /// file. Rendered into the task as `DOCCLASS_FEEDS_TOML`: the task needs no file to mount.
    pub feeds: Option<toml::Table>,
}

/// Environment variables a task definition gets from deploy and a stack file's `environment` may not
/// set: the queues and tables a service talks to follow from the stack's name, so they cannot disagree
/// with what `apply` created and the IAM policies allow.
pub fn reserved_environment() -> Vec<&'static str> {
    let mut names = vec!["AWS_REGION", topology::env::STACK, topology::env::TABLE, topology::env::SEEN_TABLE];
    names.push(topology::env::FEEDS_TOML);
    for queue in Queue::ALL {
        names.push(queue.url_var());
        names.push(queue.dead_letter_url_var());
    }
    names
}

fn one() -> u32 {
    1
}

fn five_minutes() -> Duration {
    Duration::from_secs(300)
}

/// The longest stack name: its queues, tables and roles carry it plus up to 32 characters of their own.
const MAX_NAME: usize = 32;

/// What a stack file's `environment` may set: the tunables. Everything else a task needs deploy sets
/// itself (addresses, names), and some must never come from a stack file: the metrics address, the
/// private-address allowance, the AWS endpoint, credentials.
pub const TUNABLE_ENVIRONMENT: [&str; 10] = [
    topology::env::MIN_SCORE,
    topology::env::MODEL_STORE_INTERVAL_SECS,
    topology::env::PROMOTE_AFTER_DOCUMENTS,
    topology::env::NO_AUTO_PROMOTE,
    topology::env::CANARY_PERCENT,
    topology::env::WORKERS,
    topology::env::VISIBILITY_TIMEOUT_SECS,
    topology::env::LOG_FORMAT,
    topology::env::FEEDS,
    "RUST_LOG",
];

fn stop_timeout_secs() -> u32 {
    topology::timeouts::STOP.as_secs() as u32
}

/// Fargate's CPU units and the memory (MiB) each allows: (cpu, min, max, step).
const FARGATE_SIZES: [(u32, u32, u32, u32); 5] = [
    (256, 512, 2048, 512),
    (512, 1024, 4096, 1024),
    (1024, 2048, 8192, 1024),
    (2048, 4096, 16384, 1024),
    (4096, 8192, 30720, 1024),
];

impl Alarms {
    /// Thresholds CloudWatch can evaluate, and an SNS topic ARN of the stack's region and account.
    fn check(&self, stack: &Stack) -> anyhow::Result<()> {
        let within = |value: Duration, high: Duration| (MIN_ALARM_DURATION..=high).contains(&value);
        ensure!(
            within(self.oldest_message_age, MAX_MESSAGE_AGE),
            "alarms.oldest_message_age {}: between 1 minute and 14 days (SQS keeps a message at most 14 days)",
            humantime::format_duration(self.oldest_message_age)
        );
        ensure!(
            within(self.pool_at_max_for, MAX_POOL_AT_MAX),
            "alarms.pool_at_max_for {}: between 1 minute and 24 hours (CloudWatch evaluates an alarm over at most a day)",
            humantime::format_duration(self.pool_at_max_for)
        );
        if let Some(arn) = &self.alarm_topic_arn {
            let prefix = format!("arn:aws:sns:{}:{}:", stack.region, stack.account_id);
            let name = arn.strip_prefix(&prefix).unwrap_or_default();
            ensure!(
                !name.is_empty()
                    && name.len() <= 256
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
                "alarms.alarm_topic_arn {arn:?}: not an SNS topic ARN of this stack's region and account ({prefix}<topic>)"
            );
        }
        Ok(())
    }
}

impl Stack {
    /// Reads and checks the stack file at `path`.
    ///
    /// # Errors
    /// When it cannot be read or parsed, or [`Stack::parse`] refuses it.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in the stack file {}", path.display()))
    }

    /// Parses and checks a stack file: every service named exactly once, sizes Fargate accepts, sane
    /// task bounds, a way to compute each scaling pool's target.
    ///
    /// # Errors
    /// The first problem found, by field.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let stack: Stack = toml::from_str(text)?;
        ensure!(
            !stack.name.is_empty()
                && stack.name.len() <= MAX_NAME
                && stack.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
            "name {:?}: 1 to {MAX_NAME} letters, digits and '-' (it prefixes queue, table and role names, which \
             AWS caps at 64 to 80 characters)",
            stack.name
        );
        let group = &stack.logs.group;
        ensure!(
            !group.is_empty()
                && group.len() <= 512
                && group.chars().all(|c| c.is_ascii_alphanumeric() || "_-/.#".contains(c)),
            "logs.group {group:?}: 1 to 512 letters, digits and '_-/.#' (the task roles may write to it; a '*' \
             would grant every log group)"
        );
        ensure!(
            stack.account_id.len() == 12 && stack.account_id.chars().all(|c| c.is_ascii_digit()),
            "account_id must be 12 digits"
        );
        ensure!(!stack.network.subnets.is_empty(), "network.subnets: at least one subnet");
        stack.alarms.check(&stack)?;
        if let Some(models) = &stack.models {
            let store = models
                .store
                .parse::<model_store::StoreUri>()
                .map_err(|error| anyhow::anyhow!("models.store: {error}"))?;
            ensure!(
                matches!(store, model_store::StoreUri::S3 { .. }),
                "models.store {:?}: tasks on ECS read their models from S3 (s3://bucket/prefix), not a folder",
                models.store
            );
        }
        for name in stack.services.keys() {
            if Service::from_name(name).is_none() {
                bail!(
                    "services.{name}: not a docclass service (feed-ingest, topic-classifier, subtopic-classifier, table-writer)"
                );
            }
        }
        for service in SERVICES {
            let spec = stack
                .services
                .get(service.name())
                .with_context(|| format!("services.{} is missing", service.name()))?;
            let field = |what: &str| format!("services.{}.{what}", service.name());
            ensure!(spec.min_tasks <= spec.max_tasks, "{}: min_tasks above max_tasks", field("min_tasks"));
            ensure!(spec.max_tasks >= 1, "{} must be at least 1", field("max_tasks"));
            if stack.network.launch_type == LaunchType::Fargate {
                let fits = FARGATE_SIZES.iter().any(|&(cpu, low, high, step)| {
                    spec.cpu == cpu && (low..=high).contains(&spec.memory) && (spec.memory - low) % step == 0
                });
                ensure!(
                    fits,
                    "{}: cpu {} with memory {} MiB is not a Fargate size",
                    field("cpu"),
                    spec.cpu,
                    spec.memory
                );
            }
            let reserved = reserved_environment();
            if let Some(name) = spec.environment.keys().find(|name| reserved.contains(&name.as_str())) {
                bail!("{}: {name} is set by deploy itself, from the stack's name", field("environment"));
            }
            if let Some(name) = spec.environment.keys().find(|name| !TUNABLE_ENVIRONMENT.contains(&name.as_str())) {
                bail!(
                    "{}: {name} is not one a stack file may set (only {}); addresses, endpoints and \
                     allowances are deploy's, and secrets do not belong in a task definition's plain text",
                    field("environment"),
                    TUNABLE_ENVIRONMENT.join(", ")
                );
            }
            let (least, most) = (topology::timeouts::DRAIN.as_secs() + 1, topology::timeouts::VISIBILITY.as_secs());
            ensure!(
                (least..=most).contains(&u64::from(spec.stop_timeout_secs)),
                "{}: {} s; between {least} s (above the {} s a worker takes to drain) and {most} s (below the \
                 visibility timeout, so no message in hand reappears while its task stops)",
                field("stop_timeout_secs"),
                spec.stop_timeout_secs,
                least - 1
            );
            if service == Service::FeedIngest {
                // Polling twice from two tasks is safe (the seen table) but pointless.
                ensure!(spec.max_tasks == 1, "{}: feed-ingest runs as one task", field("max_tasks"));
                stack.check_feeds(spec)?;
            } else {
                ensure!(spec.feeds.is_none(), "{}: only feed-ingest polls feeds", field("feeds"));
                stack.scaling_policy(service)?;
            }
        }
        Ok(stack)
    }

    /// feed-ingest's feed list: given, and valid as feed-ingest will read it; or a file named by
    /// `DOCCLASS_FEEDS` in an image of the user's own (docclass's image holds no feed list).
    fn check_feeds(&self, spec: &ServiceSpec) -> anyhow::Result<()> {
        match (&spec.feeds, spec.environment.get(topology::env::FEEDS)) {
            (Some(_), Some(_)) => bail!("services.feed-ingest: give feeds or environment.DOCCLASS_FEEDS, not both"),
            (Some(_), None) => {
                let text = self.feeds_toml().expect("feeds are given");
                let list = feeds::FeedList::parse(&text)
                    .map_err(|error| anyhow::anyhow!("services.feed-ingest.feeds: {error:#}"))?;
                // feed-ingest on ECS refuses private addresses; a literal one is refused here already
                // (a name is resolved only where it is fetched). 169.254.170.2 is the task's credentials.
                for feed in list.feeds() {
                    let host = url::Url::parse(&feed.url).ok().and_then(|url| url.host().map(|host| host.to_owned()));
                    let ip = match host {
                        Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
                        Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
                        _ => None,
                    };
                    if let Some(ip) = ip.filter(|ip| !feeds::is_public(*ip)) {
                        bail!(
                            "services.feed-ingest.feeds: {} is at a private address ({ip}), which feed-ingest refuses",
                            feed.shown()
                        );
                    }
                }
                // ECS takes a task definition of at most 64 KiB, environment included.
                ensure!(text.len() <= 32 * 1024, "services.feed-ingest.feeds: over 32 KiB as TOML");
                Ok(())
            }
            (None, Some(_)) if spec.image.is_some() => Ok(()),
            (None, Some(path)) => bail!(
                "services.feed-ingest.environment.DOCCLASS_FEEDS names {path}, which docclass's image does not hold: \
                 give the list as services.feed-ingest.feeds (or an image of your own that holds it)"
            ),
            (None, None) => bail!(
                "services.feed-ingest.feeds: the feed list is missing, so the task would have nothing to poll \
                 (see deploy/stack.example.toml)"
            ),
        }
    }

    /// feed-ingest's feed list as the TOML text its task gets, when the stack file gives one.
    pub fn feeds_toml(&self) -> Option<String> {
        let feeds = self.services.get(Service::FeedIngest.name())?.feeds.as_ref()?;
        Some(toml::to_string(feeds).expect("a TOML table always serialises"))
    }

    /// A service's settings (present: [`Stack::parse`] checked).
    pub fn service(&self, service: Service) -> &ServiceSpec {
        &self.services[service.name()]
    }

    /// The scaling policy of a classifier or writer pool.
    ///
    /// # Errors
    /// When neither a backlog target nor latency and seconds per message are given.
    pub fn scaling_policy(&self, service: Service) -> anyhow::Result<ScalingPolicy> {
        let spec = self.service(service);
        let target = match (spec.target_backlog_per_task, spec.target_latency, spec.seconds_per_message) {
            (Some(target), _, _) => target.max(1),
            (None, Some(latency), Some(seconds)) if seconds > 0.0 => {
                ScalingPolicy::target_from_latency(latency, seconds)
            }
            _ => bail!(
                "services.{}: give target_backlog_per_task, or target_latency and seconds_per_message",
                service.name()
            ),
        };
        Ok(ScalingPolicy {
            min_tasks: spec.min_tasks,
            max_tasks: spec.max_tasks,
            target_backlog_per_task: target,
            scale_in_window: spec.scale_in_window,
            noise_backlog: 2,
            noise_persistence: Duration::from_secs(60),
        })
    }

    /// A queue's name (`Some(true)`: its dead-letter queue).
    pub fn queue_name(&self, queue: Queue, dead_letters: bool) -> String {
        if dead_letters { queue.dead_letter_name(&self.name) } else { queue.name(&self.name) }
    }

    /// A queue's URL.
    pub fn queue_url(&self, queue: Queue, dead_letters: bool) -> String {
        format!(
            "https://sqs.{}.amazonaws.com/{}/{}",
            self.region,
            self.account_id,
            self.queue_name(queue, dead_letters)
        )
    }

    /// A queue's ARN.
    pub fn queue_arn(&self, queue: Queue, dead_letters: bool) -> String {
        format!("arn:aws:sqs:{}:{}:{}", self.region, self.account_id, self.queue_name(queue, dead_letters))
    }

    /// The result table's name.
    pub fn table_name(&self) -> String {
        topology::result_table_name(&self.name)
    }

    /// feed-ingest's de-duplication table's name.
    pub fn seen_table_name(&self) -> String {
        topology::seen_table_name(&self.name)
    }

    /// A table's ARN.
    pub fn table_arn(&self, table: &str) -> String {
        format!("arn:aws:dynamodb:{}:{}:table/{table}", self.region, self.account_id)
    }

    /// The ECS service's (and task definition family's) name.
    pub fn ecs_name(&self, service: Service) -> String {
        format!("{}-{}", self.name, service.name())
    }

    /// The service's task role.
    pub fn task_role_name(&self, service: Service) -> String {
        format!("{}-{}-task", self.name, service.name())
    }

    /// The execution role every task definition shares (image pulls, logs).
    pub fn execution_role_name(&self) -> String {
        format!("{}-execution", self.name)
    }

    /// A role's ARN.
    pub fn role_arn(&self, role: &str) -> String {
        format!("arn:aws:iam::{}:role/{role}", self.account_id)
    }

    /// The service's image.
    pub fn image(&self, service: Service) -> String {
        self.service(service)
            .image
            .clone()
            .unwrap_or_else(|| format!("{}/docclass-{}:{}", self.registry, service.name(), self.tag))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../stack.example.toml");

    #[test]
    fn the_example_is_valid() {
        let stack = Stack::parse(EXAMPLE).unwrap();
        let topic = stack.scaling_policy(Service::TopicClassifier).unwrap();
        assert!(topic.max_tasks > topic.min_tasks);
        assert_eq!(
            stack.queue_url(Queue::Ingest, false),
            "https://sqs.us-east-1.amazonaws.com/123456789012/docclass-ingest"
        );
    }

    #[test]
    fn refuses_what_would_fail_at_deploy_time() {
        for (change, expected) in [
            (("cpu = 512", "cpu = 300"), "not a Fargate size"),
            (("min_tasks = 1\nmax_tasks = 8", "min_tasks = 9\nmax_tasks = 8"), "min_tasks above max_tasks"),
            (("[services.table-writer]", "[services.tabel-writer]"), "not a docclass service"),
            (("account_id = \"123456789012\"", "account_id = \"12\""), "12 digits"),
            (("https://rss.arxiv.org/atom/cs", "http://169.254.170.2/v2/credentials"), "at a private address"),
            (("name = \"docclass\"", &format!("name = \"{}\"", "d".repeat(300))), "1 to 32 letters"),
            (("group = \"/ecs/docclass\"", "group = \"*\""), "would grant every log group"),
            (("[services.table-writer]", "[services.table-writer]\nstop_timeout_secs = 0"), "between 21 s"),
            (
                (
                    "[services.table-writer]",
                    "[services.table-writer]\nenvironment = { AWS_ENDPOINT_URL = \"http://x\" }",
                ),
                "not one a stack file may set",
            ),
            (
                (
                    "[services.table-writer]",
                    "[services.table-writer]\nenvironment = { DOCCLASS_ALLOW_PRIVATE_ADDRESSES = \"true\" }",
                ),
                "not one a stack file may set",
            ),
        ] {
            assert!(EXAMPLE.contains(change.0), "the example has {:?}", change.0);
            let error = format!("{:#}", Stack::parse(&EXAMPLE.replacen(change.0, change.1, 1)).unwrap_err());
            assert!(error.contains(expected), "{change:?}: {error}");
        }
    }
}
