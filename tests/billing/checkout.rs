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
                    | "customer"
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
    assert!(!form.contains_key("metadata[founding_spot]"));
    // An explicit expiry (so that the lead's record of its open session knows when it closes):
    // 23 hours from the start of the request's 10-minute window.
    let expires: i64 = form["expires_at"].parse().unwrap();
    let left = expires - now().unix_timestamp();
    assert!((22 * 3600 + 50 * 60..=23 * 3600).contains(&left), "{left}");
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

/// The same e-mail checking out again while its session is open gets that same session (one
/// payable session per hold, the hold not extended); once the session has closed unpaid, while
/// the hold is still in its grace time, a new session for the same spot and hold, the hold
/// extended for it.
#[tokio::test]
async fn the_same_email_again_gets_the_same_session_then_a_new_one_once_it_closed() {
    let table = TestTable::new().await;
    let stripe = stripe_fake(now()).await;
    let post = || json_post("/billing/create-checkout", &founding("twice@example.com"));
    let (_, a) = response_json(
        checkout_handler(&table.store, &stripe, now())
            .handle(post())
            .await,
    )
    .await;
    let later = now() + time::Duration::minutes(20);
    let (status, b) = response_json(
        checkout_handler(&table.store, &stripe, later)
            .handle(post())
            .await,
    )
    .await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(
        (
            &a["spot_number"],
            &a["session_id"],
            &a["checkout_url"],
            &a["expires_at"]
        ),
        (
            &b["spot_number"],
            &b["session_id"],
            &b["checkout_url"],
            &b["expires_at"]
        ),
        "the same open session, the same expiry"
    );
    assert_eq!(
        stripe.received_requests().await.unwrap().len(),
        1,
        "no second session was asked for"
    );

    // 31 minutes on, the session has closed unpaid; the hold is in its grace time.
    let closed = now() + time::Duration::minutes(31);
    let (status, c) = response_json(
        checkout_handler(&table.store, &stripe, closed)
            .handle(post())
            .await,
    )
    .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["spot_number"], a["spot_number"]);
    assert_ne!(c["session_id"], a["session_id"], "a new session");
    let requests = stripe.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    let (f1, f2) = (form(&requests[0]), form(&requests[1]));
    assert_eq!(
        f1["metadata[founding_hold]"], f2["metadata[founding_hold]"],
        "one hold behind both sessions"
    );
    // The new session gets Stripe's full 30 minutes: the hold was extended.
    assert_eq!(
        f2["expires_at"],
        (closed + sales::domain::CHECKOUT_LIFETIME)
            .unix_timestamp()
            .to_string()
    );
    let tally = table.store.founding_tally(closed).await.unwrap();
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
        json!({"total": 20, "remaining": 20, "members": 0, "held": 0, "reserved": 0, "discount_percent": 40, "waitlist_open": false})
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

