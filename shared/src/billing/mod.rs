//! The billing endpoints: founding-spots, create-checkout, customer-portal, stripe-webhook.
//!
//! Each endpoint is a struct holding what its Lambda builds once at cold start, with a
//! `handle(&self, Request) -> HttpResponse` that tests call directly.

mod checkout;
mod founding_spots;
pub mod metadata;
mod portal;
mod stripe_webhook;

pub use crate::domain::PlanType;
pub use checkout::CreateCheckout;
pub use founding_spots::FoundingSpots;
pub use portal::CustomerPortal;
pub use stripe_webhook::StripeWebhook;

pub use crate::clock::Clock;
