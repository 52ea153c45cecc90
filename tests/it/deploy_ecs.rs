//! `deploy` against moto server (ECS, Application Auto Scaling, IAM, CloudWatch Logs, SQS, DynamoDB):
//! plan → apply → plan again (nothing) → a changed stack updates exactly what changed → the scaler
//! raises a pool's desired count for a backlog and lowers it only after the window → status → destroy
//! removes what apply made and nothing else.
//!
//! moto 5.2 records what the API is told but runs no task: a service's running count is whatever its
//! desired count says. So this asserts on what ECS records (definitions, services, counts, tags), not
//! on containers; `apply --no-wait` skips the wait for a steady state, which moto cannot reach honestly.

use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_sdk_applicationautoscaling::types::ServiceNamespace;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use deploy::aws::{self, Change, Clients, EcsPools, Resource, ScaleTarget};
use deploy::{SERVICES, Service, Stack};
use test_support::processes::{self, Environment, Service as Process};
use test_support::{Scenario, emulator};

/// The example stack under a unique name, in a network moto knows.
fn stack_file(endpoint: &str, name: &str) -> String {
    let vpc = emulator::ec2(endpoint, "Action=CreateVpc&CidrBlock=10.9.0.0/16", "vpcId");
    let subnet = emulator::ec2(endpoint, &format!("Action=CreateSubnet&VpcId={vpc}&CidrBlock=10.9.1.0/24"), "subnetId");
    let group = emulator::ec2(
        endpoint,
        &format!("Action=CreateSecurityGroup&VpcId={vpc}&GroupName={name}&GroupDescription=docclass"),
        "groupId",
    );
    let example = include_str!("../../deploy/stack.example.toml");
    let network_start = example.find("subnets = ").unwrap();
    let network_end = example[network_start..].find("assign_public_ip").unwrap() + network_start;
    format!(
        "{}subnets = [\"{subnet}\"]\nsecurity_groups = [\"{group}\"]\n{}",
        &example[..network_start],
        &example[network_end..]
    )
    .replace("name = \"docclass\"", &format!("name = \"{name}\""))
    .replace("cluster = \"docclass\"", &format!("cluster = \"{name}\""))
    .replace("group = \"/ecs/docclass\"", &format!("group = \"/ecs/{name}\""))
    .replace("s3://docclass-models-123456789012/docclass", &format!("s3://{name}-models/docclass"))
    // A target small enough for a test's backlog: 20 messages per topic task.
    .replace("target_latency = \"30s\"\nseconds_per_message = 0.002", "target_backlog_per_task = 20")
}

/// `count` messages onto the queue at `url`.
async fn send_messages(clients: &Clients, url: &str, count: usize) {
    for batch in 0..count.div_ceil(10) {
        let entries: Vec<SendMessageBatchRequestEntry> = (0..10.min(count - batch * 10))
            .map(|i| {
                SendMessageBatchRequestEntry::builder().id(i.to_string()).message_body(format!("m{batch}-{i}")).build()
            })
            .collect::<Result<_, _>>()
            .unwrap();
        clients.sqs.send_message_batch().queue_url(url).set_entries(Some(entries)).send().await.unwrap();
    }
}

/// The topic pool's ECS service, as ECS records it.
async fn topic_service(clients: &Clients, stack: &Stack) -> aws_sdk_ecs::types::Service {
    let name = stack.ecs_name(Service::TopicClassifier);
    let found = clients.ecs.describe_services().cluster(&stack.cluster).services(name).send().await.unwrap();
    found.services()[0].clone()
}

fn changes(plan: &aws::Plan) -> Vec<(Resource, Change)> {
    plan.changes().map(|step| (step.resource, step.change.clone())).collect()
}

/// What the steps share: the stack file as written and as changed, the clients, and the names of what
/// belongs to someone else.
struct Deployed {
    name: String,
    dir: tempfile::TempDir,
    stack: Stack,
    clients: Clients,
    foreign_alarm: String,
    environment: Environment,
    /// The stack with a bigger topic pool and a lower ceiling.
    changed_text: String,
    changed: Stack,
}

