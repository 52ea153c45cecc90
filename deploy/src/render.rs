//! What follows from a stack file, as the JSON the AWS APIs take: one task definition per service
//! (`aws ecs register-task-definition --cli-input-json`), one least-privilege task-role policy per
//! service, the execution role's policy and trust, and the target-tracking scaling policy of each pool
//! (`aws application-autoscaling put-scaling-policy --cli-input-json`), and the CloudWatch dashboard and
//! alarms ([`crate::monitoring`]).
//!
//! serde_json without `preserve_order` writes object keys sorted, so the same stack always renders the
//! same bytes: `apply` compares them to decide whether anything changed, and the golden files under
//! `deploy/tests/golden/` are reviewed once by hand and then held to.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde::Serialize;
use serde_json::{Value, json};

use docclass_types::topology::env;

use crate::stack::{LaunchType, Queue, SERVICES, Service, Stack};

/// Where the images keep the model (classifier images bake it in; see Dockerfiles/).
pub const MODEL_PATH: &str = "/usr/local/share/docclass/model.bin";
/// The user the containers run as: not root, and the distroless convention's `nonroot`.
pub const CONTAINER_USER: &str = "65532:65532";

/// Every file `render` writes, by name.
pub fn render_all(stack: &Stack) -> anyhow::Result<Vec<(String, Value)>> {
    let mut files = Vec::new();
    for service in SERVICES {
        files.push((format!("taskdef-{}.json", service.name()), task_definition(stack, service).to_json()));
        files.push((format!("policy-{}.json", service.name()), task_role_policy(stack, service)));
        if service.input_queue().is_some() {
            files.push((format!("scaling-{}.json", service.name()), scaling_policy(stack, service)?.to_json()));
        }
    }
    files.push(("policy-execution.json".into(), execution_role_policy(stack)));
    files.push(("trust-ecs-tasks.json".into(), ecs_tasks_trust(stack)));
    // `aws cloudwatch put-dashboard --dashboard-name <stack> --dashboard-body file://dashboard-body.json`
    files.push(("dashboard-body.json".into(), crate::monitoring::dashboard_body(stack)));
    for alarm in crate::monitoring::alarms(stack) {
        files.push((format!("alarm-{}.json", alarm.alarm_name), alarm.to_json()));
    }
    Ok(files)
}

/// Writes [`render_all`] into `dir` as pretty JSON, one file each; answers their names.
///
/// # Errors
/// When a file cannot be written.
pub fn write_all(stack: &Stack, dir: &Path) -> anyhow::Result<Vec<String>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut names = Vec::new();
    for (name, value) in render_all(stack)? {
        let path = dir.join(&name);
        std::fs::write(&path, pretty(&value)).with_context(|| format!("writing {}", path.display()))?;
        names.push(name);
    }
    Ok(names)
}

/// Pretty JSON with a final newline.
pub fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("JSON values always serialise");
    text.push('\n');
    text
}

