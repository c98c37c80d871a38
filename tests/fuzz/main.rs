//! Fuzzing the handlers against the local DynamoDB server: signed, mutated deliveries from each
//! provider (the fixtures mutated with `sales_tests::mutate`, then signed the way the provider
//! signs, so they get past the signature check) and mutated create-checkout and pipeline
//! requests. Every answer must be 2xx or 4xx (no 5xx: nothing here injects a fault), no handler
//! may panic, and afterwards the table may hold nothing the store's own readers cannot read.
//!
//! `FUZZ_N` deliveries per provider: 120 in `make test`; `make fuzz` runs 10,000 and prints the
//! status counts and the local DynamoDB server's peak memory.

use std::collections::BTreeMap;

use sales::domain::signature::{sign_hex, timestamped_header};
use sales::domain::{EmailAddress, LeadSource, NewLead};
use sales::handlers::{BookingWebhook, Clock, CreateCheckout, PipelineApi, StripeWebhook};
use sales::lambda::config::{Config, Secret};
use sales::providers::stripe::StripeClient;
use sales::SalesStore;
use sales_tests::{apigw_request, as_function, fixture, iam_request, mutate, role, TestTable};
use serde_json::{json, Value};
use time::OffsetDateTime;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const STRIPE_SECRET: &str = "whsec_fuzz";
const CAL_SECRET: &str = "cal-fuzz";
const CALENDLY_KEY: &str = "calendly-fuzz";

fn runs() -> u64 {
    std::env::var("FUZZ_N")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(120)
}

/// Whether API Gateway would deliver these bytes base64-encoded (they are not UTF-8 text).
fn binary(body: &[u8]) -> bool {
    std::str::from_utf8(body).is_err()
}

fn json_fixture(path: &str) -> Value {
    serde_json::from_slice(&fixture(path)).expect("fixture JSON")
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc().replace_nanosecond(0).unwrap()
}

type Counts = BTreeMap<String, BTreeMap<u16, u64>>;

fn count(counts: &mut Counts, what: &str, status: u16) {
    *counts
        .entry(what.to_owned())
        .or_default()
        .entry(status)
        .or_default() += 1;
}

async fn stripe_server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "cs_test_fuzz", "object": "checkout.session",
            "url": "https://checkout.stripe.com/c/pay/cs_test_fuzz"
        })))
        .mount(&server)
        .await;
    server
}

