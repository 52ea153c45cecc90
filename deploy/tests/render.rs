//! `deploy render` on the example stack: the files it writes are held to golden copies (reviewed by
//! hand once; `DOCCLASS_UPDATE_GOLDEN=1 cargo test -p deploy --test render` rewrites them after a
//! deliberate change), and the properties that matter are asserted outright, so a golden file updated
//! carelessly cannot hide a broader permission or a root container.

use std::path::Path;

use deploy::render::{pretty, render_all};
use deploy::{SERVICES, Service, Stack};
use serde_json::Value;

fn example() -> Stack {
    Stack::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("stack.example.toml")).unwrap()
}

fn rendered(name: &str) -> Value {
    render_all(&example()).unwrap().into_iter().find(|(file, _)| file == name).unwrap().1
}

#[test]
fn rendered_files_match_the_reviewed_golden_copies() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let update = std::env::var_os("DOCCLASS_UPDATE_GOLDEN").is_some();
    let files = render_all(&example()).unwrap();
    assert_eq!(
        files.len(),
        4 * 2 + 3 + 2 + 1 + 8,
        "a task definition and a policy per service, three scaling policies, execution role, the CloudWatch \
         dashboard, three dead-letter alarms, the ingest age alarm, three pools' at-max alarms and the model \
         rollback alarm"
    );
    for (name, value) in files {
        let path = golden.join(&name);
        if update {
            std::fs::write(&path, pretty(&value)).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("{} missing", path.display()));
        assert_eq!(pretty(&value), expected, "{name} differs from its golden copy");
    }
}

