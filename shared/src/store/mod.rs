//! The DynamoDB store: turns domain decisions into single requests and transactions.
//!
//! Every invariant (one lead per e-mail, 20 spots, one spot per e-mail, one winner per webhook
//! delivery, summary in step with the deals) is enforced by a condition expression or a
//! transaction in DynamoDB, never by reading first and trusting the read.
//!
//! Every write goes through one path (`write.rs`): a write is built from named parts (the lead,
//! the e-mail, a spot, the delivery record, …), and what DynamoDB answered is decoded once into
//! written / duplicate delivery / these parts failed / conflict, never by position. Operations
//! that read, decide and write retry under one rule (`Attempts`): a bounded number of attempts
//! ([`MAX_ATTEMPTS`]), a jittered pause after conflicts and throttles, a fresh read after a
//! failed condition, and [`StoreError::NoProgress`] if the same write fails the same way twice.
//!
//! One module per stored thing: `leads` (the lead item), `history`, `summary`, `bookings`,
//! `founding` (spots and founder items), `waitlist`, `billing` (Stripe's records), `ledger`
//! (webhook deliveries); `pipeline` and `deals` are the operations and reads over them.
//!
//! The table design, with the access patterns it serves, is in [`table`].

mod billing;
mod bookings;
mod codec;
mod deals;
mod founding;
mod history;
mod leads;
mod ledger;
mod membership;
mod offers;
mod pipeline;
mod summary;
pub mod table;
mod waitlist;
mod write;

use std::sync::Arc;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

pub use billing::{
    BillingState, CheckoutPayment, FoundingPayment, InvoiceRecord, PaymentRecorded, Recorded,
    SubscriptionState,
};
pub use bookings::{BookingOutcome, LeadBookings};
pub use deals::{Cursor, DealFilter, DealPage, DealQuery, LeadDetail};
pub use founding::{ClientCap, ConfirmOutcome, HoldOutcome, LiveHold, ReleaseOutcome};
pub use ledger::{DeliveryKey, Once, LEDGER_RETENTION};
pub use membership::{ChargeRecord, MembershipEntry, MembershipOutcome};
pub use offers::{LAPSED_HOLD_SETTLE, MAIL_CLAIM_STALE};
pub use pipeline::PipelineChange;
pub use summary::PipelineSummary;
pub use waitlist::WaitlistEntry;
pub use write::MAX_ATTEMPTS;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// DynamoDB could not be reached or answered with a throttling or server error: worth
    /// retrying later (a webhook answers 5xx so that the provider retries).
    #[error("DynamoDB is unavailable: {0}")]
    Unavailable(String),
    /// DynamoDB rejected the request itself (a missing table, a malformed request): a bug or a
    /// configuration error, not worth retrying as is.
    #[error("DynamoDB rejected the request: {0}")]
    Rejected(String),
    /// Too many concurrent writers kept winning; the caller may retry later.
    #[error("gave up after {0} attempts lost to concurrent writers")]
    Contention(u32),
    /// A stored item does not have the shape this code writes.
    #[error("stored item is malformed: {0}")]
    Corrupt(String),
    #[error("no such lead")]
    LeadNotFound,
    /// A list's cursor that this store did not hand out (or for another list).
    #[error("{0}")]
    InvalidCursor(String),
    /// An operation was about to send the same write again after it failed the same conditions
    /// on the same items: it could never succeed, so this is a bug in that operation.
    #[error("{0}: the same write failed the same conditions twice (nothing new was read)")]
    NoProgress(&'static str),
    /// The writer named a version of the lead that is no longer current.
    #[error("the lead was changed by someone else (now at version {current})")]
    VersionConflict { current: u64 },
}

impl StoreError {
    /// Whether the same request may succeed later (DynamoDB down, throttled, or contended).
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_) | StoreError::Contention(_))
    }

    pub(crate) fn from_sdk<E, R>(err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let permanent = matches!(
            err.code(),
            Some("ValidationException" | "ResourceNotFoundException" | "AccessDeniedException")
        );
        let message = error_chain(&err);
        if permanent {
            StoreError::Rejected(message)
        } else {
            StoreError::Unavailable(message)
        }
    }
}