/// The environment a service reads (the `docclass infra up` contract), plus the stack file's extras.
fn environment(stack: &Stack, service: Service) -> Vec<Variable> {
    let mut variables: Vec<(String, String)> = vec![
        ("AWS_REGION".into(), stack.region.clone()),
        (env::LOG_FORMAT.into(), "json".into()),
        (env::STACK.into(), stack.name.clone()),
        // The task's health check asks it on loopback; the scraper and ECS's Service Connect from outside.
        (env::METRICS_ADDR.into(), format!("0.0.0.0:{}", service.metrics_port())),
    ];
    let queue = |queue: Queue| (queue.url_var().to_owned(), stack.queue_url(queue, false));
    let dead_letters = |queue: Queue| (queue.dead_letter_url_var().to_owned(), stack.queue_url(queue, true));
    match service {
        Service::FeedIngest => {
            variables.push(queue(Queue::Ingest));
            variables.push((env::SEEN_TABLE.into(), stack.seen_table_name()));
            if let Some(feeds) = stack.feeds_toml() {
                variables.push((env::FEEDS_TOML.into(), feeds));
            }
        }
        Service::TopicClassifier => {
            variables.push(queue(Queue::Ingest));
            variables.push(queue(Queue::Subtopic));
            variables.push(dead_letters(Queue::Ingest));
            variables.push((env::MODEL.into(), MODEL_PATH.into()));
        }
        Service::SubtopicClassifier => {
            variables.push(queue(Queue::Subtopic));
            variables.push(queue(Queue::Results));
            variables.push(dead_letters(Queue::Subtopic));
            variables.push((env::MODEL.into(), MODEL_PATH.into()));
        }
        Service::TableWriter => {
            variables.push(queue(Queue::Results));
            variables.push((env::TABLE.into(), stack.table_name()));
            variables.push(dead_letters(Queue::Results));
        }
    }
    // The stack file's own names never collide with these: `Stack::parse` refuses the reserved ones.
    for (name, value) in &stack.service(service).environment {
        variables.retain(|(existing, _)| existing != name);
        variables.push((name.clone(), value.clone()));
    }
    variables.sort();
    variables.into_iter().map(|(name, value)| Variable { name, value }).collect()
}

/// A task definition, typed: what `apply` hands to the SDK's builders field by field, and what `render`
/// writes for `aws ecs register-task-definition --cli-input-json` (the fields as ECS spells them).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDefinition {
    /// The family: `<stack>-<service>`.
    pub family: String,
    /// The service's own role.
    pub task_role_arn: String,
    /// The role ECS pulls the image and writes logs with.
    pub execution_role_arn: String,
    /// Always `awsvpc` (Fargate's only mode).
    pub network_mode: &'static str,
    /// `FARGATE` or `EC2`.
    pub requires_compatibilities: Vec<&'static str>,
    /// CPU units, as text (ECS's form).
    pub cpu: String,
    /// MiB, as text.
    pub memory: String,
    /// x86-64 Linux.
    pub runtime_platform: RuntimePlatform,
    /// The one container.
    pub container_definitions: Vec<ContainerDefinition>,
}

/// Where a task runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimePlatform {
    /// `X86_64`.
    pub cpu_architecture: &'static str,
    /// `LINUX`.
    pub operating_system_family: &'static str,
}

/// The service's container.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerDefinition {
    /// The service's name.
    pub name: String,
    /// Its image.
    pub image: String,
    /// The task stops when it does.
    pub essential: bool,
    /// uid:gid, not root.
    pub user: &'static str,
    /// Nothing in it writes a file.
    pub readonly_root_filesystem: bool,
    /// No Linux capabilities: the services open sockets on unprivileged ports and nothing else.
    pub linux_parameters: LinuxParameters,
    /// Seconds between SIGTERM and SIGKILL.
    pub stop_timeout: u32,
    /// `/healthz` and `/metrics`.
    pub port_mappings: Vec<PortMapping>,
    /// The environment the service reads.
    pub environment: Vec<Variable>,
    /// The binary asks its own `/healthz`.
    pub health_check: HealthCheck,
    /// CloudWatch Logs.
    pub log_configuration: LogConfiguration,
}

/// The container's kernel settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinuxParameters {
    /// Capabilities added and dropped.
    pub capabilities: Capabilities,
}

/// Linux capabilities of the container.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Capabilities {
    /// Dropped: `ALL`.
    pub drop: Vec<&'static str>,
}

/// A container port.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    /// The port.
    pub container_port: u16,
    /// `tcp`.
    pub protocol: &'static str,
    /// Its name.
    pub name: &'static str,
}

/// One environment variable.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Variable {
    /// Its name.
    pub name: String,
    /// Its value.
    pub value: String,
}

/// The container's health check.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    /// `CMD`, the binary, `--healthcheck`.
    pub command: Vec<String>,
    /// Seconds between probes.
    pub interval: i32,
    /// Seconds a probe may take.
    pub timeout: i32,
    /// Failures before unhealthy.
    pub retries: i32,
    /// Seconds of grace after start.
    pub start_period: i32,
}