/// Plan, apply, change, scale, watch, status and destroy, once, on moto; each test checks one step.
fn run() -> &'static Scenario {
    static RUN: OnceLock<Scenario> = OnceLock::new();
    RUN.get_or_init(|| {
        Scenario::run(async || {
            let mut scenario = Scenario::default();
            let Some(deployed) = scenario.step("applied", apply_creates_everything_and_adopts_the_log_group()).await
            else {
                return scenario;
            };
            scenario.step("idempotent", a_second_apply_changes_nothing(&deployed)).await;
            scenario.step("monitoring", cloudwatch_holds_what_was_rendered(&deployed)).await;
            scenario.step("recorded", ecs_iam_and_scaling_record_what_was_rendered(&deployed)).await;
            if scenario.step("changed", a_changed_stack_updates_exactly_what_changed(&deployed)).await.is_some() {
                scenario.step("scaled", the_scaler_follows_the_backlog_and_holds_for_the_window(&deployed)).await;
                scenario.step("watched", deploy_scale_watch_scales_out_and_in(&deployed)).await;
                scenario.step("status", status_reads_the_pools_back_at_their_minimum(&deployed)).await;
            }
            scenario.step("destroyed", destroy_removes_what_apply_made_and_nothing_else(&deployed)).await;
            scenario
        })
    })
}

#[test]
fn apply_creates_the_stack_and_adopts_an_existing_log_group() {
    run().check("applied");
}

#[test]
fn apply_is_idempotent() {
    run().check("idempotent");
}

#[test]
fn cloudwatch_holds_the_dashboard_and_alarms_as_rendered() {
    run().check("monitoring");
}

#[test]
fn ecs_iam_and_autoscaling_hold_what_was_rendered() {
    run().check("recorded");
}

#[test]
fn a_changed_stack_changes_only_its_resources() {
    run().check("changed");
}

#[test]
fn the_scaler_scales_out_at_once_and_in_after_its_window() {
    run().check("scaled");
}

#[test]
fn deploy_scale_watch_scales_the_pool_as_a_user_runs_it() {
    run().check("watched");
}

#[test]
fn status_and_service_counts_read_the_pools_back() {
    run().check("status");
}

#[test]
fn destroy_removes_what_apply_made_and_leaves_the_rest() {
    run().check("destroyed");
}

async fn apply_creates_everything_and_adopts_the_log_group() -> Deployed {
    let endpoint = emulator::endpoint();
    let name = emulator::unique_name("deploy");
    let dir = tempfile::tempdir().unwrap();
    let stack_path = dir.path().join("stack.toml");
    let text = stack_file(&endpoint, &name);
    std::fs::write(&stack_path, &text).unwrap();
    let stack = Stack::parse(&text).unwrap();
    let settings = emulator::settings(&endpoint);
    let clients = Clients::new(&settings).await;

    // Someone else's log group under our name: apply may use it, destroy must leave it. Likewise
    // someone else's alarm under the stack's prefix.
    clients.logs.create_log_group().log_group_name(&stack.logs.group).send().await.unwrap();
    let foreign_alarm = format!("{name}-someone-elses");
    clients
        .cloudwatch
        .put_metric_alarm()
        .alarm_name(&foreign_alarm)
        .namespace("AWS/SQS")
        .metric_name("NumberOfMessagesSent")
        .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap();

    let plan = aws::plan(&stack, &clients).await.unwrap();
    assert_eq!(
        plan.changes().filter(|s| s.change == Change::Create).count(),
        1 + 1 + 1 + 4 + 1 + 4 + 4 + 3 + 2,
        "{plan}"
    );
    let log_group = plan.steps.iter().find(|step| step.resource == Resource::LogGroup).unwrap();
    assert!(matches!(log_group.change, Change::Update(_)), "the existing log group is adopted: {plan}");
    aws::apply(&stack, &clients, &plan, |_| {}).await.unwrap();

    let mut environment = Environment::on_emulator(&endpoint, &name);
    environment.set("AWS_REGION", "us-east-1");
    let changed_text = text.replacen(
        "cpu = 512\nmemory = 1024\nmin_tasks = 1\nmax_tasks = 8",
        "cpu = 1024\nmemory = 2048\nmin_tasks = 1\nmax_tasks = 6",
        1,
    );
    assert_ne!(changed_text, text);
    let changed = Stack::parse(&changed_text).unwrap();
    Deployed { name, dir, stack, clients, foreign_alarm, environment, changed_text, changed }
}

/// Idempotent: the plan is empty, and so is `deploy apply` run as a user runs it.
async fn a_second_apply_changes_nothing(deployed: &Deployed) {
    let Deployed { stack, clients, environment, dir, .. } = deployed;
    let stack_path = dir.path().join("stack.toml");
    assert!(aws::plan(stack, clients).await.unwrap().is_empty());
    let again =
        environment.command("deploy").args(["apply", "--no-wait", "--stack"]).arg(&stack_path).output().unwrap();
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("No changes"),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
}

