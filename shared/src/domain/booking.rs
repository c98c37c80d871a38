//! Demo bookings (Cal.com, Calendly) and how they move a deal. Pure: the store turns a
//! [`BookingPlan`] into one transaction.
//!
//! The rules, decided by [`plan_booking`]:
//! - A booking's status is `scheduled` (or `requested`: asked for, awaiting the host's
//!   confirmation) until it ends as `cancelled` or `rescheduled` (replaced by its successor).
//!   Ended is final: a late or repeated delivery never revives a booking.
//! - Bookings drive a deal while it is open and no further than `demo_booked`. A new booking
//!   moves a `prospect` / `contacted` deal to `demo_booked`; the deal's next action is "Demo" at
//!   the start of its earliest live booking, and that booking is the one that holds the deal in
//!   `demo_booked`.
//! - When the holding booking is cancelled and no live booking is left, the deal goes back to
//!   `contacted` (unless a person put it in `demo_booked`), with a follow-up as next action.
//! - A rescheduled booking hands over to its successor, whichever half of the reschedule arrives
//!   first: the deal never passes through `contacted`. A booking recorded late whose successor
//!   already names it (`rescheduled_from`) is recorded as replaced, not as live.
//! - A reschedule that needs the host's confirmation (Cal.com: `BOOKING_REQUESTED` with
//!   `rescheduleUid`, later a plain `BOOKING_CREATED` for the new `uid`, which names the old
//!   booking nowhere) ends the old booking when it is requested, as Cal.com does (it cancels the
//!   old booking and deletes its calendar event and meeting then), and the `requested` booking
//!   holds the deal in its place; the confirmation makes it `scheduled`. Rejected or cancelled
//!   before that, it ends like any cancelled demo: the old booking is not revived (Cal.com does
//!   not revive it either).
//! - From `demo_done` on, and for closed deals, bookings are recorded and the deal is left to
//!   the sales team.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::email::EmailAddress;
use super::pipeline::{PipelineRecord, PipelineStage, PipelineUpdate, StageMove};

/// The next action a booking gives a deal.
pub const DEMO_ACTION: &str = "Demo";
/// The next action left when a deal's only demo is cancelled.
pub const DEMO_CANCELLED_ACTION: &str = "Follow up: demo cancelled";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BookingProvider {
    Cal,
    Calendly,
}

impl BookingProvider {
    pub fn as_str(self) -> &'static str {
        match self {
            BookingProvider::Cal => "cal",
            BookingProvider::Calendly => "calendly",
        }
    }
}

impl FromStr for BookingProvider {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cal" => Ok(BookingProvider::Cal),
            "calendly" => Ok(BookingProvider::Calendly),
            other => Err(format!("unknown booking provider {other:?}")),
        }
    }
}

/// A booking as its provider names it: Cal.com's `uid`, Calendly's invitee URI.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct BookingRef {
    pub provider: BookingProvider,
    pub id: String,
}

impl BookingRef {
    pub fn new(provider: BookingProvider, id: impl Into<String>) -> Self {
        BookingRef {
            provider,
            id: id.into(),
        }
    }

    /// `cal#<uid>`, `calendly#<invitee uri>`: how a deal names the booking that holds it.
    pub fn key(&self) -> String {
        format!("{}#{}", self.provider.as_str(), self.id)
    }

    pub fn parse_key(raw: &str) -> Option<BookingRef> {
        let (provider, id) = raw.split_once('#')?;
        Some(BookingRef::new(provider.parse().ok()?, id))
    }
}

impl fmt::Display for BookingRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BookingStatus {
    Scheduled,
    /// Asked for and awaiting the host's confirmation (Cal.com's `PENDING`): a reschedule of an
    /// event type that requires confirmation. Holds the deal like a scheduled booking.
    Requested,
    Cancelled,
    /// Replaced by its successor (`rescheduled_to`).
    Rescheduled,
}

impl BookingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BookingStatus::Scheduled => "scheduled",
            BookingStatus::Requested => "requested",
            BookingStatus::Cancelled => "cancelled",
            BookingStatus::Rescheduled => "rescheduled",
        }
    }
}

impl FromStr for BookingStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "scheduled" => Ok(BookingStatus::Scheduled),
            "requested" => Ok(BookingStatus::Requested),
            "cancelled" => Ok(BookingStatus::Cancelled),
            "rescheduled" => Ok(BookingStatus::Rescheduled),
            other => Err(format!("unknown booking status {other:?}")),
        }
    }
}

impl BookingStatus {
    /// Not ended: scheduled, or requested and awaiting confirmation.
    pub fn is_open(self) -> bool {
        matches!(self, BookingStatus::Scheduled | BookingStatus::Requested)
    }
}

