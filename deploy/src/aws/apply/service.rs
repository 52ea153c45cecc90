//! The ECS services, one per pipeline service: plan, apply, wait until steady, destroy.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::Context;
use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, DeploymentCircuitBreaker, DeploymentConfiguration, LaunchType,
    NetworkConfiguration, PropagateTags,
};

use super::super::{Change, Clients, STACK_TAG, sdk_error, unless_missing};
use super::cluster::{ecs_tag, ecs_tagged};
use super::task_definition::latest_definition_arn;
use crate::stack::{SERVICES, Service, Stack};

pub(super) async fn plan(
    stack: &Stack,
    clients: &Clients,
    service: Service,
    new_definition: bool,
) -> anyhow::Result<Change> {
    let Some(found) = describe_service(stack, clients, service).await? else { return Ok(Change::Create) };
    if new_definition {
        return Ok(Change::Update("new task definition".into()));
    }
    let latest_arn = latest_definition_arn(stack, clients, service).await?;
    if found.task_definition() != Some(latest_arn.as_str()) {
        return Ok(Change::Update("runs an older task definition".into()));
    }
    let vpc = found.network_configuration().and_then(|network| network.awsvpc_configuration());
    let subnets: BTreeSet<&str> = vpc.map(|vpc| vpc.subnets().iter().map(String::as_str).collect()).unwrap_or_default();
    let groups: BTreeSet<&str> =
        vpc.map(|vpc| vpc.security_groups().iter().map(String::as_str).collect()).unwrap_or_default();
    let wanted_subnets: BTreeSet<&str> = stack.network.subnets.iter().map(String::as_str).collect();
    let wanted_groups: BTreeSet<&str> = stack.network.security_groups.iter().map(String::as_str).collect();
    Ok(if subnets != wanted_subnets || groups != wanted_groups {
        Change::Update("network differs".into())
    } else {
        Change::Unchanged
    })
}

pub(super) async fn describe_service(
    stack: &Stack,
    clients: &Clients,
    service: Service,
) -> anyhow::Result<Option<aws_sdk_ecs::types::Service>> {
    let found = clients.ecs.describe_services().cluster(&stack.cluster).services(stack.ecs_name(service)).send().await;
    // A cluster not made yet has no services.
    let found = unless_missing(found, |e| e.is_cluster_not_found_exception())?;
    Ok(found.and_then(|found| found.services().iter().find(|s| s.status() != Some("INACTIVE")).cloned()))
}

fn network(stack: &Stack) -> anyhow::Result<NetworkConfiguration> {
    let vpc = AwsVpcConfiguration::builder()
        .set_subnets(Some(stack.network.subnets.clone()))
        .set_security_groups(Some(stack.network.security_groups.clone()))
        .assign_public_ip(if stack.network.assign_public_ip {
            AssignPublicIp::Enabled
        } else {
            AssignPublicIp::Disabled
        })
        .build()
        .map_err(sdk_error)?;
    Ok(NetworkConfiguration::builder().awsvpc_configuration(vpc).build())
}

/// Rolling: never below the running count, up to twice it while replacing; the circuit breaker rolls a
/// deployment whose tasks keep failing back to the last good one.
fn rolling() -> DeploymentConfiguration {
    DeploymentConfiguration::builder()
        .deployment_circuit_breaker(DeploymentCircuitBreaker::builder().enable(true).rollback(true).build())
        .minimum_healthy_percent(100)
        .maximum_percent(200)
        .build()
}

pub(super) async fn apply(
    stack: &Stack,
    clients: &Clients,
    service: Service,
    definition: &str,
    change: &Change,
) -> anyhow::Result<()> {
    if *change != Change::Create {
        // The desired count is the scaler's: an update changes what runs, not how many.
        clients
            .ecs
            .update_service()
            .cluster(&stack.cluster)
            .service(stack.ecs_name(service))
            .task_definition(definition)
            .network_configuration(network(stack)?)
            .deployment_configuration(rolling())
            .send()
            .await
            .map_err(sdk_error)?;
        return Ok(());
    }
    let launch_type = match stack.network.launch_type {
        crate::stack::LaunchType::Fargate => LaunchType::Fargate,
        crate::stack::LaunchType::Ec2 => LaunchType::Ec2,
    };
    // A role IAM has just created can take seconds to be usable by ECS: retry that one refusal. ECS gives
    // it no code of its own (InvalidParameterException, like any bad parameter), so its message is what
    // tells it apart.
    let started = Instant::now();
    loop {
        let created = clients
            .ecs
            .create_service()
            .cluster(&stack.cluster)
            .service_name(stack.ecs_name(service))
            .task_definition(definition)
            .desired_count(stack.service(service).min_tasks as i32)
            .launch_type(launch_type.clone())
            .network_configuration(network(stack)?)
            .deployment_configuration(rolling())
            .enable_ecs_managed_tags(true)
            .propagate_tags(PropagateTags::Service)
            .tags(ecs_tag(STACK_TAG, &stack.name))
            .send()
            .await;
        match created {
            Ok(_) => return Ok(()),
            Err(error)
                if started.elapsed() < Duration::from_secs(90)
                    && error.as_service_error().is_some_and(|e| {
                        e.is_invalid_parameter_exception() && e.message().is_some_and(|m| m.contains("role"))
                    }) =>
            {
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            Err(error) => return Err(sdk_error(error)),
        }
    }
}

/// Polls the services until each runs its desired count on one deployment, reporting progress.
///
/// # Errors
/// When `timeout` passes first, or a deployment failed (the circuit breaker rolled it back).
pub async fn wait_until_steady(
    stack: &Stack,
    clients: &Clients,
    timeout: Duration,
    mut progress: impl FnMut(&str),
) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let mut waiting = Vec::new();
        for service in SERVICES {
            let found = describe_service(stack, clients, service)
                .await?
                .with_context(|| format!("{} is gone", service.name()))?;
            let deployments = found.deployments();
            if let Some(failed) = deployments.iter().find(|d| d.rollout_state().is_some_and(|s| s.as_str() == "FAILED"))
            {
                anyhow::bail!(
                    "{}: deployment failed and was rolled back: {}",
                    service.name(),
                    failed.rollout_state_reason().unwrap_or("no reason given")
                );
            }
            if deployments.len() != 1 || found.running_count() != found.desired_count() {
                waiting.push(format!(
                    "{} {}/{} running, {} deployment(s)",
                    service.name(),
                    found.running_count(),
                    found.desired_count(),
                    deployments.len()
                ));
            }
        }
        if waiting.is_empty() {
            progress("steady: every service runs its desired count on one deployment");
            return Ok(());
        }
        progress(&format!("waiting: {}", waiting.join("; ")));
        anyhow::ensure!(started.elapsed() < timeout, "not steady after {timeout:?}");
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
}

/// Removes the service if it carries this stack's tag.
pub(super) async fn destroy(
    stack: &Stack,
    clients: &Clients,
    service: Service,
    removed: &mut Vec<String>,
) -> anyhow::Result<()> {
    let name = stack.ecs_name(service);
    if describe_service(stack, clients, service).await?.is_some() && ecs_tagged(stack, clients, &name, true).await? {
        clients
            .ecs
            .delete_service()
            .cluster(&stack.cluster)
            .service(&name)
            .force(true)
            .send()
            .await
            .map_err(sdk_error)?;
        removed.push(format!("ECS service {name}"));
    }
    Ok(())
}
