//! Founding spots: 20 items, one per spot, plus one founder item per e-mail. A hold writes both
//! in one write, conditioned on the spot being free (absent, released, or held past its time)
//! and on the e-mail holding nothing live: so never more than 20, never two per e-mail.
//!
//! A paid checkout makes its hold a membership ([`SalesStore::record_payment`], in `billing`),
//! with the parts this module builds: [`SalesStore::confirmation_parts`], decided by
//! [`decide_confirmation`] from both the spot item and the founder item when the common case
//! (both still held by the paid hold) does not hold.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use serde::Serialize;
use time::OffsetDateTime;

use super::codec::{get_n, get_s, n, opt_n, opt_s, parse_s, s, Item, UpdateExpr};
use super::ledger::{DeliveryKey, Once};
use super::table::{keys, PK, SK};
use super::write::{Attempts, Outcome, Part, Write};
use super::{SalesStore, StoreError};
use crate::domain::time_format;
use crate::domain::{
    choose_spot, spot_statuses, Client, ConfirmPlan, EmailAddress, FounderIs, FoundingBenefits,
    FoundingMember, FoundingSpot, FoundingTally, HoldRef, HoldSlot, LeadId, LeadRef, NewLead,
    OpenSession, PipelineRecord, Reservation, ReservationKind, SpotNumber, SpotState, SpotStatus,
    StoredHold,
};

/// The client a founding hold counts against, and how many live holds it may have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCap {
    pub client: Client,
    pub holds: u8,
}

/// How long a new hold may go without a recorded session before a second checkout of the same
/// e-mail stops waiting for it (the first checkout is still asking Stripe) and extends the hold
/// for a session of its own. Within it, the second checkout asks Stripe with the first one's
/// idempotency key and expiry (inside `CHECKOUT_LIFETIME`'s spare minute), so both get one
/// session.
const SESSION_PENDING: time::Duration = time::Duration::seconds(30);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldOutcome {
    /// The e-mail holds this spot until `expires_at`. `new` is false when the e-mail already
    /// held it (a second checkout while the first hold lives gets the same spot and hold, and
    /// its `session` while that is open). `slot`: the client slot a new hold took.
    Held {
        spot: SpotNumber,
        hold_ref: HoldRef,
        expires_at: OffsetDateTime,
        new: bool,
        slot: Option<HoldSlot>,
        session: Option<OpenSession>,
    },
    /// The client holds as many live founding spots as it may, until `retry_after` at the
    /// latest: no hold.
    ClientLimit { retry_after: OffsetDateTime },
    /// Nothing written: the spot to take is free only because this hold lapsed, and its session
    /// may have been paid (its webhook late). Ask Stripe, then ask again.
    LapsedHold {
        spot: SpotNumber,
        session_id: String,
        hold_ref: HoldRef,
        email: EmailAddress,
        slot: Option<HoldSlot>,
    },
    /// The e-mail is a founding member already.
    AlreadyMember { spot: SpotNumber },
    /// No spot is free: the e-mail is on the waitlist at this position.
    Full { waitlist_position: u64 },
}

/// A live founding hold, as the sales team's list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveHold {
    pub spot: SpotNumber,
    pub email: EmailAddress,
    pub lead_id: LeadId,
    /// The client address (IPv6: its /64) that took the hold; absent for holds taken before the
    /// per-client cap.
    pub client: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub held_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    pub session_id: Option<String>,
    #[serde(skip)]
    pub hold_ref: HoldRef,
    #[serde(skip)]
    pub slot: Option<HoldSlot>,
}

/// What a founding payment did to the spots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfirmOutcome {
    /// The hold became a membership now, with the benefits locked.
    Confirmed(FoundingMember),
    /// This hold was confirmed before (a redelivered payment event).
    AlreadyConfirmed(FoundingMember),
    /// The e-mail was a member already through another hold: no second spot.
    AlreadyMember(FoundingMember),
    /// The spot is no longer held by this hold (it expired and went to someone else, or was
    /// released): no membership is created.
    HoldLost,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseOutcome {
    Released,
    /// The spot is not held by this hold (already released, taken over, or a member).
    NotHeld,
}

pub(super) const STATE_HELD: &str = "held";
pub(super) const STATE_MEMBER: &str = "member";
pub(super) const STATE_FREE: &str = "free";

/// A spot kept for one e-mail (a lapsed membership): for whom, until when (Unix seconds), why.
pub(super) const RESERVED_FOR: &str = "reserved_for";
pub(super) const RESERVED_UNTIL: &str = "reserved_until";
pub(super) const RESERVED_KIND: &str = "reserved_kind";

/// Free means: never written, released, or held past its time...
const FREE_CONDITION: &str =
    "(attribute_not_exists(pk) OR #state = :free OR (#state = :held AND expires_at <= :now))";
/// ...and not kept for someone else (no reservation, or one that has ended)...
const NOT_RESERVED: &str = "(attribute_not_exists(reserved_until) OR reserved_until <= :now)";
/// ...or kept for the e-mail that takes it.
const NOT_RESERVED_FOR_OTHERS: &str =
    "(attribute_not_exists(reserved_until) OR reserved_until <= :now OR reserved_for = :email)";

fn benefits_attribute(benefits: &FoundingBenefits) -> AttributeValue {
    AttributeValue::M(HashMap::from([
        (
            "lifetime_discount_percent".to_owned(),
            n(benefits.lifetime_discount_percent),
        ),
        (
            "priority_support".to_owned(),
            AttributeValue::Bool(benefits.priority_support),
        ),
        (
            "early_feature_access".to_owned(),
            AttributeValue::Bool(benefits.early_feature_access),
        ),
        (
            "founding_badge".to_owned(),
            AttributeValue::Bool(benefits.founding_badge),
        ),
        (
            "locked_price".to_owned(),
            AttributeValue::Bool(benefits.locked_price),
        ),
    ]))
}

