//! `plan`, `apply` and `destroy` over the stack's resources, each in its own module with its own plan,
//! apply and destroy: `data` (queues and tables), `logs`, `iam`, `cluster`, `task_definition`,
//! `service`, `autoscaling`, `monitoring` (the CloudWatch dashboard and alarms). This file only orders them.

use std::collections::{BTreeMap, BTreeSet};

use super::{Change, Clients, Plan, Resource, Step};
use crate::render;
use crate::stack::{SERVICES, Stack};

mod autoscaling;
mod cluster;
mod data;
mod iam;
mod logs;
mod models;
mod monitoring;
mod service;
mod task_definition;

pub use iam::policy_document;
pub use service::wait_until_steady;

/// Compares what exists with what `stack` renders; changes nothing.
///
/// # Errors
/// When AWS cannot be asked.
pub async fn plan(stack: &Stack, clients: &Clients) -> anyhow::Result<Plan> {
    let mut steps = Vec::new();
    let mut step = |resource, change| steps.push(Step { resource, change });

    step(Resource::QueuesAndTables, data::plan(stack, clients).await?);
    if stack.models.is_some() {
        step(Resource::ModelBucket, models::plan(stack, clients).await?);
    }
    step(Resource::LogGroup, logs::plan(stack, clients).await?);
    let trust = render::ecs_tasks_trust(stack);
    step(
        Resource::ExecutionRole,
        iam::plan(clients, &stack.execution_role_name(), &render::execution_role_policy(stack), &trust).await?,
    );
    for service in SERVICES {
        step(
            Resource::TaskRole(service),
            iam::plan(clients, &stack.task_role_name(service), &render::task_role_policy(stack, service), &trust)
                .await?,
        );
    }
    step(Resource::Cluster, cluster::plan(stack, clients).await?);
    let mut new_definitions = BTreeSet::new();
    for service in SERVICES {
        let change = task_definition::plan(stack, clients, service).await?;
        if change != Change::Unchanged {
            new_definitions.insert(service);
        }
        step(Resource::TaskDefinition(service), change);
    }
    for service in SERVICES {
        step(
            Resource::EcsService(service),
            service::plan(stack, clients, service, new_definitions.contains(&service)).await?,
        );
    }
    for service in autoscaling::pools() {
        step(Resource::Scaling(service), autoscaling::plan(stack, clients, service).await?);
    }
    step(Resource::Dashboard, monitoring::plan_dashboard(stack, clients).await?);
    step(Resource::Alarms, monitoring::plan_alarms(stack, clients).await?);
    Ok(Plan { steps })
}

/// Makes AWS agree with `stack`, doing what `plan` listed; `progress` hears each step.
///
/// # Errors
/// The first step that fails (the steps before it stay done; run `apply` again).
pub async fn apply(
    stack: &Stack,
    clients: &Clients,
    plan: &Plan,
    mut progress: impl FnMut(&str),
) -> anyhow::Result<()> {
    let mut definition_arns = BTreeMap::new();
    for step in plan.changes() {
        progress(&format!(
            "{} {}…",
            if step.change == Change::Create { "creating" } else { "updating" },
            step.resource
        ));
        match step.resource {
            Resource::QueuesAndTables => data::apply(stack, clients).await?,
            Resource::ModelBucket => models::apply(stack, clients).await?,
            Resource::LogGroup => logs::apply(stack, clients, &step.change).await?,
            Resource::ExecutionRole => {
                let policy = render::execution_role_policy(stack);
                iam::apply(stack, clients, &stack.execution_role_name(), &policy, &step.change).await?;
            }
            Resource::TaskRole(service) => {
                let policy = render::task_role_policy(stack, service);
                iam::apply(stack, clients, &stack.task_role_name(service), &policy, &step.change).await?;
            }
            Resource::Cluster => cluster::apply(stack, clients).await?,
            Resource::TaskDefinition(service) => {
                definition_arns.insert(service, task_definition::apply(stack, clients, service).await?);
            }
            Resource::EcsService(service) => {
                let arn = match definition_arns.get(&service) {
                    Some(arn) => arn.clone(),
                    None => task_definition::latest_definition_arn(stack, clients, service).await?,
                };
                service::apply(stack, clients, service, &arn, &step.change).await?;
            }
            Resource::Scaling(service) => autoscaling::apply(stack, clients, service).await?,
            Resource::Dashboard => monitoring::apply_dashboard(stack, clients).await?,
            Resource::Alarms => monitoring::apply_alarms(stack, clients).await?,
        }
    }
    Ok(())
}

/// Removes what `apply` made (tagged with this stack); with `keep_data`, leaves the queues, tables and
/// model bucket.
/// Answers what it removed.
///
/// # Errors
/// When a removal fails (run it again: what is gone stays gone).
pub async fn destroy(stack: &Stack, clients: &Clients, keep_data: bool) -> anyhow::Result<Vec<String>> {
    let mut removed = Vec::new();
    monitoring::destroy(stack, clients, &mut removed).await?;
    for service in autoscaling::pools() {
        autoscaling::destroy(stack, clients, service, &mut removed).await?;
    }
    for service in SERVICES {
        service::destroy(stack, clients, service, &mut removed).await?;
        task_definition::destroy(stack, clients, service, &mut removed).await?;
    }
    iam::destroy(stack, clients, &mut removed).await?;
    logs::destroy(stack, clients, &mut removed).await?;
    cluster::destroy(stack, clients, &mut removed).await?;
    if !keep_data {
        data::destroy(stack, clients, &mut removed).await?;
        models::destroy(stack, clients, &mut removed).await?;
    }
    Ok(removed)
}
