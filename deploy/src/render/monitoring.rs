//! What an operator watches on AWS, as the stack file renders it: one CloudWatch dashboard (backlog and
//! age of the oldest message per queue, dead-letter depth, running against desired tasks per pool, the
//! alarms' states) and the alarms that say when something is stuck:
//!
//! - any dead-letter queue not empty — a document could not be classified or stored;
//! - the ingest queue's oldest message older than `alarms.oldest_message_age` — documents wait;
//! - a pool running at its `max_tasks` for longer than `alarms.pool_at_max_for` — it needs a higher
//!   ceiling (pools whose `min_tasks` equals `max_tasks` are always at their maximum and get none).
//!
//! Each alarm notifies `alarms.alarm_topic_arn` when it goes off and when it clears, if the stack file
//! names a topic. Typed here once: `render` writes these as the JSON `aws cloudwatch put-metric-alarm
//! --cli-input-json` and `put-dashboard --dashboard-body` take, `apply` hands the same values to the SDK,
//! and `plan` compares what CloudWatch holds with them.
//!
//! CloudWatch dashboards carry no tags: the dashboard's first widget names the stack ([`marker`]), and
//! `destroy` removes a dashboard only if it carries that text, as it removes only tagged alarms' names.

use serde::Serialize;
use serde_json::{Value, json};

use super::cloudwatch::Dimension;
use crate::stack::{Queue, SERVICES, Service, Stack};

/// The period of every metric the alarms and widgets read: SQS publishes once a minute.
pub const PERIOD_SECS: u32 = 60;

/// One alarm, as `PutMetricAlarm` takes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Alarm {
    /// `<stack>-<what>`.
    pub alarm_name: String,
    /// What it means and what to do; starts with [`marker`].
    pub alarm_description: String,
    /// `AWS/SQS` or `ECS/ContainerInsights`.
    pub namespace: &'static str,
    /// The metric.
    pub metric_name: &'static str,
    /// Its dimensions.
    pub dimensions: Vec<Dimension>,
    /// `Maximum`, `Minimum`.
    pub statistic: &'static str,
    /// Seconds per datapoint.
    pub period: u32,
    /// Datapoints looked at…
    pub evaluation_periods: u32,
    /// …of which this many must breach.
    pub datapoints_to_alarm: u32,
    /// The threshold.
    pub threshold: f64,
    /// `GreaterThanThreshold`, `GreaterThanOrEqualToThreshold`.
    pub comparison_operator: &'static str,
    /// `notBreaching`: a queue with no messages publishes no age, an idle pool may publish nothing.
    pub treat_missing_data: &'static str,
    /// Topics told when it goes off.
    pub alarm_actions: Vec<String>,
    /// Topics told when it clears.
    #[serde(rename = "OKActions")]
    pub ok_actions: Vec<String>,
    /// The stack tag.
    pub tags: Vec<Tag>,
}

/// A CloudWatch tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    /// Its key.
    pub key: &'static str,
    /// Its value.
    pub value: String,
}

impl Alarm {
    /// As JSON, keys sorted: what `render` writes.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).expect("an alarm is plain data")
    }

    /// The fields `DescribeAlarms` answers and `plan` compares (tags are set once, at creation).
    pub fn comparable(&self) -> Value {
        let mut value = self.to_json();
        value.as_object_mut().expect("an alarm is an object").remove("Tags");
        value
    }
}

/// The text every dashboard and alarm description of `stack` starts with: how `destroy` knows its own.
pub fn marker(stack: &Stack) -> String {
    format!("docclass stack {}", stack.name)
}

/// The dashboard's name: the stack's.
pub fn dashboard_name(stack: &Stack) -> String {
    stack.name.clone()
}

/// An alarm's ARN.
pub fn alarm_arn(stack: &Stack, name: &str) -> String {
    format!("arn:aws:cloudwatch:{}:{}:alarm:{name}", stack.region, stack.account_id)
}

