//! Logs and metrics: structured JSON logs (tracing) and CloudWatch Embedded Metric Format lines.

use std::io::Write;

/// JSON logs to stdout, level from `RUST_LOG` (default info). Call once in `main`.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_target(false)
        .without_time()
        .try_init();
}

/// The namespace every metric is published under.
pub const METRIC_NAMESPACE: &str = "AgencyOS/Sales";

/// One CloudWatch metric (count 1) in Embedded Metric Format, with context properties, as a line
/// on stdout: CloudWatch Logs turns it into a metric that alarms can watch.
pub fn emit_count_metric(name: &str, properties: &[(&str, &str)]) {
    let line = emf_line(
        name,
        properties,
        time::OffsetDateTime::now_utc().unix_timestamp() * 1000,
    );
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}

pub fn emf_line(name: &str, properties: &[(&str, &str)], timestamp_ms: i64) -> String {
    let mut value = serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": METRIC_NAMESPACE,
                "Dimensions": [[]],
                "Metrics": [{"Name": name, "Unit": "Count"}]
            }]
        },
        name: 1
    });
    if let Some(object) = value.as_object_mut() {
        for (key, val) in properties {
            object.insert(
                (*key).to_owned(),
                serde_json::Value::String((*val).to_owned()),
            );
        }
    }
    value.to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn emf_names_the_metric_and_carries_properties() {
        let line = super::emf_line(
            "PaymentFailed",
            &[("customer", "cus_1"), ("invoice", "in_1")],
            1000,
        );
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            value["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"],
            "PaymentFailed"
        );
        assert_eq!(
            value["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "AgencyOS/Sales"
        );
        assert_eq!(value["PaymentFailed"], 1);
        assert_eq!(value["invoice"], "in_1");
    }
}
