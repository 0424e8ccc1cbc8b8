//! Time as the core sees it: epoch milliseconds, UTC day numbers and rule durations.
//!
//! The core never reads a clock. Callers pass `now` (epoch ms) in; the Lambda uses the wall
//! clock, a replay uses the newest event time of its input.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Epoch milliseconds (UTC).
pub type Millis = i64;

/// Milliseconds in one day.
pub const DAY_MS: Millis = 86_400_000;

/// The UTC day number (days since 1970-01-01) that holds `ms`.
pub fn day_of(ms: Millis) -> i32 {
    // div_euclid keeps pre-1970 instants on the right day; the clamp keeps the cast lossless.
    ms.div_euclid(DAY_MS)
        .clamp(i32::MIN as i64, i32::MAX as i64) as i32
}

/// The first millisecond of UTC day `day` (cannot overflow: |i32| days fit in i64 ms).
pub fn day_start(day: i32) -> Millis {
    day as Millis * DAY_MS
}

/// The instants a record is judged against: `now` is the evaluation time (the wall clock in
/// the Lambda, the replay's `now` in a replay); `wall` is the real wall clock, the hard bound
/// of "in the future" (a replay of old files evaluates in the past, but no event can be from
/// after the moment it is read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// Evaluation time, epoch ms.
    pub now: Millis,
    /// Real wall-clock time, epoch ms.
    pub wall: Millis,
}

impl Clock {
    /// A clock where the evaluation time is the wall clock (the Lambda, the sweep).
    pub fn at(now: Millis) -> Clock {
        Clock { now, wall: now }
    }
}

/// How far an event's own time may lie from the time it reached the system before the record
/// is set aside as `time_out_of_range` (set aside, not clamped: a clamped time would count
/// an event on a day it did not happen).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeBounds {
    /// How far ahead of its arrival (and of the wall clock) an event may be (device clocks
    /// run fast); default 1 day.
    pub max_ahead: RuleDuration,
    /// How far behind its arrival an event may be (devices buffer events offline); default:
    /// the longest window or recency bound of the rules plus 30 days.
    pub max_behind: RuleDuration,
}

/// Why an event's time was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeOutOfRange {
    /// The event time.
    pub t: Millis,
    /// What it was compared with, in words.
    pub why: String,
}

/// The earliest event time accepted at all: 2000-01-01T00:00:00Z. No app analytics event is
/// older; an older time is a device clock reset or a placeholder (0, `i64::MIN`).
pub const EARLIEST_EVENT_MS: Millis = 946_684_800_000;

/// Checks an event time `t` against the time the record arrived (`arrival`: the event's own
/// `arrival_timestamp`, or Kinesis' approximate arrival; `clock.now` when unknown), against
/// the wall clock and against [`EARLIEST_EVENT_MS`]. All arithmetic saturates, so `i64::MIN`
/// or `i64::MAX` is simply out of range.
pub fn check_event_time(
    t: Millis,
    arrival: Option<Millis>,
    clock: Clock,
    bounds: &TimeBounds,
) -> Result<(), TimeOutOfRange> {
    let received = arrival.unwrap_or(clock.now);
    let ahead = bounds.max_ahead.millis();
    let refuse = |why: String| Err(TimeOutOfRange { t, why });
    if t < EARLIEST_EVENT_MS {
        return refuse(format!(
            "event time {} is before 2000-01-01, the earliest accepted",
            format_rfc3339(t)
        ));
    }
    if t > received.saturating_add(ahead) {
        return refuse(format!(
            "event time {} is more than {} after its arrival at {}",
            format_rfc3339(t),
            bounds.max_ahead,
            format_rfc3339(received)
        ));
    }
    if t > clock.wall.saturating_add(ahead) {
        return refuse(format!(
            "event time {} is more than {} after the wall clock ({})",
            format_rfc3339(t),
            bounds.max_ahead,
            format_rfc3339(clock.wall)
        ));
    }
    if t < received.saturating_sub(bounds.max_behind.millis()) {
        return refuse(format!(
            "event time {} is more than {} before its arrival at {}",
            format_rfc3339(t),
            bounds.max_behind,
            format_rfc3339(received)
        ));
    }
    Ok(())
}

