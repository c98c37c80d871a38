//! Every log line carries the request it belongs to: the functions' log layer and level filter
//! (`sales::lambda::telemetry`), a handler run as `main` runs it (the runtime's `Lambda runtime
//! invoke` span around `with_request_span`), the lines parsed as JSON.

use lambda_http::lambda_runtime::layers::trace::request_span as runtime_span;
use lambda_http::{Context, RequestExt};
use sales::handlers::{Clock, CreateCheckout};
use sales::lambda::telemetry::{json_layer, log_filter_from, with_request_span, LogFilter};
use sales::SalesStore;
use sales_tests::apigw_request;
use serde_json::{json, Value};
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

use super::{unmasked_addresses, Captured};

/// One line as JSON, with the top-level fields every line must have; panics with the line
/// otherwise.
pub(crate) fn parse_line(line: &str) -> Value {
    let value: Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    assert!(value.is_object(), "not an object: {line}");
    assert!(value["level"].is_string(), "no level: {line}");
    assert!(value["request_id"].is_string(), "no request_id: {line}");
    assert!(value["function"].is_string(), "no function: {line}");
    assert!(value["cold_start"].is_boolean(), "no cold_start: {line}");
    value
}

/// Rust `Debug` output where a plain value belongs: `Some(…)`, `String("…")`, `Object {…}`, a
/// quoted string inside a value.
fn looks_like_debug(text: &str) -> bool {
    [
        "Some(", "None", "String(", "Object {", "Number(", "Bool(", "\\\"", "\"",
    ]
    .iter()
    .any(|pattern| text.contains(pattern))
}

#[test]
fn the_debug_check_catches_the_old_webhook_effect() {
    assert!(looks_like_debug("Some(String(\"deal_won\"))"));
    assert!(looks_like_debug("\"deal_won\""));
    assert!(!looks_like_debug("deal_won"));
    assert!(!looks_like_debug("request failed: store unavailable"));
}

fn lambda_context(request_id: &str) -> Context {
    let mut context = Context::default();
    request_id.clone_into(&mut context.request_id);
    context.xray_trace_id = Some("Root=1-00000000-000000000000000000000000".into());
    context
}

/// One invocation as the runtime makes it: its span, then the function's `with_request_span`.
async fn invoke(checkout: &CreateCheckout, lambda_id: &str, body: &Value) -> u16 {
    let context = lambda_context(lambda_id);
    let request = apigw_request(
        "POST",
        "/billing/create-checkout",
        &[("content-type", "application/json")],
        body.to_string().as_bytes(),
        false,
        None,
    )
    .with_lambda_context(context.clone());
    with_request_span(request, |request| async move {
        checkout.handle(request).await.status().as_u16()
    })
    .instrument(runtime_span(&context))
    .await
}

/// The lines of three invocations (and of the start-up and the pause between the first two) of
/// create-checkout with DynamoDB and Stripe out of reach (two 503s, then a refused address),
/// under the given level settings.
async fn run_under(rust_log: Option<&str>, lambda_level: Option<&str>) -> Vec<Value> {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::registry()
        .with(json_layer("create-checkout", move || sink.clone()))
        .with(LogFilter::new(log_filter_from(rust_log, lambda_level)));
    let _guard = tracing::subscriber::set_default(subscriber);

    let config = sales_tests::function_config("http://127.0.0.1:9", &[]);
    let stripe = sales::providers::stripe::StripeClient::new(
        config.stripe_api_base.clone(),
        config.stripe_secret_key.clone().unwrap(),
    )
    .unwrap()
    .with_retry_base(std::time::Duration::from_millis(1));
    let unreachable = SalesStore::new(
        sales_tests::dynamodb_client_at("http://127.0.0.1:9").await,
        "logs-fields",
    );
    let checkout = CreateCheckout::new(unreachable, stripe, config, Clock::system());

    tracing::error!(email = "ada@example.com", "start-up line");
    let body = json!({"email": "Ada.Lovelace@example.com", "plan_type": "founding"});
    assert_eq!(invoke(&checkout, "lambda-req-1", &body).await, 503);
    tracing::warn!("between invocations");
    assert_eq!(invoke(&checkout, "lambda-req-2", &body).await, 503);
    // Refused (INFO): a bad address.
    let bad = json!({"email": "grace@@navy.example", "plan_type": "founding"});
    assert_eq!(invoke(&checkout, "lambda-req-3", &bad).await, 400);
    drop(_guard);

    let text = captured.text();
    let leaks: Vec<String> = text.lines().flat_map(unmasked_addresses).collect();
    assert!(leaks.is_empty(), "unmasked addresses: {leaks:?}\n{text}");
    text.lines().map(parse_line).collect()
}

/// A line of ours (the library's, which names no `target`, or this test's), not a dependency's.
fn ours(line: &Value) -> bool {
    line.get("target")
        .is_none_or(|target| target.as_str().is_some_and(|t| t.starts_with("logs")))
}

