//! The rules' calendar time zone (`settings.timezone`, an IANA name, default UTC): which
//! calendar day an instant falls on for the daily enter/exit history, "today" and the
//! dashboards. Windows of conditions are not affected (they stay whole UTC-day buckets of a
//! fixed length); only the days people read follow the zone.
//!
//! The time zone database is compiled in (jiff's bundled tzdb), so the core stays free of I/O.

use crate::time::{Millis, DAY_MS};
use std::fmt;

/// A calendar time zone: its IANA name and rules (offsets, daylight saving).
#[derive(Clone)]
pub struct Zone {
    name: String,
    tz: jiff::tz::TimeZone,
}

impl Zone {
    /// Coordinated Universal Time, the default.
    pub fn utc() -> Zone {
        Zone {
            name: "UTC".to_string(),
            tz: jiff::tz::TimeZone::UTC,
        }
    }

    /// The zone of an IANA name (`Asia/Tokyo`, `Europe/Berlin`, `UTC`), from the compiled-in
    /// database. An unknown name is an error that says so.
    pub fn named(name: &str) -> Result<Zone, String> {
        let tz = jiff::tz::db().get(name).map_err(|_| {
            format!("unknown time zone {name:?}: give an IANA name such as Asia/Tokyo or UTC")
        })?;
        Ok(Zone {
            name: name.to_string(),
            tz,
        })
    }

    /// The IANA name as configured.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The zone's offset from UTC at `ms`, in milliseconds (0 outside the range the time zone
    /// database covers, years −9999 to 9999).
    pub fn offset_ms(&self, ms: Millis) -> Millis {
        jiff::Timestamp::from_millisecond(ms)
            .map(|t| i64::from(self.tz.to_offset(t).seconds()) * 1000)
            .unwrap_or(0)
    }

    /// The calendar day (days since 1970-01-01 in this zone's calendar) that holds `ms`.
    /// [`crate::time::format_day`] prints it as the local date.
    pub fn day_of(&self, ms: Millis) -> i32 {
        ms.saturating_add(self.offset_ms(ms))
            .div_euclid(DAY_MS)
            .clamp(i32::MIN as i64, i32::MAX as i64) as i32
    }
}

impl Default for Zone {
    fn default() -> Self {
        Zone::utc()
    }
}

impl PartialEq for Zone {
    fn eq(&self, other: &Zone) -> bool {
        self.name == other.name
    }
}

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Zone({})", self.name)
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::format_day;

    fn at(text: &str) -> Millis {
        text.parse::<jiff::Timestamp>()
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .as_millisecond()
    }

    #[test]
    fn late_utc_evening_is_the_next_day_in_tokyo() {
        let tokyo = Zone::named("Asia/Tokyo").unwrap_or_else(|e| panic!("{e}"));
        let t = at("2025-11-30T23:30:00Z");
        assert_eq!(format_day(Zone::utc().day_of(t)), "2025-11-30");
        assert_eq!(format_day(tokyo.day_of(t)), "2025-12-01");
        assert_eq!(
            format_day(tokyo.day_of(at("2025-11-30T14:59:59Z"))),
            "2025-11-30"
        );
        assert_eq!(
            format_day(tokyo.day_of(at("2025-11-30T15:00:00Z"))),
            "2025-12-01"
        );
    }

    #[test]
    fn daylight_saving_moves_midnight() {
        let ny = Zone::named("America/New_York").unwrap_or_else(|e| panic!("{e}"));
        // EDT (UTC−4) in July, EST (UTC−5) in January.
        assert_eq!(
            format_day(ny.day_of(at("2025-07-02T03:59:00Z"))),
            "2025-07-01"
        );
        assert_eq!(
            format_day(ny.day_of(at("2025-07-02T04:00:00Z"))),
            "2025-07-02"
        );
        assert_eq!(
            format_day(ny.day_of(at("2025-01-02T04:30:00Z"))),
            "2025-01-01"
        );
        assert_eq!(
            format_day(ny.day_of(at("2025-01-02T05:00:00Z"))),
            "2025-01-02"
        );
    }

    #[test]
    fn utc_matches_the_utc_day_and_unknown_names_are_refused() {
        for t in [0, 1, DAY_MS - 1, DAY_MS, -1, at("2025-12-01T12:00:00Z")] {
            assert_eq!(Zone::utc().day_of(t), crate::time::day_of(t));
        }
        assert_eq!(Zone::utc().day_of(i64::MIN), crate::time::day_of(i64::MIN));
        let err = Zone::named("Asia/Atlantis").err().unwrap_or_default();
        assert!(err.contains("unknown time zone \"Asia/Atlantis\""), "{err}");
    }
}