fn decode_benefits(item: &Item) -> Result<FoundingBenefits, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("founding benefits: {what}"));
    let map = item
        .get("benefits")
        .and_then(|v| v.as_m().ok())
        .ok_or_else(|| corrupt("missing"))?;
    let flag = |name: &str| -> Result<bool, StoreError> {
        map.get(name)
            .and_then(|v| v.as_bool().ok())
            .copied()
            .ok_or_else(|| corrupt(name))
    };
    Ok(FoundingBenefits {
        lifetime_discount_percent: get_n(map, "lifetime_discount_percent")?,
        priority_support: flag("priority_support")?,
        early_feature_access: flag("early_feature_access")?,
        founding_badge: flag("founding_badge")?,
        locked_price: flag("locked_price")?,
    })
}

/// A spot item or a founder item (they share their attributes).
pub(super) fn decode_spot(item: &Item) -> Result<(SpotNumber, SpotState), StoreError> {
    let spot =
        SpotNumber::new(get_n(item, "spot")?).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let state = match get_s(item, "state")? {
        STATE_FREE => SpotState::Free,
        STATE_HELD => SpotState::Held {
            email: parse_s(item, "email", EmailAddress::parse)?,
            lead_id: parse_s(item, "lead_id", LeadId::parse)?,
            hold_ref: HoldRef::from_stored(get_s(item, "hold_ref")?),
            expires_at: time_format::from_unix(get_n(item, "expires_at")?)
                .ok_or_else(|| StoreError::Corrupt("expires_at out of range".into()))?,
        },
        STATE_MEMBER => SpotState::Member(FoundingMember {
            spot,
            email: parse_s(item, "email", EmailAddress::parse)?,
            lead_id: parse_s(item, "lead_id", LeadId::parse)?,
            company_name: opt_s(item, "company_name")?.map(str::to_owned),
            benefits: decode_benefits(item)?,
            confirmed_at: parse_s(item, "confirmed_at", time_format::parse)?,
        }),
        other => {
            return Err(StoreError::Corrupt(format!(
                "spot {spot}: unknown state {other:?}"
            )))
        }
    };
    Ok((spot, state))
}

/// A spot item's reservation, if it has one.
fn decode_reservation(item: &Item) -> Result<Option<Reservation>, StoreError> {
    let Some(email) = opt_s(item, RESERVED_FOR)? else {
        return Ok(None);
    };
    let until = opt_n::<i64>(item, RESERVED_UNTIL)?
        .and_then(time_format::from_unix)
        .ok_or_else(|| StoreError::Corrupt("a reservation without reserved_until".into()))?;
    let kind = opt_s(item, RESERVED_KIND)?
        .and_then(ReservationKind::parse)
        .ok_or_else(|| StoreError::Corrupt("a reservation without a known kind".into()))?;
    let email = EmailAddress::parse(email).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(Some(Reservation { email, until, kind }))
}

/// A spot item: its state and its reservation.
pub(super) fn decode_founding_spot(item: &Item) -> Result<FoundingSpot, StoreError> {
    let (spot, state) = decode_spot(item)?;
    Ok(FoundingSpot {
        spot,
        state,
        reservation: decode_reservation(item)?,
    })
}

/// What [`SalesStore::change_hold`] does to a hold's items.
#[derive(Debug, Clone, Copy)]
enum HoldChange {
    /// Free them (only a hold expiring no later than `lapsed_by`, when given).
    Release { lapsed_by: Option<OffsetDateTime> },
    /// Keep them until `until`.
    Keep { until: OffsetDateTime },
}

impl HoldChange {
    fn expr(self) -> UpdateExpr {
        let mut expr = UpdateExpr::default();
        match self {
            HoldChange::Release { .. } => {
                expr.set("state", s(STATE_FREE)).remove("expires_at");
            }
            HoldChange::Keep { until } => {
                expr.set("expires_at", n(until.unix_timestamp()));
            }
        }
        expr
    }
}

/// The spots as a founding checkout reads them, with each spot's recorded session and when its
/// hold was taken (or last extended).
#[derive(Debug, Default)]
struct SpotsView {
    spots: Vec<(SpotNumber, SpotState)>,
    holds: HashMap<SpotNumber, HoldRecord>,
    reservations: HashMap<SpotNumber, Reservation>,
    /// Someone is waiting on the waitlist: a free spot is theirs (offered in order), not the
    /// next visitor's.
    waiting: bool,
}

impl SpotsView {
    /// The spots a hold by `email` may take at `now`: the spot kept for it (a lapsed
    /// membership's, the same spot again) alone when there is one, else every free spot.
    fn free_for(&self, email: &EmailAddress, now: OffsetDateTime) -> Vec<SpotNumber> {
        let free: Vec<SpotNumber> = free_spots(&self.spots, now)
            .into_iter()
            .filter(|spot| {
                !self
                    .reservations
                    .get(spot)
                    .is_some_and(|reservation| reservation.excludes(email, now))
            })
            .collect();
        let kept: Vec<SpotNumber> = free
            .iter()
            .copied()
            .filter(|spot| {
                self.reservations
                    .get(spot)
                    .is_some_and(|r| r.is_live_at(now) && &r.email == email)
            })
            .collect();
        if !kept.is_empty() {
            kept
        } else if self.waiting {
            Vec::new()
        } else {
            free
        }
    }
}

/// What a spot item records about its hold besides its state.
#[derive(Debug, Default)]
struct HoldRecord {
    session: Option<OpenSession>,
    held_at: Option<OffsetDateTime>,
    slot: Option<HoldSlot>,
}

fn decode_session(item: &Item) -> Result<Option<OpenSession>, StoreError> {
    let (Some(id), Some(url)) = (opt_s(item, "session_id")?, opt_s(item, "checkout_url")?) else {
        return Ok(None);
    };
    let expires_at = opt_n::<i64>(item, "session_expires_at")?
        .and_then(time_format::from_unix)
        .ok_or_else(|| StoreError::Corrupt("a session without session_expires_at".into()))?;
    Ok(Some(OpenSession {
        id: id.to_owned(),
        url: url.to_owned(),
        expires_at,
    }))
}