/// Where the container logs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogConfiguration {
    /// `awslogs`.
    pub log_driver: &'static str,
    /// The group, region and stream prefix.
    pub options: BTreeMap<&'static str, String>,
}

/// One service's task definition: Fargate-compatible, awsvpc, non-root, read-only root filesystem,
/// health-checked on `/healthz`, logging to CloudWatch, with time to drain on SIGTERM.
pub fn task_definition(stack: &Stack, service: Service) -> TaskDefinition {
    let spec = stack.service(service);
    let compatibilities = match stack.network.launch_type {
        LaunchType::Fargate => vec!["FARGATE"],
        LaunchType::Ec2 => vec!["EC2"],
    };
    let binary = format!("/usr/local/bin/{}", service.name());
    TaskDefinition {
        family: stack.ecs_name(service),
        task_role_arn: stack.role_arn(&stack.task_role_name(service)),
        execution_role_arn: stack.role_arn(&stack.execution_role_name()),
        network_mode: "awsvpc",
        requires_compatibilities: compatibilities,
        cpu: spec.cpu.to_string(),
        memory: spec.memory.to_string(),
        runtime_platform: RuntimePlatform { cpu_architecture: "X86_64", operating_system_family: "LINUX" },
        container_definitions: vec![ContainerDefinition {
            name: service.name().to_owned(),
            image: stack.image(service),
            essential: true,
            user: CONTAINER_USER,
            readonly_root_filesystem: true,
            linux_parameters: LinuxParameters { capabilities: Capabilities { drop: vec!["ALL"] } },
            // Above the worker runtime's 20 s shutdown: a stopping task finishes and acknowledges the
            // batches it holds, or gives them back to the queue, before ECS sends SIGKILL.
            stop_timeout: spec.stop_timeout_secs,
            port_mappings: vec![PortMapping {
                container_port: service.metrics_port(),
                protocol: "tcp",
                name: "metrics",
            }],
            environment: environment(stack, service),
            // The image is FROM scratch (no shell, no curl): the binary checks its own /healthz.
            health_check: HealthCheck {
                command: vec!["CMD".into(), binary, "--healthcheck".into()],
                interval: 15,
                timeout: 5,
                retries: 3,
                start_period: 10,
            },
            log_configuration: LogConfiguration {
                log_driver: "awslogs",
                options: BTreeMap::from([
                    ("awslogs-group", stack.logs.group.clone()),
                    ("awslogs-region", stack.region.clone()),
                    ("awslogs-stream-prefix", service.name().to_owned()),
                ]),
            },
        }],
    }
}

impl TaskDefinition {
    /// As JSON, keys sorted: what `render` writes and what the registered revision's hash tag is of.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).expect("a task definition is plain data")
    }
}