/// One client address holds at most 2 live founding spots (the default cap): 8 founding
/// checkouts with different e-mails from one address at once get 2 holds and 6 answers 429
/// saying when to try again; another address still gets a spot; an IPv6 client counts by its
/// /64; once the address's holds lapse it can hold again, and a released or paid hold gives its
/// slot back at once.
#[tokio::test]
async fn one_address_holds_at_most_two_founding_spots_at_once() {
    use crate::json_post_from;
    use sales::domain::{EmailAddress, HoldSlot};
    let table = TestTable::new().await;
    let store = &table.store;
    let stripe = stripe_fake(now()).await;
    let from = |email: String, ip: &'static str, at: OffsetDateTime| {
        let stripe = &stripe;
        async move {
            let response = checkout_handler(store, stripe, at)
                .handle(json_post_from(
                    "/billing/create-checkout",
                    &founding(&email),
                    ip,
                ))
                .await;
            let retry_after = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            let (status, body) = response_json(response).await;
            (status, body, retry_after)
        }
    };
    let answers =
        join_all((0..8).map(|i| from(format!("throwaway{i}@example.com"), "192.0.2.1", now())))
            .await;
    let held: Vec<_> = answers.iter().filter(|(s, _, _)| *s == 200).collect();
    let refused: Vec<_> = answers.iter().filter(|(s, _, _)| *s == 429).collect();
    println!(
        "one address, 8 founding checkouts: {} holds, {} refused (429)",
        held.len(),
        refused.len()
    );
    assert_eq!((held.len(), refused.len()), (2, 6), "{answers:?}");
    for (_, body, retry_after) in &refused {
        assert_eq!(body["error"], "too_many_holds", "{body}");
        assert!(
            body["reason"].as_str().unwrap().contains("try again"),
            "{body}"
        );
        let seconds = body["retry_after_seconds"].as_i64().unwrap();
        // At the latest when the first hold lapses: 36 minutes from now.
        assert!((1..=36 * 60).contains(&seconds), "{seconds}");
        assert_eq!(retry_after.as_deref(), Some(seconds.to_string().as_str()));
    }
    // Another address is another client.
    let (status, _, _) = from("real.buyer@example.com".into(), "192.0.2.2", now()).await;
    assert_eq!(status, 200);
    // IPv6: one /64 is one client.
    for (email, ip, expected) in [
        ("v6a@example.com", "2001:db8:1:2::1", 200),
        ("v6b@example.com", "2001:db8:1:2::2", 200),
        ("v6c@example.com", "2001:db8:1:2:ffff::9", 429),
        ("v6d@example.com", "2001:db8:1:3::1", 200),
    ] {
        let (status, body, _) = from(email.into(), ip, now()).await;
        assert_eq!(status, expected, "{ip}: {body}");
    }
    let tally = store.founding_tally(now()).await.unwrap();
    assert_eq!(tally.held, 6);

    // A released hold gives its slot back at once (here: the first address's first hold, as
    // the Checkout Session's expiry would release it, by what the session carries).
    let sessions = stripe.received_requests().await.unwrap();
    let first = form(&sessions[0]);
    let slot = HoldSlot::parse(&first["metadata[hold_slot]"]).expect("the session names its slot");
    let spot = sales::domain::SpotNumber::parse(&first["metadata[founding_spot]"]).unwrap();
    let hold = sales::domain::HoldRef::from_stored(first["metadata[founding_hold]"].as_str());
    let email = EmailAddress::parse(&first["customer_email"]).unwrap();
    as_function(store, role::STRIPE_WEBHOOK)
        .release_founding_hold(&email, spot, &hold, Some(&slot), None, None, now())
        .await
        .unwrap();
    let (status, body, _) = from("after.release@example.com".into(), "192.0.2.1", now()).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, _) = from("still.capped@example.com".into(), "192.0.2.1", now()).await;
    assert_eq!(status, 429);

    // Once its holds lapse (36 minutes on), the address can hold again.
    let later = now() + time::Duration::minutes(37);
    let stripe_later = stripe_fake(later).await;
    let (status, body) = response_json(
        checkout_handler(store, &stripe_later, later)
            .handle(json_post_from(
                "/billing/create-checkout",
                &founding("back.again@example.com"),
                "192.0.2.1",
            ))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    table.drop_table().await;
}