/// The time and title of a booking, as a provider's event carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingSlot {
    pub id: String,
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
    pub title: Option<String>,
}

/// A demo booking of a lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Booking {
    pub reference: BookingRef,
    #[serde(with = "time::serde::rfc3339")]
    pub start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub end: OffsetDateTime,
    pub status: BookingStatus,
    pub title: Option<String>,
    /// The provider id of the booking this one replaced.
    pub rescheduled_from: Option<String>,
    /// The provider id of the booking that replaced this one.
    pub rescheduled_to: Option<String>,
}

impl Booking {
    fn new(provider: BookingProvider, slot: &BookingSlot, status: BookingStatus) -> Self {
        Booking {
            reference: BookingRef::new(provider, slot.id.clone()),
            start: slot.start,
            end: slot.end,
            status,
            title: slot.title.clone(),
            rescheduled_from: None,
            rescheduled_to: None,
        }
    }

    /// Open (scheduled, or requested) and not over yet.
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        self.status.is_open() && self.end > now
    }
}

/// What a provider told us happened to a booking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BookingEvent {
    /// A new booking; `replaces` names the booking it reschedules (Cal.com's `rescheduleUid`,
    /// Calendly's `old_invitee`).
    Booked {
        slot: BookingSlot,
        replaces: Option<String>,
    },
    /// A new booking that awaits the host's confirmation and reschedules `replaces` (Cal.com's
    /// `BOOKING_REQUESTED` with `rescheduleUid`). Its confirmation is a plain `Booked`.
    RescheduleRequested { slot: BookingSlot, replaces: String },
    /// A booking ended: cancelled (or rejected), or (`rescheduled`) replaced by `replaced_by`.
    Ended {
        slot: BookingSlot,
        rescheduled: bool,
        replaced_by: Option<String>,
    },
}

impl BookingEvent {
    /// The booking the event is about.
    pub fn slot(&self) -> &BookingSlot {
        match self {
            BookingEvent::Booked { slot, .. }
            | BookingEvent::RescheduleRequested { slot, .. }
            | BookingEvent::Ended { slot, .. } => slot,
        }
    }
}

/// The person who booked: finds or creates the lead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attendee {
    pub email: EmailAddress,
    pub name: Option<String>,
    pub company: Option<String>,
}

/// A provider's booking webhook, in the sales system's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingNotice {
    pub provider: BookingProvider,
    /// The provider's name for the event (`BOOKING_CREATED`, `invitee.canceled`, ...).
    pub trigger: String,
    pub event: BookingEvent,
    pub attendee: Attendee,
}

impl BookingNotice {
    /// The booking the notice is about.
    pub fn booking(&self) -> BookingRef {
        BookingRef::new(self.provider, self.event.slot().id.clone())
    }
}

/// What an event did to the bookings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BookingEffect {
    /// A new booking was recorded.
    Booked,
    /// A booking was replaced by a new one (either half of a reschedule, or the confirmation of
    /// a requested one).
    Rescheduled,
    /// A reschedule awaiting the host's confirmation was recorded; the old booking has ended.
    RescheduleRequested,
    Cancelled,
    /// The booking was already recorded (a redelivery, or its end arrived first).
    AlreadyRecorded,
    /// The booking had already ended (cancelled, or replaced by a reschedule).
    AlreadyEnded,
}

impl BookingEffect {
    pub fn as_str(self) -> &'static str {
        match self {
            BookingEffect::Booked => "booking_recorded",
            BookingEffect::Rescheduled => "booking_rescheduled",
            BookingEffect::RescheduleRequested => "booking_reschedule_requested",
            BookingEffect::Cancelled => "booking_cancelled",
            BookingEffect::AlreadyRecorded => "booking_already_recorded",
            BookingEffect::AlreadyEnded => "booking_already_ended",
        }
    }
}

/// Everything one booking event changes, decided from what was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingPlan {
    pub effect: BookingEffect,
    /// Booking records to write: new ones and changed ones.
    pub bookings: Vec<Booking>,
    /// The change to the deal (empty when bookings do not drive it).
    pub update: PipelineUpdate,
    /// The booking that now holds the deal, when that changes (`Some(None)`: none any more).
    pub holder: Option<Option<BookingRef>>,
}

impl BookingPlan {
    /// Whether anything at all is to be written.
    pub fn writes_anything(&self) -> bool {
        !self.bookings.is_empty()
            || self.update != PipelineUpdate::default()
            || self.holder.is_some()
    }
}

