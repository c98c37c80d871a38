//! The contract between create-checkout and stripe-webhook: what a Checkout Session carries in
//! its `client_reference_id` and `metadata` (copied onto the subscription too), written and read
//! through this one type.

use std::collections::HashMap;

use crate::domain::{HoldRef, HoldSlot, LeadId, PlanType, SpotNumber};

const LEAD_ID: &str = "lead_id";
const PLAN_TYPE: &str = "plan_type";
const COMPANY_NAME: &str = "company_name";
const FOUNDING_SPOT: &str = "founding_spot";
const FOUNDING_HOLD: &str = "founding_hold";
const HOLD_SLOT: &str = "hold_slot";

/// What a checkout session says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutMetadata {
    /// The lead the checkout was started for. Absent (or not a lead id) on sessions this stack
    /// did not create: the webhook then goes by the payer's e-mail.
    pub lead_id: Option<LeadId>,
    /// Absent on sessions this stack did not create.
    pub plan: Option<PlanType>,
    pub company_name: Option<String>,
    /// The founding spot and the hold on it, for the founding plan (always there when the plan
    /// is founding: reading a founding session without them is an error).
    pub founding_hold: Option<(SpotNumber, HoldRef)>,
    /// The client slot the founding hold counts against (a digest of the client and a number,
    /// never the address), so that a payment or an expiry gives it back at once.
    pub hold_slot: Option<HoldSlot>,
}

/// A founding session whose hold cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    #[error("no valid metadata.founding_spot")]
    FoundingSpot,
    #[error("no metadata.founding_hold")]
    FoundingHold,
}

impl CheckoutMetadata {
    /// The session's `client_reference_id` (the lead id).
    pub fn client_reference_id(&self) -> Option<String> {
        self.lead_id.as_ref().map(LeadId::to_string)
    }

    /// The session's metadata pairs.
    pub fn pairs(&self) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        let mut push = |key: &str, value: String| pairs.push((key.to_owned(), value));
        if let Some(lead) = &self.lead_id {
            push(LEAD_ID, lead.to_string());
        }
        if let Some(plan) = self.plan {
            push(PLAN_TYPE, plan.as_str().to_owned());
        }
        if let Some(company) = &self.company_name {
            push(COMPANY_NAME, company.clone());
        }
        if let Some((spot, hold)) = &self.founding_hold {
            push(FOUNDING_SPOT, spot.to_string());
            push(FOUNDING_HOLD, hold.to_string());
        }
        if let Some(slot) = &self.hold_slot {
            push(HOLD_SLOT, slot.encode());
        }
        pairs
    }

    /// Reads what a session carries: the lead from `client_reference_id`, else from
    /// `metadata.lead_id` (whichever is a lead id); the founding hold only for the founding plan.
    pub fn read(
        client_reference_id: Option<&str>,
        metadata: &HashMap<String, String>,
    ) -> Result<CheckoutMetadata, MetadataError> {
        let lead_id = [
            client_reference_id,
            metadata.get(LEAD_ID).map(String::as_str),
        ]
        .into_iter()
        .flatten()
        .find_map(|raw| LeadId::parse(raw).ok());
        let plan = metadata.get(PLAN_TYPE).and_then(|p| PlanType::parse(p));
        let founding_hold = match plan {
            Some(PlanType::Founding) => {
                let spot = metadata
                    .get(FOUNDING_SPOT)
                    .and_then(|s| SpotNumber::parse(s).ok())
                    .ok_or(MetadataError::FoundingSpot)?;
                let hold = metadata
                    .get(FOUNDING_HOLD)
                    .filter(|h| !h.is_empty())
                    .ok_or(MetadataError::FoundingHold)?;
                Some((spot, HoldRef::from_stored(hold.as_str())))
            }
            _ => None,
        };
        Ok(CheckoutMetadata {
            lead_id,
            plan,
            company_name: metadata.get(COMPANY_NAME).cloned(),
            hold_slot: founding_hold
                .as_ref()
                .and(metadata.get(HOLD_SLOT))
                .and_then(|raw| HoldSlot::parse(raw)),
            founding_hold,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(written: &CheckoutMetadata) -> CheckoutMetadata {
        let metadata: HashMap<String, String> = written.pairs().into_iter().collect();
        CheckoutMetadata::read(written.client_reference_id().as_deref(), &metadata).unwrap()
    }

    #[test]
    fn what_create_checkout_writes_stripe_webhook_reads() {
        let founding = CheckoutMetadata {
            lead_id: Some(LeadId::generate()),
            plan: Some(PlanType::Founding),
            company_name: Some("Acme Pty Ltd".into()),
            founding_hold: Some((SpotNumber::new(7).unwrap(), HoldRef::generate())),
            hold_slot: Some(HoldSlot {
                client_id: crate::domain::Client::from_source_ip(Some("203.0.113.7")).id(),
                slot: 2,
            }),
        };
        assert_eq!(round_trip(&founding), founding);
        let standard = CheckoutMetadata {
            lead_id: Some(LeadId::generate()),
            plan: Some(PlanType::Standard),
            company_name: None,
            founding_hold: None,
            hold_slot: None,
        };
        assert_eq!(round_trip(&standard), standard);
    }

    #[test]
    fn sessions_this_stack_did_not_create_read_as_unknown() {
        let read = CheckoutMetadata::read(Some("not a lead id"), &HashMap::new()).unwrap();
        assert_eq!(
            read,
            CheckoutMetadata {
                lead_id: None,
                plan: None,
                company_name: None,
                founding_hold: None,
                hold_slot: None,
            }
        );
        // The metadata's lead id serves when client_reference_id is not one.
        let lead = LeadId::generate();
        let metadata = HashMap::from([(LEAD_ID.to_owned(), lead.to_string())]);
        assert_eq!(
            CheckoutMetadata::read(Some("cus_x"), &metadata)
                .unwrap()
                .lead_id,
            Some(lead)
        );
    }

    #[test]
    fn a_founding_session_without_its_hold_is_an_error() {
        let mut metadata = HashMap::from([(PLAN_TYPE.to_owned(), "founding".to_owned())]);
        assert_eq!(
            CheckoutMetadata::read(None, &metadata),
            Err(MetadataError::FoundingSpot)
        );
        metadata.insert(FOUNDING_SPOT.into(), "21".into());
        assert_eq!(
            CheckoutMetadata::read(None, &metadata),
            Err(MetadataError::FoundingSpot)
        );
        metadata.insert(FOUNDING_SPOT.into(), "3".into());
        metadata.insert(FOUNDING_HOLD.into(), String::new());
        assert_eq!(
            CheckoutMetadata::read(None, &metadata),
            Err(MetadataError::FoundingHold)
        );
    }
}