fn config(stripe: &MockServer) -> Config {
    sales_tests::function_config(
        &stripe.uri(),
        &[
            ("STRIPE_SECRET_KEY", "sk_test_fuzz"),
            ("STRIPE_WEBHOOK_SECRET", STRIPE_SECRET),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_mutated_deliveries_and_requests_never_answer_5xx() {
    let table = TestTable::new().await;
    let store = &table.store;
    let n = runs();
    let mut counts = Counts::new();
    // The real clock: deliveries are signed as they are sent, and a long run outlasts the
    // providers' tolerances (Calendly 3 minutes) against a fixed one.
    let clock = Clock::system;

    // Stripe: the six handled event types, mutated, then signed.
    let stripe_hook = StripeWebhook::new(
        as_function(store, role::STRIPE_WEBHOOK),
        vec![Secret::new(STRIPE_SECRET)],
        clock(),
    );
    let stripe_fixtures: Vec<Value> = sales_tests::STRIPE_EVENT_FIXTURES
        .iter()
        .map(|name| json_fixture(&format!("stripe/{name}")))
        .collect();
    for seed in 0..n {
        let body = mutate::bytes(
            &stripe_fixtures[(seed as usize) % stripe_fixtures.len()],
            seed,
        );
        let signature = timestamped_header(STRIPE_SECRET.as_bytes(), &body, now().unix_timestamp());
        let request = apigw_request(
            "POST",
            "/",
            &[("stripe-signature", &signature)],
            &body,
            binary(&body),
            None,
        );
        count(
            &mut counts,
            "stripe-webhook",
            stripe_hook.handle(request).await.status().as_u16(),
        );
    }

    // Cal.com: hex HMAC of the body, no timestamp.
    let cal_hook = BookingWebhook::cal(
        as_function(store, role::CAL_WEBHOOK),
        vec![Secret::new(CAL_SECRET)],
        clock(),
    );
    let cal_fixtures: Vec<Value> = [
        "BOOKING_CREATED",
        "BOOKING_RESCHEDULED",
        "BOOKING_CANCELLED",
        "BOOKING_REQUESTED_RESCHEDULE",
        "BOOKING_CREATED_CONFIRMED",
        "BOOKING_REJECTED",
    ]
    .iter()
    .map(|t| {
        // Dated now (the handler runs on the system clock and refuses deliveries older than
        // the delivery ledger keeps them).
        let mut body = json_fixture(&format!("cal/{t}.body.json"));
        body["createdAt"] = json!(sales::domain::time_format::to_sortable(
            OffsetDateTime::now_utc()
        ));
        body
    })
    .collect();
    for seed in 0..n {
        let body = mutate::bytes(&cal_fixtures[(seed % 3) as usize], seed);
        let signature = sign_hex(CAL_SECRET.as_bytes(), &[&body]);
        let request = apigw_request(
            "POST",
            "/",
            &[("X-Cal-Signature-256", &signature)],
            &body,
            binary(&body),
            None,
        );
        count(
            &mut counts,
            "cal-webhook",
            cal_hook.handle(request).await.status().as_u16(),
        );
    }

    // Calendly: t=…,v1=… over "{t}.{body}".
    let calendly_hook = BookingWebhook::calendly(
        as_function(store, role::CALENDLY_WEBHOOK),
        vec![Secret::new(CALENDLY_KEY)],
        clock(),
    );
    let calendly_fixtures: Vec<Value> = [
        "invitee.created",
        "invitee.canceled",
        "invitee.created.rescheduled",
        "invitee.canceled.rescheduled",
    ]
    .iter()
    .map(|e| json_fixture(&format!("calendly/{e}.body.json")))
    .collect();
    for seed in 0..n {
        let body = mutate::bytes(&calendly_fixtures[(seed % 4) as usize], seed);
        let signature = timestamped_header(CALENDLY_KEY.as_bytes(), &body, now().unix_timestamp());
        let request = apigw_request(
            "POST",
            "/",
            &[("Calendly-Webhook-Signature", &signature)],
            &body,
            binary(&body),
            None,
        );
        count(
            &mut counts,
            "calendly-webhook",
            calendly_hook.handle(request).await.status().as_u16(),
        );
    }

    // create-checkout: mutated bodies (Stripe answers every session it is asked for).
    let stripe = stripe_server().await;
    let config = config(&stripe);
    let client = StripeClient::new(config.stripe_api_base.clone(), Secret::new("sk_test_fuzz"))
        .unwrap()
        .with_retry_base(std::time::Duration::from_millis(1));
    let checkout = CreateCheckout::new(
        as_function(store, role::CREATE_CHECKOUT),
        client,
        config,
        clock(),
    );
    let order =
        json!({"email": "fuzz@example.com", "plan_type": "standard", "company_name": "Acme"});
    for seed in 0..n / 2 {
        let body = mutate::bytes(&order, seed);
        let request = apigw_request(
            "POST",
            "/billing/create-checkout",
            &[("content-type", "application/json")],
            &body,
            binary(&body),
            None,
        );
        count(
            &mut counts,
            "create-checkout",
            checkout.handle(request).await.status().as_u16(),
        );
    }

    // pipeline: mutated edits of one deal, and lists with mutated queries.
    let pipeline = PipelineApi::new(as_function(store, role::PIPELINE), clock());
    let lead = store
        .find_or_create_lead(
            &NewLead::new(
                EmailAddress::parse("deal@example.com").unwrap(),
                LeadSource::SalesTeam,
            ),
            now(),
        )
        .await
        .unwrap();
    let path = format!("/pipeline/leads/{}", lead.id);
    let edit = json!({"stage": "contacted", "next_action": "Call", "deal_value_aud": "900",
                      "probability": 30, "assigned_to": "ana@agency.example"});
    let sam = Some("arn:aws:iam::123456789012:user/sam");
    for seed in 0..n / 2 {
        // The deal's current version, so that an edit that survives the mutation is applied.
        let version = store.lead(&lead.id).await.unwrap().map_or(1, |l| l.version);
        let mut body = edit.clone();
        body["version"] = json!(version);
        mutate::json(&mut body, seed);
        let request = iam_request("PATCH", &path, "", Some(&body), sam);
        count(
            &mut counts,
            "pipeline PATCH",
            pipeline.handle(request).await.status().as_u16(),
        );
        let mut rng = mutate::Rng::new(seed);
        let query = match rng.below(5) {
            0 => format!("stage=prospect&limit={}", rng.below(150)),
            1 => format!("assigned_to={}&limit=5", "a".repeat(1 + rng.below(400))),
            2 => format!("stage=contacted&cursor={}", "Zm9v".repeat(rng.below(800))),
            3 => format!("stage={}", "x".repeat(rng.below(3000))),
            _ => format!(
                "due_before=%FF%FE&stage=demo_booked&limit=-{}",
                rng.below(1000)
            ),
        };
        let request = iam_request("GET", "/pipeline/leads", &query, None, sam);
        count(
            &mut counts,
            "pipeline GET",
            pipeline.handle(request).await.status().as_u16(),
        );
    }

    for (what, statuses) in &counts {
        println!("fuzz {what}: {statuses:?}");
    }
    if let Some(peak) = server_peak_mb() {
        println!("fuzz: local DynamoDB peak memory {peak:.0} MB");
    }
    let failures: Vec<_> = counts
        .iter()
        .flat_map(|(what, statuses)| {
            statuses
                .keys()
                .filter(|s| **s >= 500)
                .map(move |s| (what, s))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "5xx answers: {failures:?} in {counts:?}"
    );

    audit(store).await;
    table.drop_table().await;
}

/// Reads every item the table holds through the store's own readers: each must decode.
async fn audit(store: &SalesStore) {
    let mut start = None;
    let mut seen = 0;
    loop {
        let page = store
            .client()
            .scan()
            .table_name(store.table_name())
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan");
        for item in page.items() {
            seen += 1;
            let text = |name: &str| {
                item.get(name)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default()
            };
            let (pk, sk) = (text("pk"), text("sk"));
            let ok = if let Some(id) = pk.strip_prefix("LEAD#") {
                let id = sales::domain::LeadId::parse(id).expect("a lead id in the key");
                store.lead_detail(&id).await.map(|d| d.is_some())
            } else if let Some(email) = pk.strip_prefix("EMAIL#") {
                let email = EmailAddress::parse(email).expect("an e-mail in the key");
                store.lead_by_email(&email).await.map(|l| l.is_some())
            } else if let Some(customer) = pk.strip_prefix("CUSTOMER#") {
                store.billing_state(customer).await.map(|_| true)
            } else if let Some(charge) = pk.strip_prefix("CHARGE#") {
                store.charge_customer(charge).await.map(|c| c.is_some())
            } else if pk == "FOUNDING" || pk.starts_with("FOUNDER#") {
                store.founding_spot_items().await.map(|_| true)
            } else if pk == "WAITLIST" || pk.starts_with("WAITLISTED#") {
                store.waitlist().await.map(|_| true)
            } else if pk == "PIPELINE" {
                store.pipeline_summary().await.map(|_| true)
            } else if pk.starts_with("DELIVERY#") {
                Ok(text("state") == "done")
            } else {
                Ok(false)
            };
            match ok {
                Ok(true) => {}
                other => panic!("the store cannot read {pk} / {sk}: {other:?}"),
            }
        }
        match page.last_evaluated_key() {
            Some(key) if !key.is_empty() => start = Some(key.clone()),
            _ => break,
        }
    }
    println!("fuzz: {seen} items, every one readable by the store");
}

/// The local DynamoDB server's peak resident memory (its pid file, as dynamodb.sh writes it).
fn server_peak_mb() -> Option<f64> {
    let port = std::env::var("DYNAMODB_PORT").unwrap_or_else(|_| "8000".into());
    let pidfile = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../.local/dynamodb-{port}.pid"));
    let pid = std::fs::read_to_string(pidfile).ok()?;
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace()
        .nth(1)?
        .parse::<f64>()
        .ok()
        .map(|kb| kb / 1024.0)
}