/// Whether bookings move this deal: open, and no further than `demo_booked`.
pub fn bookings_drive(deal: &PipelineRecord) -> bool {
    !deal.stage.is_closed() && deal.stage.rank() <= PipelineStage::DemoBooked.rank()
}

/// Decides what one booking event does, given the deal, the booking that holds it and the lead's
/// stored bookings.
pub fn plan_booking(
    deal: &PipelineRecord,
    holder: Option<&BookingRef>,
    stored: &[Booking],
    provider: BookingProvider,
    event: &BookingEvent,
    now: OffsetDateTime,
) -> BookingPlan {
    let mut bookings: Vec<Booking> = stored.to_vec();
    let mut changed: Vec<BookingRef> = Vec::new();
    let this = BookingRef::new(provider, event.slot().id.clone());
    let find = |bookings: &[Booking], reference: &BookingRef| {
        bookings.iter().position(|b| &b.reference == reference)
    };

    // 1. The bookings.
    let effect = match event {
        BookingEvent::Booked { slot, replaces } => {
            let effect = match find(&bookings, &this) {
                Some(at) => {
                    let existing = &mut bookings[at];
                    if existing.rescheduled_from.is_none() && replaces.is_some() {
                        existing.rescheduled_from.clone_from(replaces);
                        changed.push(this.clone());
                    }
                    if existing.status == BookingStatus::Requested {
                        // The host confirmed it: the booking is on.
                        existing.status = BookingStatus::Scheduled;
                        changed.push(this.clone());
                        if existing.rescheduled_from.is_some() {
                            BookingEffect::Rescheduled
                        } else {
                            BookingEffect::Booked
                        }
                    } else {
                        BookingEffect::AlreadyRecorded
                    }
                }
                None => {
                    let recorded = record_new(
                        &mut bookings,
                        provider,
                        slot,
                        BookingStatus::Scheduled,
                        replaces.clone(),
                    );
                    changed.push(this.clone());
                    match recorded {
                        Recorded::AlreadyReplaced => BookingEffect::AlreadyEnded,
                        Recorded::Open if replaces.is_some() => BookingEffect::Rescheduled,
                        Recorded::Open => BookingEffect::Booked,
                    }
                }
            };
            end_predecessor(&mut bookings, &mut changed, &this);
            effect
        }
        BookingEvent::RescheduleRequested { slot, replaces } => {
            let effect = match find(&bookings, &this) {
                Some(at) => {
                    // A redelivery, or its confirmation, rejection or cancel arrived first: the
                    // booking keeps its status; only the link is filled in.
                    let existing = &mut bookings[at];
                    if existing.rescheduled_from.is_none() {
                        existing.rescheduled_from = Some(replaces.clone());
                        changed.push(this.clone());
                    }
                    if existing.status.is_open() {
                        BookingEffect::AlreadyRecorded
                    } else {
                        BookingEffect::AlreadyEnded
                    }
                }
                None => {
                    let recorded = record_new(
                        &mut bookings,
                        provider,
                        slot,
                        BookingStatus::Requested,
                        Some(replaces.clone()),
                    );
                    changed.push(this.clone());
                    match recorded {
                        Recorded::AlreadyReplaced => BookingEffect::AlreadyEnded,
                        Recorded::Open => BookingEffect::RescheduleRequested,
                    }
                }
            };
            // Cal.com ended the old booking when the reschedule was requested, whatever becomes
            // of the request.
            end_predecessor(&mut bookings, &mut changed, &this);
            effect
        }
        BookingEvent::Ended {
            slot,
            rescheduled,
            replaced_by,
        } => {
            let status = if *rescheduled {
                BookingStatus::Rescheduled
            } else {
                BookingStatus::Cancelled
            };
            let ended = if *rescheduled {
                BookingEffect::Rescheduled
            } else {
                BookingEffect::Cancelled
            };
            match find(&bookings, &this) {
                Some(at) if bookings[at].status.is_open() => {
                    bookings[at].status = status;
                    bookings[at].rescheduled_to.clone_from(replaced_by);
                    changed.push(this.clone());
                    ended
                }
                Some(at) => {
                    let existing = &mut bookings[at];
                    if existing.status == BookingStatus::Rescheduled
                        && existing.rescheduled_to.is_none()
                        && replaced_by.is_some()
                    {
                        existing.rescheduled_to.clone_from(replaced_by);
                        changed.push(this.clone());
                    }
                    BookingEffect::AlreadyEnded
                }
                None => {
                    // Its creation never reached us (or is still on its way): record the end, so
                    // that a late creation does not bring it back.
                    let mut booking = Booking::new(provider, slot, status);
                    booking.rescheduled_to.clone_from(replaced_by);
                    bookings.push(booking);
                    changed.push(this.clone());
                    ended
                }
            }
        }
    };

    // 2. The deal.
    let mut update = PipelineUpdate::default();
    let mut new_holder = None;
    if bookings_drive(deal) {
        let newly_booked = matches!(
            event,
            BookingEvent::Booked { .. } | BookingEvent::RescheduleRequested { .. }
        ) && matches!(
            effect,
            BookingEffect::Booked | BookingEffect::Rescheduled | BookingEffect::RescheduleRequested
        );
        if newly_booked && deal.stage < PipelineStage::DemoBooked {
            update.stage = Some(StageMove::Advance(PipelineStage::DemoBooked));
        }
        let earliest_live = bookings.iter().filter(|b| b.is_live(now)).min_by(|a, b| {
            a.start
                .cmp(&b.start)
                .then_with(|| a.reference.id.cmp(&b.reference.id))
        });
        match earliest_live {
            Some(first) => {
                if holder != Some(&first.reference) {
                    new_holder = Some(Some(first.reference.clone()));
                }
                if deal.next_action.as_deref() != Some(DEMO_ACTION) {
                    update.next_action = Some(Some(DEMO_ACTION.to_owned()));
                }
                if deal.next_action_date != Some(first.start) {
                    update.next_action_date = Some(Some(first.start));
                }
            }
            None => {
                // The holder was live until this event, and it (or the booking that replaced
                // it) is cancelled: the demo is off. A holder replaced by a booking still on its
                // way keeps the deal as it is (a reschedule never passes through `contacted`).
                let holder_was_live = holder
                    .and_then(|h| stored.iter().find(|b| &b.reference == h))
                    .is_some_and(|b| b.is_live(now));
                let demo_off = holder.is_some_and(|h| ends_cancelled(&bookings, h));
                if holder_was_live && demo_off {
                    update.stage = Some(StageMove::Undo {
                        from: PipelineStage::DemoBooked,
                        to: PipelineStage::Contacted,
                    });
                    update.next_action = Some(Some(DEMO_CANCELLED_ACTION.to_owned()));
                    update.next_action_date = Some(Some(now));
                    new_holder = Some(None);
                }
            }
        }
    }

    let written = bookings
        .into_iter()
        .filter(|b| changed.contains(&b.reference))
        .collect();
    BookingPlan {
        effect,
        bookings: written,
        update,
        holder: new_holder,
    }
}

