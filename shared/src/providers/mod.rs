//! The outside services: Stripe's API and webhook events, Cal.com's and Calendly's booking
//! webhooks, Cloudflare Turnstile's Siteverify (the optional human check).

pub mod cal;
pub mod calendly;
pub mod ses;
pub mod stripe;
pub mod stripe_events;
pub mod turnstile;

/// A webhook body that can never be processed (answered 400 with the reason).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PayloadError(pub String);

/// An id or URI that becomes part of a key (a booking's), checked against the key limits.
pub(crate) fn key_id(field: &str, raw: String) -> Result<String, PayloadError> {
    crate::domain::limits::check_id(field, &raw).map_err(|e| PayloadError(e.to_string()))?;
    Ok(raw)
}

/// A provider's timestamp (RFC 3339, any fraction of a second).
pub(crate) fn timestamp(field: &str, raw: &str) -> Result<time::OffsetDateTime, PayloadError> {
    crate::domain::time_format::parse(raw.trim())
        .map_err(|e| PayloadError(format!("{field}: not an RFC 3339 time ({e})")))
}

/// A webhook parsed: either something to act on, or an event type this system does not handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParsedWebhook {
    Notice(crate::domain::BookingNotice),
    Ignored(String),
}
