//! No e-mail address appears unmasked in any log line, at any level: every handler is run over
//! the fixtures (successes, duplicates, refusals, provider and DynamoDB failures) with the
//! functions' own log layer (`sales::lambda::telemetry::json_layer`) at TRACE, dependencies
//! included, and the captured lines are scanned for addresses.
//!
//! Every line finds its request (`fields.rs`): handlers run as the functions run them (inside
//! the runtime's span and `with_request_span`), at INFO, at `RUST_LOG=warn` and under
//! `AWS_LAMBDA_LOG_LEVEL`, and each line is parsed for its top-level `request_id`, `function` and
//! `cold_start`, and for values written as Rust `Debug` output.

mod fields;

use std::sync::{Arc, Mutex, OnceLock};

use sales::domain::signature::{sign_hex, timestamped_header};
use sales::handlers::{
    BookingWebhook, Clock, CreateCheckout, CustomerPortal, PipelineApi, StripeWebhook,
};
use sales::lambda::config::Secret;
use sales::providers::stripe::StripeClient;
use sales::SalesStore;
use sales_tests::{apigw_request, as_function, fixture, iam_request, role, TestTable};
use serde_json::{json, Value};
use time::OffsetDateTime;
use tracing_subscriber::layer::SubscriberExt;

/// Every line the functions' log layer wrote in this process.
#[derive(Clone, Default)]
pub(crate) struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture() -> Captured {
    static CAPTURED: OnceLock<Captured> = OnceLock::new();
    CAPTURED
        .get_or_init(|| {
            let captured = Captured::default();
            let sink = captured.clone();
            let subscriber = tracing_subscriber::registry()
                .with(sales::lambda::telemetry::json_layer(
                    "logs-test",
                    move || sink.clone(),
                ))
                .with(tracing_subscriber::filter::LevelFilter::TRACE);
            tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
            captured
        })
        .clone()
}

