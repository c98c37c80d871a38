use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::future::join_all;
use sales::handlers::{Clock, FoundingSpots};
use sales::lambda::http::Cors;
use sales_tests::{apigw_request, as_function, role, TestTable};
use serde_json::json;
use time::OffsetDateTime;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

use crate::{checkout_handler, json_post, now};
use sales_tests::response_json;

/// Stripe's `POST /v1/checkout/sessions`, checking parameters as Stripe documents them.
pub struct CheckoutSessions {
    pub now: OffsetDateTime,
    pub created: AtomicUsize,
}

pub fn form(request: &wiremock::Request) -> HashMap<String, String> {
    url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect()
}

fn stripe_error(param: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(400).set_body_json(json!({
        "error": {"type": "invalid_request_error", "code": "parameter_unknown", "param": param, "message": message}
    }))
}

impl Respond for CheckoutSessions {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let form = form(request);
        for key in form.keys() {
            let known = matches!(
                key.as_str(),
                "mode"
                    | "line_items[0][price]"
                    | "line_items[0][quantity]"
                    | "customer_email"
                    | "client_reference_id"
                    | "success_url"
                    | "cancel_url"
                    | "allow_promotion_codes"
                    | "expires_at"
            ) || key.starts_with("metadata[")
                || key.starts_with("subscription_data[metadata][");
            if !known {
                return stripe_error(key, &format!("Received unknown parameter: {key}"));
            }
        }
        for required in [
            "mode",
            "line_items[0][price]",
            "line_items[0][quantity]",
            "success_url",
        ] {
            if !form.contains_key(required) {
                return stripe_error(required, &format!("Missing required param: {required}."));
            }
        }
        if let Some(expires_at) = form.get("expires_at") {
            let seconds = expires_at.parse::<i64>().unwrap_or(0) - self.now.unix_timestamp();
            if !(1800..=86_400).contains(&seconds) {
                return stripe_error("expires_at", "The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.");
            }
        }
        let n = self.created.fetch_add(1, Ordering::SeqCst) + 1;
        let id = format!("cs_test_{n}");
        ResponseTemplate::new(200).set_body_json(json!({
            "id": id,
            "object": "checkout.session",
            "url": format!("https://checkout.stripe.com/c/pay/{id}"),
            "expires_at": form.get("expires_at").and_then(|e| e.parse::<i64>().ok()),
            "metadata": {}
        }))
    }
}

pub async fn stripe_fake(at: OffsetDateTime) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/checkout/sessions"))
        .respond_with(CheckoutSessions {
            now: at,
            created: AtomicUsize::new(0),
        })
        .mount(&server)
        .await;
    server
}

fn founding(email: &str) -> serde_json::Value {
    json!({"email": email, "plan_type": "founding", "company_name": "Acme Pty Ltd"})
}

