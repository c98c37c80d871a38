//! DynamoDB stalls (a paused server, a partition): every function answers within a bound well
//! inside its Lambda timeout, with 503, because its AWS client has timeouts sized to that
//! timeout; when DynamoDB comes back, a webhook's retried delivery is applied exactly once.

use std::time::{Duration, Instant};

use futures::future::join_all;
use sales::domain::signature::{sign_hex, timestamped_header};
use sales::domain::EmailAddress;
use sales::handlers::{
    BookingWebhook, Clock, CreateCheckout, CustomerPortal, FoundingSpots, PipelineApi,
    StripeWebhook,
};
use sales::lambda::config::Secret;
use sales::lambda::http::{Cors, HttpResponse};
use sales::lambda::runtime::{AwsTimeouts, LAMBDA_TIMEOUTS};
use sales::providers::stripe::StripeClient;
use sales::SalesStore;
use sales_tests::{
    apigw_request, as_function, fixture, iam_request, response_json, role, set_rules,
    with_timeouts, TestTable,
};
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::{config, stripe, CALENDLY_KEY, CAL_SECRET, STRIPE_WEBHOOK_SECRET};

/// The store a deployed function has: its role, its timeouts.
fn deployed(table: &TestTable, function: &str, binary: &str) -> SalesStore {
    with_timeouts(
        &as_function(&table.store, function),
        AwsTimeouts::for_function(binary),
    )
}

async fn timed(
    name: &'static str,
    answer: futures::future::BoxFuture<'_, HttpResponse>,
) -> (&'static str, u16, Duration, Value) {
    let started = Instant::now();
    let (status, body) = response_json(answer.await).await;
    (name, status, started.elapsed(), body)
}

fn lambda_timeout(binary: &str) -> Duration {
    LAMBDA_TIMEOUTS
        .iter()
        .find(|(name, _)| *name == binary)
        .map(|(_, t)| *t)
        .expect("a function")
}

fn cal_delivery() -> lambda_http::Request {
    // Dated once: every redelivery is the same bytes (the delivery key hashes the body).
    static BODY: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let body = BODY
        .get_or_init(|| sales_tests::cal_body_dated("BOOKING_CREATED", OffsetDateTime::now_utc()))
        .clone();
    let signature = sign_hex(CAL_SECRET.as_bytes(), &[&body]);
    apigw_request(
        "POST",
        "/",
        &[("X-Cal-Signature-256", &signature)],
        &body,
        false,
        None,
    )
}

fn stripe_delivery(now: OffsetDateTime) -> lambda_http::Request {
    let body = fixture("stripe/evt_checkout.session.completed.json");
    let signature = timestamped_header(
        STRIPE_WEBHOOK_SECRET.as_bytes(),
        &body,
        now.unix_timestamp(),
    );
    apigw_request(
        "POST",
        "/",
        &[("stripe-signature", &signature)],
        &body,
        false,
        None,
    )
}

