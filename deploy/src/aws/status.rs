//! `deploy status`: each service's tasks, deployment and backlog.

use aws_sdk_applicationautoscaling::types::ServiceNamespace;
use serde::Serialize;

use super::{Clients, sdk_error, unless_missing};
use crate::stack::{SERVICES, Service, Stack};

/// One service as AWS reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ServiceStatus {
    /// The service's name.
    pub service: String,
    /// Whether ECS knows it.
    pub exists: bool,
    /// Tasks wanted, running, starting.
    pub desired: i32,
    /// Tasks running.
    pub running: i32,
    /// Tasks starting.
    pub pending: i32,
    /// `family:revision` of the task definition it runs.
    pub task_definition: String,
    /// The primary deployment's rollout state (`IN_PROGRESS`, `COMPLETED`, `FAILED`).
    pub rollout: String,
    /// Deployments under way (more than one while a new revision rolls out).
    pub deployments: usize,
    /// The scalable target's bounds, if the pool scales.
    pub min_max: Option<(i32, i32)>,
    /// Its input queue's visible and in-flight messages, if it has one.
    pub backlog: Option<(u64, u64)>,
}

/// Each service's desired and running tasks (ECS's counts), for the services `<stack>-<service>` of
/// `cluster` (`docclass dashboard`); a service ECS does not know counts as 0 and 0.
///
/// # Errors
/// When ECS cannot be asked.
pub async fn service_counts(clients: &Clients, cluster: &str, stack: &str) -> anyhow::Result<Vec<(Service, u64, u64)>> {
    let name = |service: Service| format!("{stack}-{}", service.name());
    let found = clients
        .ecs
        .describe_services()
        .cluster(cluster)
        .set_services(Some(SERVICES.iter().map(|service| name(*service)).collect()))
        .send()
        .await;
    let found = unless_missing(found, |e| e.is_cluster_not_found_exception())?;
    let services = found.as_ref().map(|found| found.services()).unwrap_or_default();
    Ok(SERVICES
        .into_iter()
        .map(|service| {
            let ecs =
                services.iter().find(|s| s.service_name() == Some(&name(service)) && s.status() == Some("ACTIVE"));
            let count = |n: i32| u64::try_from(n).unwrap_or(0);
            (service, ecs.map_or(0, |s| count(s.desired_count())), ecs.map_or(0, |s| count(s.running_count())))
        })
        .collect())
}

/// Every service of `stack`.
///
/// # Errors
/// When AWS cannot be asked.
pub async fn status(stack: &Stack, clients: &Clients) -> anyhow::Result<Vec<ServiceStatus>> {
    let mut statuses = Vec::new();
    for service in SERVICES {
        let name = stack.ecs_name(service);
        let mut status = ServiceStatus { service: name.clone(), ..ServiceStatus::default() };
        let found = clients.ecs.describe_services().cluster(&stack.cluster).services(&name).send().await;
        // A cluster not made yet has no services; any other failure is reported, not shown as "absent".
        if let Some(found) = unless_missing(found, |e| e.is_cluster_not_found_exception())?
            && let Some(ecs) = found.services().iter().find(|s| s.status() == Some("ACTIVE"))
        {
            status.exists = true;
            status.desired = ecs.desired_count();
            status.running = ecs.running_count();
            status.pending = ecs.pending_count();
            status.task_definition =
                ecs.task_definition().and_then(|arn| arn.rsplit('/').next()).unwrap_or_default().to_owned();
            status.deployments = ecs.deployments().len();
            status.rollout = ecs
                .deployments()
                .iter()
                .find(|d| d.status() == Some("PRIMARY"))
                .and_then(|d| d.rollout_state())
                .map(|state| state.as_str().to_owned())
                .unwrap_or_default();
        }
        if let Some(queue) = service.input_queue() {
            let targets = clients
                .autoscaling
                .describe_scalable_targets()
                .service_namespace(ServiceNamespace::Ecs)
                .resource_ids(format!("service/{}/{name}", stack.cluster))
                .send()
                .await
                .map_err(sdk_error)?;
            status.min_max = targets.scalable_targets().first().map(|t| (t.min_capacity(), t.max_capacity()));
            let url = clients.sqs.get_queue_url().queue_name(stack.queue_name(queue, false)).send().await;
            if let Some(url) = unless_missing(url, adapters_aws::infra::is_missing_queue)?
                && let Some(url) = url.queue_url()
            {
                status.backlog = Some(super::queue_depth(clients, url).await?);
            }
        }
        statuses.push(status);
    }
    Ok(statuses)
}