/// Every alarm of `stack`, in a fixed order.
pub fn alarms(stack: &Stack) -> Vec<Alarm> {
    let actions: Vec<String> = stack.alarms.alarm_topic_arn.iter().cloned().collect();
    let alarm = |name: String, description: String, metric: (&'static str, &'static str, Vec<Dimension>)| Alarm {
        alarm_name: format!("{}-{name}", stack.name),
        alarm_description: format!("{}: {description}", marker(stack)),
        namespace: metric.0,
        metric_name: metric.1,
        dimensions: metric.2,
        statistic: "Maximum",
        period: PERIOD_SECS,
        evaluation_periods: 1,
        datapoints_to_alarm: 1,
        threshold: 0.0,
        comparison_operator: "GreaterThanThreshold",
        treat_missing_data: "notBreaching",
        alarm_actions: actions.clone(),
        ok_actions: actions.clone(),
        tags: vec![Tag { key: crate::stack::STACK_TAG, value: stack.name.clone() }],
    };
    let by_queue = |queue: Queue, dead_letters: bool| {
        vec![Dimension { name: "QueueName", value: stack.queue_name(queue, dead_letters) }]
    };

    let mut alarms = Vec::new();
    for queue in Queue::ALL {
        alarms.push(alarm(
            format!("{}-dead-letters", queue.suffix()),
            format!(
                "the {} dead-letter queue holds messages; `docclass dlq inspect {}` shows why, `docclass dlq redrive {}` \
                 retries them once the cause is mended",
                queue.suffix(),
                queue.suffix(),
                queue.suffix()
            ),
            ("AWS/SQS", "ApproximateNumberOfMessagesVisible", by_queue(queue, true)),
        ));
    }
    let age = stack.alarms.oldest_message_age;
    let mut oldest = alarm(
        "ingest-oldest-message".into(),
        format!(
            "the ingest queue's oldest message is older than {}: the topic classifiers are not keeping up or not \
             running",
            humantime::format_duration(age)
        ),
        ("AWS/SQS", "ApproximateAgeOfOldestMessage", by_queue(Queue::Ingest, false)),
    );
    oldest.threshold = age.as_secs() as f64;
    alarms.push(oldest);
    let minutes = stack.alarms.pool_at_max_for.as_secs().div_ceil(u64::from(PERIOD_SECS)).max(1) as u32;
    for service in pools(stack) {
        let spec = stack.service(service);
        let mut at_max = alarm(
            format!("{}-at-max", service.name()),
            format!(
                "the {} pool has run at its max_tasks ({}) for {}: raise max_tasks in the stack file, or look for a \
                 slow dependency",
                service.name(),
                spec.max_tasks,
                humantime::format_duration(stack.alarms.pool_at_max_for)
            ),
            (
                "ECS/ContainerInsights",
                "RunningTaskCount",
                vec![
                    Dimension { name: "ClusterName", value: stack.cluster.clone() },
                    Dimension { name: "ServiceName", value: stack.ecs_name(service) },
                ],
            ),
        );
        at_max.statistic = "Minimum";
        at_max.evaluation_periods = minutes;
        at_max.datapoints_to_alarm = minutes;
        at_max.threshold = f64::from(spec.max_tasks);
        at_max.comparison_operator = "GreaterThanOrEqualToThreshold";
        alarms.push(at_max);
    }
    if let Some(models) = &stack.models {
        // The pools publish one datapoint per rollback they make (see `model_store::Watch`).
        let mut rolled_back = alarm(
            "model-rolled-back".into(),
            format!(
                "a pool rolled the live model back: the model published or promoted judged clearly worse than the \
                 one it replaced on the feeds' labels; `docclass model status --store {}` shows which, and on what \
                 figures",
                models.store
            ),
            (
                adapters_aws::emf::NAMESPACE,
                model_store::ROLLBACK_METRIC,
                vec![Dimension { name: "Stack", value: stack.name.clone() }],
            ),
        );
        rolled_back.statistic = "Sum";
        // Told once: the alarm clears a period later, and an OK message would read as the model mended.
        rolled_back.ok_actions = Vec::new();
        alarms.push(rolled_back);
    }
    alarms
}

/// The pools that scale (a fixed-size pool is always at its maximum: no alarm for it).
fn pools(stack: &Stack) -> impl Iterator<Item = Service> + '_ {
    SERVICES.into_iter().filter(move |service| {
        service.input_queue().is_some() && stack.service(*service).min_tasks < stack.service(*service).max_tasks
    })
}

/// The dashboard's body, as `PutDashboard` takes it (a JSON document; sent as its text).
pub fn dashboard_body(stack: &Stack) -> Value {
    let region = stack.region.as_str();
    let queue_metric = |metric: &str, queue: Queue, dead_letters: bool, label: String| json!(["AWS/SQS", metric, "QueueName", stack.queue_name(queue, dead_letters), { "label": label }]);
    let widget = |x: u32, y: u32, title: &str, metrics: Vec<Value>, stat: &str| {
        json!({
            "type": "metric", "x": x, "y": y, "width": 12, "height": 6,
            "properties": {
                "title": title, "region": region, "view": "timeSeries", "stacked": false,
                "stat": stat, "period": PERIOD_SECS, "metrics": metrics
            }
        })
    };
    let mut backlog = Vec::new();
    let mut ages = Vec::new();
    let mut dead_letters = Vec::new();
    for queue in Queue::ALL {
        let name = queue.suffix();
        backlog.push(queue_metric("ApproximateNumberOfMessagesVisible", queue, false, format!("{name} visible")));
        backlog.push(queue_metric("ApproximateNumberOfMessagesNotVisible", queue, false, format!("{name} in flight")));
        ages.push(queue_metric("ApproximateAgeOfOldestMessage", queue, false, format!("{name} oldest (s)")));
        dead_letters.push(queue_metric(
            "ApproximateNumberOfMessagesVisible",
            queue,
            true,
            format!("{name} dead letters"),
        ));
    }
    let mut tasks = Vec::new();
    for service in SERVICES {
        for (metric, what) in [("RunningTaskCount", "running"), ("DesiredTaskCount", "desired")] {
            tasks.push(json!([
                "ECS/ContainerInsights", metric, "ClusterName", stack.cluster, "ServiceName", stack.ecs_name(service),
                { "label": format!("{} {what}", service.name()) }
            ]));
        }
    }
    let alarm_arns: Vec<String> = alarms(stack).iter().map(|alarm| alarm_arn(stack, &alarm.alarm_name)).collect();
    json!({
        "widgets": [
            {
                "type": "text", "x": 0, "y": 0, "width": 24, "height": 2,
                "properties": { "markdown": format!(
                    "# {}\nQueues, dead letters and pools of the pipeline. `docclass dashboard` shows the results; \
                     `docclass dlq inspect <queue>` the dead letters' reasons.",
                    marker(stack)
                ) }
            },
            widget(0, 2, "Backlog per queue (messages)", backlog, "Maximum"),
            widget(12, 2, "Age of the oldest message (seconds)", ages, "Maximum"),
            widget(0, 8, "Dead letters per queue", dead_letters, "Maximum"),
            widget(12, 8, "Tasks per pool: running and desired", tasks, "Average"),
            {
                "type": "alarm", "x": 0, "y": 14, "width": 24, "height": 3,
                "properties": { "title": "Alarms", "alarms": alarm_arns }
            }
        ]
    })
}
