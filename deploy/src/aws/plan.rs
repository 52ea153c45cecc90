//! What a plan is: the resources of a stack, what would change about each, and the steps in order.

use std::fmt;

use crate::stack::Service;

/// One thing the stack is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// The three queues, their dead-letter queues, the result and seen tables (`docclass infra up`).
    QueuesAndTables,
    /// The model bucket (`[models]`).
    ModelBucket,
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
            Resource::ModelBucket => write!(f, "model bucket"),
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
