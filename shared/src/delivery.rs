//! Processing a provider's webhook delivery at most once. Two ways, both on the delivery ledger:
//!
//! - a delivery whose whole effect is one transaction (a booking event, a paid checkout) writes
//!   its ledger record in that transaction: no claim, no completion, and of any number of
//!   concurrent deliveries one transaction wins ([`answer_once`] turns what happened into the
//!   answer);
//! - any other ([`process_once`]) claims the delivery, applies it, completes it (or gives the
//!   claim up on failure so that the provider's retry can take over).
//!
//! Shared by the Stripe, Cal.com and Calendly webhooks.

use std::future::Future;

use serde_json::{json, Map, Value};
use time::Duration;

use crate::clock::Clock;
use crate::http::ApiError;
use crate::store::{Claim, DeliveryKey, Once};
use crate::SalesStore;

/// How long one invocation owns a delivery before a retry may take it over.
pub const CLAIM_LEASE: Duration = Duration::seconds(60);

/// The `effect` field of a webhook's 200 answer, and any more fields.
pub fn effect(effect: &str) -> Map<String, Value> {
    let mut details = Map::new();
    details.insert("effect".into(), Value::from(effect));
    details
}

/// The webhook's answer for a delivery:
/// - applied now → `{"received": true, "effect": …, …details}`;
/// - applied before → `{"received": true, "duplicate": true}`;
/// - another invocation is processing it now → [`ApiError::Busy`] (the provider retries).
pub fn answer_once(key: &DeliveryKey, once: Once<Map<String, Value>>) -> Result<Value, ApiError> {
    match once {
        Once::Applied(details) => {
            let mut body = Map::new();
            body.insert("received".into(), Value::Bool(true));
            body.extend(details);
            tracing::info!(provider = %key.provider, delivery = %key.id, effect = ?body.get("effect"), "delivery processed");
            Ok(Value::Object(body))
        }
        Once::Duplicate => {
            tracing::info!(provider = %key.provider, delivery = %key.id, "duplicate delivery; already processed");
            Ok(json!({"received": true, "duplicate": true}))
        }
        Once::InProgress => Err(ApiError::Busy(format!(
            "{} delivery {} is being processed by another invocation",
            key.provider, key.id
        ))),
    }
}

/// Runs `apply` once for a delivery, however many times and however concurrently the provider
/// sends it: claim, apply, complete. Answers as [`answer_once`]; when `apply` fails, its error,
/// with the claim given up.
pub async fn process_once<F, Fut>(
    store: &SalesStore,
    key: &DeliveryKey,
    clock: &Clock,
    apply: F,
) -> Result<Value, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Map<String, Value>, ApiError>>,
{
    let token = match store.claim_delivery(key, CLAIM_LEASE, clock.now()).await? {
        Claim::Won(token) => token,
        Claim::Duplicate => return answer_once(key, Once::Duplicate),
        Claim::InProgress => return answer_once(key, Once::InProgress),
    };
    match apply().await {
        Ok(details) => {
            if !store.complete_delivery(&token, clock.now()).await? {
                tracing::warn!(provider = %key.provider, delivery = %key.id, "claim was taken over before completion; the effect is idempotent");
            }
            answer_once(key, Once::Applied(details))
        }
        Err(err) => {
            if let Err(abandon) = store.abandon_delivery(&token).await {
                tracing::warn!(error = %abandon, "could not give the claim up; it lapses with its lease");
            }
            Err(err)
        }
    }
}
