//! Waitlist offers in the table. An offer is a reservation of a free spot for one waitlisted
//! e-mail (`reserved_kind = offer`, until the offer ends) written in one transaction with that
//! person's waitlist entry moving from waiting to offered: the spot's condition (free, not kept
//! for anyone) makes two offers of one spot impossible, the entry's (still waiting) makes two
//! offers to one person impossible. Ending, taking and skipping are conditional updates of the
//! entry, so a sweep that runs twice, or alongside another, changes nothing twice.
//!
//! While anyone waits, a founding checkout by someone without a reservation joins the waitlist
//! instead of taking a free spot: the counter item's `processed_through` (every position up to it
//! is no longer waiting) against its `last_position` says whether anyone waits, read in the same
//! BatchGetItem as the spots.

use aws_sdk_dynamodb::types::TransactWriteItem;
use time::{Duration, OffsetDateTime};

use super::codec::{n, opt_n, s, UpdateExpr};
use super::founding::{
    end_reservation, RESERVED_FOR, RESERVED_KIND, RESERVED_UNTIL, STATE_FREE, STATE_HELD,
};
use super::table::keys;
use super::waitlist::decode_entry;
use super::write::{Part, Write};
use super::{SalesStore, StoreError, WaitlistEntry};
use crate::domain::time_format;
use crate::domain::{EmailAddress, ReservationKind, SpotNumber, WaitlistStatus};

/// A spot whose hold lapsed is offered only this long after the hold's end: a payment made at
/// the last minute whose webhook is late still finds its spot (Stripe retries within the hour).
pub const LAPSED_HOLD_SETTLE: Duration = Duration::hours(1);

/// An offer e-mail claimed by a send that never recorded its end may be sent again after this.
pub const MAIL_CLAIM_STALE: Duration = Duration::minutes(10);

fn entry_key(position: u64) -> (String, String) {
    (
        keys::WAITLIST_PK.to_owned(),
        keys::waitlist_pos_sk(position),
    )
}

impl SalesStore {
    /// One person's waitlist entry, if they joined.
    pub async fn waitlist_entry(
        &self,
        email: &EmailAddress,
    ) -> Result<Option<WaitlistEntry>, StoreError> {
        let Some(position) = self.waitlist_position(email).await? else {
            return Ok(None);
        };
        let (pk, sk) = entry_key(position);
        self.get(pk, sk)
            .await?
            .as_ref()
            .map(decode_entry)
            .transpose()
    }

    /// Reserves `spot` for `entry`'s e-mail until `until` and marks the entry offered, in one
    /// transaction: only if the spot is free (never taken, released, or held by a hold that
    /// lapsed at least [`LAPSED_HOLD_SETTLE`] ago) and kept for no one, and only if the entry is
    /// still waiting (or, `again`, lapsed or skipped: the sales team offering by hand). `false`
    /// when either changed meanwhile.
    pub async fn offer_spot(
        &self,
        entry: &WaitlistEntry,
        spot: SpotNumber,
        until: OffsetDateTime,
        again: bool,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut write = Write::new();
        let mut expr = UpdateExpr::default();
        expr.set("state", s(STATE_FREE))
            .set("spot", n(spot.get()))
            .set(RESERVED_FOR, s(entry.email.as_str()))
            .set(RESERVED_UNTIL, n(until.unix_timestamp()))
            .set(RESERVED_KIND, s(ReservationKind::Offer.as_str()))
            .remove("expires_at");
        let (state, expires, reserved_until) = (
            expr.name("state"),
            expr.name("expires_at"),
            expr.name(RESERVED_UNTIL),
        );
        let (free, held, settled, now_value) = (
            expr.value(s(STATE_FREE)),
            expr.value(s(STATE_HELD)),
            expr.value(n((now - LAPSED_HOLD_SETTLE).unix_timestamp())),
            expr.value(n(now.unix_timestamp())),
        );
        let condition = format!(
            "(attribute_not_exists(pk) OR {state} = {free} OR ({state} = {held} AND {expires} <= {settled})) \
             AND (attribute_not_exists({reserved_until}) OR {reserved_until} <= {now_value})"
        );
        write.push(
            Part::Spot,
            self.conditional_update(keys::FOUNDING_PK, &keys::spot_sk(spot), expr, condition)?,
        );
        let mut expr = UpdateExpr::default();
        expr.set("offer_status", s(WaitlistStatus::Offered.as_str()))
            .set("offer_spot", n(spot.get()))
            .set("offer_until", s(time_format::to_sortable(until)))
            .set("offered_at", s(time_format::to_sortable(now)))
            .remove("offer_sent_at")
            .remove("offer_mail_claimed_at")
            .remove("offer_message_id")
            .remove("skipped_because");
        let status = expr.name("offer_status");
        let mut allowed = vec![expr.value(s(WaitlistStatus::Waiting.as_str()))];
        if again {
            allowed.push(expr.value(s(WaitlistStatus::Lapsed.as_str())));
            allowed.push(expr.value(s(WaitlistStatus::Skipped.as_str())));
        }
        let condition = format!(
            "attribute_exists(pk) AND (attribute_not_exists({status}) OR {status} IN ({}))",
            allowed.join(", ")
        );
        let (pk, sk) = entry_key(entry.position);
        write.push(
            Part::WaitlistEntry,
            self.conditional_update(&pk, &sk, expr, condition)?,
        );
        self.write_once_decided("offer_spot", &write).await
    }

