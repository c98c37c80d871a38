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

use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use time::{Duration, OffsetDateTime};

use super::codec::{n, s, UpdateExpr};
use super::table::{keys, PK, SK, TTL_ATTRIBUTE};
use super::write::{Attempts, Outcome, Part, Write};
use super::{SalesStore, StoreError};
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
pub(crate) const DONE: &str = "done";

impl SalesStore {
    /// The part that records a delivery as done, inside the write that is its whole effect:
    /// the write fails if the delivery was recorded before (or is claimed by a live claim of
    /// the first release's ledger).
    pub(crate) fn delivery_part(
        &self,
        write: &mut Write,
        key: &DeliveryKey,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
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
            .table_name(self.table_name())
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
        write.push(
            Part::Delivery,
            TransactWriteItem::builder().update(update).build(),
        );
        Ok(())
    }

    /// Records a delivery that changes nothing else: one UpdateItem.
    pub async fn record_delivery(
        &self,
        key: &DeliveryKey,
        now: OffsetDateTime,
    ) -> Result<Once<()>, StoreError> {
        let mut write = Write::new();
        self.delivery_part(&mut write, key, now)?;
        let mut attempts = Attempts::new("record_delivery");
        loop {
            attempts.next().await?;
            match self.write(&mut attempts, &write).await? {
                Outcome::Written => return Ok(Once::Applied(())),
                Outcome::Duplicate => return Ok(Once::Duplicate),
                // Its only condition is the record's, decoded as one of the two above.
                Outcome::InProgress | Outcome::Failed(_) => return Ok(Once::InProgress),
                Outcome::Retry(_) => {}
            }
        }
    }
}
