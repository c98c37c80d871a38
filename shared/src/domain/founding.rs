//! Founding members: 20 numbered spots, held during checkout and locked in by payment.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use super::email::EmailAddress;
use super::lead::LeadId;

/// How many founding spots there are. Never more members than this, whatever the concurrency.
pub const FOUNDING_SPOTS: u8 = 20;

/// The lifetime discount founding members keep.
pub const FOUNDING_DISCOUNT_PERCENT: u8 = 40;

/// How long a founding Checkout Session lives. Stripe's minimum `expires_at` is 30 minutes after
/// the session is created; the extra minute covers the time between taking the hold and Stripe
/// creating the session.
pub const CHECKOUT_LIFETIME: Duration = Duration::minutes(31);

/// How long a hold outlives its checkout: a payment completed in the session's last second still
/// finds its spot held when the webhook arrives a little later.
pub const HOLD_GRACE: Duration = Duration::minutes(5);

/// How long a founding hold is kept for a completed checkout whose payment is still on its way
/// (a delayed method such as BECS Direct Debit settles in up to a few business days).
pub const ASYNC_PAYMENT_HOLD: Duration = Duration::days(7);

/// How long a founding member whose subscription ended keeps their spot: a founding checkout
/// with their e-mail within this time gets the same spot at the founding price; after it, the
/// spot returns to the pool.
pub const LAPSED_MEMBERSHIP_KEPT: Duration = Duration::days(30);

/// The times of a founding checkout: when Stripe closes the session, and when the spot is freed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldWindow {
    pub checkout_expires_at: OffsetDateTime,
    pub hold_expires_at: OffsetDateTime,
}

impl HoldWindow {
    pub fn starting_at(now: OffsetDateTime) -> Self {
        let checkout_expires_at = now + CHECKOUT_LIFETIME;
        HoldWindow {
            checkout_expires_at,
            hold_expires_at: checkout_expires_at + HOLD_GRACE,
        }
    }
}

/// A founding spot number, 1 to 20.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u8")]
pub struct SpotNumber(u8);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("founding spot numbers run from 1 to {FOUNDING_SPOTS}")]
pub struct SpotNumberError;

impl SpotNumber {
    pub fn new(number: i64) -> Result<Self, SpotNumberError> {
        u8::try_from(number)
            .ok()
            .filter(|n| (1..=FOUNDING_SPOTS).contains(n))
            .map(SpotNumber)
            .ok_or(SpotNumberError)
    }

    pub fn parse(raw: &str) -> Result<Self, SpotNumberError> {
        raw.trim()
            .parse::<i64>()
            .map_err(|_| SpotNumberError)
            .and_then(SpotNumber::new)
    }

    pub fn get(self) -> u8 {
        self.0
    }

    /// Every spot, 1 to 20.
    pub fn all() -> impl Iterator<Item = SpotNumber> {
        (1..=FOUNDING_SPOTS).map(SpotNumber)
    }
}

impl TryFrom<i64> for SpotNumber {
    type Error = SpotNumberError;
    fn try_from(value: i64) -> Result<Self, Self::Error> {
        SpotNumber::new(value)
    }
}

impl From<SpotNumber> for u8 {
    fn from(value: SpotNumber) -> Self {
        value.0
    }
}

impl fmt::Display for SpotNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The benefits a founding member keeps for life, locked at the moment they pay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoundingBenefits {
    pub lifetime_discount_percent: u8,
    pub priority_support: bool,
    pub early_feature_access: bool,
    pub founding_badge: bool,
    pub locked_price: bool,
}

impl FoundingBenefits {
    /// What a founding member gets today.
    pub const CURRENT: FoundingBenefits = FoundingBenefits {
        lifetime_discount_percent: FOUNDING_DISCOUNT_PERCENT,
        priority_support: true,
        early_feature_access: true,
        founding_badge: true,
        locked_price: true,
    };
}

/// Identifies the checkout that holds a spot. It travels in the Checkout Session's metadata, so
/// the webhook for that session (completed or expired) names the hold it may confirm or release,
/// and no other.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HoldRef(String);

