//! Logs and metrics: structured JSON logs (tracing) and CloudWatch Embedded Metric Format lines.
//!
//! No e-mail address leaves a function unmasked, at any level: handlers log
//! [`crate::domain::EmailAddress::masked`], and every line is masked once more as it is written
//! ([`MaskEmails`]), so an address inside a DynamoDB key (`EMAIL#ada@example.com`), an error
//! message or a dependency's TRACE output is written as `a***@example.com` too.

use std::borrow::Cow;
use std::io::Write;

use tracing_subscriber::fmt::MakeWriter;

/// JSON logs to stdout, level from `RUST_LOG` (default info), e-mail addresses masked. Call once
/// in `main`.
pub fn init_logging() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = log_filter(std::env::var("RUST_LOG").ok().as_deref());
    let _ = tracing_subscriber::registry()
        .with(json_layer(std::io::stdout))
        .with(filter)
        .try_init();
}

/// The functions' log format (one JSON object per line, no time: Lambda adds it), written to
/// `writer` through [`MaskEmails`]. Tests capture logs with the same layer.
pub fn json_layer<S, W>(writer: W) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(false)
        .with_target(false)
        .without_time()
        .with_writer(MaskEmails(writer))
}

/// A log writer that masks every e-mail address in what is written ([`mask_emails`]). The fmt
/// layer writes each event as one line in one `write_all`, so an address is never split.
#[derive(Debug, Clone)]
pub struct MaskEmails<W>(pub W);

impl<'a, W: MakeWriter<'a>> MakeWriter<'a> for MaskEmails<W> {
    type Writer = MaskingWriter<W::Writer>;
    fn make_writer(&'a self) -> Self::Writer {
        MaskingWriter(self.0.make_writer())
    }
}

/// See [`MaskEmails`].
#[derive(Debug)]
pub struct MaskingWriter<W>(W);

impl<W: Write> Write for MaskingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match std::str::from_utf8(buf) {
            Ok(text) => self.0.write_all(mask_emails(text).as_bytes())?,
            Err(_) => self
                .0
                .write_all(mask_emails(&String::from_utf8_lossy(buf)).as_bytes())?,
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

fn is_local_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn is_domain_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')
}

/// Masks every e-mail address in `text` as [`crate::domain::EmailAddress::masked`] does
/// (`ada@example.com` → `a***@example.com`), also URL-encoded (`ada%40example.com`). An address
/// is a run of `[A-Za-z0-9._%+-]` before `@` and a domain of `[A-Za-z0-9.-]` with a dot after
/// it; a masked address (`a***@…`) is left as it is.
pub fn mask_emails(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        let at_len = if bytes[i] == b'@' {
            1
        } else if bytes[i..].starts_with(b"%40") {
            3
        } else {
            i += 1;
            continue;
        };
        // The domain: at least one dot between labels.
        let domain_start = i + at_len;
        let mut end = domain_start;
        while end < bytes.len() && is_domain_char(bytes[end]) {
            end += 1;
        }
        let domain = text[domain_start..end].trim_end_matches(['.', '-']);
        let is_domain = domain.contains('.') && !domain.starts_with('.');
        // The local part, back from the `@` (a URL-encoded `%40` is not part of it).
        let mut start = i;
        while start > 0 && is_local_char(bytes[start - 1]) {
            start -= 1;
        }
        if is_domain && i > start {
            let out = out.get_or_insert_with(|| String::with_capacity(text.len()));
            out.push_str(&text[copied..start + 1]);
            out.push_str("***");
            copied = i;
        }
        i = domain_start;
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut out) => {
            out.push_str(&text[copied..]);
            Cow::Owned(out)
        }
    }
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
    let _ = writeln!(out, "{}", mask_emails(&line));
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
    fn e_mail_addresses_are_masked_wherever_they_appear() {
        use super::mask_emails;
        for (raw, masked) in [
            ("ada@example.com", "a***@example.com"),
            (
                "key EMAIL#ada.lovelace+x@mail.example.com failed",
                "key EMAIL#a***@mail.example.com failed",
            ),
            (
                r#"{"pk":{"S":"FOUNDER#bo@ex.co"},"sk":"WAITLISTED#c-d@e.org"}"#,
                r#"{"pk":{"S":"FOUNDER#b***@ex.co"},"sk":"WAITLISTED#c***@e.org"}"#,
            ),
            (
                "email=ada%40example.com&x=1",
                "email=a***%40example.com&x=1",
            ),
            ("\\\"Ada@Example.COM\\\".", "\\\"A***@Example.COM\\\"."),
            ("two: a1@x.io, b2@y.io.", "two: a***@x.io, b***@y.io."),
            ("x@example.com", "x***@example.com"),
        ] {
            assert_eq!(mask_emails(raw), masked, "{raw}");
            assert_eq!(mask_emails(masked), masked, "masking twice changes nothing");
        }
        for untouched in [
            "a***@example.com",
            "user@localhost",
            "no address here",
            "arn:aws:iam::1:role/x @ 12",
            "€@€.€ @ @@ %40 %4",
        ] {
            assert_eq!(mask_emails(untouched), untouched);
        }
    }

    #[test]
    fn the_log_writer_masks_every_line() {
        use std::sync::{Arc, Mutex};
        use tracing_subscriber::layer::SubscriberExt;
        #[derive(Clone, Default)]
        struct Buffer(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buffer {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer::default();
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::registry()
            .with(super::json_layer(move || sink.clone()))
            .with(LevelFilter::TRACE);
        tracing::subscriber::with_default(subscriber, || {
            tracing::trace!(key = "EMAIL#ada@example.com", "get item");
            tracing::error!("request failed: {:?}", "FOUNDER#grace@navy.example");
        });
        let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert_eq!(logs.lines().count(), 2, "{logs}");
        assert!(logs.contains("EMAIL#a***@example.com"), "{logs}");
        assert!(logs.contains("FOUNDER#g***@navy.example"), "{logs}");
        assert!(!logs.contains("ada@") && !logs.contains("grace@"), "{logs}");
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
