//! Each pool's Application Auto Scaling target and target-tracking policy: plan, apply, destroy.

use aws_sdk_applicationautoscaling::error::ProvideErrorMetadata;
use aws_sdk_applicationautoscaling::types::{
    CustomizedMetricSpecification, PolicyType, ScalableDimension, ServiceNamespace, TargetTrackingMetric,
    TargetTrackingMetricDataQuery, TargetTrackingMetricDimension, TargetTrackingMetricStat,
    TargetTrackingScalingPolicyConfiguration,
};

use super::super::{Change, Clients, sdk_error, unless_missing};
use crate::render;
use crate::stack::{SERVICES, Service, Stack};

fn scaling_resource_id(stack: &Stack, service: Service) -> String {
    format!("service/{}/{}", stack.cluster, stack.ecs_name(service))
}

pub(super) fn pools() -> impl Iterator<Item = Service> {
    SERVICES.into_iter().filter(|service| service.input_queue().is_some())
}

pub(super) async fn plan(stack: &Stack, clients: &Clients, service: Service) -> anyhow::Result<Change> {
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
        .policy_names(&rendered.policy_name)
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

pub(super) async fn apply(stack: &Stack, clients: &Clients, service: Service) -> anyhow::Result<()> {
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
    let configuration = &rendered.target_tracking_scaling_policy_configuration;
    let mut metrics = CustomizedMetricSpecification::builder();
    for query in &configuration.customized_metric_specification.metrics {
        metrics = metrics.metrics(metric_query(query)?);
    }
    let tracking = TargetTrackingScalingPolicyConfiguration::builder()
        .target_value(configuration.target_value)
        .customized_metric_specification(metrics.build())
        .scale_out_cooldown(configuration.scale_out_cooldown as i32)
        .scale_in_cooldown(configuration.scale_in_cooldown as i32)
        .disable_scale_in(configuration.disable_scale_in)
        .build()
        .map_err(sdk_error)?;
    clients
        .autoscaling
        .put_scaling_policy()
        .policy_name(&rendered.policy_name)
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
fn metric_query(query: &render::cloudwatch::MetricQuery) -> anyhow::Result<TargetTrackingMetricDataQuery> {
    let mut built = TargetTrackingMetricDataQuery::builder()
        .id(query.id)
        .set_expression(query.expression.map(str::to_owned))
        .set_label(query.label.map(str::to_owned))
        .return_data(query.return_data);
    if let Some(stat) = &query.metric_stat {
        let mut target =
            TargetTrackingMetric::builder().namespace(stat.metric.namespace).metric_name(stat.metric.metric_name);
        for dimension in &stat.metric.dimensions {
            target = target.dimensions(
                TargetTrackingMetricDimension::builder()
                    .name(dimension.name)
                    .value(&dimension.value)
                    .build()
                    .map_err(sdk_error)?,
            );
        }
        built = built.metric_stat(
            TargetTrackingMetricStat::builder().metric(target.build()).stat(stat.stat).build().map_err(sdk_error)?,
        );
    }
    built.build().map_err(sdk_error)
}

/// Removes the pool's policy and scalable target.
pub(super) async fn destroy(
    stack: &Stack,
    clients: &Clients,
    service: Service,
    removed: &mut Vec<String>,
) -> anyhow::Result<()> {
    let resource_id = scaling_resource_id(stack, service);
    let rendered = render::scaling_policy(stack, service)?;
    let policy_name = rendered.policy_name.as_str();
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
    Ok(())
}
