//! The plans a customer can buy.

use serde::{Deserialize, Serialize};

/// A plan: both are subscriptions on one Stripe product, at different prices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanType {
    /// One of the 20 founding spots, with its benefits locked at payment.
    Founding,
    Standard,
}

impl PlanType {
    pub fn as_str(self) -> &'static str {
        match self {
            PlanType::Founding => "founding",
            PlanType::Standard => "standard",
        }
    }

    pub fn parse(raw: &str) -> Option<PlanType> {
        match raw.trim() {
            "founding" => Some(PlanType::Founding),
            "standard" => Some(PlanType::Standard),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_parse_what_they_print() {
        for plan in [PlanType::Founding, PlanType::Standard] {
            assert_eq!(PlanType::parse(plan.as_str()), Some(plan));
        }
        assert_eq!(PlanType::parse(" founding "), Some(PlanType::Founding));
        assert_eq!(PlanType::parse("gold"), None);
    }
}

/// A Checkout Session recorded for a plan (on a founding hold, or on the lead for the standard
/// plan), payable until `expires_at`: a repeat checkout gets it back instead of a second one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSession {
    pub id: String,
    pub url: String,
    pub expires_at: time::OffsetDateTime,
}
