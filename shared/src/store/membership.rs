//! A founding membership after it was confirmed: lapsed when its subscription ends (the spot is
//! kept for the member for 30 days, by a reservation on the spot item that every hold's
//! condition respects), revoked at once on a full refund or a lost dispute. No background job:
//! a lapse ends by its `reserved_until`, checked in the conditions like a hold's `expires_at`.
//!
//! | item                     | pk               | sk                              |
//! |--------------------------|------------------|---------------------------------|
//! | membership history entry | `LEAD#<lead_id>` | `MEMBERSHIP#<at>#<change>`      |
//! | charge → customer        | `CHARGE#<ch>`    | `CHARGE`                        |
//!
//! Each change is one TransactWriteItems: the spot (conditioned on being this e-mail's
//! membership, or its lapse), the founder item, the history entry and, for a webhook, the
//! delivery's record. A change whose condition fails reads the spot again and decides again,
//! so a redelivered or replayed event changes nothing twice.

use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use serde::Serialize;
use time::OffsetDateTime;

use super::codec::{get_n, get_s, n, opt_s, parse_s, s, Item, UpdateExpr};
use super::founding::{
    decode_founding_spot, decode_spot, end_reservation, reservation_removed, RESERVED_FOR,
    RESERVED_KIND, RESERVED_UNTIL, STATE_FREE, STATE_MEMBER,
};
use super::ledger::{DeliveryKey, Once};
use super::table::{keys, PK, SK};
use super::write::{Attempts, Outcome, Part, Write};
use super::{SalesStore, StoreError};
use crate::domain::time_format;
use crate::domain::{
    decide_revocation, Cause, EmailAddress, LeadId, MembershipChange, ReservationKind, RevokePlan,
    SpotNumber, SpotState,
};

/// Sort-key prefix of a lead's membership history entries.
pub const MEMBERSHIP_PREFIX: &str = "MEMBERSHIP#";

/// One change to a lead's founding membership, as its history shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MembershipEntry {
    pub change: MembershipChange,
    pub spot: SpotNumber,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// For a lapse: until when the spot is kept for the member.
    #[serde(with = "time::serde::rfc3339::option")]
    pub until: Option<OffsetDateTime>,
    /// Why, in words: `subscription ended`, `full refund`, `dispute lost`.
    pub reason: String,
    pub cause: Cause,
}

/// What a lapse or a revocation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipOutcome {
    /// The membership of `spot` changed now.
    Changed { spot: SpotNumber },
    /// Nothing to change: not a member (never, or no longer), or not by this subscription.
    Unchanged,
}

/// A Stripe charge's customer, recorded from `charge.succeeded` / `charge.refunded`, so that a
/// dispute (which names only the charge) finds its member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRecord {
    pub charge: String,
    pub customer: String,
    pub amount: i64,
    pub currency: String,
    pub event_created: i64,
}

fn charge_pk(charge: &str) -> String {
    format!("CHARGE#{charge}")
}

