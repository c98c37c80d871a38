//! The store against the local DynamoDB server: every invariant under real concurrency.

mod founding;
mod leads;
mod ledger;
mod pipeline;
mod server;

use sales::domain::{EmailAddress, LeadSource, NewLead};
use time::OffsetDateTime;

pub fn email(raw: &str) -> EmailAddress {
    EmailAddress::parse(raw).expect("valid test e-mail")
}

pub fn new_lead(raw: &str) -> NewLead {
    NewLead::new(email(raw), LeadSource::SalesTeam)
}

/// A fixed "now", whole seconds, so that stored times compare equal.
pub fn now() -> OffsetDateTime {
    time::macros::datetime!(2026-11-25 10:00 UTC)
}