impl HoldRef {
    pub fn generate() -> Self {
        HoldRef(format!("hold_{}", uuid::Uuid::new_v4().simple()))
    }
    pub fn from_stored(raw: impl Into<String>) -> Self {
        HoldRef(raw.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HoldRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A spot as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpotState {
    /// Never taken, or released.
    Free,
    /// Held for a checkout until `expires_at`; past that it counts as free.
    Held {
        email: EmailAddress,
        lead_id: LeadId,
        hold_ref: HoldRef,
        expires_at: OffsetDateTime,
    },
    /// Paid: a founding member for good.
    Member(FoundingMember),
}

/// A confirmed founding member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FoundingMember {
    pub spot: SpotNumber,
    pub email: EmailAddress,
    pub lead_id: LeadId,
    pub company_name: Option<String>,
    pub benefits: FoundingBenefits,
    #[serde(with = "time::serde::rfc3339")]
    pub confirmed_at: OffsetDateTime,
}

impl SpotState {
    /// Whether a new hold may take this spot at `now`.
    pub fn is_free_at(&self, now: OffsetDateTime) -> bool {
        match self {
            SpotState::Free => true,
            SpotState::Held { expires_at, .. } => *expires_at <= now,
            SpotState::Member(_) => false,
        }
    }
}

/// Why a spot is kept for one e-mail while it is not held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReservationKind {
    /// The e-mail's founding membership lapsed (its subscription ended): the same spot is theirs
    /// again if they check out before `until`.
    Lapsed,
    /// Offered to the first person on the waitlist: theirs if they check out before `until`.
    Offer,
}

impl ReservationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReservationKind::Lapsed => "lapsed",
            ReservationKind::Offer => "offer",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "lapsed" => Some(ReservationKind::Lapsed),
            "offer" => Some(ReservationKind::Offer),
            _ => None,
        }
    }
}

/// A spot kept for one e-mail until `until`: no one else's checkout sees it as free before then
/// (a hold by that e-mail keeps the reservation; a payment ends it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reservation {
    pub email: EmailAddress,
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
    pub kind: ReservationKind,
}

impl Reservation {
    pub fn is_live_at(&self, now: OffsetDateTime) -> bool {
        self.until > now
    }

    /// Whether this reservation keeps `email` from taking the spot at `now`.
    pub fn excludes(&self, email: &EmailAddress, now: OffsetDateTime) -> bool {
        self.is_live_at(now) && &self.email != email
    }
}

/// A spot as stored: its state and any reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundingSpot {
    pub spot: SpotNumber,
    pub state: SpotState,
    pub reservation: Option<Reservation>,
}

impl FoundingSpot {
    /// Whether a hold by `email` may take this spot at `now`.
    pub fn is_free_for(&self, email: &EmailAddress, now: OffsetDateTime) -> bool {
        self.state.is_free_at(now)
            && !self
                .reservation
                .as_ref()
                .is_some_and(|reservation| reservation.excludes(email, now))
    }

    /// The live reservation at `now`, on a spot that is not a membership or a live hold.
    pub fn reserved_at(&self, now: OffsetDateTime) -> Option<&Reservation> {
        self.reservation
            .as_ref()
            .filter(|reservation| reservation.is_live_at(now) && self.state.is_free_at(now))
    }

    /// What the sales team sees of the spot at `now`.
    pub fn status_at(&self, now: OffsetDateTime) -> SpotStatus {
        let (state, email, lead_id, until) = match &self.state {
            SpotState::Member(member) => (
                SpotStatusKind::Member,
                Some(member.email.clone()),
                Some(member.lead_id.clone()),
                None,
            ),
            SpotState::Held {
                email,
                lead_id,
                expires_at,
                ..
            } if *expires_at > now => (
                SpotStatusKind::Held,
                Some(email.clone()),
                Some(lead_id.clone()),
                Some(*expires_at),
            ),
            _ => match self.reserved_at(now) {
                Some(reservation) => (
                    match reservation.kind {
                        ReservationKind::Lapsed => SpotStatusKind::Lapsed,
                        ReservationKind::Offer => SpotStatusKind::Offered,
                    },
                    Some(reservation.email.clone()),
                    None,
                    Some(reservation.until),
                ),
                None => (SpotStatusKind::Free, None, None, None),
            },
        };
        SpotStatus {
            spot: self.spot,
            state,
            email,
            lead_id,
            until,
        }
    }
}

