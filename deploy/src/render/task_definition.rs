//! One task definition per service, as `aws ecs register-task-definition --cli-input-json` takes it.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use docclass_types::topology::env;

use crate::stack::{LaunchType, Queue, Service, Stack};

/// Where the images keep the model (classifier images bake it in; see Dockerfiles/).
pub const MODEL_PATH: &str = "/usr/local/share/docclass/model.bin";
/// The user the containers run as: not root, and the distroless convention's `nonroot`.
pub const CONTAINER_USER: &str = "65532:65532";

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
            variables.extend(model_store(stack));
        }
        Service::SubtopicClassifier => {
            variables.push(queue(Queue::Subtopic));
            variables.push(queue(Queue::Results));
            variables.push(dead_letters(Queue::Subtopic));
            variables.push((env::MODEL.into(), MODEL_PATH.into()));
            variables.extend(model_store(stack));
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

/// The store a classifier serves its live model from, when the stack names one (the baked-in model is
/// its fallback).
fn model_store(stack: &Stack) -> Option<(String, String)> {
    stack.models.as_ref().map(|models| (env::MODEL_STORE.to_owned(), models.store.clone()))
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
