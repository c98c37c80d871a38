//! `GET /billing/founding-spots`: how many of the 20 founding spots are left.

use lambda_http::{run, service_fn, Error, Request};
use sales::handlers::{Clock, FoundingSpots};
use sales::lambda::http::Cors;
use sales::lambda::runtime::Deps;
use sales::lambda::telemetry::with_request_span;

#[tokio::main]
async fn main() -> Result<(), Error> {
    sales::lambda::telemetry::init_logging(env!("CARGO_BIN_NAME"));
    let deps = Deps::load(env!("CARGO_BIN_NAME")).await?;
    let cors = Cors::new(deps.config.landing_origin.clone(), "GET, OPTIONS");
    let handler = &FoundingSpots::new(deps.store, cors, Clock::system());
    run(service_fn(move |request: Request| {
        with_request_span(request, |request| async move {
            Ok::<_, Error>(handler.handle(request).await)
        })
    }))
    .await
}
