//! Demo bookings: stored in their lead's partition, and changed together with the deal in one
//! transaction conditioned on the lead's version, so that concurrent events for one lead are
//! applied one after the other, each seeing the bookings the previous one wrote.

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem};
use time::OffsetDateTime;

use super::codec::{get_s, opt_s, parse_s, s, Item};
use super::leads::{decode_lead, NEW_LEAD_VERSION};
use super::ledger::{DeliveryKey, Once};
use super::table::{keys, GSI3_PK, GSI_BY_EMAIL, PK, SK};
use super::write::{Attempts, Outcome, Part, Write};
use super::{SalesStore, StoreError};
use crate::domain::time_format;
use crate::domain::{
    apply_update, plan_booking, Booking, BookingEffect, BookingEvent, BookingProvider, BookingRef,
    Cause, EmailAddress, Lead, LeadBilling, LeadId, NewLead, PipelineRecord, StageChange,
    StageKept,
};

/// The lead attribute naming the booking that holds the deal in `demo_booked`.
const HOLDER: &str = "demo_booking";
const ENTITY: &str = "booking";

/// A lead with its demo bookings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadBookings {
    pub lead: Lead,
    /// The booking that holds the deal in `demo_booked` (its "Demo" next action).
    pub holder: Option<BookingRef>,
    /// In key order (provider, then provider id).
    pub bookings: Vec<Booking>,
}

/// What a booking event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingOutcome {
    pub effect: BookingEffect,
    /// The lead as it is now.
    pub lead: Lead,
    /// The history entry written, when the stage changed.
    pub stage_change: Option<StageChange>,
    /// Why a stage move the event asked for was not applied.
    pub stage_kept: Option<StageKept>,
    /// How many booking records were written.
    pub bookings_written: usize,
}

pub(crate) fn decode_booking(item: &Item) -> Result<Booking, StoreError> {
    Ok(Booking {
        reference: BookingRef::new(
            parse_s(item, "provider", str::parse::<BookingProvider>)?,
            get_s(item, "booking_id")?,
        ),
        start: parse_s(item, "start", time_format::parse)?,
        end: parse_s(item, "end", time_format::parse)?,
        status: parse_s(item, "status", str::parse)?,
        title: opt_s(item, "title")?.map(str::to_owned),
        rescheduled_from: opt_s(item, "rescheduled_from")?.map(str::to_owned),
        rescheduled_to: opt_s(item, "rescheduled_to")?.map(str::to_owned),
    })
}

/// A lead item and its booking items (any other item is passed over).
fn decode_lead_bookings(items: &[Item]) -> Result<Option<LeadBookings>, StoreError> {
    let mut lead = None;
    let mut holder = None;
    let mut bookings = Vec::new();
    for item in items {
        let sk = get_s(item, SK)?;
        if sk == keys::LEAD_SK {
            lead = Some(decode_lead(item)?);
            holder = opt_s(item, HOLDER)?.and_then(BookingRef::parse_key);
        } else if sk.starts_with(keys::BOOKING_PREFIX) {
            bookings.push(decode_booking(item)?);
        }
    }
    Ok(lead.map(|lead| LeadBookings {
        lead,
        holder,
        bookings,
    }))
}

impl SalesStore {
    fn booking_part(
        &self,
        write: &mut Write,
        lead: &Lead,
        booking: &Booking,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut put = Put::builder()
            .table_name(self.table_name())
            .item(PK, s(keys::lead(&lead.id)))
            .item(GSI3_PK, s(keys::email(&lead.email)))
            .item(SK, s(keys::booking_sk(&booking.reference)))
            .item("entity", s(ENTITY))
            .item("lead_id", s(lead.id.as_str()))
            .item("provider", s(booking.reference.provider.as_str()))
            .item("booking_id", s(booking.reference.id.as_str()))
            .item("start", s(time_format::to_sortable(booking.start)))
            .item("end", s(time_format::to_sortable(booking.end)))
            .item("status", s(booking.status.as_str()))
            .item("updated_at", s(time_format::to_sortable(now)));
        for (name, value) in [
            ("title", &booking.title),
            ("rescheduled_from", &booking.rescheduled_from),
            ("rescheduled_to", &booking.rescheduled_to),
        ] {
            if let Some(value) = value {
                put = put.item(name, s(value.as_str()));
            }
        }
        let put = put
            .build()
            .map_err(|e| StoreError::Rejected(e.to_string()))?;
        write.push(Part::Booking, TransactWriteItem::builder().put(put).build());
        Ok(())
    }

    /// A lead, its bookings and the booking holding its deal: one Query over the lead's
    /// partition (its history filtered out), strongly consistent.
    pub async fn lead_bookings(&self, id: &LeadId) -> Result<Option<LeadBookings>, StoreError> {
        let items = self
            .query_partition(&keys::lead(id), None, Some(keys::HISTORY_PREFIX))
            .await?;
        decode_lead_bookings(&items)
    }

