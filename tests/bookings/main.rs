//! cal-webhook and calendly-webhook against the local DynamoDB server: signatures, each event's
//! effect on the lead, its bookings and the pipeline, reschedules in either order, redeliveries
//! and concurrent duplicates.

mod alerts;
mod cal;
mod calendly;

use sales::domain::{
    Booking, EmailAddress, Lead, PipelineStage, PipelineUpdate, StageChange, StageMove,
};
use sales::handlers::BookingWebhook;
use sales::lambda::clock::Clock;
use sales::lambda::config::Secret;
use sales::SalesStore;
use sales_tests::{as_function, fixture, role};
use serde_json::Value;
use time::macros::datetime;
use time::OffsetDateTime;

/// The secrets the fixtures' signatures were made with.
pub const CAL_SECRET: &str = "cal_webhook_secret_for_tests";
pub const CALENDLY_KEY: &str = "calendly_signing_key_for_tests";

/// When the Calendly vectors were signed; before every fixture's demo.
pub const NOW: OffsetDateTime = datetime!(2026-02-03 17:41:10 UTC);
/// The fixtures' demo, and the time it is rescheduled to.
pub const FEB10: OffsetDateTime = datetime!(2026-02-10 14:00 UTC);
pub const FEB12: OffsetDateTime = datetime!(2026-02-12 10:00 UTC);

pub fn cal_handler(store: &SalesStore) -> BookingWebhook {
    BookingWebhook::cal(
        as_function(store, role::CAL_WEBHOOK),
        vec![Secret::new(CAL_SECRET)],
        Clock::fixed(NOW),
    )
}

pub fn calendly_handler(store: &SalesStore, at: OffsetDateTime) -> BookingWebhook {
    BookingWebhook::calendly(
        as_function(store, role::CALENDLY_WEBHOOK),
        vec![Secret::new(CALENDLY_KEY)],
        Clock::fixed(at),
    )
}

pub fn json_fixture(path: &str) -> Value {
    serde_json::from_slice(&fixture(path)).expect("a JSON fixture")
}

pub fn ada() -> EmailAddress {
    EmailAddress::parse("ada@example.com").unwrap()
}

pub async fn lead(store: &SalesStore, email: &EmailAddress) -> Lead {
    store
        .lead_by_email(email)
        .await
        .unwrap()
        .expect("the lead exists")
}

pub async fn history(store: &SalesStore, lead: &Lead) -> Vec<StageChange> {
    sales_tests::history(store, &lead.id).await
}

pub async fn bookings(store: &SalesStore, lead: &Lead) -> Vec<Booking> {
    store
        .lead_bookings(&lead.id)
        .await
        .unwrap()
        .expect("the lead exists")
        .bookings
}

/// The stages a deal went through, from its history.
pub fn path(history: &[StageChange]) -> Vec<PipelineStage> {
    let mut stages: Vec<PipelineStage> = history.first().map(|c| c.from).into_iter().collect();
    stages.extend(history.iter().map(|c| c.to));
    stages
}

/// Puts a deal at a stage the way a person does.
pub async fn move_by_hand(store: &SalesStore, email: &EmailAddress, stage: PipelineStage) -> Lead {
    let found = store
        .find_or_create_lead(
            &sales::domain::NewLead::new(email.clone(), sales::domain::LeadSource::SalesTeam),
            NOW,
        )
        .await
        .unwrap();
    let update = PipelineUpdate {
        stage: Some(StageMove::Manual(stage)),
        next_action: Some(Some("Send contract".into())),
        ..PipelineUpdate::default()
    };
    store
        .update_pipeline(
            &found.id,
            &update,
            &sales::domain::Cause::user("sam@agency.example"),
            None,
            NOW,
        )
        .await
        .unwrap()
        .lead
}