#[test]
fn task_definitions_are_fargate_ready_non_root_read_only_and_health_checked() {
    for service in SERVICES {
        let definition = rendered(&format!("taskdef-{}.json", service.name()));
        assert_eq!(definition["networkMode"], "awsvpc");
        assert_eq!(definition["requiresCompatibilities"], serde_json::json!(["FARGATE"]));
        let container = &definition["containerDefinitions"][0];
        assert_eq!(container["readonlyRootFilesystem"], true);
        assert_eq!(container["linuxParameters"]["capabilities"]["drop"], serde_json::json!(["ALL"]));
        let user = container["user"].as_str().unwrap();
        assert!(!user.starts_with("0") && !user.starts_with("root"), "{user}");
        assert!(container["stopTimeout"].as_u64().unwrap() > 20, "longer than the runtime's 20 s drain");
        assert_eq!(container["logConfiguration"]["logDriver"], "awslogs");
        let check = container["healthCheck"]["command"].as_array().unwrap();
        assert_eq!(check.last().unwrap(), "--healthcheck");
        let environment: Vec<&str> =
            container["environment"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
        let needed: &[&str] = match service {
            Service::FeedIngest => &["DOCCLASS_INGEST_QUEUE_URL", "DOCCLASS_SEEN_TABLE", "DOCCLASS_FEEDS_TOML"],
            Service::TopicClassifier => &[
                "DOCCLASS_INGEST_QUEUE_URL",
                "DOCCLASS_SUBTOPIC_QUEUE_URL",
                "DOCCLASS_INGEST_DLQ_URL",
                "DOCCLASS_MODEL",
            ],
            Service::SubtopicClassifier => &[
                "DOCCLASS_SUBTOPIC_QUEUE_URL",
                "DOCCLASS_RESULTS_QUEUE_URL",
                "DOCCLASS_SUBTOPIC_DLQ_URL",
                "DOCCLASS_MODEL",
            ],
            Service::TableWriter => &["DOCCLASS_RESULTS_QUEUE_URL", "DOCCLASS_TABLE", "DOCCLASS_RESULTS_DLQ_URL"],
        };
        for name in needed {
            assert!(environment.contains(name), "{}: {name} missing from {environment:?}", service.name());
        }
        let metrics =
            container["environment"].as_array().unwrap().iter().find(|v| v["name"] == "DOCCLASS_METRICS_ADDR");
        assert_eq!(metrics.unwrap()["value"], format!("0.0.0.0:{}", service.metrics_port()), "reachable by ECS");
    }
    // The feed list the task carries is the stack file's, as feed-ingest reads it.
    let definition = rendered("taskdef-feed-ingest.json");
    let variables = definition["containerDefinitions"][0]["environment"].as_array().unwrap();
    let feeds = variables.iter().find(|v| v["name"] == "DOCCLASS_FEEDS_TOML").unwrap()["value"].as_str().unwrap();
    let list = feeds::FeedList::parse(feeds).unwrap();
    assert_eq!(list.feeds().len(), 3);
    // Only ECS acting for this account may assume the roles.
    let trust = rendered("trust-ecs-tasks.json");
    assert_eq!(trust["Statement"][0]["Condition"]["StringEquals"]["aws:SourceAccount"], "123456789012");
    assert_eq!(trust["Statement"][0]["Condition"]["ArnLike"]["aws:SourceArn"], "arn:aws:ecs:us-east-1:123456789012:*");
}

/// A stack file that would render a task unable to start, or one that disagrees with what `apply`
/// creates, is refused when it is read, by field.
#[test]
fn stack_files_that_would_render_a_broken_task_are_refused() {
    let example = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("stack.example.toml")).unwrap();
    let without_feeds: String = example
        .lines()
        .filter(|line| {
            !line.contains("services.feed-ingest.feeds") && !line.starts_with("url ") && !line.starts_with("interval")
        })
        .map(|line| format!("{line}\n"))
        .collect();
    for (text, expected) in [
        (without_feeds.clone(), "the feed list is missing"),
        (
            without_feeds.replace("max_tasks = 1\n", "max_tasks = 1\n[services.feed-ingest.environment]\nDOCCLASS_FEEDS = \"/etc/docclass/feeds.toml\"\n"),
            "which docclass's image does not hold",
        ),
        (
            example.replace("target_backlog_per_task = 20000", "target_backlog_per_task = 20000\n[services.table-writer.environment]\nDOCCLASS_RESULTS_QUEUE_URL = \"https://elsewhere\""),
            "DOCCLASS_RESULTS_QUEUE_URL is set by deploy itself",
        ),
        (example.replace("interval = \"1h\"", "interval = \"1000d\""), "longer than the longest"),
        (example.replace("s3://docclass-models-123456789012/docclass", "/var/models"), "read their models from S3"),
        (example.replace("s3://docclass-models-123456789012/docclass", "s3://Bad_Bucket/x"), "does not name an S3 bucket"),
    ] {
        let error = format!("{:#}", Stack::parse(&text).unwrap_err());
        assert!(error.contains(expected), "expected {expected:?} in: {error}");
    }
}

/// Every (action, resource) pair a policy grants.
fn grants(policy: &Value) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    for statement in policy["Statement"].as_array().unwrap() {
        assert_eq!(statement["Effect"], "Allow");
        for action in statement["Action"].as_array().unwrap() {
            for resource in statement["Resource"].as_array().unwrap() {
                pairs.push((action.as_str().unwrap().to_owned(), resource.as_str().unwrap().to_owned()));
            }
        }
    }
    pairs
}

