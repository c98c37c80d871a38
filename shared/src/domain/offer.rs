//! Waitlist offers: a founding spot that comes free while people wait is reserved for the first
//! of them for 48 hours and offered by e-mail, with a link whose signed token create-checkout
//! checks. Pure: the token, the statuses, who is next.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use time::{Duration, OffsetDateTime};

use super::email::EmailAddress;
use super::founding::SpotNumber;

/// How long an offered spot is reserved for the person it is offered to.
pub const OFFER_LIFETIME: Duration = Duration::hours(48);

/// Where a waitlisted person stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitlistStatus {
    /// In line for the next freed spot.
    Waiting,
    /// A spot is reserved for them until the offer's end.
    Offered,
    /// They paid for the offered spot.
    Taken,
    /// The offer ended unused; the spot went to the next person.
    Lapsed,
    /// Passed over: declined, a standard-plan customer, a founding member already, or skipped by
    /// the sales team.
    Skipped,
}

impl WaitlistStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            WaitlistStatus::Waiting => "waiting",
            WaitlistStatus::Offered => "offered",
            WaitlistStatus::Taken => "taken",
            WaitlistStatus::Lapsed => "lapsed",
            WaitlistStatus::Skipped => "skipped",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "waiting" => WaitlistStatus::Waiting,
            "offered" => WaitlistStatus::Offered,
            "taken" => WaitlistStatus::Taken,
            "lapsed" => WaitlistStatus::Lapsed,
            "skipped" => WaitlistStatus::Skipped,
            _ => return None,
        })
    }
}

impl fmt::Display for WaitlistStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an offer link carries: for whom, which spot, until when. Signed with the offer signing
/// key (HMAC-SHA256), so it cannot be forged or changed; create-checkout checks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferToken {
    pub email: EmailAddress,
    pub spot: SpotNumber,
    pub until: OffsetDateTime,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    e: String,
    s: u8,
    u: i64,
}

/// Why an offer token is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OfferError {
    #[error("the offer link is not one we sent (it is damaged or forged)")]
    Invalid,
    #[error("the offer ended at {0}")]
    Expired(String),
    #[error("the offer was made to another e-mail address")]
    NotYours,
}

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &[u8], payload: &str) -> HmacSha256 {
    // HMAC takes keys of any length.
    let mut mac =
        <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(b"agency-os-offer.v1.");
    mac.update(payload.as_bytes());
    mac
}

impl OfferToken {
    /// `<base64url claims>.<base64url HMAC>`: URL-safe, readable by the widget (which shows the
    /// spot and the time), checkable only with the key.
    pub fn sign(&self, key: &[u8]) -> String {
        let claims = Claims {
            e: self.email.as_str().to_owned(),
            s: self.spot.get(),
            u: self.until.unix_timestamp(),
        };
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap_or_default());
        let tag = URL_SAFE_NO_PAD.encode(mac(key, &payload).finalize().into_bytes());
        format!("{payload}.{tag}")
    }

    /// The token's offer, if its signature holds (whatever its time).
    pub fn verify(raw: &str, key: &[u8]) -> Result<OfferToken, OfferError> {
        let (payload, tag) = raw.trim().split_once('.').ok_or(OfferError::Invalid)?;
        if payload.len() > 1024 {
            return Err(OfferError::Invalid);
        }
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| OfferError::Invalid)?;
        mac(key, payload)
            .verify_slice(&tag)
            .map_err(|_| OfferError::Invalid)?;
        let claims: Claims = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or(OfferError::Invalid)?;
        Ok(OfferToken {
            email: EmailAddress::parse(&claims.e).map_err(|_| OfferError::Invalid)?,
            spot: SpotNumber::new(i64::from(claims.s)).map_err(|_| OfferError::Invalid)?,
            until: OffsetDateTime::from_unix_timestamp(claims.u)
                .map_err(|_| OfferError::Invalid)?,
        })
    }

    /// [`OfferToken::verify`], then: still live at `now`, and made to `email`.
    pub fn check(
        raw: &str,
        key: &[u8],
        email: &EmailAddress,
        now: OffsetDateTime,
    ) -> Result<OfferToken, OfferError> {
        let token = OfferToken::verify(raw, key)?;
        if token.until <= now {
            return Err(OfferError::Expired(super::time_format::to_sortable(
                token.until,
            )));
        }
        if &token.email != email {
            return Err(OfferError::NotYours);
        }
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-12-02 10:00 UTC);
    const KEY: &[u8] = b"offer-key-for-tests";

    fn token() -> OfferToken {
        OfferToken {
            email: EmailAddress::parse("wait@example.com").unwrap(),
            spot: SpotNumber::new(7).unwrap(),
            until: NOW + OFFER_LIFETIME,
        }
    }

    #[test]
    fn a_signed_offer_checks_out_for_its_email_until_it_ends() {
        let raw = token().sign(KEY);
        assert!(raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)));
        let me = EmailAddress::parse("wait@example.com").unwrap();
        assert_eq!(OfferToken::check(&raw, KEY, &me, NOW), Ok(token()));
        assert!(matches!(
            OfferToken::check(&raw, KEY, &me, NOW + OFFER_LIFETIME),
            Err(OfferError::Expired(_))
        ));
        let other = EmailAddress::parse("other@example.com").unwrap();
        assert_eq!(
            OfferToken::check(&raw, KEY, &other, NOW),
            Err(OfferError::NotYours)
        );
    }

    #[test]
    fn a_forged_or_changed_token_is_invalid() {
        let raw = token().sign(KEY);
        assert_eq!(
            OfferToken::verify(&raw, b"another key"),
            Err(OfferError::Invalid)
        );
        // Another spot, same signature.
        let (_, tag) = raw.split_once('.').unwrap();
        let mut other = token();
        other.spot = SpotNumber::new(1).unwrap();
        let (payload, _) = other
            .sign(b"whatever")
            .split_once('.')
            .map(|(p, t)| (p.to_owned(), t.to_owned()))
            .unwrap();
        assert_eq!(
            OfferToken::verify(&format!("{payload}.{tag}"), KEY),
            Err(OfferError::Invalid)
        );
        for junk in ["", ".", "abc", "abc.def", &"a".repeat(5000)] {
            assert_eq!(OfferToken::verify(junk, KEY), Err(OfferError::Invalid));
        }
    }

    #[test]
    fn statuses_round_trip() {
        for status in [
            WaitlistStatus::Waiting,
            WaitlistStatus::Offered,
            WaitlistStatus::Taken,
            WaitlistStatus::Lapsed,
            WaitlistStatus::Skipped,
        ] {
            assert_eq!(WaitlistStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(WaitlistStatus::parse("nope"), None);
    }
}