/// The standard plan too: the same e-mail twice gets the same open session (one payable
/// session per lead and plan); the session's expiry is explicit, so the stored copy knows when
/// it closes.
#[tokio::test]
async fn the_same_email_twice_gets_the_same_standard_session() {
    let table = TestTable::new().await;
    let stripe = stripe_fake(now()).await;
    let standard = json!({"email": "std@example.com", "plan_type": "standard"});
    let mut answers = Vec::new();
    for at in [now(), now() + time::Duration::hours(2)] {
        let (status, body) = response_json(
            checkout_handler(&table.store, &stripe, at)
                .handle(json_post("/billing/create-checkout", &standard))
                .await,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        answers.push(body);
    }
    assert_eq!(answers[0]["session_id"], answers[1]["session_id"]);
    assert_eq!(answers[0]["checkout_url"], answers[1]["checkout_url"]);
    let requests = stripe.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1, "one session asked for");
    assert!(form(&requests[0]).contains_key("expires_at"));
    // A day later that session has closed: a new one.
    let next_day = now() + time::Duration::hours(24);
    let stripe_next_day = stripe_fake(next_day).await;
    let (status, body) = response_json(
        checkout_handler(&table.store, &stripe_next_day, next_day)
            .handle(json_post("/billing/create-checkout", &standard))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(stripe_next_day.received_requests().await.unwrap().len(), 1);
    table.drop_table().await;
}

/// With the human check configured, a founding checkout needs a valid Turnstile token before
/// any spot is held: missing or invalid → 400 `human_check_failed` and nothing written; a token
/// Turnstile says is spent → 400; Turnstile failing → 503; a valid one → the hold. The standard
/// plan is not checked.
#[tokio::test]
async fn a_configured_human_check_guards_founding_checkouts() {
    use sales::handlers::CreateCheckout;
    use wiremock::matchers::body_string_contains;
    let table = TestTable::new().await;
    let stripe = stripe_fake(now()).await;
    let turnstile = MockServer::start().await;
    let answer = |body: serde_json::Value| ResponseTemplate::new(200).set_body_json(body);
    Mock::given(method("POST"))
        .and(body_string_contains("response=good-token"))
        .respond_with(answer(
            json!({"success": true, "error-codes": [], "hostname": "keiracom.com"}),
        ))
        .mount(&turnstile)
        .await;
    Mock::given(method("POST"))
        .and(body_string_contains("response=spent-token"))
        .respond_with(answer(
            json!({"success": false, "error-codes": ["timeout-or-duplicate"]}),
        ))
        .mount(&turnstile)
        .await;
    Mock::given(method("POST"))
        .and(body_string_contains("response=down-token"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&turnstile)
        .await;
    Mock::given(method("POST"))
        .respond_with(answer(
            json!({"success": false, "error-codes": ["invalid-input-response"]}),
        ))
        .mount(&turnstile)
        .await;
    let verify_url = format!("{}/turnstile/v0/siteverify", turnstile.uri());
    let config = sales_tests::function_config(
        &stripe.uri(),
        &[
            ("STRIPE_WEBHOOK_SECRET", "whsec_x"),
            ("TURNSTILE_SECRET_KEY", "0x4AAAAAAAtest"),
            ("TURNSTILE_VERIFY_URL", &verify_url),
        ],
    );
    let handler = CreateCheckout::new(
        as_function(&table.store, role::CREATE_CHECKOUT),
        crate::stripe_client(&config),
        config,
        Clock::fixed(now()),
    );
    let with_token = |email: &str, token: Option<&str>| {
        let mut body = founding(email);
        if let Some(token) = token {
            body["turnstile_token"] = json!(token);
        }
        json_post("/billing/create-checkout", &body)
    };
    for (token, status) in [
        (None, 400),
        (Some("forged"), 400),
        (Some("spent-token"), 400),
    ] {
        let (got, body) =
            response_json(handler.handle(with_token("bot@example.com", token)).await).await;
        assert_eq!(
            (got, body["error"].as_str()),
            (status, Some("human_check_failed")),
            "{token:?}: {body}"
        );
        assert!(body["reason"].as_str().unwrap().contains("check"), "{body}");
    }
    let (got, body) = response_json(
        handler
            .handle(with_token("bot@example.com", Some("down-token")))
            .await,
    )
    .await;
    assert_eq!(got, 503, "{body}");
    assert_eq!(table.item_count().await, 0, "nothing held, no lead");
    let (got, body) = response_json(
        handler
            .handle(with_token("human@example.com", Some("good-token")))
            .await,
    )
    .await;
    assert_eq!(
        (got, body["spot_number"].as_i64()),
        (200, Some(1)),
        "{body}"
    );
    let standard = json!({"email": "std@example.com", "plan_type": "standard"});
    let (got, body) = response_json(
        handler
            .handle(json_post("/billing/create-checkout", &standard))
            .await,
    )
    .await;
    assert_eq!(got, 200, "no check for the standard plan: {body}");
    // The client's address went to Turnstile as remoteip.
    let sent = turnstile.received_requests().await.unwrap();
    assert!(
        sent.iter()
            .all(|r| String::from_utf8_lossy(&r.body).contains("remoteip=10.")),
        "{sent:?}"
    );
    table.drop_table().await;
}
