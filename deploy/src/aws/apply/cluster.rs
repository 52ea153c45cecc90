//! The ECS cluster: plan, apply, destroy, and the stack tag every ECS resource carries.

use aws_sdk_ecs::types::{ClusterField, ClusterSetting, ClusterSettingName};

use super::super::{Change, Clients, STACK_TAG, sdk_error};
use crate::stack::Stack;

pub(super) async fn plan(stack: &Stack, clients: &Clients) -> anyhow::Result<Change> {
    let found = clients.ecs.describe_clusters().clusters(&stack.cluster).send().await.map_err(sdk_error)?;
    let active = found.clusters().iter().any(|cluster| cluster.status() == Some("ACTIVE"));
    Ok(if active { Change::Unchanged } else { Change::Create })
}

/// Creates it with Container Insights on (the scaling metric needs it), tagged with the stack.
pub(super) async fn apply(stack: &Stack, clients: &Clients) -> anyhow::Result<()> {
    clients
        .ecs
        .create_cluster()
        .cluster_name(&stack.cluster)
        .settings(ClusterSetting::builder().name(ClusterSettingName::ContainerInsights).value("enabled").build())
        .tags(ecs_tag(STACK_TAG, &stack.name))
        .send()
        .await
        .map_err(sdk_error)?;
    Ok(())
}

/// Removes the cluster if it carries this stack's tag.
pub(super) async fn destroy(stack: &Stack, clients: &Clients, removed: &mut Vec<String>) -> anyhow::Result<()> {
    if ecs_tagged(stack, clients, &stack.cluster, false).await? {
        clients.ecs.delete_cluster().cluster(&stack.cluster).send().await.map_err(sdk_error)?;
        removed.push(format!("cluster {}", stack.cluster));
    }
    Ok(())
}

pub(super) fn ecs_tag(key: &str, value: &str) -> aws_sdk_ecs::types::Tag {
    aws_sdk_ecs::types::Tag::builder().key(key).value(value).build()
}

/// Whether the cluster (or, with `is_service`, the service) carries this stack's tag.
pub(super) async fn ecs_tagged(stack: &Stack, clients: &Clients, name: &str, is_service: bool) -> anyhow::Result<bool> {
    let tags = if is_service {
        let found = clients
            .ecs
            .describe_services()
            .cluster(&stack.cluster)
            .services(name)
            .include(aws_sdk_ecs::types::ServiceField::Tags)
            .send()
            .await
            .map_err(sdk_error)?;
        found.services().first().map(|s| s.tags().to_vec()).unwrap_or_default()
    } else {
        let found = clients
            .ecs
            .describe_clusters()
            .clusters(name)
            .include(ClusterField::Tags)
            .send()
            .await
            .map_err(sdk_error)?;
        found.clusters().iter().find(|c| c.status() == Some("ACTIVE")).map(|c| c.tags().to_vec()).unwrap_or_default()
    };
    Ok(tags.iter().any(|tag| tag.key() == Some(STACK_TAG) && tag.value() == Some(stack.name.as_str())))
}
