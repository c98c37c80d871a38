//! The billing endpoints: founding-spots, create-checkout, customer-portal, stripe-webhook.
//!
//! Each endpoint is a struct holding what its Lambda builds once at cold start, with a
//! `handle(&self, Request) -> HttpResponse` that tests call directly.

mod checkout;
mod founding_spots;
mod portal;
mod stripe_webhook;

use std::sync::Arc;

use time::OffsetDateTime;

pub use checkout::{CreateCheckout, PlanType};
pub use founding_spots::FoundingSpots;
pub use portal::CustomerPortal;
pub use stripe_webhook::StripeWebhook;

/// Where handlers get the time from (tests fix it).
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> OffsetDateTime + Send + Sync>);

impl Clock {
    pub fn system() -> Self {
        Clock(Arc::new(OffsetDateTime::now_utc))
    }
    pub fn fixed(at: OffsetDateTime) -> Self {
        Clock(Arc::new(move || at))
    }
    pub fn now(&self) -> OffsetDateTime {
        (self.0)()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}
