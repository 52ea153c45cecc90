//! The task definitions, one family per service: plan, apply (register a revision), destroy.

use anyhow::Context;
use aws_sdk_ecs::types::{
    Compatibility, ContainerDefinition, CpuArchitecture, HealthCheck, KeyValuePair, LogConfiguration, LogDriver,
    NetworkMode, OsFamily, PortMapping, RuntimePlatform, TaskDefinitionField, TransportProtocol,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::super::{Change, Clients, RENDER_TAG, STACK_TAG, sdk_error, unless_missing};
use super::cluster::ecs_tag;
use crate::render;
use crate::stack::{Service, Stack};

fn render_hash(value: &Value) -> String {
    Sha256::digest(render::pretty(value).as_bytes()).iter().map(|byte| format!("{byte:02x}")).collect()
}

pub(super) async fn plan(stack: &Stack, clients: &Clients, service: Service) -> anyhow::Result<Change> {
    let rendered = render::task_definition(stack, service);
    let found = clients
        .ecs
        .describe_task_definition()
        .task_definition(stack.ecs_name(service))
        .include(TaskDefinitionField::Tags)
        .send()
        .await;
    // ECS answers a family it does not know with ClientException; anything else is a real failure.
    let Some(found) = unless_missing(found, |e| e.is_client_exception())? else { return Ok(Change::Create) };
    // A family whose revisions were all deregistered (by `destroy`) has nothing to run.
    if found.task_definition().and_then(|d| d.status()).is_none_or(|status| status.as_str() != "ACTIVE") {
        return Ok(Change::Create);
    }
    let registered_hash = found.tags().iter().find(|tag| tag.key() == Some(RENDER_TAG)).and_then(|tag| tag.value());
    Ok(if registered_hash == Some(render_hash(&rendered).as_str()) {
        Change::Unchanged
    } else {
        Change::Update("rendered definition changed".into())
    })
}

/// Registers a service's task definition from its rendered JSON; answers the new revision's ARN.
pub(super) async fn apply(stack: &Stack, clients: &Clients, service: Service) -> anyhow::Result<String> {
    let rendered = render::task_definition(stack, service);
    let text = |value: &Value| value.as_str().map(str::to_owned);
    let number = |value: &Value| value.as_i64().map(|n| n as i32);
    let container = &rendered["containerDefinitions"][0];
    let check = &container["healthCheck"];
    let health_check = HealthCheck::builder()
        .set_command(check["command"].as_array().map(|parts| parts.iter().filter_map(text).collect()))
        .set_interval(number(&check["interval"]))
        .set_timeout(number(&check["timeout"]))
        .set_retries(number(&check["retries"]))
        .set_start_period(number(&check["startPeriod"]))
        .build()
        .map_err(sdk_error)?;
    let mut logging = LogConfiguration::builder().log_driver(LogDriver::Awslogs);
    for (key, value) in container["logConfiguration"]["options"].as_object().into_iter().flatten() {
        logging = logging.options(key, value.as_str().unwrap_or_default());
    }
    let port = &container["portMappings"][0];
    let mut definition = ContainerDefinition::builder()
        .set_name(text(&container["name"]))
        .set_image(text(&container["image"]))
        .essential(true)
        .set_user(text(&container["user"]))
        .readonly_root_filesystem(true)
        .set_stop_timeout(number(&container["stopTimeout"]))
        .port_mappings(
            PortMapping::builder()
                .set_container_port(number(&port["containerPort"]))
                .protocol(TransportProtocol::Tcp)
                .set_name(text(&port["name"]))
                .build(),
        )
        .health_check(health_check)
        .log_configuration(logging.build().map_err(sdk_error)?);
    for variable in container["environment"].as_array().into_iter().flatten() {
        definition = definition.environment(
            KeyValuePair::builder().set_name(text(&variable["name"])).set_value(text(&variable["value"])).build(),
        );
    }
    let compatibility = match stack.network.launch_type {
        crate::stack::LaunchType::Fargate => Compatibility::Fargate,
        crate::stack::LaunchType::Ec2 => Compatibility::Ec2,
    };
    let registered = clients
        .ecs
        .register_task_definition()
        .set_family(text(&rendered["family"]))
        .set_task_role_arn(text(&rendered["taskRoleArn"]))
        .set_execution_role_arn(text(&rendered["executionRoleArn"]))
        .network_mode(NetworkMode::Awsvpc)
        .requires_compatibilities(compatibility)
        .set_cpu(text(&rendered["cpu"]))
        .set_memory(text(&rendered["memory"]))
        .runtime_platform(
            RuntimePlatform::builder()
                .cpu_architecture(CpuArchitecture::X8664)
                .operating_system_family(OsFamily::Linux)
                .build(),
        )
        .container_definitions(definition.build())
        .tags(ecs_tag(STACK_TAG, &stack.name))
        .tags(ecs_tag(RENDER_TAG, &render_hash(&rendered)))
        .send()
        .await
        .map_err(sdk_error)?;
    registered
        .task_definition()
        .and_then(|definition| definition.task_definition_arn())
        .map(str::to_owned)
        .context("ECS registered a task definition without an ARN")
}

pub(super) async fn latest_definition_arn(
    stack: &Stack,
    clients: &Clients,
    service: Service,
) -> anyhow::Result<String> {
    let found = clients
        .ecs
        .describe_task_definition()
        .task_definition(stack.ecs_name(service))
        .send()
        .await
        .map_err(sdk_error)?;
    found
        .task_definition()
        .and_then(|definition| definition.task_definition_arn())
        .map(str::to_owned)
        .with_context(|| format!("no task definition for {}", service.name()))
}

/// Deregisters every revision of the service's family.
pub(super) async fn destroy(
    stack: &Stack,
    clients: &Clients,
    service: Service,
    removed: &mut Vec<String>,
) -> anyhow::Result<()> {
    let family = stack.ecs_name(service);
    let listed = clients.ecs.list_task_definitions().family_prefix(&family).send().await.map_err(sdk_error)?;
    for arn in listed.task_definition_arns() {
        // `family_prefix` matches by prefix: keep only this exact family.
        if arn.rsplit_once('/').and_then(|(_, tail)| tail.rsplit_once(':')).is_some_and(|(f, _)| f == family) {
            clients.ecs.deregister_task_definition().task_definition(arn).send().await.map_err(sdk_error)?;
            removed.push(format!("task definition {arn}"));
        }
    }
    Ok(())
}
