//! The stack on AWS, through the official SDK: `plan` compares what the stack file renders with what
//! exists, `apply` makes them agree, `status` reports, `destroy` removes what `apply` made.
//!
//! What `apply` creates it tags `docclass:stack = <name>`, and `destroy` removes only what carries that
//! tag (plus the queues and tables `infra up` names, unless `--keep-data`): a role, log group or cluster
//! someone else made under the same name is left alone. Task definitions carry the SHA-256 of their
//! rendered JSON as a tag, so "changed?" is one comparison and a second `apply` registers nothing.

mod apply;
mod scale;
mod status;

use std::fmt;

use adapters_aws::AwsSettings;

pub use apply::{apply, destroy, plan, policy_document, wait_until_steady};
pub use scale::{EcsPools, Pools, ScaleTarget, scale_once};
pub use status::{ServiceStatus, service_counts, status};

use crate::stack::Service;

pub use crate::stack::STACK_TAG;
/// The tag on task definitions: the SHA-256 of the rendered JSON they were registered from.
pub const RENDER_TAG: &str = "docclass:render-sha256";
/// The inline policy name on each role.
pub const POLICY_NAME: &str = "docclass";

/// The SDK clients `deploy` uses.
#[derive(Clone)]
pub struct Clients {
    /// Amazon ECS.
    pub ecs: aws_sdk_ecs::Client,
    /// IAM.
    pub iam: aws_sdk_iam::Client,
    /// Application Auto Scaling.
    pub autoscaling: aws_sdk_applicationautoscaling::Client,
    /// CloudWatch Logs.
    pub logs: aws_sdk_cloudwatchlogs::Client,
    /// CloudWatch: the dashboard and alarms.
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    /// SQS.
    pub sqs: aws_sdk_sqs::Client,
    /// DynamoDB.
    pub dynamodb: aws_sdk_dynamodb::Client,
}

impl Clients {
    /// Clients for `settings` (the stack's region; an emulator's endpoint if given).
    pub async fn new(settings: &AwsSettings) -> Self {
        let config = adapters_aws::load_sdk_config(settings).await;
        Self {
            ecs: aws_sdk_ecs::Client::new(&config),
            iam: aws_sdk_iam::Client::new(&config),
            autoscaling: aws_sdk_applicationautoscaling::Client::new(&config),
            logs: aws_sdk_cloudwatchlogs::Client::new(&config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(&config),
            sqs: aws_sdk_sqs::Client::new(&config),
            dynamodb: aws_sdk_dynamodb::Client::new(&config),
        }
    }
}

/// One thing the stack is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// The three queues, their dead-letter queues, the result and seen tables (`docclass infra up`).
    QueuesAndTables,
    /// The CloudWatch Logs group.
    LogGroup,
    /// The execution role (image pulls, logs).
    ExecutionRole,
    /// A service's task role.
    TaskRole(Service),
    /// The ECS cluster.
    Cluster,
    /// A service's task definition.
    TaskDefinition(Service),
    /// The ECS service.
    EcsService(Service),
    /// A pool's scalable target and target-tracking policy.
    Scaling(Service),
    /// The CloudWatch dashboard.
    Dashboard,
    /// The CloudWatch alarms.
    Alarms,
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resource::QueuesAndTables => write!(f, "queues and tables"),
            Resource::LogGroup => write!(f, "log group"),
            Resource::ExecutionRole => write!(f, "execution role"),
            Resource::TaskRole(service) => write!(f, "task role of {}", service.name()),
            Resource::Cluster => write!(f, "cluster"),
            Resource::TaskDefinition(service) => write!(f, "task definition of {}", service.name()),
            Resource::EcsService(service) => write!(f, "ECS service {}", service.name()),
            Resource::Scaling(service) => write!(f, "scaling of {}", service.name()),
            Resource::Dashboard => write!(f, "CloudWatch dashboard"),
            Resource::Alarms => write!(f, "CloudWatch alarms"),
        }
    }
}