    /// The same by the lead's e-mail, from the `by_email` index: one Query, eventually
    /// consistent (a write decided on it is conditioned on the lead's version).
    async fn lead_bookings_by_email(
        &self,
        email: &EmailAddress,
    ) -> Result<Option<LeadBookings>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(self.table_name())
                .index_name(GSI_BY_EMAIL)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", GSI3_PK)
                .expression_attribute_values(":pk", s(keys::email(email)))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
            let next = page.last_evaluated_key.filter(|key| !key.is_empty());
            items.extend(page.items.unwrap_or_default());
            match next {
                Some(key) => start = Some(key),
                None => break,
            }
        }
        decode_lead_bookings(&items)
    }

    /// Applies a booking event to the lead with the attendee's e-mail, creating the lead if
    /// there is none: the booking records, the deal (stage, next action, history, summary) and
    /// the webhook delivery's record, all in one write, so that it is applied once however often
    /// and however concurrently the provider delivers it.
    ///
    /// The first attempt reads the lead and its bookings by e-mail from the `by_email` index
    /// (one Query) and decides on that; the write is conditioned on the lead's version (or, for
    /// a new lead, on the e-mail having none), so a read the index had not caught up with fails
    /// the write instead of deciding wrongly. Later attempts read consistently from the base
    /// table. Common path: one Query and one TransactWriteItems, duplicates included.
    pub async fn record_booking_for_attendee(
        &self,
        attendee: &NewLead,
        provider: BookingProvider,
        event: &BookingEvent,
        cause: &Cause,
        delivery: &DeliveryKey,
        now: OffsetDateTime,
    ) -> Result<Once<BookingOutcome>, StoreError> {
        let mut attempts = Attempts::new("record_booking");
        let mut consistent = false;
        loop {
            attempts.next().await?;
            let state = if consistent {
                match self.lead_id_by_email(&attendee.email).await? {
                    Some(id) => Some(
                        self.lead_bookings(&id)
                            .await?
                            .ok_or(StoreError::LeadNotFound)?,
                    ),
                    None => None,
                }
            } else {
                self.lead_bookings_by_email(&attendee.email).await?
            };
            let (lead, holder, bookings, new) = match state {
                Some(state) => (state.lead, state.holder, state.bookings, false),
                None => {
                    let prospect = Lead {
                        id: LeadId::generate(),
                        email: attendee.email.clone(),
                        name: attendee.name.clone(),
                        company: attendee.company.clone(),
                        source: attendee.source,
                        created_at: now,
                        pipeline: PipelineRecord::new_prospect(),
                        billing: LeadBilling::default(),
                        version: NEW_LEAD_VERSION,
                    };
                    (prospect, None, Vec::new(), true)
                }
            };
            let plan = plan_booking(
                &lead.pipeline,
                holder.as_ref(),
                &bookings,
                provider,
                event,
                now,
            );
            let outcome = apply_update(&lead.pipeline, &plan.update, cause, now);
            let mut version = lead.version;
            let mut write = Write::new();
            if new {
                let holder: Vec<_> = plan
                    .holder
                    .iter()
                    .flatten()
                    .map(|holder| (HOLDER, Some(s(holder.key()))))
                    .collect();
                self.new_lead_with_change(&mut write, attendee, &lead.id, &outcome, now, &holder)?;
            } else if plan.writes_anything() {
                let holder: Vec<_> = plan
                    .holder
                    .iter()
                    .map(|holder| (HOLDER, holder.as_ref().map(|h| s(h.key()))))
                    .collect();
                version = self.lead_change_parts(&mut write, &lead, &outcome, now, &holder)?;
            } else {
                // Nothing to change: the delivery is recorded on the condition that the lead is
                // still the one the plan was made on.
                self.lead_unchanged_part(&mut write, &lead)?;
            }
            for booking in &plan.bookings {
                self.booking_part(&mut write, &lead, booking, now)?;
            }
            self.delivery_part(&mut write, delivery, now)?;
            let written = plan.writes_anything() || new;
            match self.write(&mut attempts, &write).await? {
                Outcome::Written => {
                    return Ok(Once::Applied(BookingOutcome {
                        effect: plan.effect,
                        lead: Lead {
                            pipeline: outcome.record,
                            version,
                            ..lead
                        },
                        stage_change: outcome.stage_change.filter(|_| written),
                        stage_kept: outcome.stage_kept.filter(|_| written),
                        bookings_written: plan.bookings.len(),
                    }))
                }
                Outcome::Duplicate => return Ok(Once::Duplicate),
                Outcome::InProgress => return Ok(Once::InProgress),
                // The lead changed since it was read, or the e-mail got its lead meanwhile, or
                // the index was behind: read again, consistently, and decide again.
                Outcome::Failed(_) | Outcome::Retry(_) => consistent = true,
            }
        }
    }

    /// A condition check that the lead is still at the version read.
    fn lead_unchanged_part(&self, write: &mut Write, lead: &Lead) -> Result<(), StoreError> {
        let check = ConditionCheck::builder()
            .table_name(self.table_name())
            .key(PK, s(keys::lead(&lead.id)))
            .key(SK, s(keys::LEAD_SK))
            .condition_expression("#version = :version")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":version", AttributeValue::N(lead.version.to_string()))
            .build()
            .map_err(|e| StoreError::Rejected(e.to_string()))?;
        write.push(
            Part::Lead,
            TransactWriteItem::builder().condition_check(check).build(),
        );
        Ok(())
    }
}
