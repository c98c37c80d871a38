//! Answering a provider's webhook delivery, applied at most once. Every delivery's effect is one
//! write that also records the delivery in the ledger (the store's `Part::Delivery`): no claim,
//! no completion, and of any number of concurrent deliveries one write wins. [`answer_once`]
//! turns what happened into the answer.
//!
//! Shared by the Stripe, Cal.com and Calendly webhooks.

use serde_json::{json, Map, Value};

use crate::lambda::http::ApiError;
use crate::store::{DeliveryKey, Once};

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
            tracing::info!(provider = %key.provider, delivery = %key.id, effect = body.get("effect").and_then(serde_json::Value::as_str).unwrap_or(""), "delivery processed");
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