fn calendly_delivery(now: OffsetDateTime) -> lambda_http::Request {
    let body = fixture("calendly/invitee.created.body.json");
    let signature = timestamped_header(CALENDLY_KEY.as_bytes(), &body, now.unix_timestamp());
    apigw_request(
        "POST",
        "/",
        &[("Calendly-Webhook-Signature", &signature)],
        &body,
        false,
        None,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_dynamodb_stalled_every_function_answers_503_well_inside_its_timeout() {
    let table = TestTable::new().await;
    let stripe = stripe().await;
    let config = config(&stripe);
    let stripe_client = || {
        StripeClient::new(
            config.stripe_api_base.clone(),
            config.stripe_secret_key.clone().unwrap(),
        )
        .unwrap()
    };
    let now = OffsetDateTime::now_utc();
    let clock = Clock::system;

    let founding_spots = FoundingSpots::new(
        deployed(&table, role::FOUNDING_SPOTS, "founding-spots"),
        Cors::new(None, "GET"),
        clock(),
    );
    let checkout = CreateCheckout::new(
        deployed(&table, role::CREATE_CHECKOUT, "create-checkout"),
        stripe_client(),
        config.clone(),
        clock(),
    );
    let portal = CustomerPortal::new(
        deployed(&table, role::CUSTOMER_PORTAL, "customer-portal"),
        stripe_client(),
        config.clone(),
    );
    let stripe_webhook = StripeWebhook::new(
        deployed(&table, role::STRIPE_WEBHOOK, "stripe-webhook"),
        vec![Secret::new(STRIPE_WEBHOOK_SECRET)],
        clock(),
    );
    let cal = BookingWebhook::cal(
        deployed(&table, role::CAL_WEBHOOK, "cal-webhook"),
        vec![Secret::new(CAL_SECRET)],
        clock(),
    );
    let calendly = BookingWebhook::calendly(
        deployed(&table, role::CALENDLY_WEBHOOK, "calendly-webhook"),
        vec![Secret::new(CALENDLY_KEY)],
        clock(),
    );
    let pipeline = PipelineApi::new(deployed(&table, role::PIPELINE, "pipeline"), clock());

    set_rules(&table.name, json!({"stalled": true})).await;
    let checkout_request = apigw_request(
        "POST",
        "/billing/create-checkout",
        &[("content-type", "application/json")],
        json!({"email": "ada@example.com", "plan_type": "founding", "company_name": "Acme"})
            .to_string()
            .as_bytes(),
        false,
        None,
    );
    let portal_request = apigw_request(
        "POST",
        "/billing/customer-portal",
        &[],
        b"",
        false,
        Some(json!({"email": "ada@example.com", "email_verified": "true", "sub": "u-1"})),
    );
    let spots_request = apigw_request("GET", "/billing/founding-spots", &[], b"", false, None);
    let summary_request = iam_request(
        "GET",
        "/pipeline/summary",
        "",
        None,
        Some("arn:aws:iam::123456789012:user/sam"),
    );
    let answers: Vec<(&str, u16, Duration, Value)> = join_all([
        timed(
            "founding-spots",
            Box::pin(founding_spots.handle(spots_request)),
        ),
        timed(
            "create-checkout",
            Box::pin(checkout.handle(checkout_request)),
        ),
        timed("customer-portal", Box::pin(portal.handle(portal_request))),
        timed(
            "stripe-webhook",
            Box::pin(stripe_webhook.handle(stripe_delivery(now))),
        ),
        timed("cal-webhook", Box::pin(cal.handle(cal_delivery()))),
        timed(
            "calendly-webhook",
            Box::pin(calendly.handle(calendly_delivery(now))),
        ),
        timed("pipeline", Box::pin(pipeline.handle(summary_request))),
    ])
    .await;
    set_rules(&table.name, json!({"stalled": false})).await;

    for (name, status, took, body) in &answers {
        let limit = lambda_timeout(name);
        println!(
            "stalled DynamoDB: {name} answered {status} in {:.2} s (Lambda timeout {} s)",
            took.as_secs_f64(),
            limit.as_secs()
        );
        assert_eq!(*status, 503, "{name}: {body}");
        assert!(
            *took < limit / 2,
            "{name} took {took:?}, more than half its Lambda timeout"
        );
    }
    assert!(
        answers
            .iter()
            .all(|(_, _, _, body)| body["error"].is_string()),
        "{answers:?}"
    );

    // DynamoDB is back: the providers retry. The Cal.com booking is applied exactly once,
    // whether the stalled first attempt reached the table when the stall ended or not.
    let mut applied = 0;
    let mut redeliveries = Vec::new();
    for _ in 0..3 {
        let (status, body) = response_json(cal.handle(cal_delivery()).await).await;
        redeliveries.push((status, body.clone()));
        assert!(
            status == 200 || status == 409,
            "a redelivery after the stall: {status} {body}"
        );
        if status == 200 && body["effect"].is_string() {
            applied += 1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(applied <= 1, "{redeliveries:?}");
    let attendee: Value =
        serde_json::from_slice(&fixture("cal/BOOKING_CREATED.body.json")).unwrap();
    let email = EmailAddress::parse(
        attendee["payload"]["attendees"][0]["email"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let lead = table
        .store
        .lead_by_email(&email)
        .await
        .unwrap()
        .expect("the booking's lead");
    let bookings = table.store.lead_bookings(&lead.id).await.unwrap().unwrap();
    assert_eq!(bookings.bookings.len(), 1, "one booking, once");
    assert_eq!(sales_tests::history(&table.store, &lead.id).await.len(), 1);
    table.drop_table().await;
}