/// A duration written in a rules file: `30d`, `12h`, `15m`, `45s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RuleDuration {
    millis: Millis,
}

impl RuleDuration {
    /// The longest duration a rule may use: 400 days.
    pub const MAX: RuleDuration = RuleDuration {
        millis: 400 * DAY_MS,
    };

    /// A duration of whole days (saturating; no rule reaches the bound).
    pub fn days(days: i64) -> Self {
        RuleDuration {
            millis: days.saturating_mul(DAY_MS),
        }
    }

    /// The duration in milliseconds.
    pub fn millis(self) -> Millis {
        self.millis
    }

    /// The duration in whole days, if it is a whole number of days.
    pub fn whole_days(self) -> Option<i32> {
        (self.millis % DAY_MS == 0).then_some((self.millis / DAY_MS) as i32)
    }
}

impl TryFrom<String> for RuleDuration {
    type Error = String;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl std::str::FromStr for RuleDuration {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        let split = trimmed
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| format!("duration `{text}` has no unit: write e.g. 30d, 12h, 15m"))?;
        let (digits, unit) = trimmed.split_at(split);
        let amount: i64 = digits
            .parse()
            .map_err(|_| format!("duration `{text}` must start with a whole number, e.g. 30d"))?;
        let unit_ms = match unit {
            "d" => DAY_MS,
            "h" => 3_600_000,
            "m" => 60_000,
            "s" => 1_000,
            other => {
                return Err(format!(
                    "duration `{text}` has unknown unit `{other}`: use d, h, m or s"
                ))
            }
        };
        let millis = amount
            .checked_mul(unit_ms)
            .filter(|ms| *ms > 0)
            .ok_or_else(|| format!("duration `{text}` must be greater than zero"))?;
        if millis > RuleDuration::MAX.millis {
            return Err(format!(
                "duration `{text}` is longer than the 400-day limit"
            ));
        }
        Ok(RuleDuration { millis })
    }
}

impl From<RuleDuration> for String {
    fn from(d: RuleDuration) -> String {
        d.to_string()
    }
}

impl fmt::Display for RuleDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.millis;
        if ms % DAY_MS == 0 {
            write!(f, "{}d", ms / DAY_MS)
        } else if ms % 3_600_000 == 0 {
            write!(f, "{}h", ms / 3_600_000)
        } else if ms % 60_000 == 0 {
            write!(f, "{}m", ms / 60_000)
        } else {
            write!(f, "{}s", ms / 1_000)
        }
    }
}

/// Formats epoch milliseconds as an RFC 3339 UTC timestamp (second precision).
pub fn format_rfc3339(ms: Millis) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Formats a UTC day number as `YYYY-MM-DD`.
pub fn format_day(day: i32) -> String {
    let (y, m, d) = civil_from_days(day as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_rejects_bad_durations() {
        assert_eq!("30d".parse::<RuleDuration>().unwrap().millis(), 30 * DAY_MS);
        assert_eq!(
            "12h".parse::<RuleDuration>().unwrap().millis(),
            12 * 3_600_000
        );
        assert_eq!("15m".parse::<RuleDuration>().unwrap().to_string(), "15m");
        assert!("401d"
            .parse::<RuleDuration>()
            .unwrap_err()
            .contains("400-day"));
        assert!("0d".parse::<RuleDuration>().is_err());
        assert!("30"
            .parse::<RuleDuration>()
            .unwrap_err()
            .contains("no unit"));
        assert!("3w"
            .parse::<RuleDuration>()
            .unwrap_err()
            .contains("unknown unit"));
    }

    #[test]
    fn formats_dates() {
        assert_eq!(format_rfc3339(1_567_780_272_608), "2019-09-06T14:31:12Z");
        assert_eq!(format_day(day_of(1_764_547_200_000)), "2025-12-01");
        assert_eq!(day_of(-1), -1);
    }
}
