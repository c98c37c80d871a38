//! Logs and metrics: structured JSON logs (tracing) and CloudWatch Embedded Metric Format lines.
//!
//! Every log line is one JSON object whose top-level fields find the request it belongs to,
//! whatever the level:
//!
//! ```json
//! {"level":"INFO","message":"delivery processed","request_id":"8f5e…","apigw_request_id":"Xy1…=",
//!  "function":"stripe-webhook","cold_start":false,"provider":"stripe","effect":"deal_won"}
//! ```
//!
//! - `request_id`: the Lambda request id of the invocation (the runtime's `Lambda runtime invoke`
//!   span and the function's own [`request_span`]; API Gateway's request id when the Lambda one
//!   is unknown); `""` on a line written outside an invocation (start-up);
//! - `apigw_request_id`: API Gateway's request id (`$context.requestId`, the `requestId` of the
//!   API's access log and the `apigw-requestid` response header), when the request came through
//!   the HTTP API;
//! - `function`: `AWS_LAMBDA_FUNCTION_NAME` (the deployed function's name), else the binary's;
//! - `cold_start`: `true` on the lines of the execution environment's first invocation (and of
//!   its start-up), `false` afterwards;
//! - then the event's own fields, as plain values (`%` Display or `&str` at the call sites: a
//!   `?` Debug value such as `Some(String("deal_won"))` is a bug, and tests/logs looks for it).
//!
//! The spans carrying the request id are enabled at every level ([`LogFilter`]), so that
//! `RUST_LOG=warn` still has the request id on its warnings.
//!
//! No e-mail address leaves a function unmasked, at any level: handlers log
//! [`crate::domain::EmailAddress::masked`], and every line is masked once more as it is written
//! ([`MaskEmails`]), so an address inside a DynamoDB key (`EMAIL#ada@example.com`), an error
//! message or a dependency's TRACE output is written as `a***@example.com` too.

use std::borrow::Cow;
use std::io::Write;
use std::sync::{Arc, OnceLock};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// JSON logs to stdout, e-mail addresses masked, every line with the request id, the function
/// name and the cold-start flag (see the module's documentation). `binary` names the function
/// when `AWS_LAMBDA_FUNCTION_NAME` is not set (`env!("CARGO_BIN_NAME")`). Call once in `main`.
///
/// The level: `AWS_LAMBDA_LOG_LEVEL`, then `RUST_LOG`, then `info` ([`log_filter_from`]).
pub fn init_logging(binary: &str) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = LogFilter::new(log_filter_from(
        std::env::var("RUST_LOG").ok().as_deref(),
        std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().as_deref(),
    ));
    let _ = tracing_subscriber::registry()
        .with(json_layer(&function_name(binary), std::io::stdout))
        .with(filter)
        .try_init();
}

/// The function's name in the logs: `AWS_LAMBDA_FUNCTION_NAME` (set by Lambda, and by `cargo
/// lambda watch`), else `binary`.
pub fn function_name(binary: &str) -> String {
    std::env::var("AWS_LAMBDA_FUNCTION_NAME")
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| binary.to_owned())
}

/// The functions' log format (one JSON object per line, no time: Lambda adds it), written to
/// `writer` through [`MaskEmails`], with the fields that find a request (module documentation).
/// Tests capture logs with the same layer.
pub fn json_layer<W>(function: &str, writer: W) -> JsonLogs<MaskEmails<W>>
where
    W: for<'w> MakeWriter<'w> + 'static,
{
    JsonLogs {
        writer: MaskEmails(writer),
        function: Arc::from(function),
        first_request: OnceLock::new(),
    }
}

/// The span the runtime opens around each invocation (`lambda_runtime::layers::trace`), with
/// the Lambda request id as `requestId`.
const RUNTIME_SPAN: &str = "Lambda runtime invoke";
/// The span [`request_span`] opens around the handler.
const REQUEST_SPAN: &str = "request";

fn is_invocation_span(metadata: &Metadata<'_>) -> bool {
    metadata.is_span()
        && ((metadata.name() == RUNTIME_SPAN && metadata.target().starts_with("lambda_runtime"))
            || (metadata.name() == REQUEST_SPAN && metadata.target() == module_path!()))
}

/// The span to run one request's handler in: the Lambda request id (from the request's Lambda
/// context) and API Gateway's request id (from its request context). [`with_request_span`] is
/// the usual way in.
pub fn request_span(request: &lambda_http::Request) -> tracing::Span {
    use lambda_http::request::RequestContext;
    use lambda_http::RequestExt;
    let lambda_id = request
        .lambda_context_ref()
        .map(|context| context.request_id.as_str())
        .unwrap_or_default();
    let apigw_id = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.request_id.as_deref(),
        _ => None,
    }
    .unwrap_or_default();
    tracing::info_span!(
        target: module_path!(),
        REQUEST_SPAN,
        request_id = lambda_id,
        apigw_request_id = apigw_id
    )
}

