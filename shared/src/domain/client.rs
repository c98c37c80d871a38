//! Who asks for a founding hold: the client, by its source address as API Gateway reports it.
//!
//! One client may hold only a few founding spots at once ([`DEFAULT_HOLDS_PER_CLIENT`]): without
//! a cap one script took all 20 spots with throwaway e-mails in seconds and kept them by asking
//! again before they lapsed. HTTP APIs take no WAF and throttle per route, not per client, so the
//! cap is the code's: each client has that many hold *slots* (items), and a hold takes a free
//! slot in its own transaction, on a DynamoDB condition (free = never used, released, or past
//! its hold's expiry). A slot frees itself when its hold lapses and is freed when the hold is
//! released or paid.
//!
//! IPv6 clients are grouped by their /64: one subscriber or host usually has a whole /64 and
//! can pick any address in it, so a per-address cap would not hold them. IPv4 addresses count
//! one by one (a carrier-grade NAT can put many visitors behind one address: the cap is
//! configurable for that reason, `FOUNDING_HOLDS_PER_CLIENT`).

use std::fmt;
use std::net::IpAddr;

use sha2::{Digest, Sha256};

/// Live founding holds one client may have at once, unless configured otherwise.
pub const DEFAULT_HOLDS_PER_CLIENT: u8 = 2;

/// A client: an IPv4 address, an IPv6 /64, or `unknown` (no or unparsable source address: all
/// such callers share one client, which API Gateway never produces).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Client(String);

impl Client {
    pub fn from_source_ip(source_ip: Option<&str>) -> Client {
        let parsed = source_ip.and_then(|ip| ip.trim().parse::<IpAddr>().ok());
        Client(match parsed {
            Some(IpAddr::V4(v4)) => v4.to_string(),
            Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => {
                    let s = v6.segments();
                    format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
                }
            },
            None => "unknown".to_owned(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The client's id in keys and in a Checkout Session's metadata: a digest, so that neither
    /// the table's keys nor Stripe carry the address itself (the slot items keep it, for the
    /// sales team's list of holds).
    pub fn id(&self) -> String {
        let digest = Sha256::digest(format!("agency-os-client:{}", self.0).as_bytes());
        hex::encode(&digest[..10])
    }
}

impl fmt::Display for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One hold slot of one client: where a hold is counted against its client's cap.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HoldSlot {
    pub client_id: String,
    pub slot: u8,
}

impl HoldSlot {
    /// `"<client id>.<slot>"`, the form a Checkout Session's metadata carries.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.client_id, self.slot)
    }

    pub fn parse(raw: &str) -> Option<HoldSlot> {
        let (id, slot) = raw.split_once('.')?;
        let valid_id = id.len() == 20 && id.bytes().all(|b| b.is_ascii_hexdigit());
        let slot: u8 = slot.parse().ok()?;
        (valid_id && (1..=50).contains(&slot)).then(|| HoldSlot {
            client_id: id.to_ascii_lowercase(),
            slot,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_addresses_count_one_by_one_and_ipv6_by_64() {
        let a = Client::from_source_ip(Some("203.0.113.7"));
        let b = Client::from_source_ip(Some("203.0.113.8"));
        assert_ne!(a, b);
        assert_eq!(a.as_str(), "203.0.113.7");
        let v6 = |ip| Client::from_source_ip(Some(ip));
        assert_eq!(v6("2001:db8:1:2::1"), v6("2001:db8:1:2:ffff:1:2:3"));
        assert_eq!(v6("2001:db8:1:2::1").as_str(), "2001:db8:1:2::/64");
        assert_ne!(v6("2001:db8:1:2::1"), v6("2001:db8:1:3::1"));
        // An IPv4-mapped IPv6 address is the IPv4 client.
        assert_eq!(v6("::ffff:203.0.113.7"), a);
        assert_eq!(Client::from_source_ip(None).as_str(), "unknown");
        assert_eq!(
            Client::from_source_ip(Some("not an ip")).as_str(),
            "unknown"
        );
    }

    #[test]
    fn ids_hide_the_address_and_slots_round_trip() {
        let client = Client::from_source_ip(Some("203.0.113.7"));
        let id = client.id();
        assert_eq!(id.len(), 20);
        assert!(!id.contains("203"));
        assert_eq!(id, Client::from_source_ip(Some("203.0.113.7")).id());
        let slot = HoldSlot {
            client_id: id.clone(),
            slot: 2,
        };
        assert_eq!(HoldSlot::parse(&slot.encode()), Some(slot));
        for bad in [
            "",
            "x.1",
            &format!("{id}.0"),
            &format!("{id}.x"),
            &format!("{id}1.1"),
        ] {
            assert_eq!(HoldSlot::parse(bad), None, "{bad}");
        }
    }
}
