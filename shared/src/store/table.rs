//! The one table, defined once. `make db-table`, the tests and the SAM template all follow this
//! definition (a test compares the template with [`definition`]).
//!
//! # Design
//!
//! One table, generic string keys `pk` / `sk`, on-demand capacity.
//!
//! | item                  | pk                          | sk                    | notes |
//! |-----------------------|-----------------------------|-----------------------|-------|
//! | lead + pipeline record| `LEAD#<lead_id>`            | `LEAD`                | `version` for optimistic writes; GSI keys below |
//! | stage history entry   | `LEAD#<lead_id>`            | `HISTORY#<version>`   | one per applied stage change, written in the same transaction as the change |
//! | demo booking          | `LEAD#<lead_id>`            | `BOOKING#<provider>#<id>` | Cal.com uid / Calendly invitee URI; status, times, reschedule links; written with the lead (version bump) |
//! | e-mail → lead         | `EMAIL#<email>`             | `EMAIL`               | makes the e-mail unique; created with the lead in one transaction |
//! | pipeline summary      | `PIPELINE`                  | `SUMMARY#00`…`#15`    | `<stage>_count/_value/_weighted`: each change ADDs to one random shard, in its own transaction |
//! | founding spot 1..20   | `FOUNDING`                  | `SPOT#01` … `SPOT#20` | `state` held (with `expires_at`, `hold_ref`) or member (with `benefits`); a lapsed membership's reservation (`reserved_for`, `reserved_until`) |
//! | founder by e-mail     | `FOUNDER#<email>`           | `FOUNDER`             | one spot per e-mail; written in the same transaction as the spot |
//! | client hold slot      | `CLIENT#<client id>`        | `HOLD#1` … `HOLD#n`   | a live founding hold of that client (its cap): hold_ref, spot, expiry, address |
//! | waitlist entry        | `WAITLIST`                  | `POS#<000001>`        | in position order; its offer (`offer_status`, `offer_spot`, `offer_until`, mail claimed / sent) |
//! | waitlist counter      | `WAITLIST`                  | `COUNTER`             | atomic counter for positions; `processed_through`: no one up to it waits |
//! | waitlisted e-mail     | `WAITLISTED#<email>`        | `WAITLISTED`          | once per e-mail, keeps the position stable |
//! | webhook delivery      | `DELIVERY#<provider>#<id>`  | `DELIVERY`            | ledger: processing (with lease) or done; `purge_at` TTL |
//! | customer → lead       | `CUSTOMER#<cus>`            | `CUSTOMER`            | written with the paid checkout's transaction |
//! | subscription state    | `CUSTOMER#<cus>`            | `SUBSCRIPTION#<sub>`  | replaced only by an event at least as new |
//! | invoice / payment     | `CUSTOMER#<cus>`            | `INVOICE#<in>`        | replaced only by an event at least as new |
//! | charge → customer     | `CHARGE#<ch>`               | `CHARGE`              | from `charge.succeeded` / `.refunded`: a dispute names only its charge |
//! | membership change     | `LEAD#<lead_id>`            | `MEMBERSHIP#<at>#<change>` | lapsed / revoked, with the spot's own change in one transaction |
//!
//! Global secondary indexes (projection ALL):
//! - `by_stage`: `gsi1pk = STAGE#<stage>`, `gsi1sk = <next_action_date or ~>#<lead_id>`: the
//!   deals in a stage, soonest next action first (lead items).
//! - `by_assignee`: `gsi2pk = ASSIGNEE#<who>`, same sort key: a rep's deals (lead items).
//! - `by_email`: `gsi3pk = EMAIL#<email>`, sort key `sk`: a lead item and its booking items by
//!   the lead's e-mail, so that a booking webhook reads what it decides on in one Query. The
//!   index is eventually consistent; the booking's write is conditioned on the lead's version,
//!   and every write of a booking bumps that version, so a stale read fails the write and the
//!   webhook reads again, consistently, on the base table.
//!
//! TTL attribute `purge_at` (Unix seconds), set on delivery-ledger records only. Nothing relies
//! on TTL deletion: an expired hold is free by its `expires_at`, checked in conditions.
//!
//! # Access patterns
//!
//! | pattern                                 | request |
//! |-----------------------------------------|---------|
//! | find or create a lead by e-mail         | GetItem `EMAIL#`; if absent, TransactWriteItems (e-mail, lead, summary) |
//! | read a lead / its history               | GetItem `LEAD#…/LEAD`; Query `LEAD#…` `begins_with(sk, HISTORY#)` |
//! | a lead with its bookings                | Query `LEAD#…` (history filtered out) |
//! | a lead with its bookings, by e-mail     | Query `by_email` (eventually consistent; then, if stale, GetItem `EMAIL#` + Query `LEAD#…`) |
//! | record a booking event                  | TransactWriteItems: lead (condition on `version`, or a condition check when nothing changes), bookings, history, summary, delivery record |
//! | change a deal                           | TransactWriteItems: lead (condition on `version`), history entry, summary |
//! | pipeline summary by stage               | Query `PIPELINE` `begins_with(sk, SUMMARY)`: the 16 shards, summed (never a scan) |
//! | deals in a stage / of a rep, by due date| Query `by_stage` / `by_assignee` |
//! | founding figures, free spots, members   | Query `FOUNDING` (≤ 20 small items, one request) |
//! | hold / confirm / release a spot         | TransactWriteItems: spot + founder-by-e-mail, conditions on state, expiry and `hold_ref` |
//! | join the waitlist / list it             | GetItem `WAITLISTED#`; UpdateItem counter; TransactWriteItems entry + e-mail; Query `WAITLIST` |
//! | record a webhook delivery               | a part of the delivery's own write, conditioned on its absence; alone, UpdateItem with that condition |
//! | subscription / invoice event            | TransactWriteItems: the record (condition: no newer event) + delivery record |

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};

