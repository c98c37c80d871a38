//! Timestamps as stored: RFC 3339 in UTC with whole seconds, so that text order is time order
//! (index sort keys rely on it), and Unix seconds where DynamoDB compares times in conditions.

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// `2026-11-25T10:00:00Z`: fixed width, sortable as text.
pub fn to_sortable(at: OffsetDateTime) -> String {
    let utc = at
        .to_offset(UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(at);
    utc.format(&Rfc3339)
        .unwrap_or_else(|_| utc.unix_timestamp().to_string())
}

pub fn parse(raw: &str) -> Result<OffsetDateTime, time::error::Parse> {
    OffsetDateTime::parse(raw, &Rfc3339)
}

pub fn from_unix(seconds: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(seconds).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn sortable_is_utc_whole_seconds_and_round_trips() {
        let at = datetime!(2026-11-25 21:30:15.250 +10:00);
        assert_eq!(to_sortable(at), "2026-11-25T11:30:15Z");
        assert_eq!(
            parse(&to_sortable(at)).unwrap(),
            datetime!(2026-11-25 11:30:15 UTC)
        );
        assert!(
            to_sortable(datetime!(2026-01-02 00:00 UTC))
                < to_sortable(datetime!(2026-11-02 00:00 UTC))
        );
    }
}