/// CloudWatch holds the dashboard and the alarms exactly as rendered.
async fn cloudwatch_holds_what_was_rendered(deployed: &Deployed) {
    let Deployed { name, stack, clients, .. } = deployed;
    let name = name.as_str();
    let dashboard = clients.cloudwatch.get_dashboard().dashboard_name(name).send().await.unwrap();
    let body: serde_json::Value = serde_json::from_str(dashboard.dashboard_body().unwrap()).unwrap();
    assert_eq!(body, deploy::render::monitoring::dashboard_body(stack));
    let described = clients.cloudwatch.describe_alarms().alarm_name_prefix(format!("{name}-")).send().await.unwrap();
    let rendered = deploy::render::monitoring::alarms(stack);
    assert_eq!(described.metric_alarms().len(), rendered.len() + 1, "ours and the foreign one");
    for alarm in &rendered {
        let found = described.metric_alarms().iter().find(|a| a.alarm_name() == Some(&alarm.alarm_name)).unwrap();
        assert_eq!(
            (found.metric_name(), found.threshold(), found.evaluation_periods()),
            (Some(alarm.metric_name), Some(alarm.threshold), Some(alarm.evaluation_periods as i32)),
        );
        assert_eq!(found.alarm_actions(), [stack.alarms.alarm_topic_arn.clone().unwrap()], "{}", alarm.alarm_name);
    }
}

/// What apply made, as the APIs record it.
async fn ecs_iam_and_scaling_record_what_was_rendered(deployed: &Deployed) {
    let Deployed { stack, clients, .. } = deployed;
    for service in SERVICES {
        let described = clients
            .ecs
            .describe_services()
            .cluster(&stack.cluster)
            .services(stack.ecs_name(service))
            .send()
            .await
            .unwrap();
        let ecs = &described.services()[0];
        assert_eq!(ecs.desired_count(), stack.service(service).min_tasks as i32);
        assert!(ecs.task_definition().unwrap().ends_with(&format!("{}:1", stack.ecs_name(service))));
        let definition =
            clients.ecs.describe_task_definition().task_definition(stack.ecs_name(service)).send().await.unwrap();
        let container = &definition.task_definition().unwrap().container_definitions()[0];
        assert_eq!((container.readonly_root_filesystem(), container.user()), (Some(true), Some("65532:65532")));
        assert!(container.health_check().unwrap().command().iter().any(|part| part == "--healthcheck"));
        let policy = clients
            .iam
            .get_role_policy()
            .role_name(stack.task_role_name(service))
            .policy_name(aws::POLICY_NAME)
            .send()
            .await
            .unwrap();
        let granted = aws::policy_document(policy.policy_document());
        assert_eq!(granted, Some(deploy::render::task_role_policy(stack, service)), "{}", service.name());
    }
    let topic_target = format!("service/{}/{}", stack.cluster, stack.ecs_name(Service::TopicClassifier));
    let targets = clients
        .autoscaling
        .describe_scalable_targets()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_ids(&topic_target)
        .send()
        .await
        .unwrap();
    assert_eq!((targets.scalable_targets()[0].min_capacity(), targets.scalable_targets()[0].max_capacity()), (1, 8));

    // The model bucket: private, tagged with the stack, named to the classifiers; an operator publishes
    // into it as the README says.
    let (bucket, _) = stack.models.as_ref().unwrap().location();
    let tags = clients.s3.get_bucket_tagging().bucket(&bucket).send().await.unwrap();
    assert!(tags.tag_set().iter().any(|tag| tag.value() == stack.name), "{tags:?}");
    let blocked = clients.s3.get_public_access_block().bucket(&bucket).send().await.unwrap();
    assert_eq!(blocked.public_access_block_configuration().unwrap().block_public_policy(), Some(true));
    for service in [Service::TopicClassifier, Service::SubtopicClassifier] {
        let definition =
            clients.ecs.describe_task_definition().task_definition(stack.ecs_name(service)).send().await.unwrap();
        let container = &definition.task_definition().unwrap().container_definitions()[0];
        let store = container.environment().iter().find(|v| v.name() == Some("DOCCLASS_MODEL_STORE"));
        assert_eq!(store.and_then(|v| v.value()), Some(stack.models.as_ref().unwrap().store.as_str()));
    }
    let store = &stack.models.as_ref().unwrap().store;
    let published = deployed
        .environment
        .command("docclass")
        .args(["model", "publish"])
        .arg(test_support::model_file())
        .args(["--store", store])
        .output()
        .unwrap();
    assert!(published.status.success(), "{}", String::from_utf8_lossy(&published.stderr));
}

