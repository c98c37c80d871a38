//! Reading deals for the sales team: lists from the `by_stage` / `by_assignee` indexes (soonest
//! next action first, paginated with an opaque cursor, never a scan), and one deal in full.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use serde::Serialize;
use time::OffsetDateTime;

use super::billing::BillingState;
use super::codec::{get_s, opt_s, Item};
use super::leads::decode_lead;
use super::table::{
    keys, GSI1_PK, GSI1_SK, GSI2_PK, GSI2_SK, GSI_BY_ASSIGNEE, GSI_BY_STAGE, PK, SK,
};
use super::{SalesStore, StoreError};
use crate::domain::time_format;
use crate::domain::{Booking, BookingRef, Lead, LeadId, PipelineStage, StageChange};

/// Which deals to list. Every list reads one index partition: a stage, or an assignee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DealFilter {
    Stage(PipelineStage),
    /// A rep's deals, optionally in one stage only.
    Assignee {
        who: String,
        stage: Option<PipelineStage>,
    },
}

/// A page request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DealQuery {
    pub filter: DealFilter,
    /// Only deals whose next action is due strictly before this time.
    pub due_before: Option<OffsetDateTime>,
    /// At most this many deals read for the page (1–100).
    pub limit: i32,
    pub cursor: Option<Cursor>,
}

/// One page of deals and, when there are more, the cursor for the next page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DealPage {
    pub leads: Vec<Lead>,
    pub next_cursor: Option<Cursor>,
}

/// Where a page ended: opaque to callers (base64url of the index key and a digest of the
/// list's filters), checked when it comes back so that a cursor from one list cannot be used on
/// another: a cursor sent with other filters (stage, assignee, `due_before`) than the list it
/// came from is refused as invalid (a 400), never sent to DynamoDB (which answers a start key
/// outside the query's key condition with a ValidationException, a 500).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Cursor(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a cursor from this list")]
pub struct CursorError;

/// The cursor's field holding the digest of the list's filters.
const FILTERS_FIELD: &str = "_filters";

impl Cursor {
    pub fn parse(raw: &str) -> Result<Cursor, CursorError> {
        let raw = raw.trim();
        if raw.is_empty() || raw.len() > 2048 {
            return Err(CursorError);
        }
        // Decodable, or it is not ours.
        decode_key(raw)?;
        Ok(Cursor(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn encode(key: &HashMap<String, AttributeValue>, filters: &str) -> Option<Cursor> {
        let mut plain = serde_json::Map::new();
        for (name, value) in key {
            plain.insert(
                name.clone(),
                serde_json::Value::from(value.as_s().ok()?.as_str()),
            );
        }
        plain.insert(FILTERS_FIELD.to_owned(), serde_json::Value::from(filters));
        let json = serde_json::Value::Object(plain).to_string();
        Some(Cursor(
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json),
        ))
    }
}

fn decode_key(raw: &str) -> Result<HashMap<String, String>, CursorError> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .map_err(|_| CursorError)?;
    let map: HashMap<String, String> = serde_json::from_slice(&bytes).map_err(|_| CursorError)?;
    Ok(map)
}

/// A digest of everything that selects a list's deals (the index partition, the stage filter,
/// `due_before`), so a cursor names the list it came from without showing its key values.
fn filters_digest(
    index: &str,
    partition: &str,
    stage: Option<PipelineStage>,
    due_before: Option<OffsetDateTime>,
) -> String {
    use sha2::{Digest, Sha256};
    let text = format!(
        "{index}\n{partition}\n{}\n{}",
        stage.map_or("", |s| s.as_str()),
        due_before.map(time_format::to_sortable).unwrap_or_default()
    );
    hex::encode(&Sha256::digest(text.as_bytes())[..12])
}

/// A deal in full: the lead, its pipeline record, history, bookings and billing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeadDetail {
    pub lead: Lead,
    pub history: Vec<StageChange>,
    /// Founding membership changes after confirmation (lapsed, revoked), oldest first.
    pub membership: Vec<super::membership::MembershipEntry>,
    pub bookings: Vec<Booking>,
    /// The booking that holds the deal in `demo_booked`, if any.
    pub demo_booking: Option<BookingRef>,
    pub billing: BillingState,
}

