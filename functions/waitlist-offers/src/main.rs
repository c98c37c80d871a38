//! `waitlist-offers`: run every 5 minutes by an EventBridge schedule (any event starts one
//! sweep): offers freed founding spots to the waitlist in order and e-mails each offer once.

use lambda_http::lambda_runtime::{run, service_fn, LambdaEvent};
use lambda_http::Error;
use sales::handlers::{Clock, WaitlistOffers};
use sales::lambda::runtime::Deps;
use sales::providers::ses::OfferMailer;

#[tokio::main]
async fn main() -> Result<(), Error> {
    sales::lambda::telemetry::init_logging(env!("CARGO_BIN_NAME"));
    let deps = Deps::load(env!("CARGO_BIN_NAME")).await?;
    let config = &deps.config;
    // Without the e-mail's settings the sweep still makes offers (the spots are reserved in
    // order) and says, each run, that their e-mails wait for the configuration.
    let mailer = OfferMailer::new(
        deps.sesv2(),
        config.offer_sender.clone(),
        config.offer_template.clone(),
        config.offer_link_base.clone(),
        config.offer_signing_key.clone(),
    )
    .inspect_err(|e| tracing::error!(error = %e, "offer e-mails are off"))
    .ok();
    let handler = &WaitlistOffers::new(deps.store.clone(), mailer, Clock::system());
    run(service_fn(
        move |_event: LambdaEvent<serde_json::Value>| async move {
            let report = handler.run().await?;
            Ok::<_, Error>(serde_json::to_value(report)?)
        },
    ))
    .await
}