fn of_request<'a>(lines: &'a [Value], id: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["request_id"] == id).collect()
}

fn check(lines: &[Value], setting: &str) {
    assert!(!lines.is_empty(), "{setting}: no lines");
    for line in lines {
        assert_eq!(line["function"], "create-checkout", "{setting}: {line}");
        // Our own lines (no `target`: a dependency's line names its crate) hold plain values.
        if ours(line) {
            for (name, value) in line.as_object().unwrap() {
                if let Some(text) = value.as_str() {
                    if name != "message" {
                        assert!(
                            !looks_like_debug(text),
                            "{setting}: Debug output in {name}: {line}"
                        );
                    }
                }
            }
        }
    }
    let first = of_request(lines, "lambda-req-1");
    let second = of_request(lines, "lambda-req-2");
    assert!(
        !first.is_empty() && !second.is_empty(),
        "{setting}: {lines:#?}"
    );
    for line in &first {
        assert_eq!(
            line["cold_start"], true,
            "{setting}: the first invocation is cold: {line}"
        );
        assert_eq!(line["apigw_request_id"], "req-1", "{setting}: {line}");
    }
    for line in &second {
        assert_eq!(line["cold_start"], false, "{setting}: {line}");
    }
    // The 503 is logged as an error in each invocation, with its request.
    for lines in [&first, &second] {
        assert!(
            lines
                .iter()
                .any(|l| l["level"] == "ERROR" && l["message"] == "request failed"),
            "{setting}: no request failed line in {lines:#?}"
        );
    }
    // Outside an invocation: no request id; the start-up is the cold start's, the pause not.
    let outside: Vec<&Value> = lines
        .iter()
        .filter(|l| l["request_id"] == "" && ours(l))
        .collect();
    assert_eq!(outside.len(), 2, "{setting}: {outside:#?}");
    assert_eq!(outside[0]["message"], "start-up line");
    assert_eq!(outside[0]["cold_start"], true);
    assert_eq!(outside[0]["email"], "a***@example.com");
    assert_eq!(outside[1]["message"], "between invocations");
    assert_eq!(outside[1]["cold_start"], false);
}

#[tokio::test(flavor = "current_thread")]
async fn every_line_names_its_request_function_and_cold_start_at_every_level() {
    let info = run_under(None, None).await;
    check(&info, "default (info)");
    let refused = of_request(&info, "lambda-req-3");
    assert!(
        refused.iter().any(|l| l["level"] == "INFO"
            && l["message"] == "request refused"
            && l["cold_start"] == false),
        "the refusal at INFO: {refused:#?}"
    );

    // RUST_LOG=warn: the request spans are INFO, and the request id is still on every line.
    for (rust_log, lambda_level, setting) in [
        (Some("warn"), None, "RUST_LOG=warn"),
        (
            Some("trace"),
            Some("WARN"),
            "AWS_LAMBDA_LOG_LEVEL=WARN over RUST_LOG=trace",
        ),
        (
            Some("debug"),
            Some("fatal"),
            "AWS_LAMBDA_LOG_LEVEL=fatal (error)",
        ),
    ] {
        let lines = run_under(rust_log, lambda_level).await;
        check_levels(&lines, setting, lambda_level == Some("fatal"));
    }

    // AWS_LAMBDA_LOG_LEVEL=DEBUG over RUST_LOG=warn: our DEBUG lines and the SDK's appear.
    let debug = run_under(Some("warn"), Some("DEBUG")).await;
    check(&debug, "AWS_LAMBDA_LOG_LEVEL=DEBUG");
    assert!(debug.iter().any(|l| l["level"] == "DEBUG"), "no DEBUG line");
}

fn check_levels(lines: &[Value], setting: &str, errors_only: bool) {
    let allowed: &[&str] = if errors_only {
        &["ERROR"]
    } else {
        &["WARN", "ERROR"]
    };
    for line in lines {
        assert!(
            allowed.contains(&line["level"].as_str().unwrap()),
            "{setting}: {line}"
        );
    }
    if errors_only {
        // The pause's WARN line is gone; the rest of check() minus it.
        assert!(lines.iter().all(|l| l["function"] == "create-checkout"));
        for (id, cold) in [("lambda-req-1", true), ("lambda-req-2", false)] {
            let of = of_request(lines, id);
            assert!(!of.is_empty(), "{setting}: nothing for {id}");
            assert!(
                of.iter().all(|l| l["cold_start"] == cold),
                "{setting}: {of:#?}"
            );
        }
    } else {
        check(lines, setting);
    }
}

/// The layer is what writes the lines: a sanity check that a line written without it would
/// fail `parse_line` (the test can fail).
#[test]
#[should_panic(expected = "no request_id")]
fn a_line_without_the_fields_is_refused() {
    parse_line(r#"{"level":"WARN","fields":{"message":"x"},"spans":[{"requestId":"r"}]}"#);
}
