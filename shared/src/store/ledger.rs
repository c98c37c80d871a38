//! The webhook delivery ledger: each provider delivery is applied at most once.
//!
//! A delivery's record is a part of the very write that is its effect ([`Part::Delivery`]),
//! conditioned on the delivery never having been recorded: of any number of concurrent or
//! repeated deliveries, one write wins and the others are recognised as duplicates from the
//! record their failed condition returns. Records carry `purge_at` so that DynamoDB's TTL can
//! remove them once no provider will redeliver (Stripe retries for up to three days).
//!
//! Records in state `processing` were written by the claim-first ledger of the first release;
//! one whose lease has not run out still reads as "being processed now".
//!
//! This module is the record's codec, below the write path (`write.rs` adds the record to a
//! write and decodes a failed one with [`outcome_of`]).

use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use time::{Duration, OffsetDateTime};

use super::codec::{get_s, n, s, Item, UpdateExpr};
use super::table::{keys, PK, SK, TTL_ATTRIBUTE};
use super::StoreError;
use crate::domain::time_format;

/// How long a ledger record is kept before TTL may delete it.
pub const LEDGER_RETENTION: Duration = Duration::days(30);

/// A provider's delivery: `("stripe", "evt_…")`, `("cal", "<derived key>")`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeliveryKey {
    pub provider: String,
    pub id: String,
}

impl DeliveryKey {
    pub fn new(provider: impl Into<String>, id: impl Into<String>) -> Self {
        DeliveryKey {
            provider: provider.into(),
            id: id.into(),
        }
    }
}

/// What became of a delivery whose effect and record were written together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Once<T> {
    /// This call applied it.
    Applied(T),
    /// It was applied before.
    Duplicate,
    /// Another invocation holds a live claim on it (the provider should retry).
    InProgress,
}

impl<T> Once<T> {
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Once<U> {
        match self {
            Once::Applied(value) => Once::Applied(f(value)),
            Once::Duplicate => Once::Duplicate,
            Once::InProgress => Once::InProgress,
        }
    }
}

const PROCESSING: &str = "processing";
const DONE: &str = "done";

/// The update that records a delivery as done, on the condition that it was never recorded
/// (or that a first-release claim on it has lapsed).
pub(crate) fn record_item(
    table: &str,
    key: &DeliveryKey,
    now: OffsetDateTime,
) -> Result<TransactWriteItem, StoreError> {
    let mut expr = UpdateExpr::default();
    expr.set("state", s(DONE))
        .set("provider", s(key.provider.as_str()))
        .set("completed_at", s(time_format::to_sortable(now)))
        .set(TTL_ATTRIBUTE, n((now + LEDGER_RETENTION).unix_timestamp()))
        .remove("lease_until")
        .remove("owner")
        .add("attempts", n(1));
    let (expression, mut names, mut values) = expr.build();
    names.insert("#state".into(), "state".into());
    values.insert(":processing".into(), s(PROCESSING));
    values.insert(":now".into(), n(now.unix_timestamp()));
    let update = Update::builder()
        .table_name(table)
        .key(PK, s(keys::delivery(&key.provider, &key.id)))
        .key(SK, s(keys::DELIVERY_SK))
        .update_expression(expression)
        .condition_expression(
            "attribute_not_exists(pk) OR (#state = :processing AND lease_until <= :now)",
        )
        .set_expression_attribute_names(Some(names))
        .set_expression_attribute_values(Some(values))
        .build()
        .map_err(|e| StoreError::Rejected(e.to_string()))?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// What a record found by a failed delivery condition means: processed before, or (a live
/// claim of the first release) being processed now.
pub(crate) fn outcome_of(record: Option<&Item>) -> Result<Once<()>, StoreError> {
    match record.map(|r| get_s(r, "state")).transpose()? {
        Some(DONE) => Ok(Once::Duplicate),
        _ => Ok(Once::InProgress),
    }
}
