//! `deploy scale`: the watch-mode scaler. It reads each pool's queue depth and size, asks
//! [`crate::scaling::Scaler`], and applies a change: ECS `UpdateService`, or compose containers
//! started and stopped through the Docker Engine API ([`crate::compose`]).
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

/// Where the pools are sized: ECS services here, a compose project's containers in
/// [`crate::compose::ComposePools`]. The scaler decides the same way for both.
pub trait Pools {
    /// How many tasks (containers) the pool has now.
    fn size(&self, service: Service) -> impl Future<Output = anyhow::Result<u32>> + Send;
    /// Grows or shrinks the pool from `current` to `desired`.
    fn resize(&self, service: Service, current: u32, desired: u32) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// The stack's ECS services: their desired count is the pool's size.
pub struct EcsPools<'a> {
    stack: &'a Stack,
    clients: &'a Clients,
}

impl<'a> EcsPools<'a> {
    /// The services of `stack`.
    pub fn new(stack: &'a Stack, clients: &'a Clients) -> Self {
        Self { stack, clients }
    }
}

impl Pools for EcsPools<'_> {
    async fn size(&self, service: Service) -> anyhow::Result<u32> {
        let name = self.stack.ecs_name(service);
        let ecs = &self.clients.ecs;
        let services = ecs.describe_services().cluster(&self.stack.cluster).services(&name).send().await;
        let services = services.map_err(sdk_error)?;
        let service = services
            .services()
            .iter()
            .find(|service| service.status() == Some("ACTIVE"))
            .with_context(|| format!("ECS service {name} not found: run `deploy apply` first"))?;
        Ok(u32::try_from(service.desired_count()).unwrap_or(0))
    }

    async fn resize(&self, service: Service, _current: u32, desired: u32) -> anyhow::Result<()> {
        // ECS drains what it stops: SIGTERM, then stopTimeout for the worker to finish its messages.
        let update = self.clients.ecs.update_service().cluster(&self.stack.cluster);
        let update = update.service(self.stack.ecs_name(service)).desired_count(desired as i32);
        update.send().await.map_err(sdk_error)?;
        Ok(())
    }
}

/// One round: observe every pool (queue depth from SQS, size from `pools`), decide, and resize what
/// changed; answers each pool's observation and decision. `now` is the time since the scaler started.
///
/// # Errors
/// When SQS or the pools cannot be asked, or a resize is refused.
pub async fn scale_once(
    clients: &Clients,
    pools: &impl Pools,
    targets: &mut [ScaleTarget],
    now: Duration,
) -> anyhow::Result<Vec<(Service, Observation, Decision)>> {
    let mut decisions = Vec::new();
    for target in targets.iter_mut() {
        let (visible, in_flight) = super::queue_depth(clients, &target.queue_url).await?;
        let current = pools.size(target.service).await?;
        let observation = Observation { visible, in_flight, current };
        let decision = target.scaler.decide(now, observation);
        if decision.desired != current {
            pools.resize(target.service, current, decision.desired).await?;
        }
        decisions.push((target.service, observation, decision));
    }
    Ok(decisions)
}