/// How a booking seen for the first time was recorded.
enum Recorded {
    /// As given: scheduled or requested.
    Open,
    /// As already replaced: a stored booking names it as the one it rescheduled (its creation
    /// arrived after its successor).
    AlreadyReplaced,
}

/// Records a booking not stored yet, with `status` and the booking it replaces, unless a stored
/// booking already replaced it.
fn record_new(
    bookings: &mut Vec<Booking>,
    provider: BookingProvider,
    slot: &BookingSlot,
    status: BookingStatus,
    replaces: Option<String>,
) -> Recorded {
    let successor = bookings
        .iter()
        .find(|b| {
            b.reference.provider == provider && b.rescheduled_from.as_deref() == Some(&slot.id)
        })
        .map(|b| b.reference.id.clone());
    let mut booking = Booking::new(provider, slot, status);
    booking.rescheduled_from = replaces;
    let recorded = match successor {
        Some(successor) => {
            booking.status = BookingStatus::Rescheduled;
            booking.rescheduled_to = Some(successor);
            Recorded::AlreadyReplaced
        }
        None => Recorded::Open,
    };
    bookings.push(booking);
    recorded
}

/// Whether `start`, followed through the bookings that replaced it, ends cancelled (not when
/// it, or its last known successor, is open or its successor is not stored).
fn ends_cancelled(bookings: &[Booking], start: &BookingRef) -> bool {
    let mut at = start.clone();
    for _ in 0..=bookings.len() {
        let Some(booking) = bookings.iter().find(|b| b.reference == at) else {
            return false;
        };
        match (booking.status, &booking.rescheduled_to) {
            (BookingStatus::Cancelled, _) => return true,
            (BookingStatus::Rescheduled, Some(next)) => {
                at = BookingRef::new(at.provider, next.clone());
            }
            _ => return false,
        }
    }
    false
}

