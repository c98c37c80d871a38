//! The `waitlist-offers` function, run by an EventBridge schedule every 5 minutes (and by hand
//! from `salesctl offers --run`): moves the waitlist along with no one running a command.
//!
//! One sweep: offers that ended are marked `taken` (their person is the spot's member now) or
//! `lapsed` (it ran out unused); every spot that is free to anyone (never taken, released,
//! revoked, a lapse or an offer that ran out, a hold that lapsed over an hour ago) is offered to
//! the first person still waiting, in position order, skipping founding members and
//! standard-plan customers; then each new offer's e-mail is sent, once. Every change is a
//! conditional write ([`crate::store`]'s offers), so two sweeps at once, or a sweep retried,
//! never offer one spot twice or one person two spots, and never mail twice (short of SES
//! accepting a message whose answer was lost).

use serde::Serialize;
use time::OffsetDateTime;

use crate::domain::{
    EmailAddress, FoundingSpot, OfferToken, PipelineStage, SpotNumber, SpotState, WaitlistStatus,
    OFFER_LIFETIME,
};
use crate::lambda::clock::Clock;
use crate::lambda::telemetry::emit_count_metric;
use crate::providers::ses::OfferMailer;
use crate::store::{StoreError, WaitlistEntry, LAPSED_HOLD_SETTLE};
use crate::SalesStore;

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// New offers: e-mail and spot.
    pub offered: Vec<(String, u8)>,
    pub taken: u32,
    pub lapsed: u32,
    pub skipped: u32,
    pub mails_sent: u32,
    pub mail_failures: u32,
}

#[derive(Debug)]
pub struct WaitlistOffers {
    store: SalesStore,
    mailer: Option<OfferMailer>,
    clock: Clock,
}

/// The spots a sweep may offer at `now`, lowest first: free to anyone, and not a hold that
/// lapsed less than [`LAPSED_HOLD_SETTLE`] ago (its late payment's webhook may still come).
pub fn offerable_spots(stored: &[FoundingSpot], now: OffsetDateTime) -> Vec<SpotNumber> {
    SpotNumber::all()
        .filter(
            |number| match stored.iter().find(|spot| spot.spot == *number) {
                None => true,
                Some(spot) => {
                    spot.state.is_free_at(now - LAPSED_HOLD_SETTLE)
                        && !spot
                            .reservation
                            .as_ref()
                            .is_some_and(|reservation| reservation.is_live_at(now))
                }
            },
        )
        .collect()
}

fn member_spot(stored: &[FoundingSpot], email: &EmailAddress) -> Option<SpotNumber> {
    stored.iter().find_map(|spot| match &spot.state {
        SpotState::Member(member) if &member.email == email => Some(spot.spot),
        _ => None,
    })
}

fn held_live_by(
    stored: &[FoundingSpot],
    spot: SpotNumber,
    email: &EmailAddress,
    now: OffsetDateTime,
) -> bool {
    stored.iter().any(|s| {
        s.spot == spot
            && matches!(&s.state, SpotState::Held { email: holder, expires_at, .. } if holder == email && *expires_at > now)
    })
}

impl WaitlistOffers {
    pub fn new(store: SalesStore, mailer: Option<OfferMailer>, clock: Clock) -> Self {
        WaitlistOffers {
            store,
            mailer,
            clock,
        }
    }

