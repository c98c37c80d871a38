//! The functions under AWS's rules, which the local server applies on request
//! (`infra/local/aws_rules.py`): the rules layer itself, every function with DynamoDB stalled,
//! and launch day.

mod launch;
mod layer;
mod stall;

use sales::lambda::config::Config;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const STRIPE_WEBHOOK_SECRET: &str = "whsec_aws_rules";
pub const CAL_SECRET: &str = "cal-aws-rules";
pub const CALENDLY_KEY: &str = "calendly-aws-rules";

/// The functions' configuration, with Stripe at `stripe`.
pub fn config(stripe: &MockServer) -> Config {
    sales_tests::function_config(
        &stripe.uri(),
        &[("STRIPE_WEBHOOK_SECRET", STRIPE_WEBHOOK_SECRET)],
    )
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
