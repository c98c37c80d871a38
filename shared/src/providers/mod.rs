//! The outside services: Stripe's API and webhook events (Cal.com and Calendly follow).

pub mod stripe;
pub mod stripe_events;
