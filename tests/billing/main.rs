//! The billing functions' handlers, called with API Gateway v2 / function URL requests, against
//! the local DynamoDB server and a Stripe API faked at the HTTP level.

mod alerts;
mod checkout;
mod membership;
mod offers;
mod webhook;

use sales::domain::signature::timestamped_header;
use sales::handlers::{Clock, CreateCheckout, StripeWebhook};
use sales::lambda::config::{Config, Secret};
use sales::providers::stripe::StripeClient;
use sales::SalesStore;
use sales_tests::{apigw_request, as_function, role};
use time::OffsetDateTime;
use wiremock::MockServer;

pub const WEBHOOK_SECRET: &str = "whsec_test_secret_for_unit_tests";

pub fn now() -> OffsetDateTime {
    time::macros::datetime!(2026-11-25 10:00 UTC)
}

pub fn config(stripe: &MockServer) -> Config {
    sales_tests::function_config(
        &stripe.uri(),
        &[
            ("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET),
            ("STRIPE_WEBHOOK_SECRET_PREVIOUS", "whsec_previous"),
        ],
    )
}

pub fn stripe_client(config: &Config) -> StripeClient {
    StripeClient::new(
        config.stripe_api_base.clone(),
        config.stripe_secret_key.clone().unwrap(),
    )
    .unwrap()
    .with_retry_base(std::time::Duration::from_millis(5))
}

pub fn checkout_handler(
    store: &SalesStore,
    stripe: &MockServer,
    at: OffsetDateTime,
) -> CreateCheckout {
    let config = config(stripe);
    CreateCheckout::new(
        as_function(store, role::CREATE_CHECKOUT),
        stripe_client(&config),
        config,
        Clock::fixed(at),
    )
}

pub fn webhook_handler(store: &SalesStore, at: OffsetDateTime) -> StripeWebhook {
    StripeWebhook::new(
        as_function(store, role::STRIPE_WEBHOOK),
        vec![Secret::new(WEBHOOK_SECRET), Secret::new("whsec_previous")],
        Clock::fixed(at),
    )
}

/// A JSON POST from a client address of its own (each call another one, so that the
/// per-client cap on founding holds only bites where a test sends from one address on purpose).
pub fn json_post(path: &str, body: &serde_json::Value) -> lambda_http::Request {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    json_post_from(
        path,
        body,
        &format!("10.{}.{}.{}", n >> 16 & 255, n >> 8 & 255, n & 255),
    )
}

/// A JSON POST from the client address `ip`.
pub fn json_post_from(path: &str, body: &serde_json::Value, ip: &str) -> lambda_http::Request {
    sales_tests::from_address(
        apigw_request(
            "POST",
            path,
            &[("content-type", "application/json")],
            body.to_string().as_bytes(),
            false,
            None,
        ),
        ip,
    )
}

/// A Stripe webhook delivery, signed with `secret` at `at`.
pub fn signed_event(body: &[u8], secret: &str, at: OffsetDateTime) -> lambda_http::Request {
    let signature = timestamped_header(secret.as_bytes(), body, at.unix_timestamp());
    apigw_request(
        "POST",
        "/",
        &[
            ("stripe-signature", signature.as_str()),
            ("content-type", "application/json"),
        ],
        body,
        false,
        None,
    )
}
