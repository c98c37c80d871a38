//! `POST /billing/customer-portal`: the signed-in customer's Stripe billing portal.

use lambda_http::{run, service_fn, Error, Request};
use sales::billing::CustomerPortal;
use sales::runtime::Deps;

#[tokio::main]
async fn main() -> Result<(), Error> {
    sales::telemetry::init_logging();
    let deps = Deps::load().await?;
    let stripe = deps.stripe()?;
    let handler = &CustomerPortal::new(deps.store, stripe, deps.config);
    run(service_fn(move |request: Request| async move {
        Ok::<_, Error>(handler.handle(request).await)
    }))
    .await
}
