//! Cal.com's webhook (function URL): demo bookings created, cancelled and rescheduled.

use lambda_http::{run, service_fn, Error, Request};
use sales::handlers::BookingWebhook;
use sales::lambda::clock::Clock;
use sales::lambda::runtime::Deps;
use sales::lambda::telemetry::with_request_span;

#[tokio::main]
async fn main() -> Result<(), Error> {
    sales::lambda::telemetry::init_logging(env!("CARGO_BIN_NAME"));
    let deps = Deps::load(env!("CARGO_BIN_NAME")).await?;
    let secrets = deps.cal_webhook_secrets()?;
    let alerts = deps.team_alerts();
    let handler = &BookingWebhook::cal(deps.store, secrets, Clock::system()).with_alerts(alerts);
    run(service_fn(move |request: Request| {
        with_request_span(request, |request| async move {
            Ok::<_, Error>(handler.handle(request).await)
        })
    }))
    .await
}
