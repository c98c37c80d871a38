//! The sales team's tools against the local DynamoDB server: the `pipeline` function's routes
//! and the `salesctl` commands.

mod api;
mod board;
mod cli;

use sales::domain::{EmailAddress, LeadSource, NewLead, PipelineStage, PipelineUpdate, StageMove};
use sales::handlers::pipeline::PipelineApi;
use sales::lambda::clock::Clock;
use sales::SalesStore;
use sales_tests::{as_function, iam_request, response_json, role};
use serde_json::Value;
use time::macros::datetime;
use time::OffsetDateTime;

pub const NOW: OffsetDateTime = datetime!(2026-11-25 10:00 UTC);
pub const SAM: &str = "arn:aws:iam::123456789012:user/sam";

pub fn api(store: &SalesStore) -> PipelineApi {
    PipelineApi::new(as_function(store, role::PIPELINE), Clock::fixed(NOW))
}

/// Calls the API as the IAM user Sam.
pub async fn call(
    store: &SalesStore,
    method: &str,
    path: &str,
    query: &str,
    body: Option<Value>,
) -> (u16, Value) {
    response_json(
        api(store)
            .handle(iam_request(method, path, query, body.as_ref(), Some(SAM)))
            .await,
    )
    .await
}

pub fn email(raw: &str) -> EmailAddress {
    EmailAddress::parse(raw).unwrap()
}

/// A deal at a stage, with a next action date and value, put there by a person.
pub async fn deal(
    store: &SalesStore,
    address: &str,
    stage: PipelineStage,
    due: Option<OffsetDateTime>,
    value: &str,
    assigned_to: Option<&str>,
) -> sales::domain::Lead {
    let lead = store
        .find_or_create_lead(&NewLead::new(email(address), LeadSource::SalesTeam), NOW)
        .await
        .unwrap();
    let update = PipelineUpdate {
        stage: Some(StageMove::Manual(stage)),
        next_action: Some(due.map(|_| "Call".to_owned())),
        next_action_date: Some(due),
        assigned_to: Some(assigned_to.map(str::to_owned)),
        deal_value_aud: Some(sales::domain::DealValue::parse(value).unwrap()),
        probability: Some(sales::domain::Probability::new(50).unwrap()),
    };
    store
        .update_pipeline(
            &lead.id,
            &update,
            &sales::domain::Cause::user("setup"),
            None,
            NOW,
        )
        .await
        .unwrap()
        .lead
}

/// Makes founding members, in the order given (each takes the spot the store chooses), through
/// the production checkout and payment path.
pub async fn founding_members(store: &SalesStore, emails: &[&str]) {
    for raw in emails {
        sales_tests::pay_founding_checkout(store, &email(raw), Some("Acme"), NOW).await;
    }
}
