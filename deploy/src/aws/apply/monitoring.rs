//! The CloudWatch dashboard and alarms ([`crate::monitoring`]): plan, apply, destroy.

use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, MetricAlarm, Statistic, Tag};
use serde_json::{Value, json};

use super::super::{Change, Clients, sdk_error, unless_missing};
use crate::render::monitoring::{self, Alarm};
use crate::stack::Stack;

/// The dashboard: absent, as rendered, or different.
pub(super) async fn plan_dashboard(stack: &Stack, clients: &Clients) -> anyhow::Result<Change> {
    Ok(match existing_dashboard(stack, clients).await? {
        None => Change::Create,
        Some(body) if body == monitoring::dashboard_body(stack) => Change::Unchanged,
        Some(_) => Change::Update("dashboard body differs".into()),
    })
}

/// The body of the stack's dashboard, if there is one.
async fn existing_dashboard(stack: &Stack, clients: &Clients) -> anyhow::Result<Option<Value>> {
    let found = clients.cloudwatch.get_dashboard().dashboard_name(monitoring::dashboard_name(stack)).send().await;
    let Some(found) = unless_missing(found, |e| e.is_dashboard_not_found_error())? else { return Ok(None) };
    // A body that is not JSON (edited by hand into nonsense) differs from the rendered one.
    Ok(Some(found.dashboard_body().and_then(|body| serde_json::from_str(body).ok()).unwrap_or(Value::Null)))
}

pub(super) async fn apply_dashboard(stack: &Stack, clients: &Clients) -> anyhow::Result<()> {
    let body = monitoring::dashboard_body(stack).to_string();
    let put = clients
        .cloudwatch
        .put_dashboard()
        .dashboard_name(monitoring::dashboard_name(stack))
        .dashboard_body(body)
        .send()
        .await
        .map_err(sdk_error)?;
    // CloudWatch keeps a dashboard with warnings; they are worth a look, not a failure.
    for message in put.dashboard_validation_messages() {
        eprintln!("CloudWatch on the dashboard: {}", message.message().unwrap_or_default());
    }
    Ok(())
}

/// The alarms: all as rendered, some missing or different, or stale ones of this stack to remove.
pub(super) async fn plan_alarms(stack: &Stack, clients: &Clients) -> anyhow::Result<Change> {
    let rendered = monitoring::alarms(stack);
    let existing = stack_alarms(stack, clients).await?;
    let mut differences = Vec::new();
    for alarm in &rendered {
        match existing.iter().find(|found| found.alarm_name() == Some(alarm.alarm_name.as_str())) {
            None => differences.push(format!("{} missing", alarm.alarm_name)),
            Some(found) if as_rendered(found) != alarm.comparable() => {
                differences.push(format!("{} differs", alarm.alarm_name));
            }
            Some(_) => {}
        }
    }
    for stale in stale(&rendered, &existing) {
        differences.push(format!("{stale} no longer wanted"));
    }
    Ok(if differences.len() == rendered.len() && existing.is_empty() {
        Change::Create
    } else if differences.is_empty() {
        Change::Unchanged
    } else {
        Change::Update(differences.join(", "))
    })
}

pub(super) async fn apply_alarms(stack: &Stack, clients: &Clients) -> anyhow::Result<()> {
    let rendered = monitoring::alarms(stack);
    for alarm in &rendered {
        put_alarm(clients, alarm).await?;
    }
    let existing = stack_alarms(stack, clients).await?;
    let stale = stale(&rendered, &existing);
    if !stale.is_empty() {
        clients.cloudwatch.delete_alarms().set_alarm_names(Some(stale)).send().await.map_err(sdk_error)?;
    }
    Ok(())
}

