//! The time zone times are shown in: `--tz`, else `$TZ`, else the system's zone. Times are
//! stored (and printed by `--json`) in UTC; only the tables show them in this zone. A bare date
//! given on the command line (`--due 2026-12-01`) is midnight in this zone.

use jiff::tz::TimeZone;
use time::OffsetDateTime;

/// The zone times are shown in, with the name it was chosen by.
#[derive(Debug, Clone)]
pub struct DisplayZone {
    zone: TimeZone,
}

impl DisplayZone {
    /// `--tz NAME` (an IANA name such as `Australia/Sydney`, or `UTC`), else `$TZ` and the
    /// system's zone as the C library reads them. An unknown `--tz` is an error naming it; a
    /// system zone that cannot be read falls back to UTC.
    pub fn choose(flag: Option<&str>) -> Result<DisplayZone, String> {
        let zone = match flag.map(str::trim) {
            Some(name) if !name.is_empty() => TimeZone::get(name).map_err(|e| {
                format!("--tz {name:?}: not a time zone this machine knows ({e}); try Australia/Sydney or UTC")
            })?,
            _ => TimeZone::try_system().unwrap_or(TimeZone::UTC),
        };
        Ok(DisplayZone { zone })
    }

    pub fn utc() -> DisplayZone {
        DisplayZone {
            zone: TimeZone::UTC,
        }
    }

    fn zoned(&self, at: OffsetDateTime) -> Option<jiff::Zoned> {
        let ts = jiff::Timestamp::from_second(at.unix_timestamp()).ok()?;
        Some(ts.to_zoned(self.zone.clone()))
    }

    /// `2026-12-01 20:00 AEDT`: minutes, the zone's abbreviation (or offset).
    pub fn show(&self, at: OffsetDateTime) -> String {
        match self.zoned(at) {
            Some(zoned) => zoned.strftime("%Y-%m-%d %H:%M %Z").to_string(),
            None => sales::domain::time_format::to_sortable(at),
        }
    }

    /// A date or time from the command line, as the domain reads it (RFC 3339): a bare date
    /// becomes midnight in this zone, in UTC; anything else is passed on as it is.
    pub fn input(&self, raw: &str) -> String {
        let trimmed = raw.trim();
        let is_date = trimmed.len() == 10 && trimmed.as_bytes()[4] == b'-';
        match trimmed.parse::<jiff::civil::Date>() {
            Ok(date) if is_date => match date.to_zoned(self.zone.clone()) {
                Ok(midnight) => midnight
                    .timestamp()
                    .strftime("%Y-%m-%dT%H:%M:%SZ")
                    .to_string(),
                Err(_) => raw.to_owned(),
            },
            _ => raw.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn times_show_in_the_chosen_zone() {
        let at = datetime!(2026-12-01 09:00 UTC);
        let sydney = DisplayZone::choose(Some("Australia/Sydney")).unwrap();
        assert_eq!(sydney.show(at), "2026-12-01 20:00 AEDT");
        assert_eq!(DisplayZone::utc().show(at), "2026-12-01 09:00 UTC");
        let perth = DisplayZone::choose(Some("Australia/Perth")).unwrap();
        assert_eq!(perth.show(at), "2026-12-01 17:00 AWST");
    }

    #[test]
    fn a_bare_date_is_midnight_in_the_zone() {
        let sydney = DisplayZone::choose(Some("Australia/Sydney")).unwrap();
        assert_eq!(sydney.input("2026-12-01"), "2026-11-30T13:00:00Z");
        assert_eq!(
            DisplayZone::utc().input("2026-12-01"),
            "2026-12-01T00:00:00Z"
        );
        assert_eq!(
            sydney.input("2026-12-01T09:00:00+10:00"),
            "2026-12-01T09:00:00+10:00"
        );
        assert_eq!(sydney.input("soon"), "soon");
        assert_eq!(sydney.input("2026-13-01"), "2026-13-01");
    }

    #[test]
    fn an_unknown_zone_is_named() {
        let err = DisplayZone::choose(Some("Mars/Olympus")).unwrap_err();
        assert!(err.contains("Mars/Olympus"), "{err}");
    }
}
