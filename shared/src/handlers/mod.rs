//! One module per Lambda function, each a struct holding what its function builds once at cold
//! start, with a `handle(&self, Request) -> HttpResponse` that tests call directly:
//!
//! | function (`functions/<name>/`) | handler |
//! |---|---|
//! | founding-spots | [`founding_spots::FoundingSpots`] |
//! | create-checkout | [`create_checkout::CreateCheckout`] |
//! | customer-portal | [`customer_portal::CustomerPortal`] |
//! | stripe-webhook | [`stripe_webhook::StripeWebhook`] |
//! | cal-webhook, calendly-webhook | [`booking_webhook::BookingWebhook`] |
//! | pipeline | [`pipeline::PipelineApi`] |
//!
//! Shared by some of them: [`checkout_metadata`] (what create-checkout writes into a Checkout
//! Session and stripe-webhook reads back) and [`delivery`] (a webhook's answer).

pub mod booking_webhook;
pub mod checkout_metadata;
pub mod create_checkout;
pub mod customer_portal;
pub mod delivery;
pub mod founding_spots;
pub mod pipeline;
pub mod stripe_webhook;
pub mod waitlist_offers;

pub use booking_webhook::BookingWebhook;
pub use create_checkout::CreateCheckout;
pub use customer_portal::CustomerPortal;
pub use founding_spots::FoundingSpots;
pub use pipeline::PipelineApi;
pub use stripe_webhook::StripeWebhook;
pub use waitlist_offers::{SweepReport, WaitlistOffers};

pub use crate::domain::PlanType;
pub use crate::lambda::clock::Clock;