/// What `apply` would do to a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// It does not exist.
    Create,
    /// It exists and differs: why.
    Update(String),
    /// It is as the stack file says.
    Unchanged,
}

/// A resource and its change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// What.
    pub resource: Resource,
    /// How.
    pub change: Change,
}

/// The steps from what exists to what the stack file says, in the order `apply` takes them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Every resource, changed or not.
    pub steps: Vec<Step>,
}

impl Plan {
    /// Whether `apply` would change nothing.
    pub fn is_empty(&self) -> bool {
        self.steps.iter().all(|step| step.change == Change::Unchanged)
    }

    /// The steps that change something.
    pub fn changes(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(|step| step.change != Change::Unchanged)
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return writeln!(f, "No changes: the stack is as the stack file describes it.");
        }
        for step in &self.steps {
            match &step.change {
                Change::Create => writeln!(f, "+ create {}", step.resource)?,
                Change::Update(why) => writeln!(f, "~ update {} ({why})", step.resource)?,
                Change::Unchanged => writeln!(f, "  unchanged {}", step.resource)?,
            }
        }
        let changes = self.changes().count();
        writeln!(f, "{changes} to change, {} unchanged.", self.steps.len() - changes)
    }
}

/// A queue's visible and in-flight messages (SQS's approximate counts).
///
/// # Errors
/// When SQS cannot be asked.
pub async fn queue_depth(clients: &Clients, queue_url: &str) -> anyhow::Result<(u64, u64)> {
    adapters_aws::sqs::queue_depth(&clients.sqs, queue_url).await.map_err(|message| match hint(&message) {
        Some(hint) => anyhow::anyhow!("{message}: {hint}"),
        None => anyhow::anyhow!(message),
    })
}

/// An SDK error as one line: the service's code and message, or why no answer came
/// ([`adapters_aws::sdk_error_message`]); with a hint where the stack file is the likely cause.
pub(crate) fn sdk_error(error: impl OneLine) -> anyhow::Error {
    let message = error.one_line();
    match hint(&message) {
        Some(hint) => anyhow::anyhow!("{message}: {hint}"),
        None => anyhow::anyhow!(message),
    }
}

/// What the stack file says about a refusal that names one of its settings.
fn hint(message: &str) -> Option<&'static str> {
    let lower = message.to_ascii_lowercase();
    if lower.contains("subnet") {
        Some("check [network] subnets in the stack file")
    } else if lower.contains("security group") || lower.contains("securitygroup") {
        Some("check [network] security_groups in the stack file")
    } else if lower.contains("dispatch failure") || lower.contains("connection refused") {
        Some("the AWS endpoint did not answer: check AWS_ENDPOINT_URL, the region and the network")
    } else {
        None
    }
}

/// An error `deploy` reports in one line.
pub(crate) trait OneLine {
    /// The line.
    fn one_line(&self) -> String;
}

impl<E> OneLine for aws_sdk_ecs::error::SdkError<E, aws_sdk_ecs::config::http::HttpResponse>
where
    E: aws_sdk_ecs::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    fn one_line(&self) -> String {
        adapters_aws::sdk_error_message(self)
    }
}

impl OneLine for aws_smithy_types::error::operation::BuildError {
    fn one_line(&self) -> String {
        format!("invalid request: {self}")
    }
}

/// `Ok(None)` when the call failed because the thing asked for is not there (`missing` says which
/// errors mean that), the error for any other failure: an unreachable endpoint or a denied call is
/// reported, never taken for "already gone".
pub(crate) fn unless_missing<T, E>(
    result: Result<T, aws_sdk_ecs::error::SdkError<E, aws_sdk_ecs::config::http::HttpResponse>>,
    missing: impl FnOnce(&E) -> bool,
) -> anyhow::Result<Option<T>>
where
    E: aws_sdk_ecs::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Ok(found) => Ok(Some(found)),
        Err(error) if error.as_service_error().is_some_and(missing) => Ok(None),
        Err(error) => Err(sdk_error(error)),
    }
}
