//! The store's one write path: every write is a [`Write`] of named [`Part`]s, sent by
//! [`SalesStore::write`], and what came of it is decoded once, here, into an [`Outcome`].
//!
//! Why names and not positions: a cancelled transaction reports its reasons in the order the
//! items were sent. Code that reads "the first item failed" silently changes meaning when someone
//! adds an item in front. Here each item carries the name of the domain thing it writes (the
//! lead, the e-mail, a spot, the delivery record, …), the decoder turns the reasons into names,
//! and no caller ever sees an index.
//!
//! And the one retry rule, [`Attempts`]: a bounded number of attempts, a jittered pause after a
//! conflict or a throttle (the same plan may succeed a moment later), none after a failed
//! condition (the caller must read again and plan again). Sending the same write again after its
//! conditions failed on the same items can never succeed: [`SalesStore::write`] reports that as
//! [`StoreError::NoProgress`] (a bug in the caller) instead of looping until the attempts run out.

use std::collections::BTreeSet;
use std::time::Duration;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{ReturnValuesOnConditionCheckFailure, TransactWriteItem};

use time::OffsetDateTime;

use super::codec::Item;
use super::ledger::{self, DeliveryKey, Once};
use super::table::keys;
use super::{SalesStore, StoreError};

/// How many times an operation is tried in all before it gives up with
/// [`StoreError::Contention`].
pub const MAX_ATTEMPTS: u32 = 12;

/// What a part of a write is: one kind of stored item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Part {
    /// The lead item, conditioned on its version (or on not existing yet).
    Lead,
    /// The e-mail → lead item, conditioned on the e-mail having no lead yet.
    Email,
    /// A stage history entry.
    History,
    /// The pipeline summary (no condition: its updates commute).
    Summary,
    /// A demo booking record.
    Booking,
    /// The founding spot the operation is about.
    Spot,
    /// The founder item of the e-mail that holds the spot.
    Founder,
    /// Another spot, held by the same e-mail under another hold, given back by this write.
    OtherSpot,
    /// One of the client's hold slots (its cap on live holds), taken or given back with the hold.
    ClientSlot,
    /// The Stripe customer → lead index entry.
    CustomerIndex,
    /// A subscription's state, conditioned on no newer event having written it.
    Subscription,
    /// An invoice's payment, conditioned likewise.
    Invoice,
    /// A charge's customer (for a dispute, which names only the charge).
    Charge,
    /// A waitlist position.
    WaitlistEntry,
    /// The waitlisted e-mail (once per e-mail).
    Waitlisted,
    /// The webhook delivery's ledger record: the write fails if the delivery was recorded before.
    Delivery,
}

/// A write under construction: its parts in the order they will be sent (which matters to
/// nobody).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Write {
    parts: Vec<(Part, TransactWriteItem)>,
}

impl Write {
    pub fn new() -> Self {
        Write::default()
    }

    /// Adds a part. A part with a condition asks DynamoDB for the item it found when the
    /// condition fails, so that the caller can decide without reading again.
    pub fn push(&mut self, part: Part, mut item: TransactWriteItem) -> &mut Self {
        let all_old = Some(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some(update) = item.update.as_mut() {
            if update.condition_expression.is_some() {
                update.return_values_on_condition_check_failure = all_old;
            }
        } else if let Some(put) = item.put.as_mut() {
            if put.condition_expression.is_some() {
                put.return_values_on_condition_check_failure = all_old;
            }
        } else if let Some(delete) = item.delete.as_mut() {
            if delete.condition_expression.is_some() {
                delete.return_values_on_condition_check_failure = all_old;
            }
        } else if let Some(check) = item.condition_check.as_mut() {
            check.return_values_on_condition_check_failure = all_old;
        }
        self.parts.push((part, item));
        self
    }

    fn names(&self) -> Vec<Part> {
        self.parts.iter().map(|(part, _)| *part).collect()
    }
}

/// The parts whose conditions failed, with the item each one found (where DynamoDB returned it:
/// absent when there was no item).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Failed {
    parts: Vec<(Part, Option<Item>)>,
}

impl Failed {
    pub fn has(&self, part: Part) -> bool {
        self.parts.iter().any(|(p, _)| *p == part)
    }

