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

/// The founding-spot figures the landing page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FoundingTally {
    pub total: u8,
    pub members: u8,
    pub held: u8,
    pub remaining: u8,
}

impl FoundingTally {
    /// `remaining = 20 − members − live holds`; spots never stored count as free.
    pub fn count<'a>(spots: impl IntoIterator<Item = &'a SpotState>, now: OffsetDateTime) -> Self {
        let (mut members, mut held) = (0u8, 0u8);
        for spot in spots {
            match spot {
                SpotState::Member(_) => members += 1,
                SpotState::Held { .. } if !spot.is_free_at(now) => held += 1,
                _ => {}
            }
        }
        let members = members.min(FOUNDING_SPOTS);
        let held = held.min(FOUNDING_SPOTS - members);
        FoundingTally {
            total: FOUNDING_SPOTS,
            members,
            held,
            remaining: FOUNDING_SPOTS - members - held,
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
        let spots = vec![
            member(1),
            member(2),
            held(NOW + Duration::minutes(5)),
            held(NOW - Duration::seconds(1)),
            SpotState::Free,
        ];
        let tally = FoundingTally::count(&spots, NOW);
        assert_eq!(
            tally,
            FoundingTally {
                total: 20,
                members: 2,
                held: 1,
                remaining: 17
            }
        );
        assert_eq!(FoundingTally::count(&[], NOW).remaining, 20);
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
