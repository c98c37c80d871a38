//! Processing a provider's webhook delivery at most once: claim it in the ledger, apply it,
//! complete it (or give the claim up on failure so that the provider's retry can take over).
//! Shared by the Stripe, Cal.com and Calendly webhooks.

use std::future::Future;

use serde_json::{json, Map, Value};
use time::Duration;

use crate::clock::Clock;
use crate::http::ApiError;
use crate::store::{Claim, ClaimToken, DeliveryKey};
use crate::SalesStore;

/// How long one invocation owns a delivery before a retry may take it over.
pub const CLAIM_LEASE: Duration = Duration::seconds(60);

/// What applying a delivery did.
#[derive(Debug)]
pub struct Applied {
    /// Fields for the webhook's 200 answer (`effect`, ...).
    pub details: Map<String, Value>,
    /// Whether the delivery's completion was written with the effect (in one transaction);
    /// otherwise it is completed afterwards.
    pub completed: bool,
}

impl Applied {
    /// An effect that leaves completing the delivery to [`process_once`].
    pub fn effect(effect: &str) -> Self {
        let mut details = Map::new();
        details.insert("effect".into(), Value::from(effect));
        Applied {
            details,
            completed: false,
        }
    }
}

/// Runs `apply` once for a delivery, however many times and however concurrently the provider
/// sends it. Answers:
/// - the delivery was processed before → `{"received": true, "duplicate": true}`;
/// - another invocation is processing it now → [`ApiError::Busy`] (the provider retries);
/// - `apply` failed → its error, with the claim given up.
pub async fn process_once<F, Fut>(
    store: &SalesStore,
    key: &DeliveryKey,
    clock: &Clock,
    apply: F,
) -> Result<Value, ApiError>
where
    F: FnOnce(ClaimToken) -> Fut,
    Fut: Future<Output = Result<Applied, ApiError>>,
{
    let token = match store.claim_delivery(key, CLAIM_LEASE, clock.now()).await? {
        Claim::Won(token) => token,
        Claim::Duplicate => {
            tracing::info!(provider = %key.provider, delivery = %key.id, "duplicate delivery; already processed");
            return Ok(json!({"received": true, "duplicate": true}));
        }
        Claim::InProgress => {
            return Err(ApiError::Busy(format!(
                "{} delivery {} is being processed by another invocation",
                key.provider, key.id
            )));
        }
    };
    match apply(token.clone()).await {
        Ok(applied) => {
            if !applied.completed && !store.complete_delivery(&token, clock.now()).await? {
                tracing::warn!(provider = %key.provider, delivery = %key.id, "claim was taken over before completion; the effect is idempotent");
            }
            let mut body = Map::new();
            body.insert("received".into(), Value::Bool(true));
            body.extend(applied.details);
            tracing::info!(provider = %key.provider, delivery = %key.id, effect = ?body.get("effect"), "delivery processed");
            Ok(Value::Object(body))
        }
        Err(err) => {
            if let Err(abandon) = store.abandon_delivery(&token).await {
                tracing::warn!(error = %abandon, "could not give the claim up; it lapses with its lease");
            }
            Err(err)
        }
    }
}