    /// When `part` failed: `Some` of the item it found (`None` inside when there was none).
    pub fn item(&self, part: Part) -> Option<Option<&Item>> {
        self.parts
            .iter()
            .find(|(p, _)| *p == part)
            .map(|(_, item)| item.as_ref())
    }

    /// Whether any of `parts` failed.
    pub fn any(&self, parts: &[Part]) -> bool {
        parts.iter().any(|part| self.has(*part))
    }

    pub fn names(&self) -> BTreeSet<Part> {
        self.parts.iter().map(|(part, _)| *part).collect()
    }
}

/// How a write came out.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// Every part was written.
    Written,
    /// Nothing was written: the delivery was processed before.
    Duplicate,
    /// Nothing was written: another invocation is processing the delivery now.
    InProgress,
    /// Nothing was written: these parts' conditions failed. Read again and plan again.
    Failed(Failed),
    /// Nothing was written: a concurrent transaction or a throttle got in the way. The same
    /// plan may succeed after a pause ([`Attempts::next`] pauses).
    Retry(String),
}

impl Outcome {
    /// A retry because another transaction was writing one of the items (not a throttle or a
    /// server error): whoever it was may be taking what this write wanted.
    pub(crate) fn is_conflict(&self) -> bool {
        matches!(self, Outcome::Retry(reason) if reason.contains("TransactionConflict"))
    }
}

/// What the decoder makes of a cancellation, before the delivery record is looked at.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Decoded {
    /// The delivery record's condition failed; the record found, if DynamoDB returned it.
    Delivered(Option<Item>),
    Failed(Failed),
    Retry(String),
    /// DynamoDB refused the write as such (a validation error, an item collection too large).
    Rejected(String),
}

pub(crate) const CONDITION_FAILED: &str = "ConditionalCheckFailed";
const RETRYABLE: [&str; 5] = [
    "TransactionConflict",
    "ThrottlingError",
    "ProvisionedThroughputExceeded",
    "RequestLimitExceeded",
    "InternalServerError",
];

/// One reason of a cancellation: its code, and the item when a condition failed and the part
/// asked for it.
pub(crate) type Reason = (Option<String>, Option<Item>);

/// Decodes a cancellation's reasons (one per part, in the order sent) into names. A failed
/// delivery record outranks everything (the whole effect was applied before); then failed
/// conditions; then conflicts and throttles.
pub(crate) fn decode(parts: &[Part], reasons: Vec<Reason>) -> Decoded {
    if reasons.len() != parts.len() {
        return Decoded::Rejected(format!(
            "a cancellation with {} reasons for {} parts",
            reasons.len(),
            parts.len()
        ));
    }
    let mut failed = Vec::new();
    let mut retry = None;
    let mut rejected = None;
    for (part, (code, item)) in parts.iter().zip(reasons) {
        match code.as_deref() {
            None | Some("None") => {}
            Some(CONDITION_FAILED) if *part == Part::Delivery => {
                return Decoded::Delivered(item);
            }
            Some(CONDITION_FAILED) => failed.push((*part, item)),
            Some(code) if RETRYABLE.contains(&code) => {
                retry.get_or_insert_with(|| format!("{part:?}: {code}"));
            }
            Some(code) => {
                rejected.get_or_insert_with(|| format!("{part:?}: {code}"));
            }
        }
    }
    if !failed.is_empty() {
        Decoded::Failed(Failed { parts: failed })
    } else if let Some(reason) = rejected {
        Decoded::Rejected(reason)
    } else {
        Decoded::Retry(retry.unwrap_or_else(|| "cancelled without a reason".to_owned()))
    }
}

/// The attempts of one operation: bounded, paused after conflicts and throttles, and watched for
/// a write sent again unchanged after its conditions failed on unchanged items.
#[derive(Debug)]
pub(crate) struct Attempts {
    operation: &'static str,
    made: u32,
    pause: bool,
    last_failure: Option<(Write, Failed)>,
}

impl Attempts {
    pub fn new(operation: &'static str) -> Self {
        Attempts {
            operation,
            made: 0,
            pause: false,
            last_failure: None,
        }
    }