#[test]
fn each_task_role_may_do_only_its_own_job() {
    let arn = |kind: &str, name: &str| match kind {
        "sqs" => format!("arn:aws:sqs:us-east-1:123456789012:docclass-{name}"),
        _ => format!("arn:aws:dynamodb:us-east-1:123456789012:table/docclass-{name}"),
    };
    let consume = |queue: &str| {
        ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"]
            .map(|action| (action.to_owned(), arn("sqs", queue)))
    };
    let send = |queue: &str| ("sqs:SendMessage".to_owned(), arn("sqs", queue));
    // Scale-in protection of the pool's own tasks: any task of the stack's cluster.
    let tasks = "arn:aws:ecs:us-east-1:123456789012:task/docclass/*";
    let protect =
        ["ecs:GetTaskProtection", "ecs:UpdateTaskProtection"].map(|action| (action.to_owned(), tasks.to_owned()));
    // The classifiers read the model store: its pointers and files, and list its prefix.
    let store = "arn:aws:s3:::docclass-models-123456789012";
    let models = [
        ("s3:GetObject".to_owned(), format!("{store}/docclass/state.json")),
        ("s3:GetObject".to_owned(), format!("{store}/docclass/models/*")),
        ("s3:GetObject".to_owned(), format!("{store}/docclass/judgements/*")),
        ("s3:ListBucket".to_owned(), store.to_owned()),
        // Judging: its own judgement, and the pointers' conditional write; never a model file.
        ("s3:PutObject".to_owned(), format!("{store}/docclass/judgements/*")),
        ("s3:PutObject".to_owned(), format!("{store}/docclass/state.json")),
    ];
    let mut expected: Vec<(Service, Vec<(String, String)>)> = vec![
        (
            Service::FeedIngest,
            vec![
                send("ingest"),
                ("dynamodb:PutItem".into(), arn("table", "seen")),
                ("dynamodb:UpdateItem".into(), arn("table", "seen")),
            ],
        ),
        (
            Service::TopicClassifier,
            [consume("ingest").to_vec(), vec![send("subtopic"), send("ingest-dlq")], protect.to_vec(), models.to_vec()]
                .concat(),
        ),
        (
            Service::SubtopicClassifier,
            [
                consume("subtopic").to_vec(),
                vec![send("results"), send("subtopic-dlq")],
                protect.to_vec(),
                models.to_vec(),
            ]
            .concat(),
        ),
        (
            Service::TableWriter,
            [
                consume("results").to_vec(),
                vec![send("results-dlq"), ("dynamodb:BatchWriteItem".into(), arn("table", "results"))],
                protect.to_vec(),
            ]
            .concat(),
        ),
    ];
    for (service, expected) in &mut expected {
        let mut granted = grants(&rendered(&format!("policy-{}.json", service.name())));
        granted.sort();
        expected.sort();
        assert_eq!(&granted, expected, "{}", service.name());
        assert!(
            granted.iter().all(|(action, resource)| !action.contains('*')
                && (!resource.contains('*')
                    || resource == tasks
                    || *resource == models[1].1
                    || *resource == models[2].1)),
            "no wildcard but the tasks of the cluster, the store's model files and its judgements: {granted:?}"
        );
    }
}