/// Ends the booking that `this` (stored in `bookings`) replaces, if it is stored and still
/// open (or ended as rescheduled without knowing by which booking).
fn end_predecessor(bookings: &mut [Booking], changed: &mut Vec<BookingRef>, this: &BookingRef) {
    let Some(old_id) = bookings
        .iter()
        .find(|b| &b.reference == this)
        .and_then(|b| b.rescheduled_from.clone())
    else {
        return;
    };
    let old_ref = BookingRef::new(this.provider, old_id);
    if let Some(old) = bookings.iter_mut().find(|b| b.reference == old_ref) {
        let replaceable = old.status.is_open()
            || (old.status == BookingStatus::Rescheduled && old.rescheduled_to.is_none());
        if replaceable {
            old.status = BookingStatus::Rescheduled;
            old.rescheduled_to = Some(this.id.clone());
            changed.push(old_ref);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::pipeline::{apply_update, Cause, StageSetBy};
    use time::macros::datetime;
    use time::Duration;

    const NOW: OffsetDateTime = datetime!(2026-02-03 17:41:10 UTC);

    fn slot(id: &str, start: OffsetDateTime) -> BookingSlot {
        BookingSlot {
            id: id.to_owned(),
            start,
            end: start + Duration::minutes(30),
            title: Some("Demo".into()),
        }
    }

    fn deal(stage: PipelineStage, set_by: StageSetBy) -> PipelineRecord {
        PipelineRecord {
            stage,
            stage_set_by: set_by,
            ..PipelineRecord::new_prospect()
        }
    }

    fn booked(id: &str, start: OffsetDateTime, replaces: Option<&str>) -> BookingEvent {
        BookingEvent::Booked {
            slot: slot(id, start),
            replaces: replaces.map(str::to_owned),
        }
    }

    fn ended(id: &str, start: OffsetDateTime, replaced_by: Option<&str>) -> BookingEvent {
        BookingEvent::Ended {
            slot: slot(id, start),
            rescheduled: replaced_by.is_some(),
            replaced_by: replaced_by.map(str::to_owned),
        }
    }

    /// Applies a sequence of events the way the store does, returning the final state.
    fn run(
        mut record: PipelineRecord,
        events: &[BookingEvent],
    ) -> (
        PipelineRecord,
        Option<BookingRef>,
        Vec<Booking>,
        Vec<PipelineStage>,
    ) {
        let mut holder = None;
        let mut bookings: Vec<Booking> = Vec::new();
        let mut stages = vec![record.stage];
        for event in events {
            let plan = plan_booking(
                &record,
                holder.as_ref(),
                &bookings,
                BookingProvider::Calendly,
                event,
                NOW,
            );
            for written in plan.bookings {
                match bookings
                    .iter_mut()
                    .find(|b| b.reference == written.reference)
                {
                    Some(existing) => *existing = written,
                    None => bookings.push(written),
                }
            }
            if let Some(h) = plan.holder {
                holder = h;
            }
            let outcome = apply_update(&record, &plan.update, &Cause::user("test"), NOW);
            if let Some(change) = &outcome.stage_change {
                stages.push(change.to);
            }
            record = outcome.record;
        }
        (record, holder, bookings, stages)
    }

    const FEB10: OffsetDateTime = datetime!(2026-02-10 14:00 UTC);
    const FEB12: OffsetDateTime = datetime!(2026-02-12 10:00 UTC);

    #[test]
    fn a_booking_moves_an_early_deal_to_demo_booked_with_the_demo_as_next_action() {
        for stage in [PipelineStage::Prospect, PipelineStage::Contacted] {
            let (record, holder, bookings, _) =
                run(deal(stage, StageSetBy::Person), &[booked("a", FEB10, None)]);
            assert_eq!(record.stage, PipelineStage::DemoBooked);
            assert_eq!(record.next_action.as_deref(), Some(DEMO_ACTION));
            assert_eq!(record.next_action_date, Some(FEB10));
            assert_eq!(holder.map(|h| h.id), Some("a".to_owned()));
            assert_eq!(bookings.len(), 1);
            assert_eq!(bookings[0].status, BookingStatus::Scheduled);
        }
    }

    #[test]
    fn later_and_closed_deals_keep_their_stage_and_next_action() {
        for stage in [
            PipelineStage::DemoDone,
            PipelineStage::ProposalSent,
            PipelineStage::Negotiation,
            PipelineStage::ClosedWon,
            PipelineStage::ClosedLost,
        ] {
            let mut start = deal(stage, StageSetBy::Person);
            start.next_action = Some("Send contract".into());
            let (record, holder, bookings, stages) = run(
                start.clone(),
                &[booked("a", FEB10, None), ended("a", FEB10, None)],
            );
            assert_eq!(record, start, "{stage}");
            assert_eq!(holder, None);
            assert_eq!(stages, vec![stage]);
            assert_eq!(bookings[0].status, BookingStatus::Cancelled);
        }
    }

    #[test]
    fn cancelling_the_only_demo_goes_back_to_contacted_with_a_follow_up() {
        let (record, holder, bookings, stages) = run(
            deal(PipelineStage::Prospect, StageSetBy::Automation),
            &[booked("a", FEB10, None), ended("a", FEB10, None)],
        );
        assert_eq!(
            stages,
            vec![
                PipelineStage::Prospect,
                PipelineStage::DemoBooked,
                PipelineStage::Contacted
            ]
        );
        assert_eq!(record.next_action.as_deref(), Some(DEMO_CANCELLED_ACTION));
        assert_eq!(record.next_action_date, Some(NOW));
        assert_eq!(holder, None);
        assert_eq!(bookings[0].status, BookingStatus::Cancelled);
    }

    #[test]
    fn cancelling_one_of_two_demos_keeps_the_deal_and_follows_the_other() {
        let (record, holder, _, stages) = run(
            deal(PipelineStage::Prospect, StageSetBy::Automation),
            &[
                booked("a", FEB10, None),
                booked("b", FEB12, None),
                ended("a", FEB10, None),
            ],
        );
        assert_eq!(record.stage, PipelineStage::DemoBooked);
        assert_eq!(stages.len(), 2);
        assert_eq!(record.next_action_date, Some(FEB12));
        assert_eq!(holder.map(|h| h.id), Some("b".to_owned()));
    }

    #[test]
    fn cancelling_a_booking_that_does_not_hold_the_deal_changes_nothing_of_the_deal() {
        let (record, holder, _, _) = run(
            deal(PipelineStage::Prospect, StageSetBy::Automation),
            &[
                booked("a", FEB10, None),
                booked("b", FEB12, None),
                ended("b", FEB12, None),
            ],
        );
        assert_eq!(record.stage, PipelineStage::DemoBooked);
        assert_eq!(record.next_action_date, Some(FEB10));
        assert_eq!(holder.map(|h| h.id), Some("a".to_owned()));
    }

    #[test]
    fn a_person_who_put_the_deal_in_demo_booked_keeps_it_there() {
        let (record, _, _, stages) = run(
            deal(PipelineStage::DemoBooked, StageSetBy::Person),
            &[booked("a", FEB10, None), ended("a", FEB10, None)],
        );
        assert_eq!(record.stage, PipelineStage::DemoBooked);
        assert_eq!(stages, vec![PipelineStage::DemoBooked]);
        assert_eq!(record.next_action.as_deref(), Some(DEMO_CANCELLED_ACTION));
    }

    #[test]
    fn a_reschedule_ends_as_one_rescheduled_booking_in_either_order() {
        let orders: [Vec<BookingEvent>; 2] = [
            vec![
                booked("old", FEB10, None),
                ended("old", FEB10, Some("new")),
                booked("new", FEB12, Some("old")),
            ],
            vec![
                booked("old", FEB10, None),
                booked("new", FEB12, Some("old")),
                ended("old", FEB10, Some("new")),
            ],
        ];
        for events in orders {
            let (record, holder, bookings, stages) = run(
                deal(PipelineStage::Prospect, StageSetBy::Automation),
                &events,
            );
            assert_eq!(
                stages,
                vec![PipelineStage::Prospect, PipelineStage::DemoBooked],
                "never through contacted"
            );
            assert_eq!(record.next_action_date, Some(FEB12));
            assert_eq!(holder.map(|h| h.id), Some("new".to_owned()));
            let old = bookings.iter().find(|b| b.reference.id == "old").unwrap();
            let new = bookings.iter().find(|b| b.reference.id == "new").unwrap();
            assert_eq!(old.status, BookingStatus::Rescheduled);
            assert_eq!(old.rescheduled_to.as_deref(), Some("new"));
            assert_eq!(new.status, BookingStatus::Scheduled);
            assert_eq!(new.rescheduled_from.as_deref(), Some("old"));
        }
    }

    #[test]
    fn a_cancel_of_a_booking_already_replaced_changes_nothing() {
        let events = [
            booked("old", FEB10, None),
            booked("new", FEB12, Some("old")),
        ];
        let (record, holder, bookings, _) = run(
            deal(PipelineStage::Prospect, StageSetBy::Automation),
            &events,
        );
        let plan = plan_booking(
            &record,
            holder.as_ref(),
            &bookings,
            BookingProvider::Calendly,
            &ended("old", FEB10, None),
            NOW,
        );
        assert_eq!(plan.effect, BookingEffect::AlreadyEnded);
        assert!(!plan.writes_anything(), "{plan:?}");
    }

    #[test]
    fn a_redelivered_booking_writes_nothing() {
        let (record, holder, bookings, _) = run(
            deal(PipelineStage::Prospect, StageSetBy::Automation),
            &[booked("a", FEB10, None)],
        );
        let plan = plan_booking(
            &record,
            holder.as_ref(),
            &bookings,
            BookingProvider::Calendly,
            &booked("a", FEB10, None),
            NOW,
        );
        assert_eq!(plan.effect, BookingEffect::AlreadyRecorded);
        assert!(!plan.writes_anything(), "{plan:?}");
    }

    #[test]
    fn a_cancel_that_arrives_before_its_booking_is_final() {
        let (record, holder, bookings, stages) = run(
            deal(PipelineStage::Prospect, StageSetBy::Automation),
            &[ended("a", FEB10, None), booked("a", FEB10, None)],
        );
        assert_eq!(stages, vec![PipelineStage::Prospect]);
        assert_eq!(record.next_action, None);
        assert_eq!(holder, None);
        assert_eq!(bookings[0].status, BookingStatus::Cancelled);
    }

    #[test]
    fn a_past_demo_is_not_live() {
        let (record, holder, _, _) = run(
            deal(PipelineStage::Prospect, StageSetBy::Automation),
            &[booked("past", NOW - Duration::days(2), None)],
        );
        assert_eq!(record.stage, PipelineStage::DemoBooked);
        assert_eq!(holder, None);
        assert_eq!(record.next_action, None);
    }

    fn requested(id: &str, start: OffsetDateTime, replaces: &str) -> BookingEvent {
        BookingEvent::RescheduleRequested {
            slot: slot(id, start),
            replaces: replaces.to_owned(),
        }
    }

    fn find<'a>(bookings: &'a [Booking], id: &str) -> &'a Booking {
        bookings.iter().find(|b| b.reference.id == id).unwrap()
    }

    #[test]
    fn a_requested_reschedule_ends_the_old_booking_and_holds_the_deal_until_confirmed() {
        let start = deal(PipelineStage::Prospect, StageSetBy::Automation);
        let (record, holder, bookings, stages) = run(
            start.clone(),
            &[booked("old", FEB10, None), requested("new", FEB12, "old")],
        );
        assert_eq!(
            stages,
            vec![PipelineStage::Prospect, PipelineStage::DemoBooked]
        );
        assert_eq!(holder.as_ref().map(|h| h.id.as_str()), Some("new"));
        assert_eq!(record.next_action.as_deref(), Some(DEMO_ACTION));
        assert_eq!(record.next_action_date, Some(FEB12));
        assert_eq!(find(&bookings, "old").status, BookingStatus::Rescheduled);
        assert_eq!(
            find(&bookings, "old").rescheduled_to.as_deref(),
            Some("new")
        );
        assert_eq!(find(&bookings, "new").status, BookingStatus::Requested);
        assert_eq!(
            find(&bookings, "new").rescheduled_from.as_deref(),
            Some("old")
        );

        // The confirmation, a plain creation naming no old booking.
        let plan = plan_booking(
            &record,
            holder.as_ref(),
            &bookings,
            BookingProvider::Calendly,
            &booked("new", FEB12, None),
            NOW,
        );
        assert_eq!(plan.effect, BookingEffect::Rescheduled);
        assert_eq!(plan.bookings.len(), 1, "{plan:?}");
        assert_eq!(plan.bookings[0].status, BookingStatus::Scheduled);
        assert_eq!(plan.bookings[0].rescheduled_from.as_deref(), Some("old"));
        assert_eq!(plan.holder, None, "already the holder");
        assert_eq!(plan.update, PipelineUpdate::default());
    }

    /// The end state of a reschedule awaiting confirmation is that of a direct reschedule,
    /// whichever of the request and the confirmation arrives first.
    #[test]
    fn a_confirmed_reschedule_ends_like_a_direct_one_in_either_order() {
        let orders: [Vec<BookingEvent>; 3] = [
            vec![
                booked("old", FEB10, None),
                requested("new", FEB12, "old"),
                booked("new", FEB12, None),
            ],
            vec![
                booked("old", FEB10, None),
                booked("new", FEB12, None),
                requested("new", FEB12, "old"),
            ],
            // The old booking's own creation arrives last.
            vec![
                requested("new", FEB12, "old"),
                booked("new", FEB12, None),
                booked("old", FEB10, None),
            ],
        ];
        let (direct, direct_holder, direct_bookings, direct_stages) = run(
            deal(PipelineStage::Prospect, StageSetBy::Automation),
            &[
                booked("old", FEB10, None),
                booked("new", FEB12, Some("old")),
            ],
        );
        for events in orders {
            let (record, holder, mut bookings, stages) = run(
                deal(PipelineStage::Prospect, StageSetBy::Automation),
                &events,
            );
            assert_eq!(stages, direct_stages, "{events:?}");
            assert_eq!(record, direct, "{events:?}");
            assert_eq!(holder, direct_holder, "{events:?}");
            bookings.sort_by(|a, b| a.reference.id.cmp(&b.reference.id));
            let mut expected = direct_bookings.clone();
            expected.sort_by(|a, b| a.reference.id.cmp(&b.reference.id));
            assert_eq!(bookings, expected, "{events:?}");
        }
    }

    #[test]
    fn a_rejected_or_cancelled_request_is_a_cancelled_demo_in_either_order() {
        for events in [
            vec![
                booked("old", FEB10, None),
                requested("new", FEB12, "old"),
                ended("new", FEB12, None),
            ],
            vec![
                booked("old", FEB10, None),
                ended("new", FEB12, None),
                requested("new", FEB12, "old"),
            ],
        ] {
            let (record, holder, bookings, stages) = run(
                deal(PipelineStage::Prospect, StageSetBy::Automation),
                &events,
            );
            assert_eq!(
                stages,
                vec![
                    PipelineStage::Prospect,
                    PipelineStage::DemoBooked,
                    PipelineStage::Contacted
                ],
                "{events:?}"
            );
            assert_eq!(record.next_action.as_deref(), Some(DEMO_CANCELLED_ACTION));
            assert_eq!(holder, None);
            // Cal.com cancelled the old booking when the reschedule was requested; a rejection
            // does not bring it back.
            assert_eq!(find(&bookings, "old").status, BookingStatus::Rescheduled);
            assert_eq!(
                find(&bookings, "old").rescheduled_to.as_deref(),
                Some("new")
            );
            assert_eq!(find(&bookings, "new").status, BookingStatus::Cancelled);
        }
    }

    #[test]
    fn a_repeated_request_writes_nothing_and_a_late_one_only_links() {
        let (record, holder, bookings, _) = run(
            deal(PipelineStage::Prospect, StageSetBy::Automation),
            &[booked("old", FEB10, None), requested("new", FEB12, "old")],
        );
        let plan = plan_booking(
            &record,
            holder.as_ref(),
            &bookings,
            BookingProvider::Calendly,
            &requested("new", FEB12, "old"),
            NOW,
        );
        assert_eq!(plan.effect, BookingEffect::AlreadyRecorded);
        assert!(!plan.writes_anything(), "{plan:?}");

        // After the confirmation, a late copy of the request leaves the booking scheduled.
        let (record, holder, bookings, _) = run(
            deal(PipelineStage::Prospect, StageSetBy::Automation),
            &[
                booked("old", FEB10, None),
                requested("new", FEB12, "old"),
                booked("new", FEB12, None),
            ],
        );
        let plan = plan_booking(
            &record,
            holder.as_ref(),
            &bookings,
            BookingProvider::Calendly,
            &requested("new", FEB12, "old"),
            NOW,
        );
        assert_eq!(plan.effect, BookingEffect::AlreadyRecorded);
        assert!(!plan.writes_anything(), "{plan:?}");
    }

    #[test]
    fn a_request_for_a_booking_never_seen_books_the_deal() {
        let (record, holder, bookings, stages) = run(
            deal(PipelineStage::Contacted, StageSetBy::Automation),
            &[requested("new", FEB12, "unknown")],
        );
        assert_eq!(
            stages,
            vec![PipelineStage::Contacted, PipelineStage::DemoBooked]
        );
        assert_eq!(record.next_action_date, Some(FEB12));
        assert_eq!(holder.map(|h| h.id), Some("new".to_owned()));
        assert_eq!(bookings.len(), 1);
        assert_eq!(bookings[0].status, BookingStatus::Requested);
    }

    #[test]
    fn status_names_round_trip() {
        for status in [
            BookingStatus::Scheduled,
            BookingStatus::Requested,
            BookingStatus::Cancelled,
            BookingStatus::Rescheduled,
        ] {
            assert_eq!(status.as_str().parse::<BookingStatus>(), Ok(status));
        }
        assert!(BookingStatus::Requested.is_open());
        assert!(!BookingStatus::Rescheduled.is_open());
    }

    #[test]
    fn booking_keys_round_trip() {
        let reference = BookingRef::new(
            BookingProvider::Calendly,
            "https://api.calendly.com/scheduled_events/x/invitees/y",
        );
        assert_eq!(BookingRef::parse_key(&reference.key()), Some(reference));
        assert_eq!(BookingRef::parse_key("zoom#1"), None);
    }
}
