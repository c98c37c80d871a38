//! `salesctl reconcile --since TIME`: after a webhook outage longer than Stripe's retries (3
//! days), reads back from Stripe's API (`GET /v1/events`) the events of the handled types since
//! `TIME` and feeds each, oldest first, through the very code the webhook runs
//! ([`StripeWebhook::process`]). The delivery ledger records every event in its effect's own
//! write, so replaying anything is safe: an event already applied is a duplicate and changes
//! nothing, and a second reconcile changes nothing. `--dry-run` lists what would change.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use url::Url;

use sales::handlers::{Clock, StripeWebhook};
use sales::lambda::config::{Secret, DEFAULT_STRIPE_API_BASE};
use sales::providers::stripe::STRIPE_VERSION;
use sales::providers::stripe_events::{StripeEvent, HANDLED_EVENT_TYPES};
use sales::store::DeliveryKey;
use sales::SalesStore;

use crate::setup::api::Api;

/// What reconcile did (or, with `--dry-run`, would do) with one event.
#[derive(Debug, Clone, Serialize)]
pub struct Replayed {
    pub event: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub created: i64,
    /// `applied` (with its effect), `already_applied`, `would_apply`, `refused` (with why).
    pub result: String,
    pub detail: Option<String>,
}

/// Stripe's events of the handled types created at or after `since`, oldest first.
async fn events_since(api: &Api, since: OffsetDateTime) -> Result<Vec<Value>, String> {
    let created = since.unix_timestamp().to_string();
    let mut events = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut query: Vec<(&str, &str)> = vec![("created[gte]", &created), ("limit", "100")];
        for kind in HANDLED_EVENT_TYPES {
            query.push(("types[]", kind));
        }
        if let Some(after) = &after {
            query.push(("starting_after", after));
        }
        let page = api
            .get("v1/events", &query)
            .await
            .map_err(|e| format!("listing Stripe's events: {e}"))?;
        let data = page["data"].as_array().cloned().unwrap_or_default();
        after = data
            .last()
            .and_then(|e| e["id"].as_str())
            .map(str::to_owned);
        events.extend(data);
        if page["has_more"] != Value::Bool(true) || after.is_none() {
            break;
        }
    }
    // Stripe lists newest first; an older event must be applied before a newer one.
    events.sort_by_key(|e| e["created"].as_i64().unwrap_or(0));
    Ok(events)
}

/// Replays (or, `dry_run`, lists) the events since `since`.
pub async fn reconcile(
    store: &SalesStore,
    env: &HashMap<&str, String>,
    since: OffsetDateTime,
    dry_run: bool,
) -> Result<Vec<Replayed>, String> {
    let key = env
        .get("STRIPE_SECRET_KEY")
        .filter(|k| !k.trim().is_empty())
        .ok_or("STRIPE_SECRET_KEY is not set: reconcile reads Stripe's events with it")?;
    let base = env
        .get("STRIPE_API_BASE")
        .map(String::as_str)
        .unwrap_or(DEFAULT_STRIPE_API_BASE);
    let base = Url::parse(base).map_err(|e| format!("STRIPE_API_BASE {base:?}: {e}"))?;
    let api = Api::new(
        &base,
        Secret::new(key.trim()),
        vec![("Stripe-Version", STRIPE_VERSION.to_owned())],
    )
    .map_err(|e| e.to_string())?;
    // The webhook's own code, with no signing secrets: these events come from Stripe's API,
    // authenticated by the API key, not from a delivery.
    let webhook = StripeWebhook::new(store.clone(), Vec::new(), Clock::system());
    let mut replayed = Vec::new();
    for raw in events_since(&api, since).await? {
        let bytes = serde_json::to_vec(&raw).map_err(|e| e.to_string())?;
        let id = raw["id"].as_str().unwrap_or("?").to_owned();
        let kind = raw["type"].as_str().unwrap_or("?").to_owned();
        let created = raw["created"].as_i64().unwrap_or(0);
        let line = |result: &str, detail: Option<String>| Replayed {
            event: id.clone(),
            kind: kind.clone(),
            created,
            result: result.to_owned(),
            detail,
        };
        let event = match StripeEvent::parse(&bytes) {
            Ok(event) => event,
            Err(e) => {
                replayed.push(line("refused", Some(e.to_string())));
                continue;
            }
        };
        if dry_run {
            let done = store
                .delivery_recorded(&DeliveryKey::new("stripe", event.id.as_str()))
                .await
                .map_err(|e| e.to_string())?;
            replayed.push(line(
                if done {
                    "already_applied"
                } else {
                    "would_apply"
                },
                None,
            ));
            continue;
        }
        match webhook.process(&event).await {
            Ok(answer) if answer["duplicate"] == Value::Bool(true) => {
                replayed.push(line("already_applied", None))
            }
            Ok(answer) => replayed.push(line(
                "applied",
                answer["effect"]
                    .as_str()
                    .or(answer["ignored"].as_str())
                    .map(str::to_owned),
            )),
            Err(e) => replayed.push(line("refused", Some(e.to_string()))),
        }
    }
    Ok(replayed)
}
