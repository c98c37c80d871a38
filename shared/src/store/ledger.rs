//! The webhook delivery ledger: each provider delivery is processed at most once at a time, and
//! at most once to completion.
//!
//! A claim is a conditional write: it wins if the delivery was never seen, or if an earlier claim
//! was left processing past its lease (a run that crashed). Completion is conditioned on the
//! claimant still owning the claim. Records carry `purge_at` so that DynamoDB's TTL can remove
//! them once no provider will redeliver (Stripe retries for up to three days).

use std::convert::Infallible;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};
use time::{Duration, OffsetDateTime};

use super::codec::{get_s, n, s, UpdateExpr};
use super::table::{keys, PK, SK, TTL_ATTRIBUTE};
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

/// Proof of a won claim, needed to complete or abandon it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimToken {
    pub key: DeliveryKey,
    owner: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This caller processes the delivery.
    Won(ClaimToken),
    /// The delivery was processed to completion before.
    Duplicate,
    /// Another invocation is processing it now (its lease has not run out).
    InProgress,
}

/// What became of a delivery whose effect and record were written in one transaction.
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

/// How a transaction came out.
#[derive(Debug)]
pub(crate) enum Transacted {
    /// Every write was made.
    Written,
    /// Nothing was written: the delivery was recorded before, or is claimed.
    Delivered(Once<Infallible>),
    /// Nothing was written: another condition failed (or the transaction conflicted).
    Conflict(Cancelled),
}

/// Why a transaction was cancelled, write by write, in the order they were sent.
#[derive(Debug)]
pub(crate) struct Cancelled {
    codes: Vec<String>,
}

impl Cancelled {
    /// Whether the `index`-th write's condition failed.
    pub fn failed(&self, index: usize) -> bool {
        self.codes.get(index).map(String::as_str) == Some(super::CONDITION_FAILED)
    }
}

const PROCESSING: &str = "processing";
const DONE: &str = "done";

