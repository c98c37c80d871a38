//! Webhook signatures, checked over the exact raw bytes received.
//!
//! - Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]`, HMAC-SHA256 over `"{t}.{body}"`
//!   keyed with the whole `whsec_…` secret; any v1 may match; v0 is ignored; 300 s tolerance.
//! - Calendly: `Calendly-Webhook-Signature: t=<unix>,v1=<hex>`, same scheme, 3-minute tolerance.
//! - Cal.com: `X-Cal-Signature-256: <hex>`, HMAC-SHA256 of the body alone, no timestamp.
//!
//! Comparisons are constant-time (`Mac::verify_slice`).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Stripe's default tolerance between the signed timestamp and now.
pub const STRIPE_TOLERANCE_SECONDS: i64 = 300;
/// Calendly's documented example tolerance.
pub const CALENDLY_TOLERANCE_SECONDS: i64 = 180;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("signature header is missing")]
    Missing,
    #[error("signature header is malformed")]
    Malformed,
    #[error("signature timestamp is outside the tolerance")]
    Stale,
    #[error("signature does not match")]
    Mismatch,
}

fn mac(secret: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; this cannot fail.
    <HmacSha256 as KeyInit>::new_from_slice(secret).expect("HMAC accepts any key length")
}

/// Hex HMAC-SHA256 of `parts` joined, for signing test payloads and the local stand-ins.
pub fn sign_hex(secret: &[u8], parts: &[&[u8]]) -> String {
    let mut mac = mac(secret);
    for part in parts {
        mac.update(part);
    }
    hex::encode(mac.finalize().into_bytes())
}

fn matches(secret: &[u8], parts: &[&[u8]], signature_hex: &str) -> bool {
    let Ok(expected) = hex::decode(signature_hex.trim()) else {
        return false;
    };
    let mut mac = mac(secret);
    for part in parts {
        mac.update(part);
    }
    mac.verify_slice(&expected).is_ok()
}

/// The parts of a `t=…,v1=…` header.
struct TimestampedHeader<'a> {
    timestamp: i64,
    signatures: Vec<&'a str>,
}

fn parse_timestamped(header: &str) -> Result<TimestampedHeader<'_>, SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for pair in header.split(',') {
        let Some((key, value)) = pair.trim().split_once('=') else {
            continue;
        };
        match key {
            "t" => {
                timestamp = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| SignatureError::Malformed)?,
                )
            }
            "v1" => signatures.push(value),
            _ => {} // v0 and future schemes are ignored
        }
    }
    match timestamp {
        Some(timestamp) if !signatures.is_empty() => Ok(TimestampedHeader {
            timestamp,
            signatures,
        }),
        _ => Err(SignatureError::Malformed),
    }
}

/// Checks a Stripe- or Calendly-style `t=…,v1=…` signature with any of `secrets` (current and
/// previous during a rotation). Returns the signed timestamp.
pub fn verify_timestamped(
    header: Option<&str>,
    body: &[u8],
    secrets: &[&[u8]],
    now_unix: i64,
    tolerance_seconds: i64,
) -> Result<i64, SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let parsed = parse_timestamped(header)?;
    let timestamp = parsed.timestamp.to_string();
    let signed: [&[u8]; 3] = [timestamp.as_bytes(), b".", body];
    let any_match = secrets.iter().any(|secret| {
        parsed
            .signatures
            .iter()
            .any(|sig| matches(secret, &signed, sig))
    });
    if !any_match {
        return Err(SignatureError::Mismatch);
    }
    if (now_unix - parsed.timestamp).abs() > tolerance_seconds {
        return Err(SignatureError::Stale);
    }
    Ok(parsed.timestamp)
}

/// Checks Cal.com's `X-Cal-Signature-256`: hex HMAC-SHA256 of the raw body.
pub fn verify_body_hex(
    header: Option<&str>,
    body: &[u8],
    secrets: &[&[u8]],
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?.trim();
    if header.is_empty() {
        return Err(SignatureError::Missing);
    }
    if secrets
        .iter()
        .any(|secret| matches(secret, &[body], header))
    {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// A `t=…,v1=…` header for a body, as Stripe and Calendly send it.
pub fn timestamped_header(secret: &[u8], body: &[u8], timestamp: i64) -> String {
    let t = timestamp.to_string();
    format!("t={t},v1={}", sign_hex(secret, &[t.as_bytes(), b".", body]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test";
    const BODY: &[u8] = br#"{"id":"evt_1","type":"invoice.paid"}"#;
    const T: i64 = 1_767_225_695;

    #[test]
    fn a_good_signature_passes_and_returns_its_timestamp() {
        let header = timestamped_header(SECRET, BODY, T);
        assert_eq!(
            verify_timestamped(Some(&header), BODY, &[SECRET], T + 10, 300),
            Ok(T)
        );
    }

    #[test]
    fn any_v1_may_match_and_v0_is_ignored() {
        let good = timestamped_header(SECRET, BODY, T);
        let good_sig = good.split("v1=").nth(1).unwrap();
        let header = format!("t={T},v1={},v1={good_sig},v0={good_sig}", "ab".repeat(32));
        assert!(verify_timestamped(Some(&header), BODY, &[SECRET], T, 300).is_ok());
        let only_v0 = format!("t={T},v0={good_sig}");
        assert_eq!(
            verify_timestamped(Some(&only_v0), BODY, &[SECRET], T, 300),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn tampering_wrong_secret_staleness_and_garbage_fail() {
        let header = timestamped_header(SECRET, BODY, T);
        let tampered = br#"{"id":"evt_1","type":"invoice.paid" }"#;
        assert_eq!(
            verify_timestamped(Some(&header), tampered, &[SECRET], T, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_timestamped(Some(&header), BODY, &[b"whsec_other"], T, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_timestamped(Some(&header), BODY, &[SECRET], T + 301, 300),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify_timestamped(Some(&header), BODY, &[SECRET], T - 301, 300),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify_timestamped(None, BODY, &[SECRET], T, 300),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_timestamped(Some("garbage"), BODY, &[SECRET], T, 300),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_timestamped(Some("t=abc,v1=00"), BODY, &[SECRET], T, 300),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_timestamped(Some(&format!("t={T},v1=zz")), BODY, &[SECRET], T, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_previous_secret_is_accepted_during_rotation() {
        let header = timestamped_header(b"whsec_old", BODY, T);
        assert!(verify_timestamped(Some(&header), BODY, &[SECRET, b"whsec_old"], T, 300).is_ok());
    }

    #[test]
    fn cal_signs_the_body_alone() {
        let sig = sign_hex(b"cal_secret", &[BODY]);
        assert!(verify_body_hex(Some(&sig), BODY, &[b"cal_secret"]).is_ok());
        assert_eq!(
            verify_body_hex(Some(&sig), b"{}", &[b"cal_secret"]),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_body_hex(Some(""), BODY, &[b"cal_secret"]),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_body_hex(None, BODY, &[b"cal_secret"]),
            Err(SignatureError::Missing)
        );
    }
}