/// Removes the stack's alarms and, if it is the stack's own, its dashboard.
pub(super) async fn destroy(stack: &Stack, clients: &Clients, removed: &mut Vec<String>) -> anyhow::Result<()> {
    let names: Vec<String> =
        stack_alarms(stack, clients).await?.iter().filter_map(|a| a.alarm_name()).map(str::to_owned).collect();
    // DeleteAlarms takes at most 100 names a call.
    for chunk in names.chunks(100) {
        clients.cloudwatch.delete_alarms().set_alarm_names(Some(chunk.to_vec())).send().await.map_err(sdk_error)?;
        removed.extend(chunk.iter().map(|name| format!("alarm {name}")));
    }
    let ours = existing_dashboard(stack, clients).await?.is_some_and(|body| {
        body["widgets"][0]["properties"]["markdown"]
            .as_str()
            .is_some_and(|text| text.contains(&monitoring::marker(stack)))
    });
    if ours {
        let name = monitoring::dashboard_name(stack);
        clients.cloudwatch.delete_dashboards().dashboard_names(&name).send().await.map_err(sdk_error)?;
        removed.push(format!("dashboard {name}"));
    }
    Ok(())
}

/// The alarms under the stack's name prefix whose description carries the stack's marker: the ones
/// `apply` made (someone else's alarm named alike is left alone).
async fn stack_alarms(stack: &Stack, clients: &Clients) -> anyhow::Result<Vec<MetricAlarm>> {
    let marker = format!("{}:", monitoring::marker(stack));
    let mut alarms = Vec::new();
    let mut pages =
        clients.cloudwatch.describe_alarms().alarm_name_prefix(format!("{}-", stack.name)).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(sdk_error)?;
        alarms.extend(
            page.metric_alarms()
                .iter()
                .filter(|a| a.alarm_description().is_some_and(|d| d.starts_with(&marker)))
                .cloned(),
        );
    }
    Ok(alarms)
}

/// Names of the stack's alarms that the stack file no longer renders (a pool made fixed-size).
fn stale(rendered: &[Alarm], existing: &[MetricAlarm]) -> Vec<String> {
    existing
        .iter()
        .filter_map(MetricAlarm::alarm_name)
        .filter(|name| !rendered.iter().any(|alarm| alarm.alarm_name == *name))
        .map(str::to_owned)
        .collect()
}

/// What CloudWatch holds, in the shape of [`Alarm::comparable`].
fn as_rendered(found: &MetricAlarm) -> Value {
    let dimensions: Vec<Value> =
        found.dimensions().iter().map(|d| json!({ "Name": d.name(), "Value": d.value() })).collect();
    json!({
        "AlarmName": found.alarm_name(),
        "AlarmDescription": found.alarm_description(),
        "Namespace": found.namespace(),
        "MetricName": found.metric_name(),
        "Dimensions": dimensions,
        "Statistic": found.statistic().map(Statistic::as_str),
        "Period": found.period(),
        "EvaluationPeriods": found.evaluation_periods(),
        "DatapointsToAlarm": found.datapoints_to_alarm(),
        "Threshold": found.threshold(),
        "ComparisonOperator": found.comparison_operator().map(ComparisonOperator::as_str),
        "TreatMissingData": found.treat_missing_data(),
        "AlarmActions": found.alarm_actions(),
        "OKActions": found.ok_actions(),
    })
}

/// `PutMetricAlarm` with the rendered alarm: creates it, or overwrites it whole.
async fn put_alarm(clients: &Clients, alarm: &Alarm) -> anyhow::Result<()> {
    let mut put = clients
        .cloudwatch
        .put_metric_alarm()
        .alarm_name(&alarm.alarm_name)
        .alarm_description(&alarm.alarm_description)
        .namespace(alarm.namespace)
        .metric_name(alarm.metric_name)
        .statistic(Statistic::from(alarm.statistic))
        .period(alarm.period as i32)
        .evaluation_periods(alarm.evaluation_periods as i32)
        .datapoints_to_alarm(alarm.datapoints_to_alarm as i32)
        .threshold(alarm.threshold)
        .comparison_operator(ComparisonOperator::from(alarm.comparison_operator))
        .treat_missing_data(alarm.treat_missing_data)
        .set_alarm_actions(Some(alarm.alarm_actions.clone()))
        .set_ok_actions(Some(alarm.ok_actions.clone()));
    for dimension in &alarm.dimensions {
        put = put.dimensions(Dimension::builder().name(dimension.name).value(&dimension.value).build());
    }
    for tag in &alarm.tags {
        put = put.tags(Tag::builder().key(tag.key).value(&tag.value).build());
    }
    put.send().await.map_err(sdk_error)?;
    Ok(())
}