#[tokio::test]
async fn a_founding_checkout_holds_a_spot_and_sends_stripe_the_documented_parameters() {
    let table = TestTable::new().await;
    let stripe = stripe_fake(now()).await;
    let handler = checkout_handler(&table.store, &stripe, now());

    let (status, body) = response_json(
        handler
            .handle(json_post(
                "/billing/create-checkout",
                &founding(" Ada@Example.com "),
            ))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["plan_type"], "founding");
    assert_eq!(body["spot_number"], 1);
    assert_eq!(body["session_id"], "cs_test_1");
    assert_eq!(
        body["checkout_url"],
        "https://checkout.stripe.com/c/pay/cs_test_1"
    );

    let requests = stripe.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(
        request.headers.get("stripe-version").unwrap(),
        "2026-07-29.dahlia"
    );
    assert_eq!(
        request.headers.get("authorization").unwrap(),
        "Bearer sk_test_local"
    );
    assert!(!request.headers.get("idempotency-key").unwrap().is_empty());
    let form = form(request);
    let lead = table
        .store
        .lead_by_email(&sales::domain::EmailAddress::parse("ada@example.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(form["mode"], "subscription");
    assert_eq!(form["line_items[0][price]"], "price_founding");
    assert_eq!(form["line_items[0][quantity]"], "1");
    assert_eq!(form["customer_email"], "ada@example.com");
    assert_eq!(form["client_reference_id"], lead.id.as_str());
    assert_eq!(form["metadata[lead_id]"], lead.id.as_str());
    assert_eq!(form["metadata[plan_type]"], "founding");
    assert_eq!(form["metadata[founding_spot]"], "1");
    assert_eq!(form["subscription_data[metadata][founding_spot]"], "1");
    assert_eq!(
        form["subscription_data[metadata][lead_id]"],
        lead.id.as_str()
    );
    assert!(form["metadata[founding_hold]"].starts_with("hold_"));
    assert_eq!(
        form["success_url"],
        "https://app.keiracom.com/welcome?session_id={CHECKOUT_SESSION_ID}"
    );
    assert_eq!(form["cancel_url"], "https://keiracom.com/pricing");
    assert_eq!(
        form["expires_at"],
        (now() + sales::domain::CHECKOUT_LIFETIME)
            .unix_timestamp()
            .to_string()
    );
    assert!(
        !form.contains_key("allow_promotion_codes"),
        "no promotion codes on the founding price"
    );

    assert_eq!(
        table.store.founding_tally(now()).await.unwrap().remaining,
        19
    );
    table.drop_table().await;
}

#[tokio::test]
async fn a_standard_checkout_takes_no_spot_and_allows_promotion_codes() {
    let table = TestTable::new().await;
    let stripe = stripe_fake(now()).await;
    let handler = checkout_handler(&table.store, &stripe, now());
    let input = json!({"email": "std@example.com", "plan_type": "standard", "success_url": "https://keiracom.com/thanks?from=pricing"});
    let (status, body) = response_json(
        handler
            .handle(json_post("/billing/create-checkout", &input))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("spot_number").is_none());
    let form = form(&stripe.received_requests().await.unwrap()[0]);
    assert_eq!(form["line_items[0][price]"], "price_standard");
    assert_eq!(form["allow_promotion_codes"], "true");
    assert_eq!(
        form["success_url"],
        "https://keiracom.com/thanks?from=pricing&session_id={CHECKOUT_SESSION_ID}"
    );
    assert!(!form.contains_key("expires_at") && !form.contains_key("metadata[founding_spot]"));
    assert_eq!(
        table.store.founding_tally(now()).await.unwrap().remaining,
        20
    );
    table.drop_table().await;
}

#[tokio::test]
async fn bad_input_is_a_400_naming_the_field_and_nothing_is_written() {
    let table = TestTable::new().await;
    let stripe = stripe_fake(now()).await;
    let handler = checkout_handler(&table.store, &stripe, now());
    let cases = [
        (
            json!({"email": "not-an-email", "plan_type": "founding"}),
            "email",
        ),
        (json!({"plan_type": "founding"}), "email"),
        (
            json!({"email": "a@example.com", "plan_type": "gold"}),
            "plan_type",
        ),
        (
            json!({"email": "a@example.com", "plan_type": "standard", "success_url": "https://evil.example/phish"}),
            "success_url",
        ),
        (
            json!({"email": "a@example.com", "plan_type": "standard", "cancel_url": "javascript:alert(1)"}),
            "cancel_url",
        ),
    ];
    for (input, field) in cases {
        let (status, body) = response_json(
            handler
                .handle(json_post("/billing/create-checkout", &input))
                .await,
        )
        .await;
        assert_eq!(
            (status, body["field"].as_str()),
            (400, Some(field)),
            "{input} → {body}"
        );
    }
    let not_json = apigw_request(
        "POST",
        "/billing/create-checkout",
        &[],
        b"email=a@example.com",
        false,
        None,
    );
    let (status, body) = response_json(handler.handle(not_json).await).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("bad_request")));
    let huge = json!({"email": "a@example.com", "plan_type": "standard", "company_name": "x".repeat(20_000)});
    let (status, _) = response_json(
        handler
            .handle(json_post("/billing/create-checkout", &huge))
            .await,
    )
    .await;
    assert_eq!(status, 413);
    assert!(
        stripe.received_requests().await.unwrap().is_empty(),
        "Stripe is never called for bad input"
    );
    assert_eq!(
        table.store.founding_tally(now()).await.unwrap().remaining,
        20
    );
    assert_eq!(
        table
            .store
            .pipeline_summary()
            .await
            .unwrap()
            .stages
            .iter()
            .map(|s| s.count)
            .sum::<i64>(),
        0
    );
    table.drop_table().await;
}