/// An error and its sources, each by its `Display`, joined by ": " (as the SDK's
/// `DisplayErrorContext` reads, without the `Debug` dump of the whole error it appends: these
/// messages are logged, and a log value is plain text).
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.ends_with(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

/// The sales store: one DynamoDB table. Cheap to clone; build one per process and share it.
#[derive(Clone, Debug)]
pub struct SalesStore {
    client: aws_sdk_dynamodb::Client,
    table: Arc<str>,
}

impl SalesStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<Arc<str>>) -> Self {
        SalesStore {
            client,
            table: table.into(),
        }
    }

    /// A store from the environment: AWS configuration the SDK's usual way (`AWS_REGION`,
    /// credentials, `AWS_ENDPOINT_URL` for a local server) and the table from `TABLE_NAME`.
    pub async fn from_env() -> Self {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let table =
            std::env::var("TABLE_NAME").unwrap_or_else(|_| table::DEFAULT_TABLE_NAME.to_owned());
        SalesStore::new(aws_sdk_dynamodb::Client::new(&config), table)
    }

    pub fn table_name(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &aws_sdk_dynamodb::Client {
        &self.client
    }

    /// One item by key, strongly consistent.
    pub(crate) async fn get(
        &self,
        pk: impl Into<String>,
        sk: impl Into<String>,
    ) -> Result<Option<codec::Item>, StoreError> {
        let found = self
            .client
            .get_item()
            .table_name(self.table_name())
            .key(table::PK, codec::s(pk))
            .key(table::SK, codec::s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(found.item)
    }

    /// The items of up to 100 keys in one BatchGetItem, strongly consistent, in no particular
    /// order; keys with no item are left out. Keys DynamoDB leaves unprocessed (throttling) are
    /// asked for again.
    pub(crate) async fn get_many(
        &self,
        keys: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Vec<codec::Item>, StoreError> {
        let mut pending: Vec<codec::Item> = keys
            .into_iter()
            .map(|(pk, sk)| {
                codec::Item::from([
                    (table::PK.to_owned(), codec::s(pk)),
                    (table::SK.to_owned(), codec::s(sk)),
                ])
            })
            .collect();
        let mut items = Vec::new();
        let mut attempts = write::Attempts::new("batch_get");
        while !pending.is_empty() {
            attempts.next().await?;
            let wanted = aws_sdk_dynamodb::types::KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut pending)))
                .consistent_read(true)
                .build()
                .map_err(|e| StoreError::Rejected(e.to_string()))?;
            let answer = self
                .client
                .batch_get_item()
                .request_items(self.table_name(), wanted)
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
            if let Some(mut found) = answer.responses {
                items.extend(found.remove(self.table_name()).unwrap_or_default());
            }
            if let Some(mut left) = answer.unprocessed_keys {
                pending = left
                    .remove(self.table_name())
                    .map(|k| k.keys)
                    .unwrap_or_default();
            }
            if !pending.is_empty() {
                attempts.pause_next();
            }
        }
        Ok(items)
    }

    /// Every item of partition `pk` whose sort key starts with `prefix`, in sort-key order,
    /// across all pages, strongly consistent.
    pub(crate) async fn query_prefix(
        &self,
        pk: &str,
        prefix: &str,
    ) -> Result<Vec<codec::Item>, StoreError> {
        self.query_partition(pk, Some(prefix), None).await
    }

    /// Every item of partition `pk` (only sort keys starting with `prefix`, if given; none
    /// starting with `skip`, if given), in sort-key order, across all pages, strongly consistent.
    pub(crate) async fn query_partition(
        &self,
        pk: &str,
        prefix: Option<&str>,
        skip: Option<&str>,
    ) -> Result<Vec<codec::Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let mut request = self
                .client
                .query()
                .table_name(self.table_name())
                .expression_attribute_values(":pk", codec::s(pk))
                .consistent_read(true)
                .set_exclusive_start_key(start);
            request = match prefix {
                Some(prefix) => request
                    .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                    .expression_attribute_values(":prefix", codec::s(prefix)),
                None => request.key_condition_expression("pk = :pk"),
            };
            if let Some(skip) = skip {
                request = request
                    .filter_expression("NOT begins_with(sk, :skip)")
                    .expression_attribute_values(":skip", codec::s(skip));
            }
            let page = request.send().await.map_err(StoreError::from_sdk)?;
            let next = page.last_evaluated_key.filter(|key| !key.is_empty());
            items.extend(page.items.unwrap_or_default());
            match next {
                Some(key) => start = Some(key),
                None => return Ok(items),
            }
        }
    }
}