fn held_by<'a>(
    spots: &'a [(SpotNumber, SpotState)],
    email: &EmailAddress,
    now: OffsetDateTime,
) -> Option<&'a (SpotNumber, SpotState)> {
    spots.iter().find(|(_, state)| match state {
        SpotState::Held { email: holder, .. } => holder == email && !state.is_free_at(now),
        SpotState::Member(member) => &member.email == email,
        SpotState::Free => false,
    })
}

impl SalesStore {
    /// Every stored spot (spots never taken are not stored and count as free): one Query.
    pub async fn founding_spots(&self) -> Result<Vec<(SpotNumber, SpotState)>, StoreError> {
        Ok(self
            .founding_spot_items()
            .await?
            .into_iter()
            .map(|spot| (spot.spot, spot.state))
            .collect())
    }

    /// Every stored spot with its reservation: one Query.
    pub async fn founding_spot_items(&self) -> Result<Vec<FoundingSpot>, StoreError> {
        self.query_prefix(keys::FOUNDING_PK, keys::SPOT_PREFIX)
            .await?
            .iter()
            .map(decode_founding_spot)
            .collect()
    }

    /// Members, live holds, reserved and remaining spots at `now`: one Query.
    pub async fn founding_tally(&self, now: OffsetDateTime) -> Result<FoundingTally, StoreError> {
        let spots = self.founding_spot_items().await?;
        Ok(FoundingTally::count(&spots, now))
    }

    /// The state of every spot at `now` (member, lapsed until …, held until …, free), in spot
    /// order, as the sales team sees them: one Query.
    pub async fn founding_spot_statuses(
        &self,
        now: OffsetDateTime,
    ) -> Result<Vec<SpotStatus>, StoreError> {
        Ok(self.founding_overview(now).await?.1)
    }

    /// The figures and every spot's state at `now` (`GET /founding/spots`, `salesctl spots`):
    /// one Query.
    pub async fn founding_overview(
        &self,
        now: OffsetDateTime,
    ) -> Result<(FoundingTally, Vec<SpotStatus>), StoreError> {
        let spots = self.founding_spot_items().await?;
        Ok((
            FoundingTally::count(&spots, now),
            spot_statuses(&spots, now),
        ))
    }

    /// The live founding holds at `now`, in spot order, as the sales team sees them: e-mail,
    /// spot, the client address that took it, since when, until when, and its session. One Query.
    pub async fn live_holds(&self, now: OffsetDateTime) -> Result<Vec<LiveHold>, StoreError> {
        let mut holds = Vec::new();
        for item in self
            .query_prefix(keys::FOUNDING_PK, keys::SPOT_PREFIX)
            .await?
        {
            let (spot, state) = decode_spot(&item)?;
            let SpotState::Held {
                email,
                lead_id,
                hold_ref,
                expires_at,
            } = state
            else {
                continue;
            };
            if expires_at <= now {
                continue;
            }
            let held_at = opt_s(&item, "held_at")?
                .map(|at| time_format::parse(at).map_err(|e| StoreError::Corrupt(e.to_string())))
                .transpose()?;
            holds.push(LiveHold {
                spot,
                email,
                lead_id,
                client: opt_s(&item, "client")?.map(str::to_owned),
                held_at,
                expires_at,
                session_id: decode_session(&item)?.map(|session| session.id),
                hold_ref,
                slot: opt_s(&item, "client_slot")?.and_then(HoldSlot::parse),
            });
        }
        holds.sort_by_key(|hold| hold.spot);
        Ok(holds)
    }

    /// Releases the live hold on `spot` (the sales team clearing a hold): the spot, the founder
    /// item and the client's slot, each on the condition that this hold still holds it. `None`
    /// when the spot has no live hold.
    pub async fn release_spot_hold(
        &self,
        spot: SpotNumber,
        now: OffsetDateTime,
    ) -> Result<Option<LiveHold>, StoreError> {
        let Some(hold) = self
            .live_holds(now)
            .await?
            .into_iter()
            .find(|hold| hold.spot == spot)
        else {
            return Ok(None);
        };
        let released = self
            .release_founding_hold(
                &hold.email,
                spot,
                &hold.hold_ref,
                hold.slot.as_ref(),
                None,
                None,
                now,
            )
            .await?;
        Ok(match released {
            Once::Applied(ReleaseOutcome::Released) => Some(hold),
            _ => None,
        })
    }

    /// Founding members in spot order.
    pub async fn founding_members(&self) -> Result<Vec<FoundingMember>, StoreError> {
        let mut members: Vec<FoundingMember> = self
            .founding_spots()
            .await?
            .into_iter()
            .filter_map(|(_, state)| match state {
                SpotState::Member(member) => Some(member),
                _ => None,
            })
            .collect();
        members.sort_by_key(|m| m.spot);
        Ok(members)
    }