/// A spot's state as `GET /founding/spots` and `salesctl spots` show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpotStatusKind {
    Member,
    /// A former member's spot, kept for them until `until`.
    Lapsed,
    /// Offered to a waitlisted e-mail until `until`.
    Offered,
    Held,
    Free,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpotStatus {
    pub spot: SpotNumber,
    pub state: SpotStatusKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailAddress>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lead_id: Option<LeadId>,
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub until: Option<OffsetDateTime>,
}

/// All 20 spots' statuses at `now`, in spot order (spots never stored are free).
pub fn spot_statuses(stored: &[FoundingSpot], now: OffsetDateTime) -> Vec<SpotStatus> {
    SpotNumber::all()
        .map(
            |number| match stored.iter().find(|spot| spot.spot == number) {
                Some(spot) => spot.status_at(now),
                None => SpotStatus {
                    spot: number,
                    state: SpotStatusKind::Free,
                    email: None,
                    lead_id: None,
                    until: None,
                },
            },
        )
        .collect()
}

/// How a founding membership changed after it was confirmed (each change is a history entry on
/// the member's lead and a metric).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MembershipChange {
    /// The subscription ended: the spot is kept for the member until the lapse ends.
    Lapsed,
    /// A full refund or a lost dispute: the spot returned to the pool at once.
    Revoked,
}

impl MembershipChange {
    pub fn as_str(self) -> &'static str {
        match self {
            MembershipChange::Lapsed => "lapsed",
            MembershipChange::Revoked => "revoked",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "lapsed" => Some(MembershipChange::Lapsed),
            "revoked" => Some(MembershipChange::Revoked),
            _ => None,
        }
    }
}

/// What revoking an e-mail's founding membership does, decided from the spot it is (or was) the
/// member of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevokePlan {
    /// The e-mail is the member of `spot`: the spot and the founder item go back to the pool.
    Member { spot: SpotNumber },
    /// The membership lapsed and the spot is still kept for the e-mail: the reservation ends.
    Lapsed { spot: SpotNumber },
    /// Nothing to revoke (never a member, revoked before, or the lapse ran out).
    Nothing,
}

/// Decides a revocation from the founder item's spot (as stored) and the e-mail.
pub fn decide_revocation(
    email: &EmailAddress,
    spot: Option<&FoundingSpot>,
    now: OffsetDateTime,
) -> RevokePlan {
    let Some(spot) = spot else {
        return RevokePlan::Nothing;
    };
    match &spot.state {
        SpotState::Member(member) if &member.email == email => {
            RevokePlan::Member { spot: spot.spot }
        }
        _ => match &spot.reservation {
            Some(Reservation {
                email: kept_for,
                until,
                kind: ReservationKind::Lapsed,
            }) if kept_for == email && *until > now => RevokePlan::Lapsed { spot: spot.spot },
            _ => RevokePlan::Nothing,
        },
    }
}

/// The founding-spot figures the landing page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FoundingTally {
    pub total: u8,
    pub members: u8,
    pub held: u8,
    /// Spots kept for one person (a lapsed membership, a waitlist offer), not free to anyone else.
    pub reserved: u8,
    pub remaining: u8,
}

impl FoundingTally {
    /// `remaining = 20 − members − live holds − live reservations`; spots never stored count
    /// as free.
    pub fn count<'a>(
        spots: impl IntoIterator<Item = &'a FoundingSpot>,
        now: OffsetDateTime,
    ) -> Self {
        let (mut members, mut held, mut reserved) = (0u8, 0u8, 0u8);
        for spot in spots {
            match &spot.state {
                SpotState::Member(_) => members += 1,
                SpotState::Held { .. } if !spot.state.is_free_at(now) => held += 1,
                _ if spot.reserved_at(now).is_some() => reserved += 1,
                _ => {}
            }
        }
        let members = members.min(FOUNDING_SPOTS);
        let held = held.min(FOUNDING_SPOTS - members);
        let reserved = reserved.min(FOUNDING_SPOTS - members - held);
        FoundingTally {
            total: FOUNDING_SPOTS,
            members,
            held,
            reserved,
            remaining: FOUNDING_SPOTS - members - held - reserved,
        }
    }
}

/// Which free spot a hold tries. The first attempt takes the lowest free number, so in ordinary
/// traffic spots fill in order; after losing a race it spreads over the free spots (by `salt`) so
/// that many concurrent holds stop colliding on the same number.
pub fn choose_spot(free: &[SpotNumber], attempt: u32, salt: u64) -> Option<SpotNumber> {
    let lowest = free.iter().min().copied()?;
    if attempt == 0 {
        return Some(lowest);
    }
    let mut sorted = free.to_vec();
    sorted.sort_unstable();
    let index = (salt
        .wrapping_add(u64::from(attempt))
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        >> 32)
        % sorted.len() as u64;
    sorted.get(index as usize).copied()
}