    /// Starts the next attempt, after a jittered pause if the last one met a conflict or a
    /// throttle; [`StoreError::Contention`] when they are used up.
    pub async fn next(&mut self) -> Result<(), StoreError> {
        if self.made >= MAX_ATTEMPTS {
            tracing::warn!(
                operation = self.operation,
                attempts = self.made,
                "gave up: every attempt lost to concurrent writers"
            );
            return Err(StoreError::Contention(self.made));
        }
        if std::mem::take(&mut self.pause) {
            tokio::time::sleep(backoff(self.made)).await;
        }
        self.made += 1;
        Ok(())
    }

    /// Makes the next attempt pause first (a read left work undone, such as unprocessed keys).
    pub fn pause_next(&mut self) {
        self.pause = true;
    }

    /// Takes note of how a write came out; an error when it is the same write failing on the
    /// same items as the last one (nothing new was read or planned in between).
    fn note(&mut self, write: &Write, outcome: &Outcome) -> Result<(), StoreError> {
        match outcome {
            Outcome::Failed(failed) => {
                let same = self
                    .last_failure
                    .as_ref()
                    .is_some_and(|(w, f)| w == write && f == failed);
                if same {
                    tracing::error!(operation = self.operation, parts = %failed.names().iter().map(|p| format!("{p:?}")).collect::<Vec<_>>().join(","), "the same write failed the same conditions twice");
                    return Err(StoreError::NoProgress(self.operation));
                }
                self.last_failure = Some((write.clone(), failed.clone()));
            }
            Outcome::Retry(_) => self.pause = true,
            _ => {}
        }
        Ok(())
    }
}

/// A short, jittered pause before attempt `made + 1`: between half and all of a base that
/// doubles from 5 ms after the first conflict up to 160 ms.
fn backoff(made: u32) -> Duration {
    let base = 5u64 << made.saturating_sub(1).min(5);
    let jitter = u64::from(uuid::Uuid::new_v4().as_u128() as u16) % (base / 2 + 1);
    Duration::from_millis(base - base / 2 + jitter)
}

/// What a single-item write's answer means: written; its condition failed (`failed_item` gives
/// the item DynamoDB returned when the error is a failed condition); or it met a running
/// transaction (`TransactionConflictException`, worth a retry).
fn single<O, E, R>(
    part: Part,
    result: Result<O, SdkError<E, R>>,
    failed_item: impl FnOnce(&E) -> Option<Option<Item>>,
) -> Result<Option<Decoded>, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let err = match result {
        Ok(_) => return Ok(None),
        Err(err) => err,
    };
    if let Some(item) = err.as_service_error().and_then(failed_item) {
        let reason = (Some(CONDITION_FAILED.to_owned()), item);
        return Ok(Some(decode(&[part], vec![reason])));
    }
    match err.code() {
        Some(code @ "TransactionConflictException") => {
            Ok(Some(Decoded::Retry(format!("{part:?}: {code}"))))
        }
        _ => Err(StoreError::from_sdk(err)),
    }
}

impl SalesStore {
    /// Sends a write that carries no delivery and needs nothing read again when a condition
    /// fails: `true` written, `false` a condition failed; conflicts and throttles are retried.
    pub(crate) async fn write_once_decided(
        &self,
        operation: &'static str,
        write: &Write,
    ) -> Result<bool, StoreError> {
        let mut attempts = Attempts::new(operation);
        loop {
            attempts.next().await?;
            match self.write(&mut attempts, write).await? {
                Outcome::Written => return Ok(true),
                Outcome::Failed(_) => return Ok(false),
                Outcome::Retry(_) => {}
                Outcome::Duplicate | Outcome::InProgress => {
                    return Err(StoreError::Rejected(format!(
                        "{operation}: a write without a delivery met a delivery record"
                    )))
                }
            }
        }
    }

    /// Whether a delivery was applied (its ledger record is `done`): `salesctl reconcile
    /// --dry-run` tells apart what a replay would change. One GetItem.
    pub async fn delivery_recorded(&self, delivery: &DeliveryKey) -> Result<bool, StoreError> {
        let found = self
            .get(
                keys::delivery(&delivery.provider, &delivery.id),
                keys::DELIVERY_SK,
            )
            .await?;
        Ok(matches!(ledger::outcome_of(found.as_ref())?, Once::Duplicate) && found.is_some())
    }