/// A changed stack: the topic pool gets bigger tasks and a lower ceiling. Exactly its definition,
/// service and scaling change; the rest is left alone.
async fn a_changed_stack_updates_exactly_what_changed(deployed: &Deployed) {
    let Deployed { name, stack, clients, changed, .. } = deployed;
    let plan = aws::plan(changed, clients).await.unwrap();
    let resources: Vec<Resource> = changes(&plan).into_iter().map(|(resource, _)| resource).collect();
    assert_eq!(
        resources,
        [
            Resource::TaskDefinition(Service::TopicClassifier),
            Resource::EcsService(Service::TopicClassifier),
            Resource::Scaling(Service::TopicClassifier),
            Resource::Alarms,
        ],
        "{plan}"
    );
    let alarms_change = changes(&plan).into_iter().find(|(resource, _)| *resource == Resource::Alarms).unwrap().1;
    assert_eq!(alarms_change, Change::Update(format!("{name}-topic-classifier-at-max differs")), "the new ceiling");
    aws::apply(changed, clients, &plan, |_| {}).await.unwrap();
    assert!(aws::plan(changed, clients).await.unwrap().is_empty());
    let topic = topic_service(clients, stack).await;
    assert!(topic.task_definition().unwrap().ends_with(":2"), "rolled onto revision 2");
}

/// The scaler: 200 messages on the ingest queue at 20 per task → 6 tasks (the new ceiling) at once;
/// drained, it holds until the 5-minute window has passed, then falls to the minimum.
async fn the_scaler_follows_the_backlog_and_holds_for_the_window(deployed: &Deployed) {
    let Deployed { stack, clients, changed, .. } = deployed;
    let mut targets = ScaleTarget::all(changed, clients).await.unwrap();
    let ingest = targets.iter().find(|t| t.service == Service::TopicClassifier).unwrap().queue_url.clone();
    send_messages(clients, &ingest, 200).await;
    let desired = |round: Vec<(Service, deploy::scaling::Observation, deploy::scaling::Decision)>| {
        round.into_iter().find(|(service, _, _)| *service == Service::TopicClassifier).map(|(_, o, d)| (o, d)).unwrap()
    };
    let (observed, decision) = desired(
        aws::scale_once(clients, &EcsPools::new(changed, clients), &mut targets, Duration::ZERO).await.unwrap(),
    );
    assert_eq!((observed.visible, decision.desired), (200, 6), "{decision:?}");
    assert_eq!(topic_service(clients, stack).await.desired_count(), 6, "UpdateService applied it");
    clients.sqs.purge_queue().queue_url(&ingest).send().await.unwrap();
    let (_, held) = desired(
        aws::scale_once(clients, &EcsPools::new(changed, clients), &mut targets, Duration::from_secs(60))
            .await
            .unwrap(),
    );
    assert_eq!(held.desired, 6, "drained, but inside the window: {held:?}");
    let (_, fell) = desired(
        aws::scale_once(clients, &EcsPools::new(changed, clients), &mut targets, Duration::from_secs(400))
            .await
            .unwrap(),
    );
    assert_eq!(fell.desired, 1, "after the window: {fell:?}");
}

