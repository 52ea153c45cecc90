//! `plan`, `apply`, `destroy` and waiting for a steady state.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use adapters_aws::infra::{self, QueueSettings, StackNames};
use anyhow::Context;
use aws_sdk_applicationautoscaling::types::{
    CustomizedMetricSpecification, PolicyType, ScalableDimension, ServiceNamespace, TargetTrackingMetric,
    TargetTrackingMetricDataQuery, TargetTrackingMetricDimension, TargetTrackingMetricStat,
    TargetTrackingScalingPolicyConfiguration,
};
use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, ClusterField, ClusterSetting, ClusterSettingName, Compatibility,
    ContainerDefinition, CpuArchitecture, DeploymentCircuitBreaker, DeploymentConfiguration, HealthCheck, KeyValuePair,
    LaunchType, LogConfiguration, LogDriver, NetworkConfiguration, NetworkMode, OsFamily, PortMapping, PropagateTags,
    RuntimePlatform, TaskDefinitionField, TransportProtocol,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Change, Clients, POLICY_NAME, Plan, RENDER_TAG, Resource, STACK_TAG, Step, sdk_error, unless_missing};
use crate::render;
use crate::stack::{SERVICES, Service, Stack};

fn render_hash(value: &Value) -> String {
    Sha256::digest(render::pretty(value).as_bytes()).iter().map(|byte| format!("{byte:02x}")).collect()
}

fn scaling_resource_id(stack: &Stack, service: Service) -> String {
    format!("service/{}/{}", stack.cluster, stack.ecs_name(service))
}

fn pools() -> impl Iterator<Item = Service> {
    SERVICES.into_iter().filter(|service| service.input_queue().is_some())
}

/// Compares what exists with what `stack` renders; changes nothing.
///
/// # Errors
/// When AWS cannot be asked.
pub async fn plan(stack: &Stack, clients: &Clients) -> anyhow::Result<Plan> {
    let mut steps = Vec::new();
    let mut step = |resource, change| steps.push(Step { resource, change });

    step(Resource::QueuesAndTables, queues_and_tables(stack, clients).await);
    step(Resource::LogGroup, log_group(stack, clients).await?);
    step(
        Resource::ExecutionRole,
        role(clients, &stack.execution_role_name(), &render::execution_role_policy(stack)).await?,
    );
    for service in SERVICES {
        step(
            Resource::TaskRole(service),
            role(clients, &stack.task_role_name(service), &render::task_role_policy(stack, service)).await?,
        );
    }
    step(Resource::Cluster, cluster(stack, clients).await?);
    let mut new_definitions = BTreeSet::new();
    for service in SERVICES {
        let change = task_definition(stack, clients, service).await?;
        if change != Change::Unchanged {
            new_definitions.insert(service);
        }
        step(Resource::TaskDefinition(service), change);
    }
    for service in SERVICES {
        step(
            Resource::EcsService(service),
            ecs_service(stack, clients, service, new_definitions.contains(&service)).await?,
        );
    }
    for service in pools() {
        step(Resource::Scaling(service), scaling(stack, clients, service).await?);
    }
    Ok(Plan { steps })
}

async fn queues_and_tables(stack: &Stack, clients: &Clients) -> Change {
    let names = StackNames::new(&stack.name);
    let mut missing = Vec::new();
    for queue in [&names.ingest, &names.subtopic, &names.results] {
        for name in [queue.clone(), StackNames::dead_letters_of(queue)] {
            if clients.sqs.get_queue_url().queue_name(&name).send().await.is_err() {
                missing.push(name);
            }
        }
    }
    for table in [&names.table, &names.seen_table] {
        if clients.dynamodb.describe_table().table_name(table).send().await.is_err() {
            missing.push(table.clone());
        }
    }
    match missing.len() {
        0 => Change::Unchanged,
        8 => Change::Create,
        _ => Change::Update(format!("missing {}", missing.join(", "))),
    }
}

