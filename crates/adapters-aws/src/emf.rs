//! CloudWatch's embedded metric format (EMF): a JSON log line that CloudWatch Logs turns into metrics
//! as it receives it. On ECS a task's standard output reaches CloudWatch Logs through the `awslogs`
//! driver, so a service publishes a metric by printing one line — no `PutMetricData` call, no SDK
//! client, no extra permission.
//!
//! Written here rather than taken from a crate: the format is one small JSON object
//! (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>),
//! and the crates that write it bring their own logging pipelines.

use serde_json::{Map, Value, json};

/// The namespace every docclass metric of its own is published under.
pub const NAMESPACE: &str = "docclass";

/// One EMF line: `metrics` (name, value, unit) under [`NAMESPACE`], with `dimensions` (name, value) as
/// the one dimension set, at `timestamp_ms` (milliseconds since the epoch).
pub fn line(dimensions: &[(&str, &str)], metrics: &[(&str, f64, &str)], timestamp_ms: i64) -> String {
    let mut object = Map::new();
    object.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [dimensions.iter().map(|(name, _)| *name).collect::<Vec<_>>()],
                "Metrics": metrics.iter().map(|(name, _, unit)| json!({"Name": name, "Unit": unit})).collect::<Vec<_>>(),
            }],
        }),
    );
    for (name, value) in dimensions {
        object.insert((*name).into(), Value::from(*value));
    }
    for (name, value, _) in metrics {
        object.insert((*name).into(), Value::from(*value));
    }
    Value::Object(object).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_holds_its_directive_dimensions_and_values_as_the_specification_says() {
        let line = line(
            &[("Stack", "docclass"), ("Role", "candidate")],
            &[("ModelRollbacks", 1.0, "Count")],
            1_700_000_000_000,
        );
        assert!(!line.contains('\n'), "one line");
        let value: Value = serde_json::from_str(&line).unwrap();
        let directive = &value["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(value["_aws"]["Timestamp"], 1_700_000_000_000i64);
        assert_eq!(directive["Namespace"], "docclass");
        assert_eq!(directive["Dimensions"], json!([["Stack", "Role"]]));
        assert_eq!(directive["Metrics"], json!([{"Name": "ModelRollbacks", "Unit": "Count"}]));
        // Every dimension and metric the directive names is a member of the root object.
        assert_eq!((value["Stack"].as_str(), value["Role"].as_str()), (Some("docclass"), Some("candidate")));
        assert_eq!(value["ModelRollbacks"], 1.0);
    }
}