/// A spot item or a founder item as stored: the spot it is about, its state, and the hold that
/// holds (or held) it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredHold {
    pub spot: SpotNumber,
    pub state: SpotState,
    pub hold_ref: Option<HoldRef>,
}

/// What the founder item must be for a confirmation to take it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FounderIs {
    /// Held by this hold (the paid one, or another hold of the same e-mail).
    HeldBy(HoldRef),
    /// Absent, or released.
    Free,
}

/// What a paid founding checkout does to the spots, decided from the paid spot's item and the
/// founder item of the e-mail holding it. Every payment ends in one of these: never a loop,
/// never a 21st member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfirmPlan {
    /// Make the hold a membership: the spot (still held by the paid hold, even if its time
    /// passed) and the founder item (as it is now), and give back `release`, a spot the same
    /// e-mail holds under another hold (it checked out again after its first hold lapsed).
    Confirm {
        email: EmailAddress,
        lead_id: LeadId,
        /// The hold the spot item carries now (the paid one).
        spot_hold: HoldRef,
        founder: FounderIs,
        release: Option<(SpotNumber, HoldRef)>,
    },
    /// This hold was confirmed before (a redelivered payment).
    AlreadyConfirmed(FoundingMember),
    /// The e-mail is a founding member already, through another hold: no second spot; the deal
    /// is won and a person follows up (a second payment).
    AlreadyMember(FoundingMember),
    /// The spot is no longer held by the paid hold (released, or taken by someone else after
    /// the hold lapsed): no spot; the deal is won and a person follows up.
    HoldLost,
}

