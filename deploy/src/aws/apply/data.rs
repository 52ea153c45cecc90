//! The queues and tables (`docclass infra up`'s): plan, apply, destroy.

use adapters_aws::infra::{self, QueueSettings, StackNames};

use super::super::{Change, Clients, unless_missing};
use crate::stack::Stack;

/// Which of the eight queues and tables exist: only "not found" answers count as missing.
pub(super) async fn plan(stack: &Stack, clients: &Clients) -> anyhow::Result<Change> {
    let names = StackNames::new(&stack.name);
    let mut missing = Vec::new();
    for queue in [&names.ingest, &names.subtopic, &names.results] {
        for name in [queue.clone(), StackNames::dead_letters_of(queue)] {
            let found = clients.sqs.get_queue_url().queue_name(&name).send().await;
            if unless_missing(found, infra::is_missing_queue)?.is_none() {
                missing.push(name);
            }
        }
    }
    for table in [&names.table, &names.seen_table] {
        let found = clients.dynamodb.describe_table().table_name(table).send().await;
        if unless_missing(found, |e| e.is_resource_not_found_exception())?.is_none() {
            missing.push(table.clone());
        }
    }
    Ok(match missing.len() {
        0 => Change::Unchanged,
        8 => Change::Create,
        _ => Change::Update(format!("missing {}", missing.join(", "))),
    })
}

pub(super) async fn apply(stack: &Stack, clients: &Clients) -> anyhow::Result<()> {
    let settings = QueueSettings::default();
    infra::up(&clients.sqs, &clients.dynamodb, &StackNames::new(&stack.name), &settings).await?;
    Ok(())
}

pub(super) async fn destroy(stack: &Stack, clients: &Clients, removed: &mut Vec<String>) -> anyhow::Result<()> {
    infra::down(&clients.sqs, &clients.dynamodb, &StackNames::new(&stack.name)).await?;
    removed.push(format!("queues and tables of {}", stack.name));
    Ok(())
}