async fn log_group(stack: &Stack, clients: &Clients) -> anyhow::Result<Change> {
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

/// A policy document as IAM answers it (URL-encoded JSON), parsed.
pub fn policy_document(text: &str) -> Option<Value> {
    serde_json::from_str(text)
        .ok()
        .or_else(|| serde_json::from_str(&percent_encoding::percent_decode_str(text).decode_utf8_lossy()).ok())
}

async fn role(clients: &Clients, name: &str, policy: &Value) -> anyhow::Result<Change> {
    match clients.iam.get_role().role_name(name).send().await {
        Ok(_) => {}
        Err(error) if error.as_service_error().is_some_and(|e| e.is_no_such_entity_exception()) => {
            return Ok(Change::Create);
        }
        Err(error) => return Err(sdk_error(error)),
    }
    let current = clients.iam.get_role_policy().role_name(name).policy_name(POLICY_NAME).send().await;
    Ok(match current {
        Ok(found) if policy_document(found.policy_document()).as_ref() == Some(policy) => Change::Unchanged,
        Ok(_) => Change::Update("permissions differ".into()),
        Err(error) if error.as_service_error().is_some_and(|e| e.is_no_such_entity_exception()) => {
            Change::Update("no docclass policy".into())
        }
        Err(error) => return Err(sdk_error(error)),
    })
}

async fn cluster(stack: &Stack, clients: &Clients) -> anyhow::Result<Change> {
    let found = clients.ecs.describe_clusters().clusters(&stack.cluster).send().await.map_err(sdk_error)?;
    let active = found.clusters().iter().any(|cluster| cluster.status() == Some("ACTIVE"));
    Ok(if active { Change::Unchanged } else { Change::Create })
}

async fn task_definition(stack: &Stack, clients: &Clients, service: Service) -> anyhow::Result<Change> {
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

async fn ecs_service(
    stack: &Stack,
    clients: &Clients,
    service: Service,
    new_definition: bool,
) -> anyhow::Result<Change> {
    let Some(found) = describe_service(stack, clients, service).await? else { return Ok(Change::Create) };
    if new_definition {
        return Ok(Change::Update("new task definition".into()));
    }
    let latest_arn = latest_definition_arn(stack, clients, service).await?;
    if found.task_definition() != Some(latest_arn.as_str()) {
        return Ok(Change::Update("runs an older task definition".into()));
    }
    let vpc = found.network_configuration().and_then(|network| network.awsvpc_configuration());
    let subnets: BTreeSet<&str> = vpc.map(|vpc| vpc.subnets().iter().map(String::as_str).collect()).unwrap_or_default();
    let groups: BTreeSet<&str> =
        vpc.map(|vpc| vpc.security_groups().iter().map(String::as_str).collect()).unwrap_or_default();
    let wanted_subnets: BTreeSet<&str> = stack.network.subnets.iter().map(String::as_str).collect();
    let wanted_groups: BTreeSet<&str> = stack.network.security_groups.iter().map(String::as_str).collect();
    Ok(if subnets != wanted_subnets || groups != wanted_groups {
        Change::Update("network differs".into())
    } else {
        Change::Unchanged
    })
}

async fn describe_service(
    stack: &Stack,
    clients: &Clients,
    service: Service,
) -> anyhow::Result<Option<aws_sdk_ecs::types::Service>> {
    let found = clients.ecs.describe_services().cluster(&stack.cluster).services(stack.ecs_name(service)).send().await;
    match found {
        Ok(found) => Ok(found.services().iter().find(|s| s.status() != Some("INACTIVE")).cloned()),
        Err(error) if error.as_service_error().is_some_and(|e| e.is_cluster_not_found_exception()) => Ok(None),
        Err(error) => Err(sdk_error(error)),
    }
}

async fn scaling(stack: &Stack, clients: &Clients, service: Service) -> anyhow::Result<Change> {
    let policy = stack.scaling_policy(service)?;
    let resource_id = scaling_resource_id(stack, service);
    let targets = clients
        .autoscaling
        .describe_scalable_targets()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_ids(&resource_id)
        .send()
        .await
        .map_err(sdk_error)?;
    let Some(target) = targets.scalable_targets().first() else { return Ok(Change::Create) };
    if (target.min_capacity(), target.max_capacity()) != (policy.min_tasks as i32, policy.max_tasks as i32) {
        return Ok(Change::Update(format!(
            "tasks {}–{} → {}–{}",
            target.min_capacity(),
            target.max_capacity(),
            policy.min_tasks,
            policy.max_tasks
        )));
    }
    let rendered = render::scaling_policy(stack, service)?;
    let policies = clients
        .autoscaling
        .describe_scaling_policies()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(&resource_id)
        .policy_names(rendered["PolicyName"].as_str().unwrap_or_default())
        .send()
        .await
        .map_err(sdk_error)?;
    let configuration =
        policies.scaling_policies().first().and_then(|policy| policy.target_tracking_scaling_policy_configuration());
    Ok(match configuration {
        None => Change::Update("no target-tracking policy".into()),
        Some(found)
            if found.target_value() == f64::from(policy.target_backlog_per_task)
                && found.scale_in_cooldown() == Some(policy.scale_in_window.as_secs() as i32) =>
        {
            Change::Unchanged
        }
        Some(_) => Change::Update("target or cooldown differs".into()),
    })
}

/// Makes AWS agree with `stack`, doing what `plan` listed; `progress` hears each step.
///
/// # Errors
/// The first step that fails (the steps before it stay done; run `apply` again).
pub async fn apply(
    stack: &Stack,
    clients: &Clients,
    plan: &Plan,
    mut progress: impl FnMut(&str),
) -> anyhow::Result<()> {
    let mut definition_arns = BTreeMap::new();
    for step in plan.changes() {
        progress(&format!(
            "{} {}…",
            if step.change == Change::Create { "creating" } else { "updating" },
            step.resource
        ));
        match step.resource {
            Resource::QueuesAndTables => {
                let settings = QueueSettings::default();
                infra::up(&clients.sqs, &clients.dynamodb, &StackNames::new(&stack.name), &settings).await?;
            }
            Resource::LogGroup => apply_log_group(stack, clients, &step.change).await?,
            Resource::ExecutionRole => {
                apply_role(
                    stack,
                    clients,
                    &stack.execution_role_name(),
                    &render::execution_role_policy(stack),
                    &step.change,
                )
                .await?;
            }
            Resource::TaskRole(service) => {
                let policy = render::task_role_policy(stack, service);
                apply_role(stack, clients, &stack.task_role_name(service), &policy, &step.change).await?;
            }
            Resource::Cluster => {
                clients
                    .ecs
                    .create_cluster()
                    .cluster_name(&stack.cluster)
                    .settings(
                        ClusterSetting::builder().name(ClusterSettingName::ContainerInsights).value("enabled").build(),
                    )
                    .tags(ecs_tag(STACK_TAG, &stack.name))
                    .send()
                    .await
                    .map_err(sdk_error)?;
            }
            Resource::TaskDefinition(service) => {
                definition_arns.insert(service, register_task_definition(stack, clients, service).await?);
            }
            Resource::EcsService(service) => {
                let arn = match definition_arns.get(&service) {
                    Some(arn) => arn.clone(),
                    None => latest_definition_arn(stack, clients, service).await?,
                };
                apply_service(stack, clients, service, &arn, &step.change).await?;
            }
            Resource::Scaling(service) => apply_scaling(stack, clients, service).await?,
        }
    }
    Ok(())
}

fn ecs_tag(key: &str, value: &str) -> aws_sdk_ecs::types::Tag {
    aws_sdk_ecs::types::Tag::builder().key(key).value(value).build()
}

async fn apply_log_group(stack: &Stack, clients: &Clients, change: &Change) -> anyhow::Result<()> {
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

async fn apply_role(
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
            .assume_role_policy_document(render::ecs_tasks_trust().to_string())
            .description(format!("docclass stack {}", stack.name))
            .tags(tag)
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

/// Registers a service's task definition from its rendered JSON; answers the new revision's ARN.
async fn register_task_definition(stack: &Stack, clients: &Clients, service: Service) -> anyhow::Result<String> {
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

async fn latest_definition_arn(stack: &Stack, clients: &Clients, service: Service) -> anyhow::Result<String> {
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

fn network(stack: &Stack) -> anyhow::Result<NetworkConfiguration> {
    let vpc = AwsVpcConfiguration::builder()
        .set_subnets(Some(stack.network.subnets.clone()))
        .set_security_groups(Some(stack.network.security_groups.clone()))
        .assign_public_ip(if stack.network.assign_public_ip {
            AssignPublicIp::Enabled
        } else {
            AssignPublicIp::Disabled
        })
        .build()
        .map_err(sdk_error)?;
    Ok(NetworkConfiguration::builder().awsvpc_configuration(vpc).build())
}

/// Rolling: never below the running count, up to twice it while replacing; the circuit breaker rolls a
/// deployment whose tasks keep failing back to the last good one.
fn rolling() -> DeploymentConfiguration {
    DeploymentConfiguration::builder()
        .deployment_circuit_breaker(DeploymentCircuitBreaker::builder().enable(true).rollback(true).build())
        .minimum_healthy_percent(100)
        .maximum_percent(200)
        .build()
}

async fn apply_service(
    stack: &Stack,
    clients: &Clients,
    service: Service,
    definition: &str,
    change: &Change,
) -> anyhow::Result<()> {
    if *change != Change::Create {
        // The desired count is the scaler's: an update changes what runs, not how many.
        clients
            .ecs
            .update_service()
            .cluster(&stack.cluster)
            .service(stack.ecs_name(service))
            .task_definition(definition)
            .network_configuration(network(stack)?)
            .deployment_configuration(rolling())
            .send()
            .await
            .map_err(sdk_error)?;
        return Ok(());
    }
    let launch_type = match stack.network.launch_type {
        crate::stack::LaunchType::Fargate => LaunchType::Fargate,
        crate::stack::LaunchType::Ec2 => LaunchType::Ec2,
    };
    // A role IAM has just created can take seconds to be usable by ECS: retry that one refusal. ECS gives
    // it no code of its own (InvalidParameterException, like any bad parameter), so its message is what
    // tells it apart.
    let started = Instant::now();
    loop {
        let created = clients
            .ecs
            .create_service()
            .cluster(&stack.cluster)
            .service_name(stack.ecs_name(service))
            .task_definition(definition)
            .desired_count(stack.service(service).min_tasks as i32)
            .launch_type(launch_type.clone())
            .network_configuration(network(stack)?)
            .deployment_configuration(rolling())
            .enable_ecs_managed_tags(true)
            .propagate_tags(PropagateTags::Service)
            .tags(ecs_tag(STACK_TAG, &stack.name))
            .send()
            .await;
        match created {
            Ok(_) => return Ok(()),
            Err(error)
                if started.elapsed() < Duration::from_secs(90)
                    && error.as_service_error().is_some_and(|e| {
                        e.is_invalid_parameter_exception() && e.message().is_some_and(|m| m.contains("role"))
                    }) =>
            {
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            Err(error) => return Err(sdk_error(error)),
        }
    }
}

async fn apply_scaling(stack: &Stack, clients: &Clients, service: Service) -> anyhow::Result<()> {
    let policy = stack.scaling_policy(service)?;
    let resource_id = scaling_resource_id(stack, service);
    clients
        .autoscaling
        .register_scalable_target()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(&resource_id)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .min_capacity(policy.min_tasks as i32)
        .max_capacity(policy.max_tasks as i32)
        .send()
        .await
        .map_err(sdk_error)?;
    let rendered = render::scaling_policy(stack, service)?;
    let configuration = &rendered["TargetTrackingScalingPolicyConfiguration"];
    let mut metrics = CustomizedMetricSpecification::builder();
    for query in configuration["CustomizedMetricSpecification"]["Metrics"].as_array().into_iter().flatten() {
        metrics = metrics.metrics(metric_query(query)?);
    }
    let tracking = TargetTrackingScalingPolicyConfiguration::builder()
        .target_value(f64::from(policy.target_backlog_per_task))
        .customized_metric_specification(metrics.build())
        .scale_out_cooldown(60)
        .scale_in_cooldown(policy.scale_in_window.as_secs() as i32)
        .disable_scale_in(false)
        .build()
        .map_err(sdk_error)?;
    clients
        .autoscaling
        .put_scaling_policy()
        .policy_name(rendered["PolicyName"].as_str().unwrap_or_default())
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(&resource_id)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .policy_type(PolicyType::TargetTrackingScaling)
        .target_tracking_scaling_policy_configuration(tracking)
        .send()
        .await
        .map_err(sdk_error)?;
    Ok(())
}

/// One entry of the rendered metric math, as the SDK's type.
fn metric_query(query: &Value) -> anyhow::Result<TargetTrackingMetricDataQuery> {
    let text = |value: &Value| value.as_str().map(str::to_owned);
    let mut built = TargetTrackingMetricDataQuery::builder()
        .set_id(text(&query["Id"]))
        .set_expression(text(&query["Expression"]))
        .set_label(text(&query["Label"]))
        .set_return_data(query["ReturnData"].as_bool());
    if let Some(stat) = query.get("MetricStat") {
        let metric = &stat["Metric"];
        let mut target = TargetTrackingMetric::builder()
            .set_namespace(text(&metric["Namespace"]))
            .set_metric_name(text(&metric["MetricName"]));
        for dimension in metric["Dimensions"].as_array().into_iter().flatten() {
            target = target.dimensions(
                TargetTrackingMetricDimension::builder()
                    .set_name(text(&dimension["Name"]))
                    .set_value(text(&dimension["Value"]))
                    .build()
                    .map_err(sdk_error)?,
            );
        }
        built = built.metric_stat(
            TargetTrackingMetricStat::builder()
                .metric(target.build())
                .set_stat(text(&stat["Stat"]))
                .build()
                .map_err(sdk_error)?,
        );
    }
    built.build().map_err(sdk_error)
}

/// Polls the services until each runs its desired count on one deployment, reporting progress.
///
/// # Errors
/// When `timeout` passes first, or a deployment failed (the circuit breaker rolled it back).
pub async fn wait_until_steady(
    stack: &Stack,
    clients: &Clients,
    timeout: Duration,
    mut progress: impl FnMut(&str),
) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let mut waiting = Vec::new();
        for service in SERVICES {
            let found = describe_service(stack, clients, service)
                .await?
                .with_context(|| format!("{} is gone", service.name()))?;
            let deployments = found.deployments();
            if let Some(failed) = deployments.iter().find(|d| d.rollout_state().is_some_and(|s| s.as_str() == "FAILED"))
            {
                anyhow::bail!(
                    "{}: deployment failed and was rolled back: {}",
                    service.name(),
                    failed.rollout_state_reason().unwrap_or("no reason given")
                );
            }
            if deployments.len() != 1 || found.running_count() != found.desired_count() {
                waiting.push(format!(
                    "{} {}/{} running, {} deployment(s)",
                    service.name(),
                    found.running_count(),
                    found.desired_count(),
                    deployments.len()
                ));
            }
        }
        if waiting.is_empty() {
            progress("steady: every service runs its desired count on one deployment");
            return Ok(());
        }
        progress(&format!("waiting: {}", waiting.join("; ")));
        anyhow::ensure!(started.elapsed() < timeout, "not steady after {timeout:?}");
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
}

/// Removes what `apply` made (tagged with this stack); with `keep_data`, leaves the queues and tables.
/// Answers what it removed.
///
/// # Errors
/// When a removal fails (run it again: what is gone stays gone).
pub async fn destroy(stack: &Stack, clients: &Clients, keep_data: bool) -> anyhow::Result<Vec<String>> {
    let mut removed = Vec::new();
    for service in pools() {
        let resource_id = scaling_resource_id(stack, service);
        let rendered = render::scaling_policy(stack, service)?;
        let policy_name = rendered["PolicyName"].as_str().unwrap_or_default();
        let deleted = clients
            .autoscaling
            .delete_scaling_policy()
            .policy_name(policy_name)
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(&resource_id)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .send()
            .await;
        // AWS answers a missing one with ObjectNotFoundException, moto with ValidationException and the
        // same message.
        if unless_missing(deleted, |e| {
            e.is_object_not_found_exception() || e.message().is_some_and(|m| m.starts_with("No scaling policy found"))
        })?
        .is_some()
        {
            removed.push(format!("scaling policy {policy_name}"));
        }
        let deregistered = clients
            .autoscaling
            .deregister_scalable_target()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(&resource_id)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .send()
            .await;
        if unless_missing(deregistered, |e| {
            e.is_object_not_found_exception() || e.message().is_some_and(|m| m.starts_with("No scalable target found"))
        })?
        .is_some()
        {
            removed.push(format!("scalable target {resource_id}"));
        }
    }
    for service in SERVICES {
        let name = stack.ecs_name(service);
        if describe_service(stack, clients, service).await?.is_some() && ecs_tagged(stack, clients, &name, true).await?
        {
            clients
                .ecs
                .delete_service()
                .cluster(&stack.cluster)
                .service(&name)
                .force(true)
                .send()
                .await
                .map_err(sdk_error)?;
            removed.push(format!("ECS service {name}"));
        }
        let family = stack.ecs_name(service);
        let listed = clients.ecs.list_task_definitions().family_prefix(&family).send().await.map_err(sdk_error)?;
        for arn in listed.task_definition_arns() {
            // `family_prefix` matches by prefix: keep only this exact family.
            if arn.rsplit_once('/').and_then(|(_, tail)| tail.rsplit_once(':')).is_some_and(|(f, _)| f == family) {
                clients.ecs.deregister_task_definition().task_definition(arn).send().await.map_err(sdk_error)?;
                removed.push(format!("task definition {arn}"));
            }
        }
    }
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
    let log_group_arn = format!("arn:aws:logs:{}:{}:log-group:{}", stack.region, stack.account_id, stack.logs.group);
    let tags = clients.logs.list_tags_for_resource().resource_arn(&log_group_arn).send().await;
    if let Some(tags) = unless_missing(tags, |e| e.is_resource_not_found_exception())?
        && tags.tags().and_then(|tags| tags.get(STACK_TAG)) == Some(&stack.name)
    {
        clients.logs.delete_log_group().log_group_name(&stack.logs.group).send().await.map_err(sdk_error)?;
        removed.push(format!("log group {}", stack.logs.group));
    }
    if ecs_tagged(stack, clients, &stack.cluster, false).await? {
        clients.ecs.delete_cluster().cluster(&stack.cluster).send().await.map_err(sdk_error)?;
        removed.push(format!("cluster {}", stack.cluster));
    }
    if !keep_data {
        infra::down(&clients.sqs, &clients.dynamodb, &StackNames::new(&stack.name)).await?;
        removed.push(format!("queues and tables of {}", stack.name));
    }
    Ok(removed)
}

/// Whether the cluster (or, with `is_service`, the service) carries this stack's tag.
async fn ecs_tagged(stack: &Stack, clients: &Clients, name: &str, is_service: bool) -> anyhow::Result<bool> {
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