use super::StoreError;

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const TTL_ATTRIBUTE: &str = "purge_at";

pub const GSI_BY_STAGE: &str = "by_stage";
pub const GSI_BY_ASSIGNEE: &str = "by_assignee";
pub const GSI1_PK: &str = "gsi1pk";
pub const GSI1_SK: &str = "gsi1sk";
pub const GSI2_PK: &str = "gsi2pk";
pub const GSI2_SK: &str = "gsi2sk";
pub const GSI_BY_EMAIL: &str = "by_email";
pub const GSI3_PK: &str = "gsi3pk";

/// The table name used when `TABLE_NAME` is not set.
pub const DEFAULT_TABLE_NAME: &str = "agency-sales";

/// A global secondary index: name, partition key, sort key (all strings, projection ALL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSpec {
    pub name: &'static str,
    pub partition_key: &'static str,
    pub sort_key: &'static str,
}

/// The table's shape, independent of any SDK type, so that other definitions (the SAM
/// template) can be checked against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    pub partition_key: &'static str,
    pub sort_key: &'static str,
    /// Every key attribute is a string.
    pub string_attributes: Vec<&'static str>,
    pub indexes: Vec<IndexSpec>,
    pub ttl_attribute: &'static str,
}

pub fn definition() -> TableSpec {
    TableSpec {
        partition_key: PK,
        sort_key: SK,
        string_attributes: vec![PK, SK, GSI1_PK, GSI1_SK, GSI2_PK, GSI2_SK, GSI3_PK],
        indexes: vec![
            IndexSpec {
                name: GSI_BY_STAGE,
                partition_key: GSI1_PK,
                sort_key: GSI1_SK,
            },
            IndexSpec {
                name: GSI_BY_ASSIGNEE,
                partition_key: GSI2_PK,
                sort_key: GSI2_SK,
            },
            IndexSpec {
                name: GSI_BY_EMAIL,
                partition_key: GSI3_PK,
                sort_key: SK,
            },
        ],
        ttl_attribute: TTL_ATTRIBUTE,
    }
}

