//! Leads: one per person, identified by normalised e-mail.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::email::EmailAddress;
use super::pipeline::PipelineRecord;

/// A lead's id: a random UUID, safe to hand to Stripe as `client_reference_id`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LeadId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("lead ids are UUIDs")]
pub struct LeadIdError;

impl LeadId {
    pub fn generate() -> Self {
        LeadId(uuid::Uuid::new_v4().to_string())
    }
    pub fn parse(raw: &str) -> Result<Self, LeadIdError> {
        uuid::Uuid::parse_str(raw.trim())
            .map(|id| LeadId(id.hyphenated().to_string()))
            .map_err(|_| LeadIdError)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for LeadId {
    type Error = LeadIdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        LeadId::parse(&value)
    }
}

impl From<LeadId> for String {
    fn from(value: LeadId) -> Self {
        value.0
    }
}

impl fmt::Display for LeadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where we first met a lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeadSource {
    Cal,
    Calendly,
    Checkout,
    SalesTeam,
}

impl LeadSource {
    pub fn as_str(self) -> &'static str {
        match self {
            LeadSource::Cal => "cal",
            LeadSource::Calendly => "calendly",
            LeadSource::Checkout => "checkout",
            LeadSource::SalesTeam => "sales_team",
        }
    }
}

impl FromStr for LeadSource {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            LeadSource::Cal,
            LeadSource::Calendly,
            LeadSource::Checkout,
            LeadSource::SalesTeam,
        ]
        .into_iter()
        .find(|source| source.as_str() == s)
        .ok_or_else(|| format!("unknown lead source {s:?}"))
    }
}

/// What is known about a person when a lead is first created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLead {
    pub email: EmailAddress,
    pub name: Option<String>,
    pub company: Option<String>,
    pub source: LeadSource,
}

impl NewLead {
    pub fn new(email: EmailAddress, source: LeadSource) -> Self {
        NewLead {
            email,
            name: None,
            company: None,
            source,
        }
    }
}

/// A lead as found by the store: who, and whether this call created them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadRef {
    pub id: LeadId,
    pub email: EmailAddress,
    pub created: bool,
}

/// A lead with its pipeline record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lead {
    pub id: LeadId,
    pub email: EmailAddress,
    pub name: Option<String>,
    pub company: Option<String>,
    pub source: LeadSource,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub pipeline: PipelineRecord,
    pub billing: LeadBilling,
    /// Bumped by every change; a writer names the version it read.
    pub version: u64,
}

/// What Stripe told us about a lead.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LeadBilling {
    pub stripe_customer_id: Option<String>,
    pub stripe_subscription_id: Option<String>,
    pub plan_type: Option<String>,
    /// Set when something needs a person: e.g. a founding payment that found its spot gone.
    pub follow_up: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lead_ids_are_uuids() {
        let id = LeadId::generate();
        assert_eq!(LeadId::parse(id.as_str()), Ok(id.clone()));
        assert_eq!(LeadId::parse(&id.as_str().to_uppercase()), Ok(id));
        assert!(LeadId::parse("not-a-uuid").is_err());
    }

    #[test]
    fn sources_round_trip() {
        for source in [
            LeadSource::Cal,
            LeadSource::Calendly,
            LeadSource::Checkout,
            LeadSource::SalesTeam,
        ] {
            assert_eq!(source.as_str().parse::<LeadSource>(), Ok(source));
        }
        assert!("web".parse::<LeadSource>().is_err());
    }
}
