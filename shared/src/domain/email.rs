//! E-mail addresses as the identity of a lead.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A normalised e-mail address: trimmed, lower-cased and checked for a plausible shape.
///
/// Every lead is found by this value, so two spellings of one address (`" Ada@Example.COM "` and
/// `"ada@example.com"`) are the same person.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("e-mail address is empty")]
    Empty,
    #[error("e-mail address is longer than 254 characters")]
    TooLong,
    #[error("e-mail address must have exactly one '@' with text on both sides")]
    Shape,
    #[error("e-mail address must not contain spaces or control characters")]
    Whitespace,
    #[error("e-mail domain must be a host name with a dot, like example.com")]
    Domain,
}

impl EmailAddress {
    /// Normalises and validates a raw address.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let normalised = raw.trim().to_lowercase();
        if normalised.is_empty() {
            return Err(EmailError::Empty);
        }
        if normalised.len() > 254 {
            return Err(EmailError::TooLong);
        }
        if normalised
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(EmailError::Whitespace);
        }
        let (local, domain) = normalised.split_once('@').ok_or(EmailError::Shape)?;
        if local.is_empty() || domain.is_empty() || domain.contains('@') || local.len() > 64 {
            return Err(EmailError::Shape);
        }
        let labels_ok = domain.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
        if !domain.contains('.') || !labels_ok {
            return Err(EmailError::Domain);
        }
        Ok(Self(normalised))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address with most of the local part hidden, for logs: `ada@example.com` → `a***@example.com`.
    pub fn masked(&self) -> String {
        let (local, domain) = self.0.split_once('@').unwrap_or((&self.0, ""));
        let first: String = local.chars().take(1).collect();
        format!("{first}***@{domain}")
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = EmailError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<EmailAddress> for String {
    fn from(value: EmailAddress) -> Self {
        value.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `Debug` masks the address so that a stray `{:?}` in a log line never leaks it.
impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EmailAddress({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_lowercases() {
        let email = EmailAddress::parse("  Ada.Lovelace@Example.COM \n").unwrap();
        assert_eq!(email.as_str(), "ada.lovelace@example.com");
        assert_eq!(
            email,
            EmailAddress::parse("ada.lovelace@example.com").unwrap()
        );
    }

    #[test]
    fn rejects_bad_shapes() {
        assert_eq!(EmailAddress::parse("   "), Err(EmailError::Empty));
        assert_eq!(EmailAddress::parse("no-at-sign"), Err(EmailError::Shape));
        assert_eq!(EmailAddress::parse("@example.com"), Err(EmailError::Shape));
        assert_eq!(EmailAddress::parse("ada@"), Err(EmailError::Shape));
        assert_eq!(
            EmailAddress::parse("a@b@example.com"),
            Err(EmailError::Shape)
        );
        assert_eq!(
            EmailAddress::parse("ada lovelace@example.com"),
            Err(EmailError::Whitespace)
        );
        assert_eq!(
            EmailAddress::parse("ada@localhost"),
            Err(EmailError::Domain)
        );
        assert_eq!(
            EmailAddress::parse("ada@example..com"),
            Err(EmailError::Domain)
        );
        assert_eq!(
            EmailAddress::parse("ada@-example.com"),
            Err(EmailError::Domain)
        );
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(EmailAddress::parse(&long), Err(EmailError::TooLong));
    }

    #[test]
    fn accepts_plus_addressing_and_subdomains() {
        assert!(EmailAddress::parse("ada+demo@mail.example.co.uk").is_ok());
    }

    #[test]
    fn masks_for_logs() {
        let email = EmailAddress::parse("ada@example.com").unwrap();
        assert_eq!(email.masked(), "a***@example.com");
        assert_eq!(format!("{email:?}"), "EmailAddress(a***@example.com)");
    }

    #[test]
    fn deserialises_through_parse() {
        let email: EmailAddress = serde_json::from_str("\" Ada@Example.com\"").unwrap();
        assert_eq!(email.as_str(), "ada@example.com");
        assert!(serde_json::from_str::<EmailAddress>("\"nope\"").is_err());
    }
}