fn key(name: &str, key_type: KeyType) -> Result<KeySchemaElement, StoreError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .map_err(|e| StoreError::Rejected(e.to_string()))
}

/// Creates the table as [`definition`] describes it, waits until it is active, and turns on TTL.
/// An existing table of that name is left as it is.
pub async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
) -> Result<bool, StoreError> {
    let spec = definition();
    let build_err = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Rejected(e.to_string());
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(spec.partition_key, KeyType::Hash)?)
        .key_schema(key(spec.sort_key, KeyType::Range)?);
    for attribute in &spec.string_attributes {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(*attribute)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(build_err)?,
        );
    }
    for index in &spec.indexes {
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(index.name)
                .key_schema(key(index.partition_key, KeyType::Hash)?)
                .key_schema(key(index.sort_key, KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .map_err(build_err)?,
        );
    }
    match request.send().await {
        Ok(_) => {}
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            return Ok(false);
        }
        Err(err) => return Err(StoreError::from_sdk(err)),
    }
    for _ in 0..120 {
        let described = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        let active = described
            .table()
            .and_then(|t| t.table_status())
            .is_some_and(|s| *s == aws_sdk_dynamodb::types::TableStatus::Active);
        if active {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(spec.ttl_attribute)
                .enabled(true)
                .build()
                .map_err(build_err)?,
        )
        .send()
        .await
        .map_err(StoreError::from_sdk)?;
    Ok(true)
}

/// Deletes a table (tests clean up after themselves).
pub async fn delete_table(client: &aws_sdk_dynamodb::Client, name: &str) -> Result<(), StoreError> {
    client
        .delete_table()
        .table_name(name)
        .send()
        .await
        .map_err(StoreError::from_sdk)?;
    Ok(())
}

/// Item keys, one function per kind of item.
pub(crate) mod keys {
    use crate::domain::{EmailAddress, LeadId, SpotNumber};

    pub const LEAD_SK: &str = "LEAD";
    pub const HISTORY_PREFIX: &str = "HISTORY#";

    pub fn lead(id: &LeadId) -> String {
        format!("LEAD#{id}")
    }
    pub fn history_sk(version: u64) -> String {
        format!("{HISTORY_PREFIX}{version:010}")
    }
    pub const BOOKING_PREFIX: &str = "BOOKING#";
    pub fn booking_sk(booking: &crate::domain::BookingRef) -> String {
        format!("{BOOKING_PREFIX}{}", booking.key())
    }
    pub fn email(email: &EmailAddress) -> String {
        format!("EMAIL#{email}")
    }
    pub const EMAIL_SK: &str = "EMAIL";

    pub const SUMMARY_PK: &str = "PIPELINE";
    pub const SUMMARY_SK: &str = "SUMMARY";

    pub const FOUNDING_PK: &str = "FOUNDING";
    pub const SPOT_PREFIX: &str = "SPOT#";
    pub fn spot_sk(spot: SpotNumber) -> String {
        format!("{SPOT_PREFIX}{:02}", spot.get())
    }
    pub fn founder(email: &EmailAddress) -> String {
        format!("FOUNDER#{email}")
    }
    pub const FOUNDER_SK: &str = "FOUNDER";
    /// A client's hold slots (`domain::client`): `CLIENT#<client id>` / `HOLD#<n>`.
    pub fn client(client_id: &str) -> String {
        format!("CLIENT#{client_id}")
    }
    pub fn client_slot_sk(slot: u8) -> String {
        format!("HOLD#{slot}")
    }

