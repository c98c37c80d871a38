//! What an identifier from outside must look like before it becomes part of a DynamoDB key.
//!
//! DynamoDB refuses a partition key over 2,048 bytes and a sort key over 1,024 bytes with a
//! `ValidationException`: a 500 for a request that can never succeed, which a webhook provider
//! then retries for days. So every id a provider sends (Stripe object ids, Cal.com uids,
//! Calendly URIs) is checked when it is parsed, and refused with a 400 and a reason; the key
//! builders' prefixes plus the longest accepted id stay inside the limits (tested in
//! `store::table`).

/// DynamoDB's limits on key attribute values, in bytes (UTF-8).
pub const MAX_PARTITION_KEY_BYTES: usize = 2048;
pub const MAX_SORT_KEY_BYTES: usize = 1024;

/// The longest id or URI accepted from a provider. Stripe's ids are at most 255 characters;
/// Cal.com's uids and Calendly's URIs are far shorter than this.
pub const MAX_ID_BYTES: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{0} is empty")]
    Empty(String),
    #[error("{0} is {1} bytes long; at most {max} are accepted", max = MAX_ID_BYTES)]
    TooLong(String, usize),
    #[error("{0} contains a control character")]
    Control(String),
    #[error("{0} is not a Stripe id (letters, digits and _ only)")]
    NotStripe(String),
}

/// An id or URI that will be part of a key: not empty, at most [`MAX_ID_BYTES`], no control
/// characters.
pub fn check_id(field: &str, value: &str) -> Result<(), IdError> {
    if value.trim().is_empty() {
        return Err(IdError::Empty(field.to_owned()));
    }
    if value.len() > MAX_ID_BYTES {
        return Err(IdError::TooLong(field.to_owned(), value.len()));
    }
    if value.chars().any(char::is_control) {
        return Err(IdError::Control(field.to_owned()));
    }
    Ok(())
}

/// A Stripe object id (`evt_…`, `cus_…`, `sub_…`, `in_…`, `cs_test_…`): as [`check_id`], and
/// only ASCII letters, digits and `_`.
pub fn check_stripe_id(field: &str, value: &str) -> Result<(), IdError> {
    check_id(field, value)?;
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(IdError::NotStripe(field.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked_for_length_and_shape() {
        assert_eq!(check_stripe_id("id", "evt_1NxY2Z"), Ok(()));
        assert_eq!(check_id("uid", &"u".repeat(MAX_ID_BYTES)), Ok(()));
        assert_eq!(
            check_id("uid", &"u".repeat(MAX_ID_BYTES + 1)),
            Err(IdError::TooLong("uid".into(), MAX_ID_BYTES + 1))
        );
        // Bytes, not characters: 171 three-byte characters are 513 bytes.
        assert!(check_id("uid", &"€".repeat(171)).is_err());
        assert_eq!(check_id("uid", "  "), Err(IdError::Empty("uid".into())));
        assert_eq!(
            check_id("uid", "a\u{0}b"),
            Err(IdError::Control("uid".into()))
        );
        assert_eq!(
            check_stripe_id("id", "evt_1/../x"),
            Err(IdError::NotStripe("id".into()))
        );
        let long = "evt_".to_owned() + &"x".repeat(4996);
        assert!(matches!(
            check_stripe_id("id", &long),
            Err(IdError::TooLong(_, 5000))
        ));
    }
}