/// Decides what a payment for `paid_spot` under `paid_hold` does, from the spot's item and the
/// founder item of the e-mail that holds it (or, when the spot is gone, of the payer).
pub fn decide_confirmation(
    paid_spot: SpotNumber,
    paid_hold: &HoldRef,
    spot: Option<&StoredHold>,
    founder: Option<&StoredHold>,
) -> ConfirmPlan {
    let founder_member = founder.and_then(|f| match &f.state {
        SpotState::Member(member) => Some(member.clone()),
        _ => None,
    });
    let spot_state = spot.map(|s| (&s.state, s.hold_ref.as_ref()));
    if let Some((SpotState::Member(member), Some(held))) = spot_state {
        if held == paid_hold {
            return ConfirmPlan::AlreadyConfirmed(member.clone());
        }
    }
    if let Some(member) = founder_member {
        return ConfirmPlan::AlreadyMember(member);
    }
    let founder_hold = founder.and_then(|f| match &f.state {
        SpotState::Held { hold_ref, .. } => Some((f.spot, hold_ref)),
        _ => None,
    });
    match spot_state {
        Some((
            SpotState::Held {
                email,
                lead_id,
                hold_ref,
                ..
            },
            _,
        )) if hold_ref == paid_hold => {
            let (founder, release) = match founder_hold {
                Some((spot, other)) => {
                    let release = (spot != paid_spot).then(|| (spot, other.clone()));
                    (FounderIs::HeldBy(other.clone()), release)
                }
                None => (FounderIs::Free, None),
            };
            ConfirmPlan::Confirm {
                email: email.clone(),
                lead_id: lead_id.clone(),
                spot_hold: hold_ref.clone(),
                founder,
                release,
            }
        }
        _ => ConfirmPlan::HoldLost,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-25 10:00 UTC);

    fn held(until: OffsetDateTime) -> SpotState {
        SpotState::Held {
            email: EmailAddress::parse("a@example.com").unwrap(),
            lead_id: LeadId::generate(),
            hold_ref: HoldRef::generate(),
            expires_at: until,
        }
    }

    fn member(n: i64) -> SpotState {
        SpotState::Member(FoundingMember {
            spot: SpotNumber::new(n).unwrap(),
            email: EmailAddress::parse("m@example.com").unwrap(),
            lead_id: LeadId::generate(),
            company_name: None,
            benefits: FoundingBenefits::CURRENT,
            confirmed_at: NOW,
        })
    }

    #[test]
    fn spot_numbers_run_from_1_to_20() {
        assert!(SpotNumber::new(0).is_err());
        assert!(SpotNumber::new(21).is_err());
        assert_eq!(SpotNumber::new(20).unwrap().get(), 20);
        assert_eq!(SpotNumber::parse(" 7 ").unwrap().get(), 7);
        assert_eq!(SpotNumber::all().count(), 20);
        assert_eq!(
            SpotNumber::all().map(SpotNumber::get).collect::<Vec<_>>(),
            (1..=20).collect::<Vec<_>>()
        );
    }

    #[test]
    fn benefits_serialise_exactly_as_the_spec_says() {
        assert_eq!(
            serde_json::to_string(&FoundingBenefits::CURRENT).unwrap(),
            r#"{"lifetime_discount_percent":40,"priority_support":true,"early_feature_access":true,"founding_badge":true,"locked_price":true}"#
        );
    }

    #[test]
    fn a_hold_is_free_once_its_time_has_passed() {
        let hold = held(NOW + Duration::minutes(1));
        assert!(!hold.is_free_at(NOW));
        assert!(hold.is_free_at(NOW + Duration::minutes(1)));
        assert!(SpotState::Free.is_free_at(NOW));
        assert!(!member(1).is_free_at(NOW + Duration::days(10_000)));
    }

    #[test]
    fn tally_counts_members_and_live_holds_only() {
        let spots: Vec<FoundingSpot> = [
            member(1),
            member(2),
            held(NOW + Duration::minutes(5)),
            held(NOW - Duration::seconds(1)),
            SpotState::Free,
        ]
        .into_iter()
        .zip(1..)
        .map(|(state, n)| FoundingSpot {
            spot: SpotNumber::new(n).unwrap(),
            state,
            reservation: None,
        })
        .collect();
        let tally = FoundingTally::count(&spots, NOW);
        assert_eq!(
            tally,
            FoundingTally {
                total: 20,
                members: 2,
                held: 1,
                reserved: 0,
                remaining: 17
            }
        );
        assert_eq!(FoundingTally::count(&[], NOW).remaining, 20);
    }

    #[test]
    fn a_lapsed_membership_keeps_its_spot_for_its_member_only_until_the_lapse_ends() {
        let former = EmailAddress::parse("m@example.com").unwrap();
        let other = EmailAddress::parse("o@example.com").unwrap();
        let until = NOW + LAPSED_MEMBERSHIP_KEPT;
        let spot = FoundingSpot {
            spot: SpotNumber::new(4).unwrap(),
            state: SpotState::Free,
            reservation: Some(Reservation {
                email: former.clone(),
                until,
                kind: ReservationKind::Lapsed,
            }),
        };
        assert!(spot.is_free_for(&former, NOW));
        assert!(!spot.is_free_for(&other, NOW));
        assert!(spot.is_free_for(&other, until), "free to all once it ends");
        let status = spot.status_at(NOW);
        assert_eq!(
            (status.state, status.email.as_ref(), status.until),
            (SpotStatusKind::Lapsed, Some(&former), Some(until))
        );
        assert_eq!(spot.status_at(until).state, SpotStatusKind::Free);
        let tally = FoundingTally::count([&spot], NOW);
        assert_eq!((tally.reserved, tally.remaining), (1, 19));
        assert_eq!(FoundingTally::count([&spot], until).remaining, 20);

        // The former member's own hold on it: held (counted once), and past the hold's time the
        // spot is still theirs until the lapse ends.
        let rejoining = FoundingSpot {
            state: SpotState::Held {
                email: former.clone(),
                lead_id: LeadId::generate(),
                hold_ref: HoldRef::generate(),
                expires_at: NOW + Duration::minutes(30),
            },
            ..spot.clone()
        };
        let tally = FoundingTally::count([&rejoining], NOW);
        assert_eq!((tally.held, tally.reserved, tally.remaining), (1, 0, 19));
        let after_hold = NOW + Duration::hours(1);
        assert_eq!(
            rejoining.status_at(after_hold).state,
            SpotStatusKind::Lapsed
        );
        assert!(!rejoining.is_free_for(&other, after_hold));
        assert!(rejoining.is_free_for(&former, after_hold));

        let statuses = spot_statuses(std::slice::from_ref(&spot), NOW);
        assert_eq!(statuses.len(), 20);
        assert_eq!(statuses[3].state, SpotStatusKind::Lapsed);
        assert!(statuses
            .iter()
            .enumerate()
            .all(|(i, s)| i == 3 || s.state == SpotStatusKind::Free));
        assert_eq!(
            serde_json::to_value(&statuses[3]).unwrap(),
            serde_json::json!({"spot": 4, "state": "lapsed", "email": "m@example.com", "until": "2026-12-25T10:00:00Z"})
        );
    }

    #[test]
    fn revocation_frees_a_membership_or_ends_a_lapse_and_nothing_else() {
        let email = EmailAddress::parse("m@example.com").unwrap();
        let stored = |state: SpotState, reservation: Option<Reservation>| FoundingSpot {
            spot: SpotNumber::new(4).unwrap(),
            state,
            reservation,
        };
        let four = SpotNumber::new(4).unwrap();
        assert_eq!(
            decide_revocation(&email, Some(&stored(member(4), None)), NOW),
            RevokePlan::Member { spot: four }
        );
        let lapse = |until| Reservation {
            email: email.clone(),
            until,
            kind: ReservationKind::Lapsed,
        };
        assert_eq!(
            decide_revocation(
                &email,
                Some(&stored(
                    SpotState::Free,
                    Some(lapse(NOW + Duration::days(1)))
                )),
                NOW
            ),
            RevokePlan::Lapsed { spot: four }
        );
        for nothing in [
            None,
            Some(stored(SpotState::Free, None)),
            Some(stored(SpotState::Free, Some(lapse(NOW)))),
            Some(stored(held(NOW + Duration::minutes(3)), None)),
        ] {
            assert_eq!(
                decide_revocation(&email, nothing.as_ref(), NOW),
                RevokePlan::Nothing
            );
        }
        // Someone else's membership is not this e-mail's to lose.
        let other = EmailAddress::parse("x@example.com").unwrap();
        assert_eq!(
            decide_revocation(&other, Some(&stored(member(4), None)), NOW),
            RevokePlan::Nothing
        );
    }

    #[test]
    fn hold_window_outlives_the_checkout_which_meets_stripes_minimum() {
        let window = HoldWindow::starting_at(NOW);
        assert!(window.checkout_expires_at - NOW >= Duration::minutes(30));
        assert!(window.hold_expires_at > window.checkout_expires_at);
    }

    #[test]
    fn first_attempt_takes_the_lowest_free_spot_later_ones_spread() {
        let free: Vec<SpotNumber> = [9, 3, 14]
            .into_iter()
            .map(|n| SpotNumber::new(n).unwrap())
            .collect();
        assert_eq!(choose_spot(&free, 0, 12345), SpotNumber::new(3).ok());
        assert_eq!(choose_spot(&[], 0, 1), None);
        let mut seen = std::collections::HashSet::new();
        for salt in 0..200 {
            let spot = choose_spot(&free, 1, salt).unwrap();
            assert!(free.contains(&spot));
            seen.insert(spot);
        }
        assert_eq!(
            seen.len(),
            3,
            "later attempts should spread over every free spot"
        );
    }

    mod confirmation {
        use super::*;

        fn spot(n: i64) -> SpotNumber {
            SpotNumber::new(n).unwrap()
        }

        fn email() -> EmailAddress {
            EmailAddress::parse("payer@example.com").unwrap()
        }

        fn held_by(
            number: i64,
            hold: &HoldRef,
            lead: &LeadId,
            until: OffsetDateTime,
        ) -> StoredHold {
            StoredHold {
                spot: spot(number),
                state: SpotState::Held {
                    email: email(),
                    lead_id: lead.clone(),
                    hold_ref: hold.clone(),
                    expires_at: until,
                },
                hold_ref: Some(hold.clone()),
            }
        }

        fn member_of(number: i64, hold: &HoldRef, lead: &LeadId) -> StoredHold {
            StoredHold {
                spot: spot(number),
                state: SpotState::Member(FoundingMember {
                    spot: spot(number),
                    email: email(),
                    lead_id: lead.clone(),
                    company_name: None,
                    benefits: FoundingBenefits::CURRENT,
                    confirmed_at: NOW,
                }),
                hold_ref: Some(hold.clone()),
            }
        }

        #[test]
        fn the_common_case_confirms_the_paid_hold() {
            let (hold, lead) = (HoldRef::generate(), LeadId::generate());
            let stored = held_by(3, &hold, &lead, NOW);
            assert_eq!(
                decide_confirmation(spot(3), &hold, Some(&stored), Some(&stored)),
                ConfirmPlan::Confirm {
                    email: email(),
                    lead_id: lead,
                    spot_hold: hold.clone(),
                    founder: FounderIs::HeldBy(hold),
                    release: None
                }
            );
        }

        /// The e-mail's first hold lapsed after it paid; it checked out again and holds another
        /// spot under a second hold. The late payment takes the paid spot and gives the other
        /// one back: one member, one spot.
        #[test]
        fn a_founder_item_under_another_hold_of_the_same_email_is_taken_over() {
            let (first, second, lead) =
                (HoldRef::generate(), HoldRef::generate(), LeadId::generate());
            let paid = held_by(3, &first, &lead, NOW - time::Duration::hours(1));
            let founder = held_by(7, &second, &lead, NOW + time::Duration::minutes(20));
            assert_eq!(
                decide_confirmation(spot(3), &first, Some(&paid), Some(&founder)),
                ConfirmPlan::Confirm {
                    email: email(),
                    lead_id: lead,
                    spot_hold: first,
                    founder: FounderIs::HeldBy(second.clone()),
                    release: Some((spot(7), second))
                }
            );
        }

        #[test]
        fn a_released_founder_item_is_taken_as_free() {
            let (hold, lead) = (HoldRef::generate(), LeadId::generate());
            let paid = held_by(3, &hold, &lead, NOW);
            let released = StoredHold {
                spot: spot(3),
                state: SpotState::Free,
                hold_ref: Some(hold.clone()),
            };
            for founder in [None, Some(&released)] {
                assert!(matches!(
                    decide_confirmation(spot(3), &hold, Some(&paid), founder),
                    ConfirmPlan::Confirm {
                        founder: FounderIs::Free,
                        release: None,
                        ..
                    }
                ));
            }
        }

        #[test]
        fn a_redelivered_payment_is_already_confirmed() {
            let (hold, lead) = (HoldRef::generate(), LeadId::generate());
            let member = member_of(3, &hold, &lead);
            assert!(matches!(
                decide_confirmation(spot(3), &hold, Some(&member), Some(&member)),
                ConfirmPlan::AlreadyConfirmed(m) if m.spot == spot(3)
            ));
        }

        #[test]
        fn a_member_paying_under_another_hold_gets_no_second_spot() {
            let (first, second, lead) =
                (HoldRef::generate(), HoldRef::generate(), LeadId::generate());
            let member = member_of(3, &first, &lead);
            let other = held_by(9, &second, &lead, NOW);
            assert!(matches!(
                decide_confirmation(spot(9), &second, Some(&other), Some(&member)),
                ConfirmPlan::AlreadyMember(m) if m.spot == spot(3)
            ));
            // Its spot gone too: still recognised as a member.
            assert!(matches!(
                decide_confirmation(spot(9), &second, None, Some(&member)),
                ConfirmPlan::AlreadyMember(_)
            ));
        }

        #[test]
        fn a_spot_taken_by_someone_else_is_lost() {
            let (mine, theirs, lead) =
                (HoldRef::generate(), HoldRef::generate(), LeadId::generate());
            let taken = held_by(3, &theirs, &LeadId::generate(), NOW);
            let founder = held_by(3, &mine, &lead, NOW - time::Duration::hours(1));
            assert_eq!(
                decide_confirmation(spot(3), &mine, Some(&taken), Some(&founder)),
                ConfirmPlan::HoldLost
            );
            let free = StoredHold {
                spot: spot(3),
                state: SpotState::Free,
                hold_ref: Some(mine.clone()),
            };
            assert_eq!(
                decide_confirmation(spot(3), &mine, Some(&free), None),
                ConfirmPlan::HoldLost
            );
            assert_eq!(
                decide_confirmation(spot(3), &mine, None, None),
                ConfirmPlan::HoldLost
            );
            // Released, then held again by the same e-mail under a new checkout: that checkout's
            // own payment confirms it; this one is flagged.
            let again = held_by(3, &theirs, &lead, NOW);
            assert_eq!(
                decide_confirmation(spot(3), &mine, Some(&again), Some(&again)),
                ConfirmPlan::HoldLost
            );
        }
    }
}