    pub const WAITLIST_PK: &str = "WAITLIST";
    pub const WAITLIST_COUNTER_SK: &str = "COUNTER";
    pub const WAITLIST_POS_PREFIX: &str = "POS#";
    pub fn waitlist_pos_sk(position: u64) -> String {
        format!("{WAITLIST_POS_PREFIX}{position:06}")
    }
    pub fn waitlisted(email: &EmailAddress) -> String {
        format!("WAITLISTED#{email}")
    }
    pub const WAITLISTED_SK: &str = "WAITLISTED";

    pub fn delivery(provider: &str, id: &str) -> String {
        format!("DELIVERY#{provider}#{id}")
    }
    pub const DELIVERY_SK: &str = "DELIVERY";

    pub fn stage_index(stage: crate::domain::PipelineStage) -> String {
        format!("STAGE#{stage}")
    }
    pub fn assignee_index(who: &str) -> String {
        format!("ASSIGNEE#{who}")
    }
    /// Sort key for the deal indexes: soonest next action first, undated deals last.
    pub fn due_sort_key(next_action_date: Option<time::OffsetDateTime>, id: &LeadId) -> String {
        match next_action_date {
            Some(at) => format!("{}#{id}", crate::domain::time_format::to_sortable(at)),
            None => format!("~#{id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_index_key_is_a_declared_string_attribute() {
        let spec = definition();
        for index in &spec.indexes {
            assert!(spec.string_attributes.contains(&index.partition_key));
            assert!(spec.string_attributes.contains(&index.sort_key));
        }
        assert!(spec.string_attributes.contains(&spec.partition_key));
        assert!(!spec.string_attributes.contains(&spec.ttl_attribute));
    }

    /// The longest ids the parsers accept make keys DynamoDB accepts: every prefix plus
    /// `MAX_ID_BYTES` (and a 254-byte e-mail) stays inside the partition and sort key limits.
    #[test]
    fn the_longest_accepted_ids_make_storable_keys() {
        use crate::domain::limits::{MAX_ID_BYTES, MAX_PARTITION_KEY_BYTES, MAX_SORT_KEY_BYTES};
        use crate::domain::{BookingProvider, BookingRef, EmailAddress};
        let id = "x".repeat(MAX_ID_BYTES);
        let email =
            EmailAddress::parse(&format!("{}@{}.com", "a".repeat(64), "b".repeat(185))).unwrap();
        assert!(email.as_str().len() >= 250);
        // A booking delivery's id: trigger, booking id, 32 hex digits of the body's hash.
        let delivery = format!("invitee.canceled:{id}:{}", "f".repeat(32));
        let partition_keys = [
            keys::delivery("calendly", &delivery),
            format!("CUSTOMER#{id}"),
            keys::email(&email),
            keys::founder(&email),
            keys::waitlisted(&email),
            keys::assignee_index(&id),
        ];
        for key in partition_keys {
            assert!(key.len() <= MAX_PARTITION_KEY_BYTES, "{} bytes", key.len());
        }
        let booking = BookingRef::new(BookingProvider::Calendly, id.clone());
        let sort_keys = [
            keys::booking_sk(&booking),
            format!("SUBSCRIPTION#{id}"),
            format!("INVOICE#{id}"),
        ];
        for key in sort_keys {
            assert!(key.len() <= MAX_SORT_KEY_BYTES, "{} bytes", key.len());
        }
    }

    #[test]
    fn keys_sort_in_the_order_the_access_patterns_need() {
        use crate::domain::SpotNumber;
        let spots: Vec<String> = SpotNumber::all().map(keys::spot_sk).collect();
        let mut sorted = spots.clone();
        sorted.sort();
        assert_eq!(spots, sorted);
        assert!(keys::history_sk(9) < keys::history_sk(10));
        assert!(keys::waitlist_pos_sk(99) < keys::waitlist_pos_sk(100));
        let id = crate::domain::LeadId::generate();
        let dated = keys::due_sort_key(Some(time::macros::datetime!(2030-01-01 0:00 UTC)), &id);
        assert!(dated < keys::due_sort_key(None, &id));
    }
}
