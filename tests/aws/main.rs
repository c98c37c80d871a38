//! The functions under AWS's rules, which the local server applies on request
//! (`infra/local/aws_rules.py`): the rules layer itself, every function with DynamoDB stalled,
//! and launch day.

mod launch;
mod layer;
mod stall;

use std::collections::HashMap;

use sales::lambda::config::Config;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const STRIPE_WEBHOOK_SECRET: &str = "whsec_aws_rules";
pub const CAL_SECRET: &str = "cal-aws-rules";
pub const CALENDLY_KEY: &str = "calendly-aws-rules";

/// The functions' configuration, with Stripe at `stripe`.
pub fn config(stripe: &MockServer) -> Config {
    let values = HashMap::from([
        ("STRIPE_SECRET_KEY", "sk_test_aws_rules".to_owned()),
        ("STRIPE_WEBHOOK_SECRET", STRIPE_WEBHOOK_SECRET.to_owned()),
        ("STRIPE_FOUNDING_PRICE_ID", "price_founding".to_owned()),
        ("STRIPE_STANDARD_PRICE_ID", "price_standard".to_owned()),
        ("STRIPE_API_BASE", stripe.uri()),
        (
            "ALLOWED_REDIRECT_ORIGINS",
            "https://keiracom.com,https://app.keiracom.com".to_owned(),
        ),
        ("LANDING_ORIGIN", "https://keiracom.com".to_owned()),
        (
            "CHECKOUT_SUCCESS_URL",
            "https://app.keiracom.com/welcome".to_owned(),
        ),
        (
            "CHECKOUT_CANCEL_URL",
            "https://keiracom.com/pricing".to_owned(),
        ),
        (
            "PORTAL_RETURN_URL",
            "https://app.keiracom.com/account".to_owned(),
        ),
    ]);
    Config::from_lookup(|key| values.get(key).cloned()).expect("config")
}

/// Stripe, answering every Checkout Session and portal session it is asked for.
pub async fn stripe() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/checkout/sessions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "cs_test_aws_rules", "object": "checkout.session",
            "url": "https://checkout.stripe.com/c/pay/cs_test_aws_rules"
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/billing_portal/sessions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "bps_aws_rules", "object": "billing_portal.session",
            "url": "https://billing.stripe.com/p/session/aws_rules"
        })))
        .mount(&server)
        .await;
    server
}