impl SalesStore {
    /// Claims a delivery for processing for `lease`. Exactly one of any number of concurrent
    /// claimants wins; a claim whose lease ran out can be taken over.
    pub async fn claim_delivery(
        &self,
        key: &DeliveryKey,
        lease: Duration,
        now: OffsetDateTime,
    ) -> Result<Claim, StoreError> {
        let owner = uuid::Uuid::new_v4().to_string();
        let mut expr = UpdateExpr::default();
        expr.set("state", s(PROCESSING))
            .set("owner", s(owner.as_str()))
            .set("provider", s(key.provider.as_str()))
            .set("lease_until", n((now + lease).unix_timestamp()))
            .set("claimed_at", s(time_format::to_sortable(now)))
            .set(TTL_ATTRIBUTE, n((now + LEDGER_RETENTION).unix_timestamp()))
            .add("attempts", n(1));
        let (expression, mut names, mut values) = expr.build();
        names.insert("#state".into(), "state".into());
        values.insert(":processing".into(), s(PROCESSING));
        values.insert(":now".into(), n(now.unix_timestamp()));
        let result = self
            .client
            .update_item()
            .table_name(self.table_name())
            .key(PK, s(keys::delivery(&key.provider, &key.id)))
            .key(SK, s(keys::DELIVERY_SK))
            .update_expression(expression)
            .condition_expression(
                "attribute_not_exists(pk) OR (#state = :processing AND lease_until <= :now)",
            )
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::Won(ClaimToken {
                key: key.clone(),
                owner,
            })),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                let found = self
                    .get(keys::delivery(&key.provider, &key.id), keys::DELIVERY_SK)
                    .await?;
                match found
                    .as_ref()
                    .map(|item| get_s(item, "state"))
                    .transpose()?
                {
                    Some(DONE) => Ok(Claim::Duplicate),
                    _ => Ok(Claim::InProgress),
                }
            }
            Err(err) => Err(StoreError::from_sdk(err)),
        }
    }

    /// The write that marks a claimed delivery done, for use inside the transaction that applies
    /// the delivery's effect, so that the effect and its completion land together.
    pub fn delivery_completion(
        &self,
        token: &ClaimToken,
        now: OffsetDateTime,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut expr = UpdateExpr::default();
        expr.set("state", s(DONE))
            .set("completed_at", s(time_format::to_sortable(now)))
            .remove("lease_until");
        let (expression, mut names, mut values) = expr.build();
        names.insert("#state".into(), "state".into());
        names.insert("#owner".into(), "owner".into());
        values.insert(":processing".into(), s(PROCESSING));
        values.insert(":owner".into(), s(token.owner.as_str()));
        let update = Update::builder()
            .table_name(self.table_name())
            .key(PK, s(keys::delivery(&token.key.provider, &token.key.id)))
            .key(SK, s(keys::DELIVERY_SK))
            .update_expression(expression)
            .condition_expression("#state = :processing AND #owner = :owner")
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(|e| StoreError::Rejected(e.to_string()))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Marks a claimed delivery done. Returns false if the claim was lost meanwhile (its lease ran
    /// out and another run took it over).
    pub async fn complete_delivery(
        &self,
        token: &ClaimToken,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let completion = vec![self.delivery_completion(token, now)?];
        Ok(matches!(
            self.transact_recording(completion, None).await?,
            Transacted::Written
        ))
    }

    /// The write that records a delivery as done inside the transaction that is its whole
    /// effect, with no claim before it: the transaction fails if the delivery was recorded
    /// before, or while another invocation holds a live claim on it. Of any number of
    /// concurrent deliveries, one transaction wins.
    pub fn delivery_record(
        &self,
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
            .table_name(self.table_name())
            .key(PK, s(keys::delivery(&key.provider, &key.id)))
            .key(SK, s(keys::DELIVERY_SK))
            .update_expression(expression)
            .condition_expression(
                "attribute_not_exists(pk) OR (#state = :processing AND lease_until <= :now)",
            )
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            // A failed condition returns the record, so a duplicate needs no second read.
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| StoreError::Rejected(e.to_string()))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Records a delivery that changes nothing else (one request).
    pub async fn record_delivery(
        &self,
        key: &DeliveryKey,
        now: OffsetDateTime,
    ) -> Result<Once<()>, StoreError> {
        let record = vec![self.delivery_record(key, now)?];
        Ok(match self.transact_recording(record, Some(key)).await? {
            Transacted::Written => Once::Applied(()),
            Transacted::Delivered(once) => once.map(|never| match never {}),
            // Its only condition is the record's.
            Transacted::Conflict(_) => Once::InProgress,
        })
    }

    /// Sends one transaction. With `delivery`, its last write is that delivery's
    /// [`SalesStore::delivery_record`], and a failure of that write's condition is told apart
    /// from the others.
    pub(crate) async fn transact_recording(
        &self,
        items: Vec<TransactWriteItem>,
        delivery: Option<&DeliveryKey>,
    ) -> Result<Transacted, StoreError> {
        let last = items.len().saturating_sub(1);
        let mut request = self.client.transact_write_items();
        for item in items {
            request = request.transact_items(item);
        }
        let err = match request.send().await {
            Ok(_) => return Ok(Transacted::Written),
            Err(err) => err,
        };
        let Some(codes) = super::cancellation_codes(&err) else {
            return Err(StoreError::from_sdk(err));
        };
        if let Some(delivery) = delivery {
            if codes.get(last).map(String::as_str) == Some(super::CONDITION_FAILED) {
                // Recorded before, or claimed by another invocation.
                return Ok(Transacted::Delivered(
                    self.delivery_rejected(delivery, &err, last).await?,
                ));
            }
        }
        Ok(Transacted::Conflict(Cancelled { codes }))
    }

    /// Why a transaction whose `index`-th write was a [`SalesStore::delivery_record`] failed
    /// that write's condition: recorded before, or claimed. From the record the cancellation
    /// carries; read only if it carries none.
    pub(crate) async fn delivery_rejected<T, R>(
        &self,
        key: &DeliveryKey,
        err: &SdkError<TransactWriteItemsError, R>,
        index: usize,
    ) -> Result<Once<T>, StoreError> {
        let found = match super::cancellation_item(err, index) {
            Some(item) => Some(item.clone()),
            None => {
                self.get(keys::delivery(&key.provider, &key.id), keys::DELIVERY_SK)
                    .await?
            }
        };
        match found
            .as_ref()
            .map(|item| get_s(item, "state"))
            .transpose()?
        {
            Some(DONE) => Ok(Once::Duplicate),
            _ => Ok(Once::InProgress),
        }
    }

    /// Gives a claim up after a failure, so that the provider's retry can take it over at once
    /// instead of waiting for the lease to run out.
    pub async fn abandon_delivery(&self, token: &ClaimToken) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(self.table_name())
            .key(PK, s(keys::delivery(&token.key.provider, &token.key.id)))
            .key(SK, s(keys::DELIVERY_SK))
            .update_expression("SET lease_until = :zero")
            .condition_expression("#state = :processing AND #owner = :owner")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":processing", s(PROCESSING))
            .expression_attribute_values(":owner", s(token.owner.as_str()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(err) => Err(StoreError::from_sdk(err)),
        }
    }
}
