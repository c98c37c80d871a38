//! `POST /billing/create-checkout`: holds a founding spot (or not) and starts Stripe Checkout.

use lambda_http::{run, service_fn, Error, Request};
use sales::handlers::{Clock, CreateCheckout};
use sales::lambda::runtime::Deps;
use sales::lambda::telemetry::with_request_span;

#[tokio::main]
async fn main() -> Result<(), Error> {
    sales::lambda::telemetry::init_logging(env!("CARGO_BIN_NAME"));
    let deps = Deps::load(env!("CARGO_BIN_NAME")).await?;
    let stripe = deps.stripe()?;
    let handler = &CreateCheckout::new(deps.store, stripe, deps.config, Clock::system());
    run(service_fn(move |request: Request| {
        with_request_span(request, |request| async move {
            Ok::<_, Error>(handler.handle(request).await)
        })
    }))
    .await
}
