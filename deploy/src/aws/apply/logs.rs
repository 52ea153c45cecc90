//! The CloudWatch Logs group the tasks log to: plan, apply, destroy.

use super::super::{Change, Clients, STACK_TAG, sdk_error, unless_missing};
use crate::stack::Stack;

pub(super) async fn plan(stack: &Stack, clients: &Clients) -> anyhow::Result<Change> {
    let found =
        clients.logs.describe_log_groups().log_group_name_prefix(&stack.logs.group).send().await.map_err(sdk_error)?;
    let group = found.log_groups().iter().find(|group| group.log_group_name() == Some(stack.logs.group.as_str()));
    Ok(match group {
        None => Change::Create,
        Some(group) if group.retention_in_days() != Some(stack.logs.retention_days as i32) => {
            Change::Update(format!("retention {:?} → {} days", group.retention_in_days(), stack.logs.retention_days))
        }
        Some(_) => Change::Unchanged,
    })
}

pub(super) async fn apply(stack: &Stack, clients: &Clients, change: &Change) -> anyhow::Result<()> {
    if *change == Change::Create {
        clients
            .logs
            .create_log_group()
            .log_group_name(&stack.logs.group)
            .tags(STACK_TAG, &stack.name)
            .send()
            .await
            .map_err(sdk_error)?;
    }
    clients
        .logs
        .put_retention_policy()
        .log_group_name(&stack.logs.group)
        .retention_in_days(stack.logs.retention_days as i32)
        .send()
        .await
        .map_err(sdk_error)?;
    Ok(())
}

/// Removes the group if it carries this stack's tag: one someone else made is left alone.
pub(super) async fn destroy(stack: &Stack, clients: &Clients, removed: &mut Vec<String>) -> anyhow::Result<()> {
    let log_group_arn = format!("arn:aws:logs:{}:{}:log-group:{}", stack.region, stack.account_id, stack.logs.group);
    let tags = clients.logs.list_tags_for_resource().resource_arn(&log_group_arn).send().await;
    if let Some(tags) = unless_missing(tags, |e| e.is_resource_not_found_exception())?
        && tags.tags().and_then(|tags| tags.get(STACK_TAG)) == Some(&stack.name)
    {
        clients.logs.delete_log_group().log_group_name(&stack.logs.group).send().await.map_err(sdk_error)?;
        removed.push(format!("log group {}", stack.logs.group));
    }
    Ok(())
}