/// The span of an invocation that is not an HTTP request (waitlist-offers' scheduled event):
/// its lines carry Lambda's request id, like a request's.
pub fn invocation_span(lambda_request_id: &str) -> tracing::Span {
    tracing::info_span!(
        target: module_path!(),
        REQUEST_SPAN,
        request_id = lambda_request_id,
        apigw_request_id = ""
    )
}

/// Runs `future` inside the [`invocation_span`] of Lambda's request id.
pub fn with_invocation_span<Fut: std::future::Future>(
    lambda_request_id: &str,
    future: Fut,
) -> tracing::instrument::Instrumented<Fut> {
    use tracing::Instrument;
    future.instrument(invocation_span(lambda_request_id))
}

/// Runs `handle(request)` inside the request's [`request_span`]: every line it logs carries the
/// request's ids. In a function's `main`:
///
/// ```ignore
/// run(service_fn(move |request: Request| {
///     with_request_span(request, |request| async move { Ok::<_, Error>(handler.handle(request).await) })
/// }))
/// ```
pub fn with_request_span<F, Fut>(
    request: lambda_http::Request,
    handle: F,
) -> tracing::instrument::Instrumented<Fut>
where
    F: FnOnce(lambda_http::Request) -> Fut,
    Fut: std::future::Future,
{
    use tracing::Instrument;
    let span = request_span(&request);
    let future = {
        let _entered = span.enter();
        handle(request)
    };
    future.instrument(span)
}

/// What an invocation span holds for the lines logged inside it.
#[derive(Debug, Clone)]
struct Invocation {
    request_id: String,
    apigw_request_id: Option<String>,
    cold_start: bool,
    function: Arc<str>,
}

/// The ids an invocation span was opened with.
#[derive(Default)]
struct SpanIds {
    request_id: Option<String>,
    apigw_request_id: Option<String>,
}

impl SpanIds {
    fn set(&mut self, field: &Field, value: String) {
        if value.is_empty() {
            return;
        }
        match field.name() {
            "requestId" | "request_id" => self.request_id = Some(value),
            "apigw_request_id" => self.apigw_request_id = Some(value),
            _ => {}
        }
    }
}

impl Visit for SpanIds {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field, value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.set(field, format!("{value:?}"));
    }
}