pub(crate) fn decode_membership_entry(item: &Item) -> Result<MembershipEntry, StoreError> {
    let change = MembershipChange::parse(get_s(item, "change")?)
        .ok_or_else(|| StoreError::Corrupt("a membership entry of no known change".into()))?;
    Ok(MembershipEntry {
        change,
        spot: SpotNumber::new(get_n(item, "spot")?)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        at: parse_s(item, "at", time_format::parse)?,
        until: opt_s(item, "until")?
            .map(|at| time_format::parse(at).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()?,
        reason: get_s(item, "reason")?.to_owned(),
        cause: Cause::from_stored(get_s(item, "cause")?.to_owned()),
    })
}

impl SalesStore {
    /// The lead a Stripe customer paid for (the index the paid checkout wrote), if any.
    pub async fn lead_id_by_customer(&self, customer: &str) -> Result<Option<LeadId>, StoreError> {
        self.get(format!("CUSTOMER#{customer}"), "CUSTOMER")
            .await?
            .as_ref()
            .map(|item| parse_s(item, "lead_id", LeadId::parse))
            .transpose()
    }

    /// The customer of a recorded charge, if any.
    pub async fn charge_customer(&self, charge: &str) -> Result<Option<String>, StoreError> {
        self.get(charge_pk(charge), "CHARGE")
            .await?
            .as_ref()
            .map(|item| get_s(item, "customer").map(str::to_owned))
            .transpose()
    }

    /// Records a charge's customer (once; the same charge again changes nothing), with the
    /// webhook delivery's record.
    pub async fn record_charge(
        &self,
        charge: &ChargeRecord,
        delivery: &DeliveryKey,
        now: OffsetDateTime,
    ) -> Result<Once<()>, StoreError> {
        let mut write = Write::new();
        self.charge_part(&mut write, charge)?;
        self.delivery_part(&mut write, delivery, now)?;
        let mut attempts = Attempts::new("record_charge");
        loop {
            attempts.next().await?;
            match self.write(&mut attempts, &write).await? {
                Outcome::Written => return Ok(Once::Applied(())),
                Outcome::Duplicate => return Ok(Once::Duplicate),
                Outcome::InProgress => return Ok(Once::InProgress),
                Outcome::Failed(_) => return Err(StoreError::Rejected("record_charge".into())),
                Outcome::Retry(_) => {}
            }
        }
    }

    fn charge_part(&self, write: &mut Write, charge: &ChargeRecord) -> Result<(), StoreError> {
        let put = Put::builder()
            .table_name(self.table_name())
            .item(PK, s(charge_pk(&charge.charge)))
            .item(SK, s("CHARGE"))
            .item("customer", s(charge.customer.as_str()))
            .item("amount", n(charge.amount))
            .item("currency", s(charge.currency.as_str()))
            .item("event_created", n(charge.event_created))
            .build()
            .map_err(|e| StoreError::Rejected(e.to_string()))?;
        write.push(Part::Charge, TransactWriteItem::builder().put(put).build());
        Ok(())
    }

    /// The spot an e-mail's founder item names (whatever its state), with the spot as stored.
    async fn founder_spot(
        &self,
        email: &EmailAddress,
    ) -> Result<Option<(SpotState, crate::domain::FoundingSpot)>, StoreError> {
        let Some(founder) = self.get(keys::founder(email), keys::FOUNDER_SK).await? else {
            return Ok(None);
        };
        let (spot, founder_state) = decode_spot(&founder)?;
        let stored = match self.get(keys::FOUNDING_PK, keys::spot_sk(spot)).await? {
            Some(item) => decode_founding_spot(&item)?,
            None => return Ok(None),
        };
        Ok(Some((founder_state, stored)))
    }

    /// The subscription of the e-mail's founding membership ended: the spot is kept for them
    /// until `until` (a founding checkout with their e-mail gets it again; no one else's does)
    /// and the founder item is freed, so that they can check out again. Only the subscription
    /// the membership was paid with lapses it (an older one's late event does not end a
    /// membership renewed since). With a history entry on `lead`.
    pub async fn lapse_membership(
        &self,
        email: &EmailAddress,
        lead: &LeadId,
        subscription: &str,
        until: OffsetDateTime,
        cause: &Cause,
        now: OffsetDateTime,
    ) -> Result<MembershipOutcome, StoreError> {
        let mut attempts = Attempts::new("lapse_membership");
        loop {
            attempts.next().await?;
            let Some((_, stored)) = self.founder_spot(email).await? else {
                return Ok(MembershipOutcome::Unchanged);
            };
            if !matches!(&stored.state, SpotState::Member(member) if &member.email == email) {
                return Ok(MembershipOutcome::Unchanged);
            }
            let spot = stored.spot;
            let mut write = Write::new();
            // The spot: this e-mail's membership, by this subscription (or one recorded before
            // memberships named theirs).
            let mut expr = UpdateExpr::default();
            expr.set("state", s(STATE_FREE))
                .set(RESERVED_FOR, s(email.as_str()))
                .set(RESERVED_UNTIL, n(until.unix_timestamp()))
                .set(RESERVED_KIND, s(ReservationKind::Lapsed.as_str()))
                .set("lapsed_at", s(time_format::to_sortable(now)));
            let (state, email_name, sub_name) = (
                expr.name("state"),
                expr.name("email"),
                expr.name("subscription"),
            );
            let (member, email_value, sub_value) = (
                expr.value(s(STATE_MEMBER)),
                expr.value(s(email.as_str())),
                expr.value(s(subscription)),
            );
            let condition = format!(
                "{state} = {member} AND {email_name} = {email_value} AND (attribute_not_exists({sub_name}) OR {sub_name} = {sub_value})"
            );
            write.push(
                Part::Spot,
                self.conditional_update(keys::FOUNDING_PK, &keys::spot_sk(spot), expr, condition)?,
            );
            self.founder_freed_part(&mut write, email)?;
            self.membership_entry_part(
                &mut write,
                lead,
                MembershipChange::Lapsed,
                spot,
                Some(until),
                "subscription ended",
                cause,
                now,
            )?;
            match self.write(&mut attempts, &write).await? {
                Outcome::Written => return Ok(MembershipOutcome::Changed { spot }),
                // Changed meanwhile (or by another subscription): look again.
                Outcome::Failed(failed) if failed.has(Part::Spot) => {
                    let (_, again) = match self.founder_spot(email).await? {
                        Some(found) => found,
                        None => return Ok(MembershipOutcome::Unchanged),
                    };
                    if !matches!(&again.state, SpotState::Member(m) if &m.email == email)
                        || again.spot != spot
                    {
                        return Ok(MembershipOutcome::Unchanged);
                    }
                    // Still this e-mail's membership of that spot: by another subscription.
                    let member_by_other = self
                        .get(keys::FOUNDING_PK, keys::spot_sk(spot))
                        .await?
                        .as_ref()
                        .map(|item| opt_s(item, "subscription").map(|s| s.map(str::to_owned)))
                        .transpose()?
                        .flatten()
                        .is_some_and(|kept| kept != subscription);
                    if member_by_other {
                        return Ok(MembershipOutcome::Unchanged);
                    }
                }
                Outcome::Failed(_) | Outcome::Retry(_) => {}
                Outcome::Duplicate | Outcome::InProgress => {
                    return Err(StoreError::Rejected("a lapse has no delivery".into()))
                }
            }
        }
    }

    /// Revokes the e-mail's founding membership at once (a full refund, a lost dispute): the
    /// spot returns to the pool, whether it is a membership or a lapse still kept for them.
    /// With a history entry on `lead` and, with `delivery`, the webhook delivery's record (on
    /// its own when there is nothing to revoke).
    #[allow(clippy::too_many_arguments)]
    pub async fn revoke_membership(
        &self,
        email: &EmailAddress,
        lead: &LeadId,
        reason: &str,
        cause: &Cause,
        delivery: Option<&DeliveryKey>,
        now: OffsetDateTime,
    ) -> Result<Once<MembershipOutcome>, StoreError> {
        let mut attempts = Attempts::new("revoke_membership");
        loop {
            attempts.next().await?;
            let found = self.founder_spot(email).await?;
            let plan = decide_revocation(email, found.as_ref().map(|(_, spot)| spot), now);
            let (spot, lapsed) = match plan {
                RevokePlan::Member { spot } => (spot, false),
                RevokePlan::Lapsed { spot } => (spot, true),
                RevokePlan::Nothing => {
                    return Ok(match delivery {
                        Some(delivery) => self
                            .record_delivery(delivery, now)
                            .await?
                            .map(|()| MembershipOutcome::Unchanged),
                        None => Once::Applied(MembershipOutcome::Unchanged),
                    });
                }
            };
            let mut write = Write::new();
            let (mut expr, condition) = if lapsed {
                // The lapse kept for this e-mail. The spot may be held by their own checkout
                // meanwhile: that hold stays as it is, the reservation ends.
                end_reservation(email, ReservationKind::Lapsed)
            } else {
                let mut expr = reservation_removed();
                expr.set("state", s(STATE_FREE));
                let (state, email_name) = (expr.name("state"), expr.name("email"));
                let (member, email_value) =
                    (expr.value(s(STATE_MEMBER)), expr.value(s(email.as_str())));
                let condition = format!("{state} = {member} AND {email_name} = {email_value}");
                (expr, condition)
            };
            expr.set("revoked_at", s(time_format::to_sortable(now)));
            write.push(
                Part::Spot,
                self.conditional_update(keys::FOUNDING_PK, &keys::spot_sk(spot), expr, condition)?,
            );
            if !lapsed {
                self.founder_freed_part(&mut write, email)?;
            }
            self.membership_entry_part(
                &mut write,
                lead,
                MembershipChange::Revoked,
                spot,
                None,
                reason,
                cause,
                now,
            )?;
            if let Some(delivery) = delivery {
                self.delivery_part(&mut write, delivery, now)?;
            }
            match self.write(&mut attempts, &write).await? {
                Outcome::Written => return Ok(Once::Applied(MembershipOutcome::Changed { spot })),
                Outcome::Duplicate => return Ok(Once::Duplicate),
                Outcome::InProgress => return Ok(Once::InProgress),
                // Changed meanwhile: read and decide again.
                Outcome::Failed(_) | Outcome::Retry(_) => {}
            }
        }
    }

    /// The founder item of a member, freed (on the condition that it is a membership).
    fn founder_freed_part(
        &self,
        write: &mut Write,
        email: &EmailAddress,
    ) -> Result<(), StoreError> {
        let mut expr = UpdateExpr::default();
        expr.set("state", s(STATE_FREE));
        let (state, member) = (expr.name("state"), expr.value(s(STATE_MEMBER)));
        let condition = format!("{state} = {member}");
        write.push(
            Part::Founder,
            self.conditional_update(&keys::founder(email), keys::FOUNDER_SK, expr, condition)?,
        );
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn membership_entry_part(
        &self,
        write: &mut Write,
        lead: &LeadId,
        change: MembershipChange,
        spot: SpotNumber,
        until: Option<OffsetDateTime>,
        reason: &str,
        cause: &Cause,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let at = time_format::to_sortable(now);
        let mut put = Put::builder()
            .table_name(self.table_name())
            .item(PK, s(keys::lead(lead)))
            .item(
                SK,
                s(format!("{MEMBERSHIP_PREFIX}{at}#{}", change.as_str())),
            )
            .item("entity", s("membership_change"))
            .item("change", s(change.as_str()))
            .item("spot", n(spot.get()))
            .item("at", s(at))
            .item("reason", s(reason))
            .item("cause", s(cause.as_str()))
            .condition_expression("attribute_not_exists(pk)");
        if let Some(until) = until {
            put = put.item("until", s(time_format::to_sortable(until)));
        }
        let put = put
            .build()
            .map_err(|e| StoreError::Rejected(e.to_string()))?;
        write.push(Part::History, TransactWriteItem::builder().put(put).build());
        Ok(())
    }
}