    /// A founding checkout's hold for the lead with this e-mail, created if there is none, until
    /// `expires_at`, without a cap per client (the sales team's tools and tests); see
    /// [`SalesStore::hold_founding_spot_for`].
    pub async fn hold_founding_spot(
        &self,
        new: &NewLead,
        hold_ref: &HoldRef,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(LeadRef, HoldOutcome), StoreError> {
        self.hold_founding_spot_for(new, hold_ref, expires_at, None, now)
            .await
    }

    /// A founding checkout's hold for the lead with this e-mail, created if there is none, until
    /// `expires_at`: the same spot again while the e-mail's hold lives, or, when no spot is free,
    /// a place on the waitlist. One BatchGetItem (the e-mail's lead and the 20 spots), then one
    /// write (the hold; with the new lead's e-mail, lead and summary items when the e-mail has
    /// no lead yet).
    ///
    /// With a `cap`, a new hold also takes one of the client's hold slots, in the same write, on
    /// the condition that the slot is free: a client whose slots are all held by live holds gets
    /// [`HoldOutcome::ClientLimit`] (no read decides it; each slot's condition does).
    ///
    /// The same e-mail again while its hold lives gets that hold back as it is, with its open
    /// Checkout Session when one is recorded (one payable session per hold); the hold is
    /// extended only once that session has closed, or when no session was recorded for a
    /// while (a checkout that never got one).
    pub async fn hold_founding_spot_for(
        &self,
        new: &NewLead,
        hold_ref: &HoldRef,
        expires_at: OffsetDateTime,
        cap: Option<&ClientCap>,
        now: OffsetDateTime,
    ) -> Result<(LeadRef, HoldOutcome), StoreError> {
        self.hold_founding_spot_checked(new, hold_ref, expires_at, cap, None, now)
            .await
    }

    /// [`SalesStore::hold_founding_spot_for`], and with `checked`, a spot whose hold lapsed
    /// with a recorded Checkout Session not in `checked` is not taken: the answer is
    /// [`HoldOutcome::LapsedHold`], for the caller to ask Stripe whether that session was paid
    /// (a payment whose webhook is late must not lose its spot) before asking again.
    pub async fn hold_founding_spot_checked(
        &self,
        new: &NewLead,
        hold_ref: &HoldRef,
        expires_at: OffsetDateTime,
        cap: Option<&ClientCap>,
        checked: Option<&std::collections::HashSet<String>>,
        now: OffsetDateTime,
    ) -> Result<(LeadRef, HoldOutcome), StoreError> {
        let email = &new.email;
        let salt = uuid::Uuid::new_v4().as_u128() as u64;
        let mut attempts = Attempts::new("hold_founding_spot");
        let mut lost_races = 0;
        // The client's slots this call found held, and until when.
        let mut busy_slots: HashMap<u8, OffsetDateTime> = HashMap::new();
        let mut extend_slot = true;
        loop {
            attempts.next().await?;
            // Who holds, and a lead to create with the hold when the e-mail has none yet.
            let (lead, create, view) = match self.founding_checkout_view(email).await? {
                (Some(id), view) => (id, false, view),
                (None, view) => (LeadId::generate(), true, view),
            };
            let spots = &view.spots;
            let held = held_by(spots, email, now);
            let free = choose_spot(&view.free_for(email, now), lost_races, salt);
            if create && (held.is_some() || free.is_none()) {
                // Not the common path (a hold without a lead, or no spot free): create the lead
                // on its own, then look again.
                self.find_or_create_lead(new, now).await?;
                continue;
            }
            let lead_ref = LeadRef {
                id: lead.clone(),
                email: email.clone(),
                created: create,
            };
            match held {
                Some((
                    spot,
                    SpotState::Held {
                        hold_ref,
                        expires_at: held_until,
                        ..
                    },
                )) => {
                    let record = view.holds.get(spot);
                    let open = record
                        .and_then(|record| record.session.clone())
                        .filter(|session| session.expires_at > now);
                    let fresh = record.is_some_and(|record| {
                        record.session.is_none()
                            && record.held_at.is_some_and(|at| now - at < SESSION_PENDING)
                    });
                    let slot = record.and_then(|record| record.slot.clone());
                    if open.is_some() || fresh {
                        // Its session is open (or its first checkout is still creating one):
                        // the same hold and session, not extended.
                        let outcome = HoldOutcome::Held {
                            spot: *spot,
                            hold_ref: hold_ref.clone(),
                            expires_at: *held_until,
                            new: false,
                            slot,
                            session: open,
                        };
                        return Ok((lead_ref, outcome));
                    }
                    // Its session closed unpaid (or it never got one): the same spot and hold,
                    // kept at least as long as this new checkout needs it.
                    let expires_at = (*held_until).max(expires_at);
                    let mut write = Write::new();
                    for (part, pk, sk) in hold_keys(*spot, email) {
                        let mut expr = UpdateExpr::default();
                        expr.set("expires_at", n(expires_at.unix_timestamp()))
                            .set("held_at", s(time_format::to_sortable(now)))
                            .remove("session_id")
                            .remove("checkout_url")
                            .remove("session_expires_at");
                        write.push(part, self.held_update(&pk, &sk, expr, hold_ref, None)?);
                    }
                    // The client's slot lasts as long as the hold it counts.
                    if let Some(slot) = slot.as_ref().filter(|_| extend_slot) {
                        let (pk, sk) = slot_key(slot);
                        let keep = HoldChange::Keep { until: expires_at };
                        write.push(
                            Part::ClientSlot,
                            self.held_update(&pk, &sk, keep.expr(), hold_ref, None)?,
                        );
                    }
                    match self.write(&mut attempts, &write).await? {
                        Outcome::Written => {
                            let outcome = HoldOutcome::Held {
                                spot: *spot,
                                hold_ref: hold_ref.clone(),
                                expires_at,
                                new: false,
                                slot,
                                session: None,
                            };
                            return Ok((lead_ref, outcome));
                        }
                        // The slot alone no longer counts this hold (it lapsed and was
                        // reused): extend the hold without it.
                        Outcome::Failed(failed)
                            if failed.has(Part::ClientSlot)
                                && !failed.any(&[Part::Spot, Part::Founder]) =>
                        {
                            extend_slot = false;
                            continue;
                        }
                        // Released or confirmed meanwhile: look again.
                        _ => continue,
                    }
                }
                Some((spot, _)) => {
                    return Ok((lead_ref, HoldOutcome::AlreadyMember { spot: *spot }))
                }
                None => {}
            }
            let Some(spot) = free else {
                let waitlist_position = self.join_waitlist(email, Some(&lead), now).await?;
                return Ok((lead_ref, HoldOutcome::Full { waitlist_position }));
            };
            // A spot free only because its hold lapsed, with a session that may have been paid.
            if let Some(checked) = checked {
                let lapsed = spots.iter().find_map(|(number, state)| match state {
                    SpotState::Held {
                        email, hold_ref, ..
                    } if *number == spot => Some((email, hold_ref)),
                    _ => None,
                });
                let record = view.holds.get(&spot);
                let session = record.and_then(|record| record.session.as_ref());
                if let (Some((holder, lapsed_ref)), Some(session)) = (lapsed, session) {
                    if !checked.contains(&session.id) {
                        return Ok((
                            lead_ref,
                            HoldOutcome::LapsedHold {
                                spot,
                                session_id: session.id.clone(),
                                hold_ref: lapsed_ref.clone(),
                                email: holder.clone(),
                                slot: record.and_then(|record| record.slot.clone()),
                            },
                        ));
                    }
                }
            }
            // The client's first slot not found held yet.
            let slot = match cap {
                Some(cap) => match (1..=cap.holds).find(|slot| !busy_slots.contains_key(slot)) {
                    Some(slot) => Some(HoldSlot {
                        client_id: cap.client.id(),
                        slot,
                    }),
                    None => {
                        let retry_after = busy_slots.values().min().copied().unwrap_or(now);
                        return Ok((lead_ref, HoldOutcome::ClientLimit { retry_after }));
                    }
                },
                None => None,
            };
            let mut write = Write::new();
            if create {
                self.new_lead_parts(
                    &mut write,
                    new,
                    &lead,
                    &PipelineRecord::new_prospect(),
                    now,
                    &[],
                )?;
            }
            let client = cap.map(|cap| &cap.client);
            for (part, pk, sk) in hold_keys(spot, email) {
                write.push(
                    part,
                    self.hold_part(
                        &pk,
                        &sk,
                        spot,
                        email,
                        &lead,
                        hold_ref,
                        expires_at,
                        client.zip(slot.as_ref()),
                        now,
                    )?,
                );
            }
            if let (Some(client), Some(slot)) = (client, &slot) {
                write.push(
                    Part::ClientSlot,
                    self.slot_take_part(client, slot, spot, hold_ref, expires_at, now)?,
                );
            }
            match self.write(&mut attempts, &write).await? {
                Outcome::Written => {
                    let outcome = HoldOutcome::Held {
                        spot,
                        hold_ref: hold_ref.clone(),
                        expires_at,
                        new: true,
                        slot,
                        session: None,
                    };
                    return Ok((lead_ref, outcome));
                }
                Outcome::Failed(failed) => {
                    // The client's slot is held by a live hold: note until when, try the next.
                    if let (Some(slot), Some(item)) = (&slot, failed.item(Part::ClientSlot)) {
                        let until = item
                            .and_then(|item| opt_n::<i64>(item, "expires_at").ok().flatten())
                            .and_then(time_format::from_unix)
                            .unwrap_or(expires_at);
                        busy_slots.insert(slot.slot, until);
                    }
                    // The spot was taken, this e-mail took one, or the e-mail got its lead
                    // meanwhile: look again, spreading over the free spots.
                    if failed.any(&[Part::Spot, Part::Founder, Part::Lead, Part::Email]) {
                        lost_races += 1;
                    }
                }
                // Another transaction was writing the same spot (a conflict, most likely another
                // visitor taking it): look again, spreading over the free spots. (Retrying the
                // same spot after a conflict sent a launch-day crowd back to spot 1 together
                // until their attempts ran out.) After a throttle, the same spot again.
                retry @ Outcome::Retry(_) => {
                    if retry.is_conflict() {
                        lost_races += 1;
                    }
                }
                Outcome::Duplicate | Outcome::InProgress => {
                    return Err(StoreError::Rejected("a hold has no delivery".into()))
                }
            }
        }
    }

    /// The lead of an e-mail, if any, and every stored spot with its recorded session: one
    /// strongly consistent BatchGetItem.
    async fn founding_checkout_view(
        &self,
        email: &EmailAddress,
    ) -> Result<(Option<LeadId>, SpotsView), StoreError> {
        let email_pk = keys::email(email);
        let wanted = [
            (email_pk.clone(), keys::EMAIL_SK.to_owned()),
            (
                keys::WAITLIST_PK.to_owned(),
                keys::WAITLIST_COUNTER_SK.to_owned(),
            ),
        ]
        .into_iter()
        .chain(SpotNumber::all().map(|spot| (keys::FOUNDING_PK.to_owned(), keys::spot_sk(spot))));
        let mut lead = None;
        let mut view = SpotsView::default();
        for item in self.get_many(wanted).await? {
            let pk = get_s(&item, PK)?;
            if pk == email_pk {
                lead = Some(parse_s(&item, "lead_id", LeadId::parse)?);
            } else if pk == keys::WAITLIST_PK {
                view.waiting = super::waitlist::anyone_waiting(Some(&item))?;
            } else {
                let (spot, state) = decode_spot(&item)?;
                let held_at = opt_s(&item, "held_at")?
                    .map(|at| {
                        time_format::parse(at).map_err(|e| StoreError::Corrupt(e.to_string()))
                    })
                    .transpose()?;
                let record = HoldRecord {
                    session: decode_session(&item)?,
                    held_at,
                    slot: opt_s(&item, "client_slot")?.and_then(HoldSlot::parse),
                };
                view.holds.insert(spot, record);
                if let Some(reservation) = decode_reservation(&item)? {
                    view.reservations.insert(spot, reservation);
                }
                view.spots.push((spot, state));
            }
        }
        view.spots.sort_by_key(|(spot, _)| *spot);
        Ok((lead, view))
    }

    /// Records the Checkout Session a hold's checkout got, on the spot item, while that hold
    /// still holds it (nothing otherwise: the hold lapsed or was released meanwhile).
    pub async fn record_hold_session(
        &self,
        spot: SpotNumber,
        hold_ref: &HoldRef,
        session: &OpenSession,
    ) -> Result<bool, StoreError> {
        let mut expr = UpdateExpr::default();
        expr.set("session_id", s(&session.id))
            .set("checkout_url", s(&session.url))
            .set("session_expires_at", n(session.expires_at.unix_timestamp()));
        let mut write = Write::new();
        write.push(
            Part::Spot,
            self.held_update(
                keys::FOUNDING_PK,
                &keys::spot_sk(spot),
                expr,
                hold_ref,
                None,
            )?,
        );
        self.write_once_decided("record_hold_session", &write).await
    }

    /// The part that takes a client's hold slot: on the condition that it is free (never used,
    /// released, or its hold past its time).
    fn slot_take_part(
        &self,
        client: &Client,
        slot: &HoldSlot,
        spot: SpotNumber,
        hold_ref: &HoldRef,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut expr = UpdateExpr::default();
        expr.set("state", s(STATE_HELD))
            .set("client", s(client.as_str()))
            .set("spot", n(spot.get()))
            .set("hold_ref", s(hold_ref.as_str()))
            .set("expires_at", n(expires_at.unix_timestamp()))
            .set("held_at", s(time_format::to_sortable(now)));
        let (pk, sk) = slot_key(slot);
        self.free_update(&pk, &sk, expr, None, now)
    }

    /// An update to a spot, founder or slot item, on the condition that it is free at `now`
    /// (never written, released, or held past its time) and not kept for anyone (with `for_email`:
    /// for anyone but that e-mail).
    fn free_update(
        &self,
        pk: &str,
        sk: &str,
        expr: UpdateExpr,
        for_email: Option<&EmailAddress>,
        now: OffsetDateTime,
    ) -> Result<TransactWriteItem, StoreError> {
        let (expression, mut names, mut values) = expr.build();
        names.insert("#state".into(), "state".into());
        values.insert(":free".into(), s(STATE_FREE));
        values.insert(":held".into(), s(STATE_HELD));
        values.insert(":now".into(), n(now.unix_timestamp()));
        let reservation = match for_email {
            Some(email) => {
                values.insert(":email".into(), s(email.as_str()));
                NOT_RESERVED_FOR_OTHERS
            }
            None => NOT_RESERVED,
        };
        update_item(
            self.table_name(),
            pk,
            sk,
            expression,
            format!("{FREE_CONDITION} AND {reservation}"),
            names,
            values,
        )
    }

    /// The part that gives a client's hold slot back, on the condition that `hold_ref` holds it.
    pub(crate) fn slot_free_part(
        &self,
        slot: &HoldSlot,
        hold_ref: &HoldRef,
    ) -> Result<TransactWriteItem, StoreError> {
        let (pk, sk) = slot_key(slot);
        let release = HoldChange::Release { lapsed_by: None };
        self.held_update(&pk, &sk, release.expr(), hold_ref, None)
    }

    /// One side of a hold: the spot item or the founder item, on the condition that it is free.
    #[allow(clippy::too_many_arguments)]
    fn hold_part(
        &self,
        pk: &str,
        sk: &str,
        spot: SpotNumber,
        email: &EmailAddress,
        lead: &LeadId,
        hold_ref: &HoldRef,
        expires_at: OffsetDateTime,
        client: Option<(&Client, &HoldSlot)>,
        now: OffsetDateTime,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut expr = UpdateExpr::default();
        expr.set("state", s(STATE_HELD))
            .set("spot", n(spot.get()))
            .set("email", s(email.as_str()))
            .set("lead_id", s(lead.as_str()))
            .set("hold_ref", s(hold_ref.as_str()))
            .set("expires_at", n(expires_at.unix_timestamp()))
            .set("held_at", s(time_format::to_sortable(now)))
            .set_opt("client", client.map(|(client, _)| s(client.as_str())))
            .set_opt("client_slot", client.map(|(_, slot)| s(slot.encode())))
            .remove("session_id")
            .remove("checkout_url")
            .remove("session_expires_at");
        // A reservation stays: a hold by the e-mail it keeps the spot for that lapses unpaid
        // leaves the spot kept for them until the reservation ends.
        self.free_update(pk, sk, expr, Some(email), now)
    }

    /// A spot item and the founder item of an e-mail, as stored: two GetItems (only on the rare
    /// path of a payment whose hold is not where it was).
    pub(crate) async fn stored_holds(
        &self,
        spot: SpotNumber,
        paid_hold: &HoldRef,
        payer: &EmailAddress,
    ) -> Result<(Option<StoredHold>, Option<StoredHold>), StoreError> {
        let stored = |item: Option<Item>| -> Result<Option<StoredHold>, StoreError> {
            item.map(|item| {
                let (spot, state) = decode_spot(&item)?;
                Ok(StoredHold {
                    spot,
                    state,
                    hold_ref: opt_s(&item, "hold_ref")?.map(HoldRef::from_stored),
                })
            })
            .transpose()
        };
        let spot_item = stored(self.get(keys::FOUNDING_PK, keys::spot_sk(spot)).await?)?;
        // The founder item of whoever holds the spot under the paid hold; of the payer when
        // the paid hold no longer holds it.
        let holder = match &spot_item {
            Some(StoredHold {
                state:
                    SpotState::Held { email, .. } | SpotState::Member(FoundingMember { email, .. }),
                hold_ref: Some(held),
                ..
            }) if held == paid_hold => email,
            _ => payer,
        };
        let founder_item = stored(self.get(keys::founder(holder), keys::FOUNDER_SK).await?)?;
        Ok((spot_item, founder_item))
    }

    /// Adds the parts of a confirmation: the spot and the founder item become the membership
    /// (each on the condition that it is as the plan saw it), and a second spot of the same
    /// e-mail is given back. The member, for `ConfirmPlan::Confirm`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn confirmation_parts(
        &self,
        write: &mut Write,
        spot: SpotNumber,
        paid_hold: &HoldRef,
        plan: &ConfirmPlan,
        company_name: Option<&str>,
        subscription: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Option<FoundingMember>, StoreError> {
        let ConfirmPlan::Confirm {
            email,
            lead_id,
            spot_hold,
            founder,
            release,
        } = plan
        else {
            return Ok(None);
        };
        let member = FoundingMember {
            spot,
            email: email.clone(),
            lead_id: lead_id.clone(),
            company_name: company_name.map(str::to_owned),
            benefits: FoundingBenefits::CURRENT,
            confirmed_at: now.replace_nanosecond(0).unwrap_or(now),
        };
        let membership = || {
            let mut expr = UpdateExpr::default();
            expr.set("state", s(STATE_MEMBER))
                .set("spot", n(spot.get()))
                .set("email", s(member.email.as_str()))
                .set("lead_id", s(member.lead_id.as_str()))
                .set("hold_ref", s(paid_hold.as_str()))
                .set("benefits", benefits_attribute(&member.benefits))
                .set(
                    "confirmed_at",
                    s(time_format::to_sortable(member.confirmed_at)),
                )
                .set_opt("company_name", member.company_name.as_deref().map(s))
                // The subscription the membership lives by: only its end lapses it.
                .set_opt("subscription", subscription.map(s))
                .remove("expires_at")
                // A former member back within their lapse: the spot is theirs again.
                .remove(RESERVED_FOR)
                .remove(RESERVED_UNTIL)
                .remove(RESERVED_KIND)
                .remove("lapsed_at");
            expr
        };
        write.push(
            Part::Spot,
            self.held_update(
                keys::FOUNDING_PK,
                &keys::spot_sk(spot),
                membership(),
                spot_hold,
                None,
            )?,
        );
        let founder_pk = keys::founder(email);
        let founder_part = match founder {
            FounderIs::HeldBy(hold) => {
                self.held_update(&founder_pk, keys::FOUNDER_SK, membership(), hold, None)?
            }
            FounderIs::Free => {
                let (expression, mut names, mut values) = membership().build();
                names.insert("#state".into(), "state".into());
                values.insert(":free".into(), s(STATE_FREE));
                update_item(
                    self.table_name(),
                    &founder_pk,
                    keys::FOUNDER_SK,
                    expression,
                    "attribute_not_exists(pk) OR #state = :free".to_owned(),
                    names,
                    values,
                )?
            }
        };
        write.push(Part::Founder, founder_part);
        if let Some((other, hold)) = release {
            let mut expr = UpdateExpr::default();
            expr.set("state", s(STATE_FREE)).remove("expires_at");
            write.push(
                Part::OtherSpot,
                self.held_update(keys::FOUNDING_PK, &keys::spot_sk(*other), expr, hold, None)?,
            );
        }
        Ok(Some(member))
    }

    /// Frees a spot held by `hold_ref` (a checkout that expired, or that Stripe refused). Any
    /// other hold, or a membership, is left alone. With `lapsed_by`, only a hold that expires
    /// no later than that is released: an expired Checkout Session does not free a hold that a
    /// newer checkout of the same person extended. With `delivery`, the webhook delivery is
    /// recorded in the same write (and recognised when it was recorded before).
    ///
    /// With `slot`, the client slot the hold counted against is given back in the same write
    /// (when `hold_ref` still holds it).
    #[allow(clippy::too_many_arguments)]
    pub async fn release_founding_hold(
        &self,
        email: &EmailAddress,
        spot: SpotNumber,
        hold_ref: &HoldRef,
        slot: Option<&HoldSlot>,
        lapsed_by: Option<OffsetDateTime>,
        delivery: Option<&DeliveryKey>,
        now: OffsetDateTime,
    ) -> Result<Once<ReleaseOutcome>, StoreError> {
        let change = HoldChange::Release { lapsed_by };
        Ok(self
            .change_hold(change, email, spot, hold_ref, slot, delivery, now)
            .await?
            .map(|released| {
                if released {
                    ReleaseOutcome::Released
                } else {
                    ReleaseOutcome::NotHeld
                }
            }))
    }

    /// Keeps a hold (the spot, the founder item and the client's slot) until `until`, while
    /// `hold_ref` holds it: a completed checkout whose delayed payment (BECS Direct Debit) is on
    /// its way must not lose its spot to the hold's short expiry. With the webhook delivery's
    /// record in the same write. `false` when the hold is gone (lapsed and taken, released).
    #[allow(clippy::too_many_arguments)]
    pub async fn keep_founding_hold(
        &self,
        email: &EmailAddress,
        spot: SpotNumber,
        hold_ref: &HoldRef,
        slot: Option<&HoldSlot>,
        until: OffsetDateTime,
        delivery: Option<&DeliveryKey>,
        now: OffsetDateTime,
    ) -> Result<Once<bool>, StoreError> {
        let change = HoldChange::Keep { until };
        self.change_hold(change, email, spot, hold_ref, slot, delivery, now)
            .await
    }

    /// One change to a hold's items (spot, founder, client slot), each on the condition that
    /// `hold_ref` still holds it, with the delivery's record in the same write. The founder or
    /// slot part is dropped when only it fails (the e-mail or the client holds something else
    /// now: the spot alone is still this hold's). `false` when the spot is no longer this hold's.
    #[allow(clippy::too_many_arguments)]
    async fn change_hold(
        &self,
        change: HoldChange,
        email: &EmailAddress,
        spot: SpotNumber,
        hold_ref: &HoldRef,
        slot: Option<&HoldSlot>,
        delivery: Option<&DeliveryKey>,
        now: OffsetDateTime,
    ) -> Result<Once<bool>, StoreError> {
        let (operation, lapsed_by) = match change {
            HoldChange::Release { lapsed_by } => ("release_founding_hold", lapsed_by),
            HoldChange::Keep { .. } => ("keep_founding_hold", None),
        };
        let mut with_founder = true;
        let mut with_slot = slot.is_some();
        let mut attempts = Attempts::new(operation);
        loop {
            attempts.next().await?;
            let mut write = Write::new();
            for (part, pk, sk) in hold_keys(spot, email) {
                if part == Part::Founder && !with_founder {
                    continue;
                }
                write.push(
                    part,
                    self.held_update(&pk, &sk, change.expr(), hold_ref, lapsed_by)?,
                );
            }
            if let Some(slot) = slot.filter(|_| with_slot) {
                let (pk, sk) = slot_key(slot);
                write.push(
                    Part::ClientSlot,
                    self.held_update(&pk, &sk, change.expr(), hold_ref, None)?,
                );
            }
            if let Some(delivery) = delivery {
                self.delivery_part(&mut write, delivery, now)?;
            }
            match self.write(&mut attempts, &write).await? {
                Outcome::Written => return Ok(Once::Applied(true)),
                Outcome::Duplicate => return Ok(Once::Duplicate),
                Outcome::InProgress => return Ok(Once::InProgress),
                Outcome::Failed(failed)
                    if !failed.has(Part::Spot)
                        && ((with_founder && failed.has(Part::Founder))
                            || (with_slot && failed.has(Part::ClientSlot))) =>
                {
                    with_founder &= !failed.has(Part::Founder);
                    with_slot &= !failed.has(Part::ClientSlot);
                }
                Outcome::Failed(_) => {
                    return Ok(match delivery {
                        Some(delivery) => {
                            self.record_delivery(delivery, now).await?.map(|()| false)
                        }
                        None => Once::Applied(false),
                    })
                }
                Outcome::Retry(_) => {}
            }
        }
    }

    /// An update to a spot or founder item, on the condition that `hold_ref` holds it (and,
    /// with `expiring_by`, that it expires no later than that).
    fn held_update(
        &self,
        pk: &str,
        sk: &str,
        expr: UpdateExpr,
        hold_ref: &HoldRef,
        expiring_by: Option<OffsetDateTime>,
    ) -> Result<TransactWriteItem, StoreError> {
        let (expression, mut names, mut values) = expr.build();
        names.insert("#state".into(), "state".into());
        names.insert("#ref".into(), "hold_ref".into());
        values.insert(":held".into(), s(STATE_HELD));
        values.insert(":ref".into(), s(hold_ref.as_str()));
        let mut condition = "#state = :held AND #ref = :ref".to_owned();
        if let Some(by) = expiring_by {
            names.insert("#expires".into(), "expires_at".into());
            values.insert(":by".into(), n(by.unix_timestamp()));
            condition.push_str(" AND #expires <= :by");
        }
        update_item(
            self.table_name(),
            pk,
            sk,
            expression,
            condition,
            names,
            values,
        )
    }
}

/// The two items of a hold: the spot, and the founder item of the e-mail.
fn hold_keys(spot: SpotNumber, email: &EmailAddress) -> [(Part, String, String); 2] {
    [
        (
            Part::Spot,
            keys::FOUNDING_PK.to_owned(),
            keys::spot_sk(spot),
        ),
        (
            Part::Founder,
            keys::founder(email),
            keys::FOUNDER_SK.to_owned(),
        ),
    ]
}

/// A client hold slot's key.
fn slot_key(slot: &HoldSlot) -> (String, String) {
    (
        keys::client(&slot.client_id),
        keys::client_slot_sk(slot.slot),
    )
}

/// Spot numbers free at `now`, stored or not.
fn free_spots(spots: &[(SpotNumber, SpotState)], now: OffsetDateTime) -> Vec<SpotNumber> {
    SpotNumber::all()
        .filter(|number| {
            spots
                .iter()
                .find(|(stored, _)| stored == number)
                .is_none_or(|(_, state)| state.is_free_at(now))
        })
        .collect()
}

/// An update that removes a spot's reservation.
pub(super) fn reservation_removed() -> UpdateExpr {
    let mut expr = UpdateExpr::default();
    expr.remove(RESERVED_FOR)
        .remove(RESERVED_UNTIL)
        .remove(RESERVED_KIND);
    expr
}

/// Ends `email`'s reservation of `kind` on a spot: the update, and its condition (the spot is
/// still kept for that e-mail, for that reason). Whatever else the spot is (a hold of theirs on
/// it, say) stays as it is.
pub(super) fn end_reservation(email: &EmailAddress, kind: ReservationKind) -> (UpdateExpr, String) {
    let mut expr = reservation_removed();
    let (kept_for, kind_name) = (expr.name(RESERVED_FOR), expr.name(RESERVED_KIND));
    let (email_value, kind_value) = (expr.value(s(email.as_str())), expr.value(s(kind.as_str())));
    let condition = format!("{kept_for} = {email_value} AND {kind_name} = {kind_value}");
    (expr, condition)
}

impl SalesStore {
    /// An UpdateItem part built from `expr`, on `condition` (written with `expr`'s own name and
    /// value placeholders).
    pub(super) fn conditional_update(
        &self,
        pk: &str,
        sk: &str,
        expr: UpdateExpr,
        condition: String,
    ) -> Result<TransactWriteItem, StoreError> {
        let (expression, names, values) = expr.build();
        update_item(
            self.table_name(),
            pk,
            sk,
            expression,
            condition,
            names,
            values,
        )
    }
}

/// An UpdateItem-shaped part.
pub(super) fn update_item(
    table: &str,
    pk: &str,
    sk: &str,
    expression: String,
    condition: String,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
) -> Result<TransactWriteItem, StoreError> {
    let update = Update::builder()
        .table_name(table)
        .key(PK, s(pk))
        .key(SK, s(sk))
        .update_expression(expression)
        .condition_expression(condition)
        .set_expression_attribute_names(Some(names))
        .set_expression_attribute_values(Some(values))
        .build()
        .map_err(|e| StoreError::Rejected(e.to_string()))?;
    Ok(TransactWriteItem::builder().update(update).build())
}
