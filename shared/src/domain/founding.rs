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
}