fn statement(sid: &str, actions: &[&str], resources: Vec<String>) -> Value {
    json!({ "Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources })
}

/// The task role's policy: what this service's code calls, on its own queues and table, nothing else.
pub fn task_role_policy(stack: &Stack, service: Service) -> Value {
    let consume = |queue: Queue| {
        statement(
            "ConsumeInput",
            &["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"],
            vec![stack.queue_arn(queue, false)],
        )
    };
    let send = |sid: &str, arns: Vec<String>| statement(sid, &["sqs:SendMessage"], arns);
    let statements = match service {
        Service::FeedIngest => vec![
            send("EnqueueDocuments", vec![stack.queue_arn(Queue::Ingest, false)]),
            statement(
                "RememberEnqueued",
                &["dynamodb:PutItem", "dynamodb:UpdateItem"],
                vec![stack.table_arn(&stack.seen_table_name())],
            ),
        ],
        Service::TopicClassifier => vec![
            consume(Queue::Ingest),
            send(
                "ForwardAndDeadLetter",
                vec![stack.queue_arn(Queue::Subtopic, false), stack.queue_arn(Queue::Ingest, true)],
            ),
        ],
        Service::SubtopicClassifier => vec![
            consume(Queue::Subtopic),
            send(
                "ForwardAndDeadLetter",
                vec![stack.queue_arn(Queue::Results, false), stack.queue_arn(Queue::Subtopic, true)],
            ),
        ],
        Service::TableWriter => vec![
            consume(Queue::Results),
            send("DeadLetter", vec![stack.queue_arn(Queue::Results, true)]),
            statement("WriteResults", &["dynamodb:BatchWriteItem"], vec![stack.table_arn(&stack.table_name())]),
        ],
    };
    let mut statements = statements;
    if service.input_queue().is_some() {
        // Task scale-in protection while it holds messages: the agent calls ECS with the task role. A
        // task's id is not known before it starts: any task of this cluster (the only wildcard granted).
        statements.push(statement(
            "ProtectOwnTaskWhileBusy",
            &["ecs:GetTaskProtection", "ecs:UpdateTaskProtection"],
            vec![format!("arn:aws:ecs:{}:{}:task/{}/*", stack.region, stack.account_id, stack.cluster)],
        ));
    }
    json!({ "Version": "2012-10-17", "Statement": statements })
}

/// The execution role's policy: pull the four images, write the log group.
pub fn execution_role_policy(stack: &Stack) -> Value {
    let repositories: Vec<String> = SERVICES
        .iter()
        .map(|service| {
            let image = stack.image(*service);
            let repository = image.split_once('/').map_or(image.as_str(), |(_, path)| path);
            let repository = repository.split([':', '@']).next().unwrap_or(repository);
            format!("arn:aws:ecr:{}:{}:repository/{repository}", stack.region, stack.account_id)
        })
        .collect();
    let log_group = format!("arn:aws:logs:{}:{}:log-group:{}:*", stack.region, stack.account_id, stack.logs.group);
    json!({
        "Version": "2012-10-17",
        "Statement": [
            // GetAuthorizationToken has no resource-level permissions: "*" is the only form AWS accepts.
            statement("EcrLogin", &["ecr:GetAuthorizationToken"], vec!["*".into()]),
            statement(
                "PullImages",
                &["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                repositories
            ),
            statement("WriteLogs", &["logs:CreateLogStream", "logs:PutLogEvents"], vec![log_group]),
        ]
    })
}

/// Who may assume the task and execution roles: ECS tasks of this account, in this region — the
/// confused-deputy guard AWS recommends, so that ECS acting for another account cannot be made to
/// assume them.
pub fn ecs_tasks_trust(stack: &Stack) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": "ecs-tasks.amazonaws.com" },
            "Action": "sts:AssumeRole",
            "Condition": {
                "ArnLike": { "aws:SourceArn": format!("arn:aws:ecs:{}:{}:*", stack.region, stack.account_id) },
                "StringEquals": { "aws:SourceAccount": stack.account_id }
            }
        }]
    })
}

/// A pool's target-tracking policy, typed: what `apply` hands to Application Auto Scaling's builders and
/// what `render` writes for `aws application-autoscaling put-scaling-policy --cli-input-json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScalingPolicy {
    /// `<stack>-<service>-backlog-per-task`.
    pub policy_name: String,
    /// `ecs`.
    pub service_namespace: &'static str,
    /// `service/<cluster>/<service>`.
    pub resource_id: String,
    /// `ecs:service:DesiredCount`.
    pub scalable_dimension: &'static str,
    /// `TargetTrackingScaling`.
    pub policy_type: &'static str,
    /// What it tracks.
    pub target_tracking_scaling_policy_configuration: TargetTracking,
}

/// Backlog per task, held at a target.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TargetTracking {
    /// Messages per task.
    pub target_value: f64,
    /// The metric math.
    pub customized_metric_specification: MetricSpecification,
    /// Seconds between scale-outs.
    pub scale_out_cooldown: u64,
    /// Seconds a lower backlog must last (the stack's `scale_in_window`).
    pub scale_in_cooldown: u64,
    /// Always false.
    pub disable_scale_in: bool,
}

