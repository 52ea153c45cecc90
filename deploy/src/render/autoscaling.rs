//! Each pool's target-tracking scaling policy, as `aws application-autoscaling put-scaling-policy
//! --cli-input-json` takes it.

use anyhow::Context;
use serde::Serialize;
use serde_json::Value;

use super::cloudwatch::{Dimension, Metric, MetricQuery, MetricStat};
use crate::stack::{Service, Stack};

/// A pool's target-tracking policy as `PutScalingPolicy` takes it (the algorithm's own settings are
/// [`crate::scaling::ScalingPolicy`]): what `apply` hands to Application Auto Scaling's builders and
/// what `render` writes for `aws application-autoscaling put-scaling-policy --cli-input-json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutScalingPolicy {
    /// `<stack>-<service>-backlog-per-task`.
    pub policy_name: String,
    /// `ecs`.
    pub service_namespace: &'static str,
    /// `service/<cluster>/<service>`.
    pub resource_id: String,
    /// `ecs:service:DesiredCount`.
    pub scalable_dimension: &'static str,
    /// `TargetTrackingScaling`.
    pub policy_type: &'static str,
    /// What it tracks.
    pub target_tracking_scaling_policy_configuration: TargetTracking,
}

/// Backlog per task, held at a target.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TargetTracking {
    /// Messages per task.
    pub target_value: f64,
    /// The metric math.
    pub customized_metric_specification: MetricSpecification,
    /// Seconds between scale-outs.
    pub scale_out_cooldown: u64,
    /// Seconds a lower backlog must last (the stack's `scale_in_window`).
    pub scale_in_cooldown: u64,
    /// Always false.
    pub disable_scale_in: bool,
}

/// The queries whose last one is the tracked value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricSpecification {
    /// The inputs, then the expression.
    pub metrics: Vec<MetricQuery>,
}

impl PutScalingPolicy {
    /// As JSON, keys sorted: what `render` writes.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).expect("a scaling policy is plain data")
    }
}

/// Target tracking on backlog per task: metric math over the input queue's visible and in-flight
/// counts and the service's running tasks (Container Insights), held at the pool's target. The same
/// target as `deploy scale` uses, so either scaler sizes the pool alike.
///
/// # Errors
/// When the stack file gives the pool no usable target.
pub fn scaling_policy(stack: &Stack, service: Service) -> anyhow::Result<PutScalingPolicy> {
    let policy = stack.scaling_policy(service)?;
    let queue = stack.queue_name(service.input_queue().context("only pools that consume a queue scale")?, false);
    let metric = |id, namespace, metric_name, dimensions, stat| MetricQuery {
        id,
        metric_stat: Some(MetricStat { metric: Metric { namespace, metric_name, dimensions }, stat }),
        expression: None,
        label: None,
        return_data: false,
    };
    let by_queue = || vec![Dimension { name: "QueueName", value: queue.clone() }];
    Ok(PutScalingPolicy {
        policy_name: format!("{}-backlog-per-task", stack.ecs_name(service)),
        service_namespace: "ecs",
        resource_id: format!("service/{}/{}", stack.cluster, stack.ecs_name(service)),
        scalable_dimension: "ecs:service:DesiredCount",
        policy_type: "TargetTrackingScaling",
        target_tracking_scaling_policy_configuration: TargetTracking {
            target_value: f64::from(policy.target_backlog_per_task),
            customized_metric_specification: MetricSpecification {
                metrics: vec![
                    metric("visible", "AWS/SQS", "ApproximateNumberOfMessagesVisible", by_queue(), "Sum"),
                    metric("in_flight", "AWS/SQS", "ApproximateNumberOfMessagesNotVisible", by_queue(), "Sum"),
                    metric(
                        "tasks",
                        "ECS/ContainerInsights",
                        "RunningTaskCount",
                        vec![
                            Dimension { name: "ClusterName", value: stack.cluster.clone() },
                            Dimension { name: "ServiceName", value: stack.ecs_name(service) },
                        ],
                        "Average",
                    ),
                    MetricQuery {
                        id: "backlog_per_task",
                        metric_stat: None,
                        // With no task running, the whole backlog counts against one: scale-out from
                        // zero still happens.
                        expression: Some("(visible + in_flight) / IF(tasks > 0, tasks, 1)"),
                        label: Some("Backlog per task"),
                        return_data: true,
                    },
                ],
            },
            scale_out_cooldown: 60,
            scale_in_cooldown: policy.scale_in_window.as_secs(),
            disable_scale_in: false,
        },
    })
}
