//! CloudWatch's metric types, as the scaling policies' metric math and the alarms name them.

use serde::Serialize;

/// One metric, or an expression over the others.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricQuery {
    /// Its name in expressions.
    pub id: &'static str,
    /// A metric to read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric_stat: Option<MetricStat>,
    /// Or an expression.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expression: Option<&'static str>,
    /// The expression's label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<&'static str>,
    /// Whether this is the tracked value.
    pub return_data: bool,
}

/// A metric and its statistic.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricStat {
    /// The metric.
    pub metric: Metric,
    /// `Sum`, `Average`.
    pub stat: &'static str,
}

/// A CloudWatch metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Metric {
    /// Its namespace.
    pub namespace: &'static str,
    /// Its name.
    pub metric_name: &'static str,
    /// Its dimensions.
    pub dimensions: Vec<Dimension>,
}

/// A metric dimension.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Dimension {
    /// Its name.
    pub name: &'static str,
    /// Its value.
    pub value: String,
}
