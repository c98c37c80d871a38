//! Stripe's webhook (function URL): payments, expiries, subscriptions, invoices.

use lambda_http::{run, service_fn, Error, Request};
use sales::handlers::{Clock, StripeWebhook};
use sales::lambda::runtime::Deps;
use sales::lambda::telemetry::with_request_span;

#[tokio::main]
async fn main() -> Result<(), Error> {
    sales::lambda::telemetry::init_logging(env!("CARGO_BIN_NAME"));
    let deps = Deps::load(env!("CARGO_BIN_NAME")).await?;
    let secrets = deps.stripe_webhook_secrets()?;
    let alerts = deps.team_alerts();
    let handler = &StripeWebhook::new(deps.store, secrets, Clock::system()).with_alerts(alerts);
    run(service_fn(move |request: Request| {
        with_request_span(request, |request| async move {
            Ok::<_, Error>(handler.handle(request).await)
        })
    }))
    .await
}