/// An event's fields as JSON values: strings, numbers and booleans as they are; a `%` value by
/// its `Display`, an error by its message; a `?` value by its `Debug` (which call sites avoid).
#[derive(Default)]
struct EventFields {
    message: Option<String>,
    fields: Vec<(&'static str, serde_json::Value)>,
}

impl EventFields {
    fn push(&mut self, field: &Field, value: serde_json::Value) {
        if field.name() == "message" {
            self.message = Some(match value {
                serde_json::Value::String(text) => text,
                other => other.to_string(),
            });
        } else {
            self.fields.push((field.name(), value));
        }
    }
}

impl Visit for EventFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        let value = serde_json::Number::from_f64(value)
            .map_or_else(|| value.to_string().into(), serde_json::Value::Number);
        self.push(field, value);
    }
    fn record_i128(&mut self, field: &Field, value: i128) {
        self.push(field, value.to_string().into());
    }
    fn record_u128(&mut self, field: &Field, value: u128) {
        self.push(field, value.to_string().into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.push(field, value.to_string().into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.push(field, format!("{value:?}").into());
    }
}

/// The top-level fields every line has; an event field of the same name is written as
/// `field.<name>`.
const RESERVED: [&str; 7] = [
    "level",
    "message",
    "target",
    "request_id",
    "apigw_request_id",
    "function",
    "cold_start",
];

/// The functions' log layer ([`json_layer`]): one JSON object per event, with the request id,
/// the function name and the cold-start flag at the top level.
pub struct JsonLogs<W> {
    writer: W,
    function: Arc<str>,
    /// The request id of the first invocation this layer saw: its lines are the cold start's.
    first_request: OnceLock<String>,
}

impl<W> JsonLogs<W> {
    fn outside_invocation(&self) -> Invocation {
        Invocation {
            request_id: String::new(),
            apigw_request_id: None,
            cold_start: self.first_request.get().is_none(),
            function: self.function.clone(),
        }
    }
}

fn push_json(line: &mut Vec<u8>, key: &str, value: &serde_json::Value) {
    if line.len() > 1 {
        line.push(b',');
    }
    let _ = serde_json::to_writer(&mut *line, key);
    line.push(b':');
    let _ = serde_json::to_writer(&mut *line, value);
}

impl<S, W> Layer<S> for JsonLogs<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if !is_invocation_span(attrs.metadata()) {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let mut ids = SpanIds::default();
        attrs.record(&mut ids);
        // The handler's span inside the runtime's: the same invocation.
        let outer = span
            .scope()
            .skip(1)
            .find_map(|s| s.extensions().get::<Invocation>().cloned());
        let request_id = ids
            .request_id
            .or_else(|| outer.as_ref().map(|o| o.request_id.clone()))
            .filter(|id| !id.is_empty())
            .or_else(|| ids.apigw_request_id.clone())
            .unwrap_or_default();
        let cold_start = match &outer {
            Some(outer) => outer.cold_start,
            None => *self.first_request.get_or_init(|| request_id.clone()) == request_id,
        };
        let invocation = Invocation {
            apigw_request_id: ids
                .apigw_request_id
                .or_else(|| outer.and_then(|o| o.apigw_request_id)),
            request_id,
            cold_start,
            function: self.function.clone(),
        };
        span.extensions_mut().insert(invocation);
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let invocation = ctx
            .event_scope(event)
            .and_then(|scope| {
                scope
                    .into_iter()
                    .find_map(|span| span.extensions().get::<Invocation>().cloned())
            })
            .unwrap_or_else(|| self.outside_invocation());
        let mut fields = EventFields::default();
        event.record(&mut fields);
        let metadata = event.metadata();
        let mut line = Vec::with_capacity(256);
        line.push(b'{');
        push_json(&mut line, "level", &metadata.level().as_str().into());
        if let Some(message) = fields.message {
            push_json(&mut line, "message", &message.into());
        }
        push_json(&mut line, "request_id", &invocation.request_id.into());
        if let Some(apigw) = invocation.apigw_request_id {
            push_json(&mut line, "apigw_request_id", &apigw.into());
        }
        push_json(&mut line, "function", &(*invocation.function).into());
        push_json(&mut line, "cold_start", &invocation.cold_start.into());
        if !metadata.target().starts_with("sales") {
            // A dependency's line: which one.
            push_json(&mut line, "target", &metadata.target().into());
        }
        for (name, value) in &fields.fields {
            if RESERVED.contains(name) {
                push_json(&mut line, &format!("field.{name}"), value);
            } else {
                push_json(&mut line, name, value);
            }
        }
        line.extend_from_slice(b"}\n");
        let _ = self.writer.make_writer_for(metadata).write_all(&line);
    }
}

/// The functions' level filter: the [`Targets`] of [`log_filter_from`] for events and spans,
/// except the spans that carry the request id (the runtime's and [`request_span`]), which are
/// kept at every level so that a WARN line still names its request.
#[derive(Debug, Clone)]
pub struct LogFilter {
    targets: Targets,
}

impl LogFilter {
    pub fn new(targets: Targets) -> Self {
        LogFilter { targets }
    }

    fn enables(&self, metadata: &Metadata<'_>) -> bool {
        is_invocation_span(metadata)
            || self
                .targets
                .would_enable(metadata.target(), metadata.level())
    }
}

