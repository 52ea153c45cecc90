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
        4 * 2 + 3 + 2,
        "a task definition and a policy per service, three scaling policies, execution role"
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
        let user = container["user"].as_str().unwrap();
        assert!(!user.starts_with("0") && !user.starts_with("root"), "{user}");
        assert!(container["stopTimeout"].as_u64().unwrap() > 20, "longer than the runtime's 20 s drain");
        assert_eq!(container["logConfiguration"]["logDriver"], "awslogs");
        let check = container["healthCheck"]["command"].as_array().unwrap();
        assert_eq!(check.last().unwrap(), "--healthcheck");
        let environment: Vec<&str> =
            container["environment"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
        let needed: &[&str] = match service {
            Service::FeedIngest => &["DOCCLASS_INGEST_QUEUE_URL", "DOCCLASS_SEEN_TABLE", "DOCCLASS_FEEDS"],
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
    let mut expected: Vec<(Service, Vec<(String, String)>)> = vec![
        (
            Service::FeedIngest,
            vec![
                send("ingest"),
                ("dynamodb:PutItem".into(), arn("table", "seen")),
                ("dynamodb:UpdateItem".into(), arn("table", "seen")),
            ],
        ),
        (Service::TopicClassifier, [consume("ingest").to_vec(), vec![send("subtopic"), send("ingest-dlq")]].concat()),
        (
            Service::SubtopicClassifier,
            [consume("subtopic").to_vec(), vec![send("results"), send("subtopic-dlq")]].concat(),
        ),
        (
            Service::TableWriter,
            [
                consume("results").to_vec(),
                vec![send("results-dlq"), ("dynamodb:BatchWriteItem".into(), arn("table", "results"))],
            ]
            .concat(),
        ),
    ];
    for (service, expected) in &mut expected {
        let mut granted = grants(&rendered(&format!("policy-{}.json", service.name())));
        granted.sort();
        expected.sort();
        assert_eq!(&granted, expected, "{}", service.name());
        assert!(granted.iter().all(|(action, resource)| !action.contains('*') && !resource.contains('*')));
    }
}
