//! The execution role and the task roles, with their inline policies: plan, apply, destroy.

use serde_json::Value;

use super::super::{Change, Clients, POLICY_NAME, STACK_TAG, sdk_error, unless_missing};
use crate::render;
use crate::stack::{SERVICES, Stack};

/// A policy document as IAM answers it (URL-encoded JSON), parsed.
pub fn policy_document(text: &str) -> Option<Value> {
    serde_json::from_str(text)
        .ok()
        .or_else(|| serde_json::from_str(&percent_encoding::percent_decode_str(text).decode_utf8_lossy()).ok())
}

pub(super) async fn plan(
    clients: &Clients,
    name: &str,
    policy: &Value,
    trust_wanted: &Value,
) -> anyhow::Result<Change> {
    let role = clients.iam.get_role().role_name(name).send().await;
    let Some(role) = unless_missing(role, |e| e.is_no_such_entity_exception())? else {
        return Ok(Change::Create);
    };
    let trust = role.role().and_then(|r| r.assume_role_policy_document()).and_then(policy_document);
    if trust.as_ref() != Some(trust_wanted) {
        return Ok(Change::Update("trust policy differs".into()));
    }
    let current = clients.iam.get_role_policy().role_name(name).policy_name(POLICY_NAME).send().await;
    Ok(match unless_missing(current, |e| e.is_no_such_entity_exception())? {
        Some(found) if policy_document(found.policy_document()).as_ref() == Some(policy) => Change::Unchanged,
        Some(_) => Change::Update("permissions differ".into()),
        None => Change::Update("no docclass policy".into()),
    })
}

pub(super) async fn apply(
    stack: &Stack,
    clients: &Clients,
    name: &str,
    policy: &Value,
    change: &Change,
) -> anyhow::Result<()> {
    if *change == Change::Create {
        let tag = aws_sdk_iam::types::Tag::builder().key(STACK_TAG).value(&stack.name).build().map_err(sdk_error)?;
        clients
            .iam
            .create_role()
            .role_name(name)
            .assume_role_policy_document(render::ecs_tasks_trust(stack).to_string())
            .description(format!("docclass stack {}", stack.name))
            .tags(tag)
            .send()
            .await
            .map_err(sdk_error)?;
    }
    if let Change::Update(_) = change {
        clients
            .iam
            .update_assume_role_policy()
            .role_name(name)
            .policy_document(render::ecs_tasks_trust(stack).to_string())
            .send()
            .await
            .map_err(sdk_error)?;
    }
    clients
        .iam
        .put_role_policy()
        .role_name(name)
        .policy_name(POLICY_NAME)
        .policy_document(policy.to_string())
        .send()
        .await
        .map_err(sdk_error)?;
    Ok(())
}

/// Removes the stack's roles that carry its tag.
pub(super) async fn destroy(stack: &Stack, clients: &Clients, removed: &mut Vec<String>) -> anyhow::Result<()> {
    let mut roles = vec![stack.execution_role_name()];
    roles.extend(SERVICES.iter().map(|service| stack.task_role_name(*service)));
    for role in roles {
        let found = clients.iam.get_role().role_name(&role).send().await;
        let Some(found) = unless_missing(found, |e| e.is_no_such_entity_exception())? else { continue };
        let ours =
            found.role().is_some_and(|r| r.tags().iter().any(|t| t.key() == STACK_TAG && t.value() == stack.name));
        if !ours {
            continue;
        }
        let policy = clients.iam.delete_role_policy().role_name(&role).policy_name(POLICY_NAME).send().await;
        unless_missing(policy, |e| e.is_no_such_entity_exception())?;
        clients.iam.delete_role().role_name(&role).send().await.map_err(sdk_error)?;
        removed.push(format!("role {role}"));
    }
    Ok(())
}