impl<S: Subscriber> Layer<S> for LogFilter {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if self.enables(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        self.enables(metadata)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        // At least INFO, the level of the request spans.
        let events =
            <Targets as Layer<S>>::max_level_hint(&self.targets).unwrap_or(LevelFilter::TRACE);
        Some(events.max(LevelFilter::INFO))
    }
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

/// The functions' level, from `RUST_LOG` and `AWS_LAMBDA_LOG_LEVEL` (their values as given;
/// `None` when unset).
///
/// Precedence: `AWS_LAMBDA_LOG_LEVEL` first, when it is a level (`TRACE`, `DEBUG`, `INFO`,
/// `WARN`, `ERROR`, `FATAL`; any case; FATAL is ERROR, tracing's highest). Lambda sets it from
/// the function's log-level setting (the console's "Log level", `LoggingConfig.
/// ApplicationLogLevel`), which an operator changes during an incident without a deploy, so it
/// must win over the deployed `RUST_LOG` (the template's `LogLevel`); it is also the order
/// lambda_runtime's own tracing set-up uses. It sets one level for every target. Otherwise
/// `RUST_LOG`'s directives (`warn,sales=debug`: per target, [`log_filter`]); otherwise `info`.
pub fn log_filter_from(rust_log: Option<&str>, lambda_log_level: Option<&str>) -> Targets {
    match lambda_log_level.and_then(lambda_level) {
        Some(level) => Targets::new().with_default(level),
        None => log_filter(rust_log),
    }
}

/// A Lambda log level (`AWS_LAMBDA_LOG_LEVEL`) as tracing's; `None` for anything else.
fn lambda_level(value: &str) -> Option<LevelFilter> {
    Some(match value.trim().to_ascii_uppercase().as_str() {
        "TRACE" => LevelFilter::TRACE,
        "DEBUG" => LevelFilter::DEBUG,
        "INFO" => LevelFilter::INFO,
        "WARN" | "WARNING" => LevelFilter::WARN,
        "ERROR" | "FATAL" => LevelFilter::ERROR,
        _ => return None,
    })
}

/// `RUST_LOG` as target directives (`info`, `warn,sales=debug`), without `EnvFilter`: its
/// span-field matching needs a regex engine, which would add about 10% to every bootstrap.
/// Unset or unparsable → `info`.
pub fn log_filter(directives: Option<&str>) -> Targets {
    directives
        .and_then(|d| d.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
}

/// The namespace every metric is published under.
pub const METRIC_NAMESPACE: &str = "AgencyOS/Sales";

/// One CloudWatch metric (count 1) in Embedded Metric Format, with context properties, as a line
/// on stdout: CloudWatch Logs turns it into a metric that alarms can watch. The line carries the
/// log lines' `request_id`, `apigw_request_id`, `function` and `cold_start` too (properties, not
/// dimensions), so a metric's data point leads to its request.
pub fn emit_count_metric(name: &str, properties: &[(&str, &str)]) {
    if !METRICS_ON.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let mut value = emf_value(
        name,
        properties,
        time::OffsetDateTime::now_utc().unix_timestamp() * 1000,
    );
    let invocation = current_invocation();
    if let Some(object) = value.as_object_mut() {
        let (request_id, apigw, function, cold_start) = match invocation {
            Some(i) => (
                i.request_id,
                i.apigw_request_id,
                i.function.to_string(),
                i.cold_start,
            ),
            None => (String::new(), None, function_name(""), false),
        };
        object.insert("request_id".into(), request_id.into());
        if let Some(apigw) = apigw {
            object.insert("apigw_request_id".into(), apigw.into());
        }
        object.insert("function".into(), function.into());
        object.insert("cold_start".into(), cold_start.into());
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", mask_emails(&value.to_string()));
}

/// Whether metric lines are written (a Lambda function's stdout becomes CloudWatch Logs, which
/// turns them into metrics; a command line that runs the same code, `salesctl reconcile`, turns
/// them off so that its own output stays its own).
static METRICS_ON: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Stops [`emit_count_metric`] writing (for a process whose stdout is not CloudWatch Logs).
pub fn disable_metrics() {
    METRICS_ON.store(false, std::sync::atomic::Ordering::Relaxed);
}

/// The invocation the current span belongs to, as the log layer recorded it (`None` outside an
/// invocation or without the functions' subscriber).
fn current_invocation() -> Option<Invocation> {
    let span = tracing::Span::current();
    let id = span.id()?;
    tracing::dispatcher::get_default(|dispatch| {
        let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
        let span = registry.span(&id)?;
        span.scope()
            .find_map(|s| s.extensions().get::<Invocation>().cloned())
    })
}

pub fn emf_line(name: &str, properties: &[(&str, &str)], timestamp_ms: i64) -> String {
    emf_value(name, properties, timestamp_ms).to_string()
}

fn emf_value(name: &str, properties: &[(&str, &str)], timestamp_ms: i64) -> serde_json::Value {
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
    value
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
    fn aws_lambda_log_level_wins_over_rust_log_and_fatal_is_error() {
        use super::log_filter_from;
        let level = |rust_log, lambda| log_filter_from(rust_log, lambda).default_level();
        assert_eq!(level(None, None), Some(LevelFilter::INFO));
        assert_eq!(level(Some("warn"), None), Some(LevelFilter::WARN));
        assert_eq!(level(Some("warn"), Some("DEBUG")), Some(LevelFilter::DEBUG));
        assert_eq!(
            level(Some("trace"), Some("ERROR")),
            Some(LevelFilter::ERROR)
        );
        assert_eq!(level(None, Some("FATAL")), Some(LevelFilter::ERROR));
        assert_eq!(level(None, Some("warn")), Some(LevelFilter::WARN));
        assert_eq!(level(None, Some("TRACE")), Some(LevelFilter::TRACE));
        // Not a level: RUST_LOG's directives apply, per target.
        let targeted = log_filter_from(Some("error,sales=debug"), Some("loud"));
        assert!(targeted.would_enable("sales::store", &tracing::Level::DEBUG));
        assert!(!targeted.would_enable("hyper", &tracing::Level::WARN));
        assert_eq!(level(Some("warn"), Some("")), Some(LevelFilter::WARN));
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
            .with(super::json_layer("test", move || sink.clone()))
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