/// The alarms an operator relies on: every dead-letter queue watched from its first message, the
/// ingest queue's age at the stack file's threshold, each scaling pool at its ceiling for the stack
/// file's time, all telling the stack file's SNS topic; the dashboard shows every queue and pool.
#[test]
fn alarms_watch_every_dead_letter_queue_the_ingest_age_and_each_pool_at_its_ceiling() {
    let stack = example();
    let topic = stack.alarms.alarm_topic_arn.clone().unwrap();
    let alarms: Vec<Value> = render_all(&stack)
        .unwrap()
        .into_iter()
        .filter(|(name, _)| name.starts_with("alarm-"))
        .map(|(_, alarm)| alarm)
        .collect();
    let watched = |metric: &str, dimension: &str| -> Vec<&Value> {
        alarms
            .iter()
            .filter(|a| a["MetricName"] == metric && a["Dimensions"].to_string().contains(&format!("\"{dimension}\"")))
            .collect()
    };
    for queue in ["ingest", "subtopic", "results"] {
        let dead = watched("ApproximateNumberOfMessagesVisible", &format!("docclass-{queue}-dlq"));
        assert_eq!(dead.len(), 1, "{queue}: {alarms:?}");
        assert_eq!(
            (dead[0]["Threshold"].as_f64(), dead[0]["ComparisonOperator"].as_str()),
            (Some(0.0), Some("GreaterThanThreshold"))
        );
    }
    let age = watched("ApproximateAgeOfOldestMessage", "docclass-ingest");
    assert_eq!(age.len(), 1);
    assert_eq!(age[0]["Threshold"].as_f64(), Some(stack.alarms.oldest_message_age.as_secs() as f64));
    for service in [Service::TopicClassifier, Service::SubtopicClassifier, Service::TableWriter] {
        let at_max = watched("RunningTaskCount", &format!("docclass-{}", service.name()));
        assert_eq!(at_max.len(), 1, "{}", service.name());
        assert_eq!(at_max[0]["Threshold"].as_f64(), Some(f64::from(stack.service(service).max_tasks)));
        let minutes = at_max[0]["EvaluationPeriods"].as_u64().unwrap() * at_max[0]["Period"].as_u64().unwrap();
        assert_eq!(minutes, stack.alarms.pool_at_max_for.as_secs());
        assert_eq!(at_max[0]["DatapointsToAlarm"], at_max[0]["EvaluationPeriods"], "at max the whole time");
    }
    // A rollback the pools make (with a model store): told once, on the metric they publish.
    let rolled_back = watched("ModelRollbacks", "docclass");
    assert_eq!(rolled_back.len(), 1, "{alarms:?}");
    assert_eq!(
        (
            rolled_back[0]["Namespace"].as_str(),
            rolled_back[0]["Statistic"].as_str(),
            rolled_back[0]["Threshold"].as_f64()
        ),
        (Some("docclass"), Some("Sum"), Some(0.0))
    );
    assert_eq!(rolled_back[0]["OKActions"], serde_json::json!([]), "no all-clear for a rollback");
    for alarm in &alarms {
        assert_eq!(alarm["AlarmActions"], serde_json::json!([topic]), "{alarm}");
        if alarm["MetricName"] != "ModelRollbacks" {
            assert_eq!(alarm["OKActions"], serde_json::json!([topic]), "{alarm}");
        }
        assert_eq!(alarm["TreatMissingData"], "notBreaching", "no data is not an outage: {alarm}");
    }
    let dashboard = rendered("dashboard-body.json").to_string();
    for name in ["docclass-ingest", "docclass-subtopic-dlq", "docclass-results", "docclass-table-writer"] {
        assert!(dashboard.contains(&format!("\"{name}\"")), "the dashboard shows {name}");
    }
    for alarm in &alarms {
        assert!(dashboard.contains(alarm["AlarmName"].as_str().unwrap()), "the dashboard lists {}", alarm["AlarmName"]);
    }
}

#[test]
fn a_fixed_size_pool_has_no_ceiling_alarm_and_thresholds_are_checked() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("stack.example.toml")).unwrap();
    let fixed = text.replacen("min_tasks = 1\nmax_tasks = 2", "min_tasks = 2\nmax_tasks = 2", 1);
    assert_ne!(fixed, text, "the example's table-writer runs 1–2 tasks");
    let names: Vec<String> =
        render_all(&Stack::parse(&fixed).unwrap()).unwrap().into_iter().map(|(name, _)| name).collect();
    assert!(!names.iter().any(|name| name.contains("table-writer-at-max")), "{names:?}");
    assert!(names.iter().any(|name| name.contains("topic-classifier-at-max")), "{names:?}");
    for (change, expected) in [
        (("oldest_message_age = \"15m\"", "oldest_message_age = \"10s\""), "between 1 minute and 14 days"),
        (("pool_at_max_for = \"30m\"", "pool_at_max_for = \"2days\""), "between 1 minute and 24 hours"),
        (("arn:aws:sns:us-east-1:", "arn:aws:sns:eu-west-1:"), "not an SNS topic ARN of this stack's region"),
    ] {
        assert!(text.contains(change.0), "the example has {:?}", change.0);
        let error = format!("{:#}", Stack::parse(&text.replacen(change.0, change.1, 1)).unwrap_err());
        assert!(error.contains(expected), "{change:?}: {error}");
    }
    let silent = text.lines().filter(|line| !line.starts_with("alarm_topic_arn")).collect::<Vec<_>>().join("\n");
    let alarms = deploy::render::monitoring::alarms(&Stack::parse(&silent).unwrap());
    assert!(alarms.iter().all(|alarm| alarm.alarm_actions.is_empty()), "no topic, no actions");
}
