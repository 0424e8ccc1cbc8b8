//! Time units, the generated time window, and Pinpoint's ISO-8601 date format.

use crate::options::GenOptions;

pub(crate) const SECOND_MS: i64 = 1_000;
pub(crate) const MINUTE_MS: i64 = 60 * SECOND_MS;
pub(crate) const HOUR_MS: i64 = 60 * MINUTE_MS;
pub(crate) const DAY_MS: i64 = 24 * HOUR_MS;

/// The oldest instant events may have: `days` (at least one) before `end_ms`.
pub(crate) fn window_start(opts: &GenOptions) -> i64 {
    opts.end_ms - i64::from(opts.days.max(1)) * DAY_MS
}

/// ISO-8601 UTC with milliseconds, as Pinpoint writes `EffectiveDate`/`CreationDate`.
pub(crate) fn iso(ms: i64) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00.000Z".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_has_milliseconds_and_z() {
        assert_eq!(iso(1_764_547_200_123), "2025-12-01T00:00:00.123Z");
        assert_eq!(iso(0), "1970-01-01T00:00:00.000Z");
    }
}