impl SalesStore {
    /// A page of deals, soonest next action first (deals without one last).
    pub async fn list_deals(&self, query: &DealQuery) -> Result<DealPage, StoreError> {
        let (index, pk_name, sk_name, pk_value, stage_filter) = match &query.filter {
            DealFilter::Stage(stage) => (
                GSI_BY_STAGE,
                GSI1_PK,
                GSI1_SK,
                keys::stage_index(*stage),
                None,
            ),
            DealFilter::Assignee { who, stage } => (
                GSI_BY_ASSIGNEE,
                GSI2_PK,
                GSI2_SK,
                keys::assignee_index(who),
                *stage,
            ),
        };
        let filters = filters_digest(index, &pk_value, stage_filter, query.due_before);
        let start = match &query.cursor {
            Some(cursor) => {
                let mut key = decode_key(cursor.as_str())
                    .map_err(|e| StoreError::InvalidCursor(e.to_string()))?;
                let issued_for = key.remove(FILTERS_FIELD);
                let expected = [PK, SK, pk_name, sk_name];
                if issued_for.as_deref() != Some(filters.as_str())
                    || key.len() != expected.len()
                    || !expected.iter().all(|name| key.contains_key(*name))
                    || key.get(pk_name) != Some(&pk_value)
                {
                    return Err(StoreError::InvalidCursor(CursorError.to_string()));
                }
                Some(
                    key.into_iter()
                        .map(|(name, value)| (name, AttributeValue::S(value)))
                        .collect(),
                )
            }
            None => None,
        };
        let mut request = self
            .client
            .query()
            .table_name(self.table_name())
            .index_name(index)
            .expression_attribute_names("#pk", pk_name)
            .expression_attribute_values(":pk", AttributeValue::S(pk_value))
            .limit(query.limit.clamp(1, 100))
            .set_exclusive_start_key(start);
        request = match query.due_before {
            Some(due) => request
                .key_condition_expression("#pk = :pk AND #sk < :due")
                .expression_attribute_names("#sk", sk_name)
                .expression_attribute_values(
                    ":due",
                    AttributeValue::S(time_format::to_sortable(due)),
                ),
            None => request.key_condition_expression("#pk = :pk"),
        };
        if let Some(stage) = stage_filter {
            request = request
                .filter_expression("#stage = :stage")
                .expression_attribute_names("#stage", "stage")
                .expression_attribute_values(":stage", AttributeValue::S(stage.as_str().into()));
        }
        let page = request.send().await.map_err(StoreError::from_sdk)?;
        let leads = page
            .items()
            .iter()
            .map(decode_lead)
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = page
            .last_evaluated_key()
            .filter(|key| !key.is_empty())
            .and_then(|key| Cursor::encode(key, &filters));
        Ok(DealPage { leads, next_cursor })
    }

    /// A deal in full: one Query of the lead's partition, plus one of its Stripe customer's.
    pub async fn lead_detail(&self, id: &LeadId) -> Result<Option<LeadDetail>, StoreError> {
        let items: Vec<Item> = self.query_partition(&keys::lead(id), None, None).await?;
        let mut lead = None;
        let mut demo_booking = None;
        let mut history = Vec::new();
        let mut membership = Vec::new();
        let mut bookings = Vec::new();
        for item in &items {
            let sk = get_s(item, SK)?;
            if sk == keys::LEAD_SK {
                lead = Some(decode_lead(item)?);
                demo_booking = opt_s(item, "demo_booking")?.and_then(BookingRef::parse_key);
            } else if sk.starts_with(keys::HISTORY_PREFIX) {
                history.push(super::history::decode_history(item)?);
            } else if sk.starts_with(super::membership::MEMBERSHIP_PREFIX) {
                membership.push(super::membership::decode_membership_entry(item)?);
            } else if sk.starts_with(keys::BOOKING_PREFIX) {
                bookings.push(super::bookings::decode_booking(item)?);
            }
        }
        let Some(lead) = lead else {
            return Ok(None);
        };
        let billing = match &lead.billing.stripe_customer_id {
            Some(customer) => self.billing_state(customer).await?,
            None => BillingState::default(),
        };
        Ok(Some(LeadDetail {
            lead,
            history,
            membership,
            bookings,
            demo_booking,
            billing,
        }))
    }
}