    /// Sends a write: one part as a single-item request (half the write capacity of a
    /// transaction), several as one TransactWriteItems; and decodes what came of it.
    pub(crate) async fn write(
        &self,
        attempts: &mut Attempts,
        write: &Write,
    ) -> Result<Outcome, StoreError> {
        let decoded = match write.parts.as_slice() {
            [] => return Ok(Outcome::Written),
            [(part, item)] if item.condition_check.is_none() => {
                self.write_one(*part, item.clone()).await?
            }
            _ => self.write_many(write).await?,
        };
        let outcome = match decoded {
            None => Outcome::Written,
            Some(Decoded::Delivered(record)) => self.delivered(write, record).await?,
            Some(Decoded::Failed(failed)) => Outcome::Failed(failed),
            Some(Decoded::Retry(reason)) => Outcome::Retry(reason),
            Some(Decoded::Rejected(reason)) => return Err(StoreError::Rejected(reason)),
        };
        attempts.note(write, &outcome)?;
        Ok(outcome)
    }

    async fn write_many(&self, write: &Write) -> Result<Option<Decoded>, StoreError> {
        let items = write.parts.iter().map(|(_, item)| item.clone()).collect();
        let err = match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => return Ok(None),
            Err(err) => err,
        };
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError as E;
        match err.as_service_error() {
            Some(E::TransactionCanceledException(cancelled)) => {
                let reasons = cancelled
                    .cancellation_reasons()
                    .iter()
                    .map(|reason| (reason.code.clone(), reason.item.clone()))
                    .collect();
                Ok(Some(decode(&write.names(), reasons)))
            }
            Some(E::TransactionInProgressException(_)) => {
                Ok(Some(Decoded::Retry("TransactionInProgress".into())))
            }
            _ => Err(StoreError::from_sdk(err)),
        }
    }

    /// One part as a PutItem, UpdateItem or DeleteItem with the same expressions.
    async fn write_one(
        &self,
        part: Part,
        item: TransactWriteItem,
    ) -> Result<Option<Decoded>, StoreError> {
        use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
        use aws_sdk_dynamodb::operation::put_item::PutItemError;
        use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
        if let Some(put) = item.put {
            let result = self
                .client
                .put_item()
                .table_name(put.table_name)
                .set_item(Some(put.item))
                .set_condition_expression(put.condition_expression)
                .set_expression_attribute_names(put.expression_attribute_names)
                .set_expression_attribute_values(put.expression_attribute_values)
                .set_return_values_on_condition_check_failure(
                    put.return_values_on_condition_check_failure,
                )
                .send()
                .await;
            return single(part, result, |e| match e {
                PutItemError::ConditionalCheckFailedException(c) => Some(c.item.clone()),
                _ => None,
            });
        }
        if let Some(update) = item.update {
            let result = self
                .client
                .update_item()
                .table_name(update.table_name)
                .set_key(Some(update.key))
                .update_expression(update.update_expression)
                .set_condition_expression(update.condition_expression)
                .set_expression_attribute_names(update.expression_attribute_names)
                .set_expression_attribute_values(update.expression_attribute_values)
                .set_return_values_on_condition_check_failure(
                    update.return_values_on_condition_check_failure,
                )
                .send()
                .await;
            return single(part, result, |e| match e {
                UpdateItemError::ConditionalCheckFailedException(c) => Some(c.item.clone()),
                _ => None,
            });
        }
        if let Some(delete) = item.delete {
            let result = self
                .client
                .delete_item()
                .table_name(delete.table_name)
                .set_key(Some(delete.key))
                .set_condition_expression(delete.condition_expression)
                .set_expression_attribute_names(delete.expression_attribute_names)
                .set_expression_attribute_values(delete.expression_attribute_values)
                .set_return_values_on_condition_check_failure(
                    delete.return_values_on_condition_check_failure,
                )
                .send()
                .await;
            return single(part, result, |e| match e {
                DeleteItemError::ConditionalCheckFailedException(c) => Some(c.item.clone()),
                _ => None,
            });
        }
        Err(StoreError::Rejected(format!("{part:?}: an empty write")))
    }

    /// Why a write's delivery record was there: processed before, or being processed. From the
    /// record the failed condition returned; read only if it returned none.
    async fn delivered(&self, write: &Write, record: Option<Item>) -> Result<Outcome, StoreError> {
        let record = match record {
            Some(record) => Some(record),
            None => {
                let key = write
                    .parts
                    .iter()
                    .find(|(part, _)| *part == Part::Delivery)
                    .and_then(|(_, item)| item.update.as_ref().map(|u| u.key.clone()))
                    .and_then(|key| {
                        let pk = key.get(super::table::PK)?.as_s().ok()?.clone();
                        Some(pk)
                    });
                match key {
                    Some(pk) => self.get(pk, keys::DELIVERY_SK).await?,
                    None => None,
                }
            }
        };
        Ok(match ledger::outcome_of(record.as_ref())? {
            Once::Duplicate => Outcome::Duplicate,
            _ => Outcome::InProgress,
        })
    }

    /// Adds the part that records a webhook delivery as done, inside the write that is its whole
    /// effect: the write fails if the delivery was recorded before.
    pub(crate) fn delivery_part(
        &self,
        write: &mut Write,
        key: &DeliveryKey,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        write.push(
            Part::Delivery,
            ledger::record_item(self.table_name(), key, now)?,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::codec::s;

    fn item(tag: &str) -> Item {
        Item::from([("tag".to_owned(), s(tag))])
    }

    fn none() -> Reason {
        (Some("None".into()), None)
    }

    fn code(code: &str, found: Option<Item>) -> Reason {
        (Some(code.into()), found)
    }

    /// The outcome reported for each failing part, for a transaction of `parts` where the parts
    /// named in `failing` fail with `reason`.
    fn run(parts: &[Part], failing: &[(Part, &str)]) -> Decoded {
        let reasons = parts
            .iter()
            .map(|part| match failing.iter().find(|(p, _)| p == part) {
                Some((p, c)) => code(c, Some(item(&format!("{p:?}")))),
                None => none(),
            })
            .collect();
        decode(parts, reasons)
    }

    const ALL: [Part; 16] = [
        Part::Lead,
        Part::ClientSlot,
        Part::Charge,
        Part::Email,
        Part::History,
        Part::Summary,
        Part::Booking,
        Part::Spot,
        Part::Founder,
        Part::OtherSpot,
        Part::CustomerIndex,
        Part::Subscription,
        Part::Invoice,
        Part::WaitlistEntry,
        Part::Waitlisted,
        Part::Delivery,
    ];

    /// Table-driven: for every transaction shape below, every way of failing it, and every part
    /// added at every position, the outcome reported is the same as without the added part.
    #[test]
    fn adding_a_part_anywhere_never_changes_another_parts_outcome() {
        let shapes: Vec<Vec<Part>> = vec![
            vec![Part::Lead, Part::History, Part::Summary, Part::Delivery],
            vec![
                Part::Email,
                Part::Lead,
                Part::Summary,
                Part::Spot,
                Part::Founder,
            ],
            vec![
                Part::Lead,
                Part::Spot,
                Part::Founder,
                Part::CustomerIndex,
                Part::Delivery,
            ],
            vec![Part::Subscription, Part::Delivery],
            vec![Part::Spot, Part::Founder, Part::OtherSpot, Part::Lead],
            vec![Part::Waitlisted, Part::WaitlistEntry],
        ];
        let failures: Vec<Vec<(Part, &str)>> = vec![
            vec![(Part::Lead, CONDITION_FAILED)],
            vec![(Part::Email, CONDITION_FAILED)],
            vec![
                (Part::Spot, CONDITION_FAILED),
                (Part::Founder, CONDITION_FAILED),
            ],
            vec![(Part::Founder, CONDITION_FAILED)],
            vec![(Part::Delivery, CONDITION_FAILED)],
            vec![
                (Part::Delivery, CONDITION_FAILED),
                (Part::Lead, CONDITION_FAILED),
            ],
            vec![(Part::Summary, "TransactionConflict")],
            vec![
                (Part::Lead, "ThrottlingError"),
                (Part::Spot, CONDITION_FAILED),
            ],
            vec![(Part::Subscription, CONDITION_FAILED)],
            vec![(Part::Waitlisted, CONDITION_FAILED)],
            vec![(Part::Lead, "ValidationError")],
        ];
        let mut checked = 0;
        for shape in &shapes {
            for failing in &failures {
                let failing: Vec<_> = failing
                    .iter()
                    .filter(|(p, _)| shape.contains(p))
                    .copied()
                    .collect();
                if failing.is_empty() {
                    continue;
                }
                let expected = run(shape, &failing);
                for extra in ALL.iter().filter(|p| !shape.contains(p)) {
                    for at in 0..=shape.len() {
                        let mut bigger = shape.clone();
                        bigger.insert(at, *extra);
                        assert_eq!(
                            run(&bigger, &failing),
                            expected,
                            "{shape:?} failing {failing:?}, with {extra:?} added at {at}"
                        );
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 1000, "{checked}");
    }

    #[test]
    fn the_decoder_names_what_failed() {
        let parts = [Part::Lead, Part::Spot, Part::Founder, Part::Delivery];
        let Decoded::Failed(failed) = run(&parts, &[(Part::Founder, CONDITION_FAILED)]) else {
            panic!("a failed condition");
        };
        assert_eq!(failed.names(), BTreeSet::from([Part::Founder]));
        assert!(failed.any(&[Part::Spot, Part::Founder]) && !failed.has(Part::Lead));
        assert_eq!(failed.parts[0].1, Some(item("Founder")));
        // The delivery outranks the others: the whole effect was applied before.
        assert_eq!(
            run(
                &parts,
                &[
                    (Part::Lead, CONDITION_FAILED),
                    (Part::Delivery, CONDITION_FAILED)
                ]
            ),
            Decoded::Delivered(Some(item("Delivery")))
        );
        // Conditions outrank conflicts: reading again is needed either way.
        assert!(matches!(
            run(&parts, &[(Part::Lead, "TransactionConflict"), (Part::Spot, CONDITION_FAILED)]),
            Decoded::Failed(f) if f.names() == BTreeSet::from([Part::Spot])
        ));
        assert!(matches!(
            run(&parts, &[(Part::Spot, "TransactionConflict")]),
            Decoded::Retry(_)
        ));
        assert!(matches!(
            run(&parts, &[(Part::Spot, "ValidationError")]),
            Decoded::Rejected(_)
        ));
        assert!(matches!(decode(&parts, vec![none()]), Decoded::Rejected(_)));
    }

    #[test]
    fn the_same_write_failing_on_the_same_items_twice_is_caught() {
        let mut attempts = Attempts::new("test");
        let mut write = Write::new();
        write.push(Part::Lead, TransactWriteItem::builder().build());
        let failed = |tag: &str| {
            Outcome::Failed(Failed {
                parts: vec![(Part::Lead, Some(item(tag)))],
            })
        };
        attempts.note(&write, &failed("v1")).unwrap();
        // Something new was found: another try is fair.
        attempts.note(&write, &failed("v2")).unwrap();
        // The same write, the same items: it can never succeed.
        assert!(matches!(
            attempts.note(&write, &failed("v2")),
            Err(StoreError::NoProgress("test"))
        ));
        // A changed plan is fine.
        let mut changed = write.clone();
        changed.push(Part::Summary, TransactWriteItem::builder().build());
        attempts.note(&changed, &failed("v2")).unwrap();
    }

    #[tokio::test]
    async fn attempts_are_bounded_and_pause_only_after_conflicts() {
        let mut attempts = Attempts::new("test");
        let write = Write::new();
        for _ in 0..MAX_ATTEMPTS {
            attempts.next().await.unwrap();
            attempts
                .note(&write, &Outcome::Retry("conflict".into()))
                .unwrap();
            assert!(attempts.pause);
        }
        assert!(matches!(
            attempts.next().await,
            Err(StoreError::Contention(MAX_ATTEMPTS))
        ));
        for _ in 0..1000 {
            let first = backoff(1);
            assert!((Duration::from_millis(3)..=Duration::from_millis(5)).contains(&first));
            let last = backoff(40);
            assert!((Duration::from_millis(80)..=Duration::from_millis(160)).contains(&last));
        }
    }
}
