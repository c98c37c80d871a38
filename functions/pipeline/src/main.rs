//! The sales team's pipeline API (HTTP API routes with IAM authorization): summary, deals,
//! one deal in full, create and edit deals, founding members and the waitlist.

use lambda_http::{run, service_fn, Error, Request};
use sales::handlers::pipeline::PipelineApi;
use sales::lambda::clock::Clock;
use sales::lambda::runtime::Deps;
use sales::lambda::telemetry::with_request_span;

#[tokio::main]
async fn main() -> Result<(), Error> {
    sales::lambda::telemetry::init_logging(env!("CARGO_BIN_NAME"));
    let deps = Deps::load(env!("CARGO_BIN_NAME")).await?;
    let handler = &PipelineApi::new(deps.store, Clock::system());
    run(service_fn(move |request: Request| {
        with_request_span(request, |request| async move {
            Ok::<_, Error>(handler.handle(request).await)
        })
    }))
    .await
}