    /// Moves an entry from `from` to `to` (an offer lapsed or taken, a person skipped), on the
    /// condition that it is still `from`; a skipped person's offer gives its spot back in the
    /// same write. `false` when the entry is no longer `from`.
    pub async fn set_waitlist_status(
        &self,
        entry: &WaitlistEntry,
        from: WaitlistStatus,
        to: WaitlistStatus,
        reason: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut write = Write::new();
        write.push(
            Part::WaitlistEntry,
            self.status_change_part(entry, from, to, reason, now)?,
        );
        // A skipped offer: its spot is no longer kept for the person.
        let (WaitlistStatus::Offered, WaitlistStatus::Skipped, Some(spot)) =
            (from, to, entry.offer_spot)
        else {
            return self.write_once_decided("set_waitlist_status", &write).await;
        };
        let (expr, condition) = end_reservation(&entry.email, ReservationKind::Offer);
        write.push(
            Part::Spot,
            self.conditional_update(keys::FOUNDING_PK, &keys::spot_sk(spot), expr, condition)?,
        );
        if self.write_once_decided("skip_offer", &write).await? {
            return Ok(true);
        }
        // The spot is not kept for them any more (taken, or the offer ran out): the entry alone.
        let mut alone = Write::new();
        alone.push(
            Part::WaitlistEntry,
            self.status_change_part(entry, from, to, reason, now)?,
        );
        self.write_once_decided("skip_offer", &alone).await
    }

    /// The update of an entry from `from` (absent counts as waiting) to `to`.
    fn status_change_part(
        &self,
        entry: &WaitlistEntry,
        from: WaitlistStatus,
        to: WaitlistStatus,
        reason: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut expr = UpdateExpr::default();
        expr.set("offer_status", s(to.as_str()))
            .set("status_changed_at", s(time_format::to_sortable(now)))
            .set_opt("skipped_because", reason.map(s));
        let status = expr.name("offer_status");
        let value = expr.value(s(from.as_str()));
        let condition = match from {
            WaitlistStatus::Waiting => format!(
                "attribute_exists(pk) AND (attribute_not_exists({status}) OR {status} = {value})"
            ),
            _ => format!("{status} = {value}"),
        };
        let (pk, sk) = entry_key(entry.position);
        self.conditional_update(&pk, &sk, expr, condition)
    }

    /// The sales team offers a free spot to one waitlisted e-mail now, out of turn (waiting, or
    /// an offer that lapsed, or a person skipped before): the lowest spot free to anyone. The
    /// next sweep e-mails it. `Ok(None)`: no spot is free; an error: not on the waitlist, or
    /// holding an offer, or done with it.
    pub async fn offer_by_hand(
        &self,
        email: &EmailAddress,
        now: OffsetDateTime,
    ) -> Result<Option<(WaitlistEntry, SpotNumber)>, StoreError> {
        for _ in 0..5 {
            let entry = self
                .waitlist_entry(email)
                .await?
                .ok_or_else(|| StoreError::Rejected(format!("{email} is not on the waitlist")))?;
            if matches!(
                entry.status,
                WaitlistStatus::Offered | WaitlistStatus::Taken
            ) {
                return Err(StoreError::Rejected(format!(
                    "{email} is {} already",
                    entry.status
                )));
            }
            let spots = self.founding_spot_items().await?;
            let Some(spot) = crate::handlers::waitlist_offers::offerable_spots(&spots, now)
                .first()
                .copied()
            else {
                return Ok(None);
            };
            let until = now + crate::domain::OFFER_LIFETIME;
            if self.offer_spot(&entry, spot, until, true, now).await? {
                let offered = self.waitlist_entry(email).await?.unwrap_or(entry);
                return Ok(Some((offered, spot)));
            }
        }
        Err(StoreError::Rejected(
            "the waitlist or the spots kept changing; try again".into(),
        ))
    }