impl Captured {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Every e-mail-like address in `text` that is not masked (`a***@…`): the characters before an
/// `@` (or a URL-encoded `%40`) followed by a dotted domain. Written apart from the library's
/// masking, so that a gap in one is not hidden by the same gap in the other.
pub(crate) fn unmasked_addresses(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let local = |c: char| c.is_ascii_alphanumeric() || "._%+-".contains(c);
    let domain = |c: char| c.is_ascii_alphanumeric() || ".-".contains(c);
    let mut i = 0;
    while i < chars.len() {
        let at = if chars[i] == '@' {
            1
        } else if chars[i..].starts_with(&['%', '4', '0']) {
            3
        } else {
            0
        };
        if at == 0 {
            i += 1;
            continue;
        }
        let mut start = i;
        while start > 0 && local(chars[start - 1]) {
            start -= 1;
        }
        let mut end = i + at;
        while end < chars.len() && domain(chars[end]) {
            end += 1;
        }
        let host: String = chars[i + at..end].iter().collect();
        let host = host.trim_end_matches('.');
        if start < i && host.contains('.') && !host.starts_with('.') {
            found.push(chars[start..end].iter().collect());
        }
        i += at;
    }
    found
}

#[test]
fn the_scan_finds_unmasked_addresses() {
    assert_eq!(
        unmasked_addresses(
            r#"{"pk":"EMAIL#ada@example.com","x":"a***@example.com","u":"b%40x.io"}"#
        ),
        ["ada@example.com", "b%40x.io"]
    );
    assert!(unmasked_addresses("a***@example.com user@localhost @ x@").is_empty());
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

async fn status(response: sales::lambda::http::HttpResponse) -> u16 {
    response.status().as_u16()
}

fn webhook_request(header: &str, value: &str, body: &[u8]) -> lambda_http::Request {
    apigw_request("POST", "/", &[(header, value)], body, false, None)
}

async fn booking_webhooks(
    store: &SalesStore,
    unreachable: &SalesStore,
    statuses: &mut Vec<(String, u16)>,
) {
    let cal_secret = "cal-logs";
    let calendly_key = "calendly-logs";
    let cal = BookingWebhook::cal(
        as_function(store, role::CAL_WEBHOOK),
        vec![Secret::new(cal_secret)],
        Clock::system(),
    )
    .with_alerts(sales_tests::team_alerts_as(role::CAL_WEBHOOK, None).await);
    let cal_down = BookingWebhook::cal(
        unreachable.clone(),
        vec![Secret::new(cal_secret)],
        Clock::system(),
    );
    for trigger in [
        "BOOKING_CREATED",
        "BOOKING_RESCHEDULED",
        "BOOKING_CANCELLED",
        "BOOKING_REQUESTED",
        "BOOKING_REQUESTED_RESCHEDULE",
        "BOOKING_REJECTED",
    ] {
        let body = sales_tests::cal_body_dated(trigger, now());
        let signature = sign_hex(cal_secret.as_bytes(), &[&body]);
        for handler in [&cal, &cal, &cal_down] {
            let s = status(
                handler
                    .handle(webhook_request("X-Cal-Signature-256", &signature, &body))
                    .await,
            )
            .await;
            statuses.push((format!("cal {trigger}"), s));
        }
        // Refused: a wrong signature, and the undated original fixture (a possible replay).
        let s = status(
            cal.handle(webhook_request("X-Cal-Signature-256", "00", &body))
                .await,
        )
        .await;
        statuses.push((format!("cal {trigger} forged"), s));
        let original = fixture(&format!("cal/{trigger}.body.json"));
        let signature = sign_hex(cal_secret.as_bytes(), &[&original]);
        let s = status(
            cal.handle(webhook_request(
                "X-Cal-Signature-256",
                &signature,
                &original,
            ))
            .await,
        )
        .await;
        statuses.push((format!("cal {trigger} replayed"), s));
    }
    // An attendee e-mail that is not an address: the refusal names the field, not the value.
    let mut bad: Value =
        serde_json::from_slice(&sales_tests::cal_body_dated("BOOKING_CREATED", now())).unwrap();
    bad["payload"]["attendees"][0]["email"] = json!("ada@@example.com");
    let body = serde_json::to_vec(&bad).unwrap();
    let signature = sign_hex(cal_secret.as_bytes(), &[&body]);
    statuses.push((
        "cal bad e-mail".into(),
        status(
            cal.handle(webhook_request("X-Cal-Signature-256", &signature, &body))
                .await,
        )
        .await,
    ));

    let calendly = BookingWebhook::calendly(
        as_function(store, role::CALENDLY_WEBHOOK),
        vec![Secret::new(calendly_key)],
        Clock::system(),
    )
    .with_alerts(sales_tests::team_alerts_as(role::CALENDLY_WEBHOOK, None).await);
    let calendly_down = BookingWebhook::calendly(
        unreachable.clone(),
        vec![Secret::new(calendly_key)],
        Clock::system(),
    );
    for event in [
        "invitee.created",
        "invitee.canceled",
        "invitee.created.rescheduled",
        "invitee.canceled.rescheduled",
    ] {
        let body = fixture(&format!("calendly/{event}.body.json"));
        let signature = timestamped_header(calendly_key.as_bytes(), &body, now().unix_timestamp());
        for handler in [&calendly, &calendly, &calendly_down] {
            let s = status(
                handler
                    .handle(webhook_request(
                        "Calendly-Webhook-Signature",
                        &signature,
                        &body,
                    ))
                    .await,
            )
            .await;
            statuses.push((format!("calendly {event}"), s));
        }
        let stale = timestamped_header(
            calendly_key.as_bytes(),
            &body,
            now().unix_timestamp() - 3600,
        );
        let s = status(
            calendly
                .handle(webhook_request("Calendly-Webhook-Signature", &stale, &body))
                .await,
        )
        .await;
        statuses.push((format!("calendly {event} stale"), s));
    }
}

async fn stripe_webhook(
    store: &SalesStore,
    unreachable: &SalesStore,
    statuses: &mut Vec<(String, u16)>,
) {
    let secret = "whsec_logs";
    let hook = StripeWebhook::new(
        as_function(store, role::STRIPE_WEBHOOK),
        vec![Secret::new(secret)],
        Clock::system(),
    )
    .with_alerts(sales_tests::team_alerts_as(role::STRIPE_WEBHOOK, None).await);
    let hook_down = StripeWebhook::new(
        unreachable.clone(),
        vec![Secret::new(secret)],
        Clock::system(),
    );
    for name in sales_tests::STRIPE_EVENT_FIXTURES {
        let mut event: Value = serde_json::from_slice(&fixture(&format!("stripe/{name}"))).unwrap();
        event["created"] = json!(now().unix_timestamp());
        let body = serde_json::to_vec(&event).unwrap();
        let signature = timestamped_header(secret.as_bytes(), &body, now().unix_timestamp());
        for handler in [&hook, &hook, &hook_down] {
            let s = status(
                handler
                    .handle(webhook_request("Stripe-Signature", &signature, &body))
                    .await,
            )
            .await;
            statuses.push((format!("stripe {name}"), s));
        }
        let forged = timestamped_header(b"whsec_other", &body, now().unix_timestamp());
        let s = status(
            hook.handle(webhook_request("Stripe-Signature", &forged, &body))
                .await,
        )
        .await;
        statuses.push((format!("stripe {name} forged"), s));
    }
}

async fn billing_api(
    store: &SalesStore,
    unreachable: &SalesStore,
    statuses: &mut Vec<(String, u16)>,
) {
    // Stripe out of reach: a founding checkout holds a spot, Stripe fails, the hold is released.
    let config = sales_tests::function_config("http://127.0.0.1:9", &[]);
    let stripe = StripeClient::new(
        config.stripe_api_base.clone(),
        config.stripe_secret_key.clone().unwrap(),
    )
    .unwrap()
    .with_retry_base(std::time::Duration::from_millis(1));
    let checkout = CreateCheckout::new(
        as_function(store, role::CREATE_CHECKOUT),
        stripe.clone(),
        config.clone(),
        Clock::system(),
    );
    let checkout_down = CreateCheckout::new(
        unreachable.clone(),
        stripe.clone(),
        config.clone(),
        Clock::system(),
    );
    for body in [
        json!({"email": "Founder.One@Example.com", "plan_type": "founding", "company_name": "Acme"}),
        json!({"email": "standard.buyer@example.com", "plan_type": "standard"}),
        json!({"email": "not-an-address@", "plan_type": "founding"}),
        json!({"email": "ada@example.com", "plan_type": "gold"}),
    ] {
        let request = || {
            apigw_request(
                "POST",
                "/billing/create-checkout",
                &[("content-type", "application/json")],
                body.to_string().as_bytes(),
                false,
                None,
            )
        };
        statuses.push((
            format!("checkout {body}"),
            status(checkout.handle(request()).await).await,
        ));
        statuses.push((
            format!("checkout down {body}"),
            status(checkout_down.handle(request()).await).await,
        ));
    }
    let portal = CustomerPortal::new(
        as_function(store, role::CUSTOMER_PORTAL),
        stripe.clone(),
        config.clone(),
    );
    let portal_down = CustomerPortal::new(unreachable.clone(), stripe, config);
    for claims in [
        json!({"email": "ada@example.com", "email_verified": "true"}),
        json!({"email": "ada@example.com", "email_verified": "false"}),
        json!({"email": "ada@example.com"}),
    ] {
        let request = || {
            apigw_request(
                "POST",
                "/billing/customer-portal",
                &[],
                b"",
                false,
                Some(claims.clone()),
            )
        };
        statuses.push((
            format!("portal {claims}"),
            status(portal.handle(request()).await).await,
        ));
        statuses.push((
            format!("portal down {claims}"),
            status(portal_down.handle(request()).await).await,
        ));
    }
}

async fn pipeline_api(
    store: &SalesStore,
    unreachable: &SalesStore,
    statuses: &mut Vec<(String, u16)>,
) {
    let api = PipelineApi::new(as_function(store, role::PIPELINE), Clock::system());
    let api_down = PipelineApi::new(unreachable.clone(), Clock::system());
    let who = Some("arn:aws:iam::123456789012:user/sam@agency.example");
    let create = json!({"email": "Grace.Hopper@Navy.example", "name": "Grace", "company": "Navy"});
    for handler in [&api, &api, &api_down] {
        let s = status(
            handler
                .handle(iam_request(
                    "POST",
                    "/pipeline/leads",
                    "",
                    Some(&create),
                    who,
                ))
                .await,
        )
        .await;
        statuses.push(("pipeline create".into(), s));
        for query in [
            "stage=prospect",
            "assigned_to=sam@agency.example&limit=1",
            "stage=prospect&cursor=eyJwayI6IkVNQUlMI2FkYUBleGFtcGxlLmNvbSJ9",
        ] {
            let s = status(
                handler
                    .handle(iam_request("GET", "/pipeline/leads", query, None, who))
                    .await,
            )
            .await;
            statuses.push((format!("pipeline list {query}"), s));
        }
        for path in [
            "/pipeline/summary",
            "/founding/members",
            "/founding/waitlist",
        ] {
            let s = status(
                handler
                    .handle(iam_request("GET", path, "", None, who))
                    .await,
            )
            .await;
            statuses.push((format!("pipeline {path}"), s));
        }
    }
    let bad = json!({"email": "grace@@navy.example"});
    let s = status(
        api.handle(iam_request("POST", "/pipeline/leads", "", Some(&bad), who))
            .await,
    )
    .await;
    statuses.push(("pipeline bad e-mail".into(), s));
}

#[tokio::test(flavor = "current_thread")]
async fn every_log_line_of_every_handler_at_trace_has_its_addresses_masked() {
    let captured = capture();
    let table = TestTable::new().await;
    // DynamoDB out of reach: the error paths (the SDK's retries, the 503s) are logged too.
    let unreachable = SalesStore::new(
        sales_tests::dynamodb_client_at("http://127.0.0.1:9").await,
        table.name.clone(),
    );
    let mut statuses = Vec::new();
    booking_webhooks(&table.store, &unreachable, &mut statuses).await;
    stripe_webhook(&table.store, &unreachable, &mut statuses).await;
    billing_api(&table.store, &unreachable, &mut statuses).await;
    pipeline_api(&table.store, &unreachable, &mut statuses).await;
    // A line with an address in a key, as a store error would carry it.
    tracing::error!(key = "FOUNDER#ada@example.com", "control line");
    table.drop_table().await;

    // The runs took the paths meant: successes, refusals, and failures of each kind.
    let seen: std::collections::BTreeSet<u16> = statuses.iter().map(|(_, s)| *s).collect();
    for expected in [200, 201, 400, 401, 502, 503] {
        assert!(seen.contains(&expected), "no {expected} among {statuses:?}");
    }
    let logs = captured.text();
    let lines = logs.lines().count();
    assert!(lines > 200, "only {lines} log lines captured");
    assert!(logs.contains("\"level\":\"TRACE\"") && logs.contains("\"level\":\"ERROR\""));
    let leaks: Vec<(usize, String)> = logs
        .lines()
        .enumerate()
        .flat_map(|(n, line)| unmasked_addresses(line).into_iter().map(move |a| (n, a)))
        .collect();
    assert!(
        leaks.is_empty(),
        "{} unmasked addresses in {lines} lines, e.g. {:?}\nfirst line: {}",
        leaks.len(),
        &leaks[..leaks.len().min(10)],
        logs.lines().nth(leaks[0].0).unwrap_or_default()
    );
    // Addresses were there, and were masked.
    for masked in [
        "FOUNDER#a***@example.com",
        "a***@example.com",
        "f***@example.com",
    ] {
        assert!(logs.contains(masked), "no {masked} in the logs");
    }
    // Every line is a JSON object with the fields that find a request, and our own lines hold
    // plain values: the webhooks' "delivery processed" names its effect as a word.
    let mut effects = Vec::new();
    for line in logs.lines() {
        let value = fields::parse_line(line);
        if value["message"] == "delivery processed" {
            effects.push(value["effect"].as_str().unwrap_or("?").to_owned());
        }
    }
    assert!(!effects.is_empty(), "no delivery processed line");
    // The team's alerts were published (the SDK's TRACE lines of the SNS requests carry the
    // addresses, URL-encoded), and logged masked.
    assert!(
        logs.contains("team alert sent"),
        "no team alert was published"
    );
    assert!(
        effects
            .iter()
            .all(|e| e.is_empty() || e.chars().all(|c| c.is_ascii_lowercase() || c == '_')),
        "effects not plain words: {effects:?}"
    );
}
