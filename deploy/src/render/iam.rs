//! The IAM documents: one least-privilege task-role policy per service, the execution role's policy,
//! and the trust that lets ECS tasks assume them.

use serde_json::{Value, json};

use crate::stack::{Queue, SERVICES, Service, Stack};

fn statement(sid: &str, actions: &[&str], resources: Vec<String>) -> Value {
    json!({ "Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources })
}

/// The task role's policy: what this service's code calls, on its own queues and table, nothing else.
pub fn task_role_policy(stack: &Stack, service: Service) -> Value {
    let consume = |queue: Queue| {
        statement(
            "ConsumeInput",
            &["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"],
            vec![stack.queue_arn(queue, false)],
        )
    };
    let send = |sid: &str, arns: Vec<String>| statement(sid, &["sqs:SendMessage"], arns);
    let statements = match service {
        Service::FeedIngest => vec![
            send("EnqueueDocuments", vec![stack.queue_arn(Queue::Ingest, false)]),
            statement(
                "RememberEnqueued",
                &["dynamodb:PutItem", "dynamodb:UpdateItem"],
                vec![stack.table_arn(&stack.seen_table_name())],
            ),
        ],
        Service::TopicClassifier => vec![
            consume(Queue::Ingest),
            send(
                "ForwardAndDeadLetter",
                vec![stack.queue_arn(Queue::Subtopic, false), stack.queue_arn(Queue::Ingest, true)],
            ),
        ],
        Service::SubtopicClassifier => vec![
            consume(Queue::Subtopic),
            send(
                "ForwardAndDeadLetter",
                vec![stack.queue_arn(Queue::Results, false), stack.queue_arn(Queue::Subtopic, true)],
            ),
        ],
        Service::TableWriter => vec![
            consume(Queue::Results),
            send("DeadLetter", vec![stack.queue_arn(Queue::Results, true)]),
            statement("WriteResults", &["dynamodb:BatchWriteItem"], vec![stack.table_arn(&stack.table_name())]),
        ],
    };
    let mut statements = statements;
    if let (Some(models), Service::TopicClassifier | Service::SubtopicClassifier) = (&stack.models, service) {
        let (bucket, prefix) = models.location();
        // Reading the pointers and the model files; listing the prefix only so that a key not there yet
        // answers 404 ("no live model yet") rather than 403.
        statements.push(statement(
            "ReadModels",
            &["s3:GetObject"],
            vec![
                format!("arn:aws:s3:::{bucket}/{prefix}state.json"),
                format!("arn:aws:s3:::{bucket}/{prefix}models/*"),
                format!("arn:aws:s3:::{bucket}/{prefix}judgements/*"),
            ],
        ));
        // Judging a candidate: each task writes what it judged, and the pool promotes, drops, confirms
        // or rolls back by a conditional write of the pointers. Model files stay read-only to it.
        statements.push(statement(
            "JudgeModels",
            &["s3:PutObject"],
            vec![
                format!("arn:aws:s3:::{bucket}/{prefix}state.json"),
                format!("arn:aws:s3:::{bucket}/{prefix}judgements/*"),
            ],
        ));
        let mut list = statement("FindModels", &["s3:ListBucket"], vec![format!("arn:aws:s3:::{bucket}")]);
        list["Condition"] = json!({ "StringLike": { "s3:prefix": [format!("{prefix}*")] } });
        statements.push(list);
    }
    if service.input_queue().is_some() {
        // Task scale-in protection while it holds messages: the agent calls ECS with the task role. A
        // task's id is not known before it starts: any task of this cluster (the only wildcard granted).
        statements.push(statement(
            "ProtectOwnTaskWhileBusy",
            &["ecs:GetTaskProtection", "ecs:UpdateTaskProtection"],
            vec![format!("arn:aws:ecs:{}:{}:task/{}/*", stack.region, stack.account_id, stack.cluster)],
        ));
    }
    json!({ "Version": "2012-10-17", "Statement": statements })
}

/// The execution role's policy: pull the four images, write the log group.
pub fn execution_role_policy(stack: &Stack) -> Value {
    let repositories: Vec<String> = SERVICES
        .iter()
        .map(|service| {
            let image = stack.image(*service);
            let repository = image.split_once('/').map_or(image.as_str(), |(_, path)| path);
            let repository = repository.split([':', '@']).next().unwrap_or(repository);
            format!("arn:aws:ecr:{}:{}:repository/{repository}", stack.region, stack.account_id)
        })
        .collect();
    let log_group = format!("arn:aws:logs:{}:{}:log-group:{}:*", stack.region, stack.account_id, stack.logs.group);
    json!({
        "Version": "2012-10-17",
        "Statement": [
            // GetAuthorizationToken has no resource-level permissions: "*" is the only form AWS accepts.
            statement("EcrLogin", &["ecr:GetAuthorizationToken"], vec!["*".into()]),
            statement(
                "PullImages",
                &["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                repositories
            ),
            statement("WriteLogs", &["logs:CreateLogStream", "logs:PutLogEvents"], vec![log_group]),
        ]
    })
}

/// Who may assume the task and execution roles: ECS tasks of this account, in this region — the
/// confused-deputy guard AWS recommends, so that ECS acting for another account cannot be made to
/// assume them.
pub fn ecs_tasks_trust(stack: &Stack) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": "ecs-tasks.amazonaws.com" },
            "Action": "sts:AssumeRole",
            "Condition": {
                "ArnLike": { "aws:SourceArn": format!("arn:aws:ecs:{}:{}:*", stack.region, stack.account_id) },
                "StringEquals": { "aws:SourceAccount": stack.account_id }
            }
        }]
    })
}
