//! What follows from a stack file, as the JSON the AWS APIs take: one task definition per service
//! (`aws ecs register-task-definition --cli-input-json`), one least-privilege task-role policy per
//! service, the execution role's policy and trust, and the target-tracking scaling policy of each pool
//! (`aws application-autoscaling put-scaling-policy --cli-input-json`).
//!
//! serde_json without `preserve_order` writes object keys sorted, so the same stack always renders the
//! same bytes: `apply` compares them to decide whether anything changed, and the golden files under
//! `deploy/tests/golden/` are reviewed once by hand and then held to.

use std::path::Path;

use anyhow::Context;
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
        files.push((format!("taskdef-{}.json", service.name()), task_definition(stack, service)));
        files.push((format!("policy-{}.json", service.name()), task_role_policy(stack, service)));
        if service.input_queue().is_some() {
            files.push((format!("scaling-{}.json", service.name()), scaling_policy(stack, service)?));
        }
    }
    files.push(("policy-execution.json".into(), execution_role_policy(stack)));
    files.push(("trust-ecs-tasks.json".into(), ecs_tasks_trust()));
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
fn environment(stack: &Stack, service: Service) -> Vec<Value> {
    let mut variables: Vec<(String, String)> = vec![
        ("AWS_REGION".into(), stack.region.clone()),
        (env::LOG_FORMAT.into(), "json".into()),
        (env::STACK.into(), stack.name.clone()),
    ];
    let queue = |queue: Queue| (queue.url_var().to_owned(), stack.queue_url(queue, false));
    let dead_letters = |queue: Queue| (queue.dead_letter_url_var().to_owned(), stack.queue_url(queue, true));
    match service {
        Service::FeedIngest => {
            variables.push(queue(Queue::Ingest));
            variables.push((env::SEEN_TABLE.into(), stack.seen_table_name()));
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
    for (name, value) in &stack.service(service).environment {
        variables.retain(|(existing, _)| existing != name);
        variables.push((name.clone(), value.clone()));
    }
    variables.sort();
    variables.into_iter().map(|(name, value)| json!({ "name": name, "value": value })).collect()
}

/// One service's task definition: Fargate-compatible, awsvpc, non-root, read-only root filesystem,
/// health-checked on `/healthz`, logging to CloudWatch, with time to drain on SIGTERM.
pub fn task_definition(stack: &Stack, service: Service) -> Value {
    let spec = stack.service(service);
    let compatibilities = match stack.network.launch_type {
        LaunchType::Fargate => vec!["FARGATE"],
        LaunchType::Ec2 => vec!["EC2"],
    };
    let binary = format!("/usr/local/bin/{}", service.name());
    json!({
        "family": stack.ecs_name(service),
        "taskRoleArn": stack.role_arn(&stack.task_role_name(service)),
        "executionRoleArn": stack.role_arn(&stack.execution_role_name()),
        "networkMode": "awsvpc",
        "requiresCompatibilities": compatibilities,
        "cpu": spec.cpu.to_string(),
        "memory": spec.memory.to_string(),
        "runtimePlatform": { "cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX" },
        "containerDefinitions": [{
            "name": service.name(),
            "image": stack.image(service),
            "essential": true,
            "user": CONTAINER_USER,
            "readonlyRootFilesystem": true,
            // Above the worker runtime's 20 s shutdown: a stopping task finishes and acknowledges the
            // batches it holds, or gives them back to the queue, before ECS sends SIGKILL.
            "stopTimeout": spec.stop_timeout_secs,
            "portMappings": [{ "containerPort": service.metrics_port(), "protocol": "tcp", "name": "metrics" }],
            "environment": environment(stack, service),
            // The image is FROM scratch (no shell, no curl): the binary checks its own /healthz.
            "healthCheck": {
                "command": ["CMD", binary, "--healthcheck"],
                "interval": 15,
                "timeout": 5,
                "retries": 3,
                "startPeriod": 10
            },
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": stack.logs.group,
                    "awslogs-region": stack.region,
                    "awslogs-stream-prefix": service.name()
                }
            }
        }]
    })
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

/// Who may assume the task and execution roles: ECS tasks.
pub fn ecs_tasks_trust() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": "ecs-tasks.amazonaws.com" },
            "Action": "sts:AssumeRole"
        }]
    })
}

/// Target tracking on backlog per task: metric math over the input queue's visible and in-flight
/// counts and the service's running tasks (Container Insights), held at the pool's target. The same
/// target as `deploy scale` uses, so either scaler sizes the pool alike.
pub fn scaling_policy(stack: &Stack, service: Service) -> anyhow::Result<Value> {
    let policy = stack.scaling_policy(service)?;
    let queue = stack.queue_name(service.input_queue().context("only pools that consume a queue scale")?, false);
    let sqs_metric = |id: &str, name: &str| {
        json!({
            "Id": id,
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/SQS",
                    "MetricName": name,
                    "Dimensions": [{ "Name": "QueueName", "Value": queue }]
                },
                "Stat": "Sum"
            },
            "ReturnData": false
        })
    };
    Ok(json!({
        "PolicyName": format!("{}-backlog-per-task", stack.ecs_name(service)),
        "ServiceNamespace": "ecs",
        "ResourceId": format!("service/{}/{}", stack.cluster, stack.ecs_name(service)),
        "ScalableDimension": "ecs:service:DesiredCount",
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": f64::from(policy.target_backlog_per_task),
            "CustomizedMetricSpecification": {
                "Metrics": [
                    sqs_metric("visible", "ApproximateNumberOfMessagesVisible"),
                    sqs_metric("in_flight", "ApproximateNumberOfMessagesNotVisible"),
                    {
                        "Id": "tasks",
                        "MetricStat": {
                            "Metric": {
                                "Namespace": "ECS/ContainerInsights",
                                "MetricName": "RunningTaskCount",
                                "Dimensions": [
                                    { "Name": "ClusterName", "Value": stack.cluster },
                                    { "Name": "ServiceName", "Value": stack.ecs_name(service) }
                                ]
                            },
                            "Stat": "Average"
                        },
                        "ReturnData": false
                    },
                    {
                        "Id": "backlog_per_task",
                        // With no task running, the whole backlog counts against one: scale-out from
                        // zero still happens.
                        "Expression": "(visible + in_flight) / IF(tasks > 0, tasks, 1)",
                        "Label": "Backlog per task",
                        "ReturnData": true
                    }
                ]
            },
            "ScaleOutCooldown": 60,
            "ScaleInCooldown": policy.scale_in_window.as_secs(),
            "DisableScaleIn": false
        }
    }))
}
