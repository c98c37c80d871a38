//! Demo bookings: stored in their lead's partition, and changed together with the deal in one
//! transaction conditioned on the lead's version, so that concurrent events for one lead are
//! applied one after the other, each seeing the bookings the previous one wrote.

use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use time::OffsetDateTime;

use super::codec::{get_s, opt_s, parse_s, s, Item};
use super::leads::{decode_lead, NEW_LEAD_VERSION};
use super::ledger::{DeliveryKey, Once};
use super::table::{keys, PK, SK};
use super::write::{Attempts, Outcome, Part, Write};
use super::{SalesStore, StoreError};
use crate::domain::time_format;
use crate::domain::{
    apply_update, plan_booking, Booking, BookingEffect, BookingEvent, BookingProvider, BookingRef,
    Cause, Lead, LeadBilling, LeadId, NewLead, PipelineRecord, StageChange, StageKept,
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

impl SalesStore {
    fn booking_part(
        &self,
        write: &mut Write,
        lead: &LeadId,
        booking: &Booking,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut put = Put::builder()
            .table_name(self.table_name())
            .item(PK, s(keys::lead(lead)))
            .item(SK, s(keys::booking_sk(&booking.reference)))
            .item("entity", s(ENTITY))
            .item("lead_id", s(lead.as_str()))
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
        let mut lead = None;
        let mut holder = None;
        let mut bookings = Vec::new();
        for item in &items {
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

    /// Applies a booking event to the lead with the attendee's e-mail. A known lead: one
    /// GetItem (the e-mail), then [`SalesStore::record_booking`] (one Query, one transaction).
    /// A new one is created in the same transaction as the event's bookings, deal and delivery
    /// record: one GetItem and one TransactWriteItems. A lead created by someone else in
    /// between makes it go the known-lead way.
    pub async fn record_booking_for_attendee(
        &self,
        attendee: &NewLead,
        provider: BookingProvider,
        event: &BookingEvent,
        cause: &Cause,
        delivery: &DeliveryKey,
        now: OffsetDateTime,
    ) -> Result<Once<BookingOutcome>, StoreError> {
        let mut attempts = Attempts::new("record_booking_for_attendee");
        loop {
            attempts.next().await?;
            if let Some(id) = self.lead_id_by_email(&attendee.email).await? {
                return self
                    .record_booking(&id, provider, event, cause, delivery, now)
                    .await;
            }
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
            let plan = plan_booking(&prospect.pipeline, None, &[], provider, event, now);
            let outcome = apply_update(&prospect.pipeline, &plan.update, cause, now);
            let holder: Vec<_> = plan
                .holder
                .iter()
                .flatten()
                .map(|holder| (HOLDER, Some(s(holder.key()))))
                .collect();
            let mut write = Write::new();
            self.new_lead_with_change(&mut write, attendee, &prospect.id, &outcome, now, &holder)?;
            for booking in &plan.bookings {
                self.booking_part(&mut write, &prospect.id, booking, now)?;
            }
            self.delivery_part(&mut write, delivery, now)?;
            match self.write(&mut attempts, &write).await? {
                Outcome::Written => {
                    return Ok(Once::Applied(BookingOutcome {
                        effect: plan.effect,
                        lead: Lead {
                            pipeline: outcome.record,
                            ..prospect
                        },
                        stage_change: outcome.stage_change,
                        stage_kept: outcome.stage_kept,
                        bookings_written: plan.bookings.len(),
                    }))
                }
                Outcome::Duplicate => return Ok(Once::Duplicate),
                Outcome::InProgress => return Ok(Once::InProgress),
                // The e-mail got its lead meanwhile: the next attempt finds it. (A new lead's
                // other parts cannot fail.)
                Outcome::Failed(_) | Outcome::Retry(_) => {}
            }
        }
    }

    /// Applies a booking event to a lead: the booking records, the deal (stage, next action,
    /// history, summary) and the webhook delivery's record, all in one transaction: applied once
    /// however often and however concurrently the provider delivers it (the delivery record's
    /// condition). A concurrent change to the lead makes it read again and decide again.
    pub(crate) async fn record_booking(
        &self,
        lead_id: &LeadId,
        provider: BookingProvider,
        event: &BookingEvent,
        cause: &Cause,
        delivery: &DeliveryKey,
        now: OffsetDateTime,
    ) -> Result<Once<BookingOutcome>, StoreError> {
        let mut attempts = Attempts::new("record_booking");
        loop {
            attempts.next().await?;
            let state = self
                .lead_bookings(lead_id)
                .await?
                .ok_or(StoreError::LeadNotFound)?;
            let plan = plan_booking(
                &state.lead.pipeline,
                state.holder.as_ref(),
                &state.bookings,
                provider,
                event,
                now,
            );
            let lead = state.lead;
            if !plan.writes_anything() {
                let recorded = self.record_delivery(delivery, now).await?;
                return Ok(recorded.map(|()| BookingOutcome {
                    effect: plan.effect,
                    lead,
                    stage_change: None,
                    stage_kept: None,
                    bookings_written: 0,
                }));
            }
            let outcome = apply_update(&lead.pipeline, &plan.update, cause, now);
            let holder_set: Vec<_> = plan
                .holder
                .iter()
                .map(|holder| (HOLDER, holder.as_ref().map(|h| s(h.key()))))
                .collect();
            let mut write = Write::new();
            let version = self.lead_change_parts(&mut write, &lead, &outcome, now, &holder_set)?;
            for booking in &plan.bookings {
                self.booking_part(&mut write, lead_id, booking, now)?;
            }
            self.delivery_part(&mut write, delivery, now)?;
            match self.write(&mut attempts, &write).await? {
                Outcome::Written => {
                    return Ok(Once::Applied(BookingOutcome {
                        effect: plan.effect,
                        lead: Lead {
                            pipeline: outcome.record,
                            version,
                            ..lead
                        },
                        stage_change: outcome.stage_change,
                        stage_kept: outcome.stage_kept,
                        bookings_written: plan.bookings.len(),
                    }))
                }
                Outcome::Duplicate => return Ok(Once::Duplicate),
                Outcome::InProgress => return Ok(Once::InProgress),
                // The lead changed since it was read: read again and decide again.
                Outcome::Failed(_) | Outcome::Retry(_) => {}
            }
        }
    }
}
