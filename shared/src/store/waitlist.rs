//! The founding waitlist: once per e-mail, positions from an atomic counter, listed in order.

use aws_sdk_dynamodb::types::{Put, ReturnValue, TransactWriteItem};
use serde::Serialize;
use time::OffsetDateTime;

use super::codec::{get_n, n, opt_n, opt_s, parse_s, s, Item};
use super::table::{keys, PK, SK};
use super::write::{Attempts, Outcome, Part, Write};
use super::{SalesStore, StoreError};
use crate::domain::time_format;
use crate::domain::{EmailAddress, LeadId, SpotNumber, WaitlistStatus};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaitlistEntry {
    pub position: u64,
    pub email: EmailAddress,
    pub lead_id: Option<LeadId>,
    #[serde(with = "time::serde::rfc3339")]
    pub joined_at: OffsetDateTime,
    /// waiting, offered (until `offer_until`), taken, lapsed, skipped.
    pub status: WaitlistStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offer_spot: Option<SpotNumber>,
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub offer_until: Option<OffsetDateTime>,
    /// When the offer's e-mail went out.
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub offer_sent_at: Option<OffsetDateTime>,
    /// Why the person was skipped (declined, standard plan, member, by the sales team).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped_because: Option<String>,
}

fn opt_time(item: &Item, name: &str) -> Result<Option<OffsetDateTime>, StoreError> {
    opt_s(item, name)?
        .map(|at| time_format::parse(at).map_err(|e| StoreError::Corrupt(e.to_string())))
        .transpose()
}

pub(crate) fn decode_entry(item: &Item) -> Result<WaitlistEntry, StoreError> {
    Ok(WaitlistEntry {
        status: match opt_s(item, "offer_status")? {
            None => WaitlistStatus::Waiting,
            Some(raw) => WaitlistStatus::parse(raw)
                .ok_or_else(|| StoreError::Corrupt(format!("waitlist status {raw:?}")))?,
        },
        offer_spot: opt_n::<i64>(item, "offer_spot")?
            .map(SpotNumber::new)
            .transpose()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        offer_until: opt_time(item, "offer_until")?,
        offer_sent_at: opt_time(item, "offer_sent_at")?,
        skipped_because: opt_s(item, "skipped_because")?.map(str::to_owned),
        position: get_n(item, "position")?,
        email: parse_s(item, "email", EmailAddress::parse)?,
        lead_id: opt_s(item, "lead_id")?
            .map(LeadId::parse)
            .transpose()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        joined_at: parse_s(item, "joined_at", time_format::parse)?,
    })
}

impl SalesStore {
    /// The e-mail's waitlist position, if it has joined.
    pub(crate) async fn waitlist_position(
        &self,
        email: &EmailAddress,
    ) -> Result<Option<u64>, StoreError> {
        let found = self
            .get(keys::waitlisted(email), keys::WAITLISTED_SK)
            .await?;
        found
            .as_ref()
            .map(|item| get_n(item, "position"))
            .transpose()
    }

    /// Puts an e-mail on the waitlist once and returns its position, the same on every call.
    ///
    /// Positions come from an atomic counter, so concurrent joins of different e-mails get
    /// distinct consecutive positions. A position is skipped only when the same e-mail joins
    /// twice at the same moment (the loser's number is not reused), so order is kept, with at
    /// most such gaps.
    pub async fn join_waitlist(
        &self,
        email: &EmailAddress,
        lead_id: Option<&LeadId>,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let mut attempts = Attempts::new("join_waitlist");
        loop {
            attempts.next().await?;
            if let Some(position) = self.waitlist_position(email).await? {
                return Ok(position);
            }
            let counter = self
                .client
                .update_item()
                .table_name(self.table_name())
                .key(PK, s(keys::WAITLIST_PK))
                .key(SK, s(keys::WAITLIST_COUNTER_SK))
                .update_expression("ADD last_position :one")
                .expression_attribute_values(":one", n(1))
                .return_values(ReturnValue::UpdatedNew)
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
            let position: u64 = counter
                .attributes()
                .ok_or_else(|| StoreError::Corrupt("waitlist counter returned nothing".into()))
                .and_then(|attributes| get_n(attributes, "last_position"))?;
            let build = |put: aws_sdk_dynamodb::types::builders::PutBuilder| {
                put.table_name(self.table_name())
                    .item("position", n(position))
                    .item("email", s(email.as_str()))
                    .item("joined_at", s(time_format::to_sortable(now)))
                    .condition_expression("attribute_not_exists(pk)")
            };
            let mut entry = build(Put::builder())
                .item(PK, s(keys::WAITLIST_PK))
                .item(SK, s(keys::waitlist_pos_sk(position)));
            if let Some(lead_id) = lead_id {
                entry = entry.item("lead_id", s(lead_id.as_str()));
            }
            let by_email = build(Put::builder())
                .item(PK, s(keys::waitlisted(email)))
                .item(SK, s(keys::WAITLISTED_SK));
            let rejected =
                |e: aws_sdk_dynamodb::error::BuildError| StoreError::Rejected(e.to_string());
            let mut write = Write::new();
            write.push(
                Part::Waitlisted,
                TransactWriteItem::builder()
                    .put(by_email.build().map_err(rejected)?)
                    .build(),
            );
            write.push(
                Part::WaitlistEntry,
                TransactWriteItem::builder()
                    .put(entry.build().map_err(rejected)?)
                    .build(),
            );
            match self.write(&mut attempts, &write).await? {
                Outcome::Written => return Ok(position),
                // The same e-mail joined meanwhile: the next attempt reads its position.
                Outcome::Failed(_) | Outcome::Retry(_) => {}
                Outcome::Duplicate | Outcome::InProgress => {
                    return Err(StoreError::Rejected(
                        "a waitlist entry has no delivery".into(),
                    ))
                }
            }
        }
    }

    /// The waitlist in position order.
    pub async fn waitlist(&self) -> Result<Vec<WaitlistEntry>, StoreError> {
        self.query_prefix(keys::WAITLIST_PK, keys::WAITLIST_POS_PREFIX)
            .await?
            .iter()
            .map(decode_entry)
            .collect()
    }
}

/// Whether the waitlist counter item says someone may still be waiting.
pub(crate) fn anyone_waiting(counter: Option<&Item>) -> Result<bool, StoreError> {
    let Some(counter) = counter else {
        return Ok(false);
    };
    let last: u64 = opt_n(counter, "last_position")?.unwrap_or(0);
    let through: u64 = opt_n(counter, "processed_through")?.unwrap_or(0);
    Ok(last > through)
}
