//! What follows from a stack file, as the JSON the AWS APIs take: one task definition per service
//! (`aws ecs register-task-definition --cli-input-json`), one least-privilege task-role policy per
//! service, the execution role's policy and trust, and the target-tracking scaling policy of each pool
//! (`aws application-autoscaling put-scaling-policy --cli-input-json`), and the CloudWatch dashboard and
//! alarms ([`monitoring`]).
//!
//! serde_json without `preserve_order` writes object keys sorted, so the same stack always renders the
//! same bytes: `apply` compares them to decide whether anything changed, and the golden files under
//! `deploy/tests/golden/` are reviewed once by hand and then held to.

//!
//! One file per kind of resource, named as `aws/apply/` names the step that creates it:
//! [`task_definition`], [`iam`], [`autoscaling`], [`monitoring`]; [`cloudwatch`] holds the metric types
//! the scaling policies and the alarms share.

pub mod autoscaling;
pub mod cloudwatch;
pub mod iam;
pub mod monitoring;
pub mod task_definition;

use std::path::Path;

use anyhow::Context;
use serde_json::Value;

use crate::stack::{SERVICES, Stack};

pub use autoscaling::{PutScalingPolicy, scaling_policy};
pub use iam::{ecs_tasks_trust, execution_role_policy, task_role_policy};
pub use task_definition::{CONTAINER_USER, MODEL_PATH, TaskDefinition, task_definition};

/// Every file `render` writes, by name.
pub fn render_all(stack: &Stack) -> anyhow::Result<Vec<(String, Value)>> {
    let mut files = Vec::new();
    for service in SERVICES {
        files.push((format!("taskdef-{}.json", service.name()), task_definition(stack, service).to_json()));
        files.push((format!("policy-{}.json", service.name()), task_role_policy(stack, service)));
        if service.input_queue().is_some() {
            files.push((format!("scaling-{}.json", service.name()), scaling_policy(stack, service)?.to_json()));
        }
    }
    files.push(("policy-execution.json".into(), execution_role_policy(stack)));
    files.push(("trust-ecs-tasks.json".into(), ecs_tasks_trust(stack)));
    // `aws cloudwatch put-dashboard --dashboard-name <stack> --dashboard-body file://dashboard-body.json`
    files.push(("dashboard-body.json".into(), monitoring::dashboard_body(stack)));
    for alarm in monitoring::alarms(stack) {
        files.push((format!("alarm-{}.json", alarm.alarm_name), alarm.to_json()));
    }
    Ok(files)
}

/// Writes [`render_all`] into `dir` as pretty JSON, one file each; answers their names.
///
/// # Errors
/// When a file cannot be written.
pub fn write_all(stack: &Stack, dir: &Path) -> anyhow::Result<Vec<String>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut names = Vec::new();
    for (name, value) in render_all(stack)? {
        let path = dir.join(&name);
        std::fs::write(&path, pretty(&value)).with_context(|| format!("writing {}", path.display()))?;
        names.push(name);
    }
    Ok(names)
}

/// Pretty JSON with a final newline.
pub fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("JSON values always serialise");
    text.push('\n');
    text
}
