//! The task definitions, one family per service: plan, apply (register a revision), destroy.

use anyhow::Context;
use aws_sdk_ecs::types::{
    Compatibility, ContainerDefinition, CpuArchitecture, HealthCheck, KernelCapabilities, KeyValuePair,
    LinuxParameters, LogConfiguration, LogDriver, NetworkMode, OsFamily, PortMapping, RuntimePlatform,
    TaskDefinitionField, TransportProtocol,
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
    let rendered = render::task_definition(stack, service).to_json();
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

/// Registers a service's task definition, field by field from its typed rendering; answers the new
/// revision's ARN.
pub(super) async fn apply(stack: &Stack, clients: &Clients, service: Service) -> anyhow::Result<String> {
    let rendered = render::task_definition(stack, service);
    let hash = render_hash(&rendered.to_json());
    let [container] = &rendered.container_definitions[..] else {
        anyhow::bail!("a docclass task runs one container");
    };
    let check = &container.health_check;
    let health_check = HealthCheck::builder()
        .set_command(Some(check.command.clone()))
        .interval(check.interval)
        .timeout(check.timeout)
        .retries(check.retries)
        .start_period(check.start_period)
        .build()
        .map_err(sdk_error)?;
    let mut logging = LogConfiguration::builder().log_driver(LogDriver::from(container.log_configuration.log_driver));
    for (key, value) in &container.log_configuration.options {
        logging = logging.options(*key, value);
    }
    let mut definition = ContainerDefinition::builder()
        .name(&container.name)
        .image(&container.image)
        .essential(container.essential)
        .user(container.user)
        .readonly_root_filesystem(container.readonly_root_filesystem)
        .linux_parameters(
            LinuxParameters::builder()
                .capabilities(
                    KernelCapabilities::builder()
                        .set_drop(Some(
                            container.linux_parameters.capabilities.drop.iter().map(|c| (*c).to_owned()).collect(),
                        ))
                        .build(),
                )
                .build(),
        )
        .stop_timeout(container.stop_timeout as i32)
        .health_check(health_check)
        .log_configuration(logging.build().map_err(sdk_error)?);
    for port in &container.port_mappings {
        definition = definition.port_mappings(
            PortMapping::builder()
                .container_port(i32::from(port.container_port))
                .protocol(TransportProtocol::from(port.protocol))
                .name(port.name)
                .build(),
        );
    }
    for variable in &container.environment {
        definition =
            definition.environment(KeyValuePair::builder().name(&variable.name).value(&variable.value).build());
    }
    let platform = &rendered.runtime_platform;
    let registered = clients
        .ecs
        .register_task_definition()
        .family(&rendered.family)
        .task_role_arn(&rendered.task_role_arn)
        .execution_role_arn(&rendered.execution_role_arn)
        .network_mode(NetworkMode::from(rendered.network_mode))
        .set_requires_compatibilities(Some(
            rendered.requires_compatibilities.iter().map(|c| Compatibility::from(*c)).collect(),
        ))
        .cpu(&rendered.cpu)
        .memory(&rendered.memory)
        .runtime_platform(
            RuntimePlatform::builder()
                .cpu_architecture(CpuArchitecture::from(platform.cpu_architecture))
                .operating_system_family(OsFamily::from(platform.operating_system_family))
                .build(),
        )
        .container_definitions(definition.build())
        .tags(ecs_tag(STACK_TAG, &stack.name))
        .tags(ecs_tag(RENDER_TAG, &hash))
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
