//! `deploy scale`: the watch-mode scaler. It reads each pool's queue depth and the service's desired
//! count, asks [`crate::scaling::Scaler`], and applies a change with ECS `UpdateService`.
//!
//! Use it where Application Auto Scaling is not available or too slow to react (its metrics arrive
//! once a minute), or as the only scaler for the local compose stack. On ECS, run one of it (a small
//! service or a scheduled task) and leave the target-tracking policy out, or keep both: they aim at the
//! same target, and the scaler reacts first.

use std::time::Duration;

use anyhow::Context;

use super::{Clients, sdk_error};
use crate::scaling::{Decision, Observation, Scaler};
use crate::stack::{SERVICES, Service, Stack};

/// One pool and the scaler's memory of it.
pub struct ScaleTarget {
    /// The pool.
    pub service: Service,
    /// Its input queue.
    pub queue_url: String,
    /// Its scaler.
    pub scaler: Scaler,
}

impl ScaleTarget {
    /// Every pool of `stack`, its queue found by name.
    ///
    /// # Errors
    /// When a queue does not exist.
    pub async fn all(stack: &Stack, clients: &Clients) -> anyhow::Result<Vec<Self>> {
        let mut targets = Vec::new();
        for service in SERVICES {
            let Some(queue) = service.input_queue() else { continue };
            let name = stack.queue_name(queue, false);
            let found = clients.sqs.get_queue_url().queue_name(&name).send().await.map_err(sdk_error)?;
            let queue_url = found.queue_url().with_context(|| format!("no URL for queue {name}"))?.to_owned();
            targets.push(ScaleTarget { service, queue_url, scaler: Scaler::new(stack.scaling_policy(service)?) });
        }
        Ok(targets)
    }
}

/// The pool's queue depth and the service's desired count.
///
/// # Errors
/// When SQS or ECS cannot be asked, or the service does not exist.
pub async fn observe(stack: &Stack, clients: &Clients, target: &ScaleTarget) -> anyhow::Result<Observation> {
    let (visible, in_flight) = super::queue_depth(clients, &target.queue_url).await?;
    let name = stack.ecs_name(target.service);
    let services =
        clients.ecs.describe_services().cluster(&stack.cluster).services(&name).send().await.map_err(sdk_error)?;
    let service = services
        .services()
        .iter()
        .find(|service| service.status() == Some("ACTIVE"))
        .with_context(|| format!("ECS service {name} not found: run `deploy apply` first"))?;
    Ok(Observation { visible, in_flight, current: u32::try_from(service.desired_count()).unwrap_or(0) })
}

/// One round: observe every pool, decide, and apply what changed; answers each pool's observation and
/// decision. `now` is the time since the scaler started.
///
/// # Errors
/// When AWS cannot be asked or refuses the update.
pub async fn scale_once(
    stack: &Stack,
    clients: &Clients,
    targets: &mut [ScaleTarget],
    now: Duration,
) -> anyhow::Result<Vec<(Service, Observation, Decision)>> {
    let mut decisions = Vec::new();
    for target in targets.iter_mut() {
        let observation = observe(stack, clients, target).await?;
        let decision = target.scaler.decide(now, observation);
        if decision.desired != observation.current {
            clients
                .ecs
                .update_service()
                .cluster(&stack.cluster)
                .service(stack.ecs_name(target.service))
                .desired_count(decision.desired as i32)
                .send()
                .await
                .map_err(sdk_error)?;
        }
        decisions.push((target.service, observation, decision));
    }
    Ok(decisions)
}