    /// The sales team passes a waitlisted person over (they declined, or asked not to be
    /// offered): waiting or offered → skipped, an offer's spot given back. The entry as it is now.
    pub async fn skip_waitlisted(
        &self,
        email: &EmailAddress,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<WaitlistEntry, StoreError> {
        for _ in 0..5 {
            let entry = self
                .waitlist_entry(email)
                .await?
                .ok_or_else(|| StoreError::Rejected(format!("{email} is not on the waitlist")))?;
            if !matches!(
                entry.status,
                WaitlistStatus::Waiting | WaitlistStatus::Offered
            ) {
                return Err(StoreError::Rejected(format!(
                    "{email} is {} already",
                    entry.status
                )));
            }
            if self
                .set_waitlist_status(
                    &entry,
                    entry.status,
                    WaitlistStatus::Skipped,
                    Some(reason),
                    now,
                )
                .await?
            {
                return Ok(self.waitlist_entry(email).await?.unwrap_or(entry));
            }
        }
        Err(StoreError::Rejected(
            "the waitlist entry kept changing; try again".into(),
        ))
    }

    /// Records that every position up to `position` is no longer waiting (only ever forward).
    pub async fn mark_waitlist_processed(&self, position: u64) -> Result<(), StoreError> {
        let mut expr = UpdateExpr::default();
        expr.set("processed_through", n(position));
        let through = expr.name("processed_through");
        let value = expr.value(n(position));
        let condition = format!("attribute_not_exists({through}) OR {through} < {value}");
        let mut write = Write::new();
        write.push(
            Part::WaitlistEntry,
            self.conditional_update(
                keys::WAITLIST_PK,
                keys::WAITLIST_COUNTER_SK,
                expr,
                condition,
            )?,
        );
        self.write_once_decided("mark_waitlist_processed", &write)
            .await
            .map(|_| ())
    }

    /// The waitlist counter's last position (0 before anyone joined).
    pub async fn waitlist_last_position(&self) -> Result<u64, StoreError> {
        Ok(self
            .get(keys::WAITLIST_PK, keys::WAITLIST_COUNTER_SK)
            .await?
            .as_ref()
            .map(|item| opt_n(item, "last_position"))
            .transpose()?
            .flatten()
            .unwrap_or(0))
    }

    /// Claims the sending of an offer's e-mail: only for the offer as it is now (its spot and
    /// end), not sent yet, and not claimed by another send (or claimed so long ago that that
    /// send died). `false`: someone else sends it, or it went out.
    pub async fn claim_offer_mail(
        &self,
        entry: &WaitlistEntry,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let (Some(spot), Some(until)) = (entry.offer_spot, entry.offer_until) else {
            return Ok(false);
        };
        let mut expr = UpdateExpr::default();
        expr.set("offer_mail_claimed_at", n(now.unix_timestamp()));
        let (status, spot_name, until_name, sent, claimed) = (
            expr.name("offer_status"),
            expr.name("offer_spot"),
            expr.name("offer_until"),
            expr.name("offer_sent_at"),
            expr.name("offer_mail_claimed_at"),
        );
        let (offered, spot_value, until_value, stale) = (
            expr.value(s(WaitlistStatus::Offered.as_str())),
            expr.value(n(spot.get())),
            expr.value(s(time_format::to_sortable(until))),
            expr.value(n((now - MAIL_CLAIM_STALE).unix_timestamp())),
        );
        let condition = format!(
            "{status} = {offered} AND {spot_name} = {spot_value} AND {until_name} = {until_value} \
             AND attribute_not_exists({sent}) AND (attribute_not_exists({claimed}) OR {claimed} < {stale})"
        );
        let (pk, sk) = entry_key(entry.position);
        let mut write = Write::new();
        write.push(
            Part::WaitlistEntry,
            self.conditional_update(&pk, &sk, expr, condition)?,
        );
        self.write_once_decided("claim_offer_mail", &write).await
    }

    /// Records that the offer's e-mail went out (SES's message id).
    pub async fn offer_mail_sent(
        &self,
        entry: &WaitlistEntry,
        message_id: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut expr = UpdateExpr::default();
        expr.set("offer_sent_at", s(time_format::to_sortable(now)))
            .set("offer_message_id", s(message_id));
        let exists = "attribute_exists(pk)".to_owned();
        let (pk, sk) = entry_key(entry.position);
        let mut write = Write::new();
        write.push(
            Part::WaitlistEntry,
            self.conditional_update(&pk, &sk, expr, exists)?,
        );
        self.write_once_decided("offer_mail_sent", &write)
            .await
            .map(|_| ())
    }
}