/// The queries whose last one is the tracked value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricSpecification {
    /// The inputs, then the expression.
    pub metrics: Vec<MetricQuery>,
}

/// One metric, or an expression over the others.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricQuery {
    /// Its name in expressions.
    pub id: &'static str,
    /// A metric to read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric_stat: Option<MetricStat>,
    /// Or an expression.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expression: Option<&'static str>,
    /// The expression's label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<&'static str>,
    /// Whether this is the tracked value.
    pub return_data: bool,
}

/// A metric and its statistic.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricStat {
    /// The metric.
    pub metric: Metric,
    /// `Sum`, `Average`.
    pub stat: &'static str,
}

/// A CloudWatch metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Metric {
    /// Its namespace.
    pub namespace: &'static str,
    /// Its name.
    pub metric_name: &'static str,
    /// Its dimensions.
    pub dimensions: Vec<Dimension>,
}

/// A metric dimension.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Dimension {
    /// Its name.
    pub name: &'static str,
    /// Its value.
    pub value: String,
}

impl ScalingPolicy {
    /// As JSON, keys sorted: what `render` writes.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).expect("a scaling policy is plain data")
    }
}

/// Target tracking on backlog per task: metric math over the input queue's visible and in-flight
/// counts and the service's running tasks (Container Insights), held at the pool's target. The same
/// target as `deploy scale` uses, so either scaler sizes the pool alike.
///
/// # Errors
/// When the stack file gives the pool no usable target.
pub fn scaling_policy(stack: &Stack, service: Service) -> anyhow::Result<ScalingPolicy> {
    let policy = stack.scaling_policy(service)?;
    let queue = stack.queue_name(service.input_queue().context("only pools that consume a queue scale")?, false);
    let metric = |id, namespace, metric_name, dimensions, stat| MetricQuery {
        id,
        metric_stat: Some(MetricStat { metric: Metric { namespace, metric_name, dimensions }, stat }),
        expression: None,
        label: None,
        return_data: false,
    };
    let by_queue = || vec![Dimension { name: "QueueName", value: queue.clone() }];
    Ok(ScalingPolicy {
        policy_name: format!("{}-backlog-per-task", stack.ecs_name(service)),
        service_namespace: "ecs",
        resource_id: format!("service/{}/{}", stack.cluster, stack.ecs_name(service)),
        scalable_dimension: "ecs:service:DesiredCount",
        policy_type: "TargetTrackingScaling",
        target_tracking_scaling_policy_configuration: TargetTracking {
            target_value: f64::from(policy.target_backlog_per_task),
            customized_metric_specification: MetricSpecification {
                metrics: vec![
                    metric("visible", "AWS/SQS", "ApproximateNumberOfMessagesVisible", by_queue(), "Sum"),
                    metric("in_flight", "AWS/SQS", "ApproximateNumberOfMessagesNotVisible", by_queue(), "Sum"),
                    metric(
                        "tasks",
                        "ECS/ContainerInsights",
                        "RunningTaskCount",
                        vec![
                            Dimension { name: "ClusterName", value: stack.cluster.clone() },
                            Dimension { name: "ServiceName", value: stack.ecs_name(service) },
                        ],
                        "Average",
                    ),
                    MetricQuery {
                        id: "backlog_per_task",
                        metric_stat: None,
                        // With no task running, the whole backlog counts against one: scale-out from
                        // zero still happens.
                        expression: Some("(visible + in_flight) / IF(tasks > 0, tasks, 1)"),
                        label: Some("Backlog per task"),
                        return_data: true,
                    },
                ],
            },
            scale_out_cooldown: 60,
            scale_in_cooldown: policy.scale_in_window.as_secs(),
            disable_scale_in: false,
        },
    })
}
