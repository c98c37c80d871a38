//! Logs and metrics: structured JSON logs (tracing) and CloudWatch Embedded Metric Format lines.

use std::io::Write;

/// JSON logs to stdout, level from `RUST_LOG` (default info). Call once in `main`.
pub fn init_logging() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = log_filter(std::env::var("RUST_LOG").ok().as_deref());
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(false)
                .with_target(false)
                .without_time(),
        )
        .with(filter)
        .try_init();
}

/// `RUST_LOG` as target directives (`info`, `warn,sales=debug`), without `EnvFilter`: its
/// span-field matching needs a regex engine, which would add about 10% to every bootstrap.
/// Unset or unparsable → `info`.
pub fn log_filter(directives: Option<&str>) -> tracing_subscriber::filter::Targets {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    directives
        .and_then(|d| d.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
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
    use tracing_subscriber::filter::LevelFilter;

    #[test]
    fn log_filter_reads_rust_log_directives_and_defaults_to_info() {
        assert_eq!(
            super::log_filter(None).default_level(),
            Some(LevelFilter::INFO)
        );
        assert_eq!(
            super::log_filter(Some("warn")).default_level(),
            Some(LevelFilter::WARN)
        );
        let targeted = super::log_filter(Some("error,sales=debug"));
        assert!(targeted.would_enable("sales::store", &tracing::Level::DEBUG));
        assert!(!targeted.would_enable("aws_smithy_runtime", &tracing::Level::WARN));
        assert_eq!(
            super::log_filter(Some("=not a directive=")).default_level(),
            Some(LevelFilter::INFO)
        );
    }

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