#[tokio::test]
async fn the_same_email_again_gets_the_same_spot() {
    let table = TestTable::new().await;
    let stripe = stripe_fake(now()).await;
    let first = checkout_handler(&table.store, &stripe, now());
    let later = now() + time::Duration::minutes(20);
    let second = checkout_handler(&table.store, &stripe, later);
    let (_, a) = response_json(
        first
            .handle(json_post(
                "/billing/create-checkout",
                &founding("twice@example.com"),
            ))
            .await,
    )
    .await;
    let (status, b) = response_json(
        second
            .handle(json_post(
                "/billing/create-checkout",
                &founding("twice@example.com"),
            ))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(a["spot_number"], b["spot_number"]);
    let requests = stripe.received_requests().await.unwrap();
    let (f1, f2) = (form(&requests[0]), form(&requests[1]));
    assert_eq!(
        f1["metadata[founding_hold]"], f2["metadata[founding_hold]"],
        "one hold behind both sessions"
    );
    // The second session still gets Stripe's full 30-minute minimum: the hold was extended.
    assert_eq!(
        f2["expires_at"],
        (later + sales::domain::CHECKOUT_LIFETIME)
            .unix_timestamp()
            .to_string()
    );
    let tally = table.store.founding_tally(later).await.unwrap();
    assert_eq!((tally.held, tally.remaining), (1, 19));
    table.drop_table().await;
}

sales_tests::on_both_servers!(with_no_spot_left_the_answer_is_409_with_a_waitlist_position);
async fn with_no_spot_left_the_answer_is_409_with_a_waitlist_position(table: TestTable) {
    let stripe = stripe_fake(now()).await;
    let handler = checkout_handler(&table.store, &stripe, now());
    let results = join_all((0..22).map(|i| {
        let handler = &handler;
        async move {
            response_json(
                handler
                    .handle(json_post(
                        "/billing/create-checkout",
                        &founding(&format!("v{i}@example.com")),
                    ))
                    .await,
            )
            .await
        }
    }))
    .await;
    let ok = results.iter().filter(|(status, _)| *status == 200).count();
    let mut positions: Vec<i64> = results
        .iter()
        .filter(|(status, body)| *status == 409 && body["error"] == "founding_full")
        .map(|(_, body)| body["waitlist_position"].as_i64().unwrap())
        .collect();
    positions.sort_unstable();
    assert_eq!(ok, 20);
    assert_eq!(positions, vec![1, 2]);
    // Asking again keeps the waitlist place.
    let (i, (_, first)) = results
        .iter()
        .enumerate()
        .find(|(_, (status, _))| *status == 409)
        .unwrap();
    let (status, again) = response_json(
        handler
            .handle(json_post(
                "/billing/create-checkout",
                &founding(&format!("v{i}@example.com")),
            ))
            .await,
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(again["waitlist_position"], first["waitlist_position"]);
    table.drop_table().await;
}

#[tokio::test]
async fn stripe_5xx_is_retried_with_the_same_idempotency_key() {
    let table = TestTable::new().await;
    let stripe = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/checkout/sessions"))
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_json(json!({"error": {"type": "api_error", "message": "boom"}})),
        )
        .up_to_n_times(1)
        .mount(&stripe)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/checkout/sessions"))
        .respond_with(CheckoutSessions {
            now: now(),
            created: AtomicUsize::new(0),
        })
        .mount(&stripe)
        .await;
    let handler = checkout_handler(&table.store, &stripe, now());
    let (status, body) = response_json(
        handler
            .handle(json_post(
                "/billing/create-checkout",
                &founding("retry@example.com"),
            ))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let requests = stripe.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[0].headers.get("idempotency-key"),
        requests[1].headers.get("idempotency-key")
    );
    assert_eq!(requests[0].body, requests[1].body);
    table.drop_table().await;
}

#[tokio::test]
async fn a_stripe_error_releases_the_hold_and_answers_502_without_retrying_4xx() {
    let table = TestTable::new().await;
    let stripe = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/checkout/sessions"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {"type": "invalid_request_error", "code": "resource_missing", "param": "line_items[0][price]", "message": "No such price"}})))
        .mount(&stripe)
        .await;
    let handler = checkout_handler(&table.store, &stripe, now());
    let (status, body) = response_json(
        handler
            .handle(json_post(
                "/billing/create-checkout",
                &founding("fail@example.com"),
            ))
            .await,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (502, Some("payment_provider_unavailable"))
    );
    assert_eq!(
        stripe.received_requests().await.unwrap().len(),
        1,
        "a 4xx is not retried"
    );
    assert_eq!(
        table.store.founding_tally(now()).await.unwrap().remaining,
        20,
        "the hold was released"
    );
    table.drop_table().await;
}

#[tokio::test]
async fn founding_spots_answers_with_cors_and_caches_per_instance() {
    let table = TestTable::new().await;
    let cors = Cors::new(
        Some(sales::lambda::config::Origin::parse("https://keiracom.com").unwrap()),
        "GET, OPTIONS",
    );
    let spots = FoundingSpots::new(
        as_function(&table.store, role::FOUNDING_SPOTS),
        cors,
        Clock::fixed(now()),
    );
    let get = || {
        apigw_request(
            "GET",
            "/billing/founding-spots",
            &[("origin", "https://keiracom.com")],
            b"",
            false,
            None,
        )
    };
    let response = spots.handle(get()).await;
    assert_eq!(
        response
            .headers()
            .get("access-control-allow-origin")
            .unwrap(),
        "https://keiracom.com"
    );
    assert_eq!(
        response.headers().get("cache-control").unwrap(),
        "public, max-age=5"
    );
    let (status, body) = response_json(response).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"total": 20, "remaining": 20, "members": 0, "held": 0, "discount_percent": 40, "waitlist_open": false})
    );

    // A hold taken now is not seen by this instance until its cached copy is 5 s old: the
    // second call made no DynamoDB request.
    let stripe = stripe_fake(now()).await;
    checkout_handler(&table.store, &stripe, now())
        .handle(json_post(
            "/billing/create-checkout",
            &founding("c@example.com"),
        ))
        .await;
    let (_, cached) = response_json(spots.handle(get()).await).await;
    assert_eq!(cached["remaining"], 20);
    // A fresh instance reads the table.
    let fresh = FoundingSpots::new(
        as_function(&table.store, role::FOUNDING_SPOTS),
        Cors::new(None, "GET"),
        Clock::fixed(now()),
    );
    let (_, body) = response_json(fresh.handle(get()).await).await;
    assert_eq!(
        (body["remaining"].as_i64(), body["held"].as_i64()),
        (Some(19), Some(1))
    );

    let preflight = spots
        .handle(apigw_request(
            "OPTIONS",
            "/billing/founding-spots",
            &[],
            b"",
            false,
            None,
        ))
        .await;
    assert_eq!(preflight.status(), 204);
    assert!(preflight
        .headers()
        .get("access-control-allow-methods")
        .is_some());
    table.drop_table().await;
}