    /// One sweep (see the module's comment).
    pub async fn run(&self) -> Result<SweepReport, StoreError> {
        let now = self.clock.now();
        let mut report = SweepReport::default();
        // Each round changes at least one item or ends the sweep; 20 spots and their people
        // bound the rounds. The waitlist as the round that ended the sweep read it (nothing was
        // written after) serves the bookkeeping and the e-mails below.
        let mut settled = None;
        for _ in 0..64 {
            let spots = self.store.founding_spot_items().await?;
            let entries = self.store.waitlist().await?;
            if self.end_offers(&spots, &entries, now, &mut report).await? {
                continue;
            }
            let Some(waiting) = entries
                .iter()
                .filter(|entry| entry.status == WaitlistStatus::Waiting)
                .min_by_key(|entry| entry.position)
            else {
                settled = Some(entries);
                break;
            };
            let Some(spot) = offerable_spots(&spots, now).first().copied() else {
                settled = Some(entries);
                break;
            };
            if let Some(reason) = self.skip_reason(&spots, &waiting.email).await? {
                if self
                    .store
                    .set_waitlist_status(
                        waiting,
                        WaitlistStatus::Waiting,
                        WaitlistStatus::Skipped,
                        Some(reason),
                        now,
                    )
                    .await?
                {
                    report.skipped += 1;
                    tracing::info!(email = %waiting.email.masked(), reason, "waitlist: skipped");
                }
                continue;
            }
            let until = now + OFFER_LIFETIME;
            if self
                .store
                .offer_spot(waiting, spot, until, false, now)
                .await?
            {
                tracing::info!(email = %waiting.email.masked(), spot = spot.get(), "waitlist: spot offered");
                emit_count_metric("OfferMade", &[("spot", &spot.to_string())]);
                report
                    .offered
                    .push((waiting.email.as_str().to_owned(), spot.get()));
            }
        }
        let entries = match settled {
            Some(entries) => entries,
            None => self.store.waitlist().await?,
        };
        self.mark_processed(&entries).await?;
        self.send_mails(&entries, now, &mut report).await?;
        Ok(report)
    }

    /// Offers that ended: taken (the person is the spot's member) or lapsed (ran out unused,
    /// and no hold of theirs keeps the spot). Whether anything changed.
    async fn end_offers(
        &self,
        spots: &[FoundingSpot],
        entries: &[WaitlistEntry],
        now: OffsetDateTime,
        report: &mut SweepReport,
    ) -> Result<bool, StoreError> {
        let mut changed = false;
        for entry in entries
            .iter()
            .filter(|entry| entry.status == WaitlistStatus::Offered)
        {
            let Some(spot) = entry.offer_spot else {
                continue;
            };
            let member = member_spot(spots, &entry.email).is_some();
            let ended = entry.offer_until.is_none_or(|until| until <= now);
            let (to, metric) = if member {
                (WaitlistStatus::Taken, "OfferTaken")
            } else if ended && !held_live_by(spots, spot, &entry.email, now) {
                (WaitlistStatus::Lapsed, "OfferLapsed")
            } else {
                continue;
            };
            if self
                .store
                .set_waitlist_status(entry, WaitlistStatus::Offered, to, None, now)
                .await?
            {
                changed = true;
                match to {
                    WaitlistStatus::Taken => report.taken += 1,
                    _ => report.lapsed += 1,
                }
                tracing::info!(email = %entry.email.masked(), spot = spot.get(), status = %to, "waitlist: offer ended");
                emit_count_metric(metric, &[("spot", &spot.to_string())]);
            }
        }
        Ok(changed)
    }