/// The same as a user runs it: `deploy scale --watch` on its own, a 3-second window.
async fn deploy_scale_watch_scales_out_and_in(deployed: &Deployed) {
    let Deployed { stack, clients, changed, changed_text, dir, environment, .. } = deployed;
    let targets = ScaleTarget::all(changed, clients).await.unwrap();
    let ingest = targets.iter().find(|t| t.service == Service::TopicClassifier).unwrap().queue_url.clone();
    let watched_path = dir.path().join("watched.toml");
    std::fs::write(&watched_path, changed_text.replace("scale_in_window = \"5m\"", "scale_in_window = \"3s\""))
        .unwrap();
    let mut watch = environment.command("deploy");
    watch.args(["scale", "--stack", &watched_path.display().to_string(), "--watch", "--interval", "1s"]);
    let watcher = Process(watch.stdout(Stdio::null()).spawn().unwrap());
    send_messages(clients, &ingest, 200).await;
    let desired_count = async || topic_service(clients, stack).await.desired_count();
    let started = Instant::now();
    while desired_count().await != 6 {
        assert!(started.elapsed() < Duration::from_secs(30), "the watching scaler did not scale out");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    clients.sqs.purge_queue().queue_url(&ingest).send().await.unwrap();
    let drained = Instant::now();
    while desired_count().await != 1 {
        assert!(drained.elapsed() < Duration::from_secs(30), "the watching scaler did not scale in");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The window runs from the scaler's last sight of the backlog, which may be up to one interval
    // (1 s) before the purge: so no sooner than 3 s - 1 s after it.
    assert!(drained.elapsed() >= Duration::from_secs(2), "scaled in inside the window");
    // What ECS and compose send to stop it: it ends at once, and cleanly.
    let mut watcher = watcher;
    let stopped = processes::terminate(&mut watcher, Duration::from_secs(10)).await;
    assert!(stopped.success(), "deploy scale --watch on SIGTERM: {stopped}");
}

/// The pools as `docclass dashboard --cluster` reads them.
async fn status_reads_the_pools_back_at_their_minimum(deployed: &Deployed) {
    let Deployed { clients, changed, .. } = deployed;
    let counts = aws::service_counts(clients, &changed.cluster, &changed.name).await.unwrap();
    let desired: Vec<(Service, u64)> = counts.iter().map(|(service, desired, _)| (*service, *desired)).collect();
    let expected: Vec<(Service, u64)> = SERVICES.into_iter().map(|service| (service, 1)).collect();
    assert_eq!(desired, expected, "each pool back at its minimum");
    let statuses = aws::status(changed, clients).await.unwrap();
    assert!(statuses.iter().all(|s| s.exists), "{statuses:?}");
    let topic_status = statuses.iter().find(|s| s.service.ends_with("topic-classifier")).unwrap();
    assert_eq!((topic_status.desired, topic_status.min_max, topic_status.backlog), (1, Some((1, 6)), Some((0, 0))));
}

/// Destroy removes what apply made — and leaves someone else's log group and alarm.
async fn destroy_removes_what_apply_made_and_nothing_else(deployed: &Deployed) {
    let Deployed { name, stack, clients, changed, foreign_alarm, .. } = deployed;
    let removed = aws::destroy(changed, clients, false).await.unwrap();
    assert!(removed.iter().any(|r| r.starts_with("cluster")), "{removed:?}");
    assert!(removed.iter().filter(|r| r.starts_with("role")).count() == 5, "{removed:?}");
    assert!(!removed.iter().any(|r| r.starts_with("log group")), "the log group was not ours: {removed:?}");
    assert_eq!(removed.iter().filter(|r| r.starts_with("alarm")).count(), 8, "{removed:?}");
    assert!(removed.contains(&format!("dashboard {name}")), "{removed:?}");
    let left = clients.cloudwatch.describe_alarms().alarm_name_prefix(format!("{name}-")).send().await.unwrap();
    let left: Vec<_> = left.metric_alarms().iter().filter_map(|a| a.alarm_name()).collect();
    assert_eq!(left, [foreign_alarm.as_str()], "someone else's alarm stays");
    assert!(clients.cloudwatch.get_dashboard().dashboard_name(name.as_str()).send().await.is_err());
    let groups = clients.logs.describe_log_groups().log_group_name_prefix(&stack.logs.group).send().await.unwrap();
    assert_eq!(groups.log_groups().len(), 1, "someone else's log group is still there");
    assert!(clients.iam.get_role().role_name(stack.execution_role_name()).send().await.is_err());
    assert!(clients.sqs.get_queue_url().queue_name(format!("{name}-ingest")).send().await.is_err());
    assert!(removed.iter().any(|r| r.starts_with("model bucket")), "{removed:?}");
    let (bucket, _) = stack.models.as_ref().unwrap().location();
    assert!(clients.s3.head_bucket().bucket(&bucket).send().await.is_err(), "the bucket and its models are gone");
    let plan = aws::plan(changed, clients).await.unwrap();
    assert_eq!(plan.changes().filter(|s| s.change == Change::Create).count(), 1 + 1 + 5 + 1 + 4 + 4 + 3 + 2, "{plan}");
}

/// An endpoint that does not answer is a failure, said in one line — not "nothing there": `plan` must not
/// offer to create everything, `destroy` must not report a clean slate, `status` must not show the
/// services as absent.
#[tokio::test]
async fn an_unreachable_endpoint_is_a_one_line_error_not_an_empty_account() {
    // A port nothing listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let text = include_str!("../../deploy/stack.example.toml");
    let stack = Stack::parse(text).unwrap();
    let clients = Clients::new(&emulator::settings(&endpoint)).await;
    let failures = [
        ("plan", aws::plan(&stack, &clients).await.map(|_| ())),
        ("destroy", aws::destroy(&stack, &clients, true).await.map(|_| ())),
        ("status", aws::status(&stack, &clients).await.map(|_| ())),
    ];
    for (what, result) in failures {
        let error = format!("{:#}", result.expect_err(what));
        assert!(!error.contains('\n') && error.len() < 400, "{what}: not one short line: {error}");
        assert!(error.contains("AWS endpoint did not answer"), "{what}: {error}");
        assert!(!error.contains("HttpResponse") && !error.contains("extensions"), "{what}: a Debug dump: {error}");
    }
}