    /// Why a waiting person is passed over: a founding member already, or a standard-plan
    /// customer (they chose the other plan).
    async fn skip_reason(
        &self,
        spots: &[FoundingSpot],
        email: &EmailAddress,
    ) -> Result<Option<&'static str>, StoreError> {
        if member_spot(spots, email).is_some() {
            return Ok(Some("a founding member already"));
        }
        let lead = self.store.lead_by_email(email).await?;
        Ok(lead
            .filter(|lead| {
                lead.billing.plan_type.as_deref() == Some("standard")
                    && lead.pipeline.stage == PipelineStage::ClosedWon
            })
            .map(|_| "paid for the standard plan"))
    }

    /// Every position before the first one still waiting is done with: founding checkouts stop
    /// deferring to the waitlist once no one waits.
    async fn mark_processed(&self, entries: &[WaitlistEntry]) -> Result<(), StoreError> {
        let through = match entries
            .iter()
            .filter(|entry| entry.status == WaitlistStatus::Waiting)
            .map(|entry| entry.position)
            .min()
        {
            Some(first) => first.saturating_sub(1),
            None => self.store.waitlist_last_position().await?,
        };
        if through > 0 {
            self.store.mark_waitlist_processed(through).await?;
        }
        Ok(())
    }

    /// The e-mail of every live offer not sent yet, once each.
    async fn send_mails(
        &self,
        entries: &[WaitlistEntry],
        now: OffsetDateTime,
        report: &mut SweepReport,
    ) -> Result<(), StoreError> {
        let unsent: Vec<&WaitlistEntry> = entries
            .iter()
            .filter(|entry| {
                entry.status == WaitlistStatus::Offered
                    && entry.offer_sent_at.is_none()
                    && entry.offer_until.is_some_and(|until| until > now)
            })
            .collect();
        if unsent.is_empty() {
            return Ok(());
        }
        let Some(mailer) = &self.mailer else {
            tracing::warn!(
                unsent = unsent.len(),
                "offers made but the offer e-mail is not configured (OFFER_SENDER, OFFER_TEMPLATE, OFFER_LINK_BASE, OFFER_SIGNING_KEY)"
            );
            return Ok(());
        };
        for entry in unsent {
            let (Some(spot), Some(until)) = (entry.offer_spot, entry.offer_until) else {
                continue;
            };
            if !self.store.claim_offer_mail(entry, now).await? {
                continue;
            }
            let offer = OfferToken {
                email: entry.email.clone(),
                spot,
                until,
            };
            match mailer.send(&offer).await {
                Ok(message_id) => {
                    self.store.offer_mail_sent(entry, &message_id, now).await?;
                    report.mails_sent += 1;
                    tracing::info!(email = %entry.email.masked(), spot = spot.get(), message_id, "waitlist: offer e-mailed");
                    emit_count_metric("OfferSent", &[("spot", &spot.to_string())]);
                }
                Err(err) => {
                    // The claim stays: a sweep after MAIL_CLAIM_STALE tries again.
                    report.mail_failures += 1;
                    tracing::error!(email = %entry.email.masked(), spot = spot.get(), error = %err, "waitlist: offer e-mail not sent");
                    emit_count_metric("OfferMailFailed", &[("spot", &spot.to_string())]);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{HoldRef, LeadId, Reservation, ReservationKind};
    use time::macros::datetime;
    use time::Duration;

    const NOW: OffsetDateTime = datetime!(2026-12-02 10:00 UTC);

    fn spot(n: i64, state: SpotState, reservation: Option<Reservation>) -> FoundingSpot {
        FoundingSpot {
            spot: SpotNumber::new(n).unwrap(),
            state,
            reservation,
        }
    }

    fn held(until: OffsetDateTime) -> SpotState {
        SpotState::Held {
            email: EmailAddress::parse("h@example.com").unwrap(),
            lead_id: LeadId::generate(),
            hold_ref: HoldRef::generate(),
            expires_at: until,
        }
    }

    #[test]
    fn only_spots_free_to_anyone_and_settled_are_offered() {
        let kept = Reservation {
            email: EmailAddress::parse("k@example.com").unwrap(),
            until: NOW + Duration::hours(1),
            kind: ReservationKind::Offer,
        };
        let ran_out = Reservation {
            until: NOW,
            ..kept.clone()
        };
        let mut stored = vec![
            spot(1, held(NOW + Duration::minutes(5)), None),
            spot(2, held(NOW - Duration::minutes(30)), None),
            spot(3, held(NOW - Duration::hours(2)), None),
            spot(4, SpotState::Free, Some(kept)),
            spot(5, SpotState::Free, Some(ran_out)),
            spot(6, SpotState::Free, None),
        ];
        for n in 7..=20 {
            stored.push(spot(n, held(NOW + Duration::minutes(5)), None));
        }
        let offerable: Vec<u8> = offerable_spots(&stored, NOW)
            .into_iter()
            .map(SpotNumber::get)
            .collect();
        assert_eq!(offerable, [3, 5, 6]);
        // Spots never stored are free.
        assert_eq!(offerable_spots(&[], NOW).len(), 20);
    }
}
