//! The wall clock, read in one place. The core (`audience-core`) is sans-IO and takes the time
//! as input; the adapters (stores, destinations, the Lambda shells, the CLI, the dashboard)
//! call these functions when they need "now", so there is one place to look for (and one to
//! change for) every wall-clock read.

use std::time::{SystemTime, UNIX_EPOCH};

/// The current wall-clock time. The only call of `SystemTime::now()` outside tests.
pub fn now() -> SystemTime {
    SystemTime::now()
}

/// Epoch milliseconds of `t`; 0 for an instant before 1970, `i64::MAX` past year 292 million.
pub fn epoch_millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The current wall-clock time in epoch milliseconds.
pub fn now_millis() -> i64 {
    epoch_millis(now())
}

/// The current wall-clock time in epoch nanoseconds (for IDs that sort by time and differ
/// between calls); 0 if the clock is set before 1970.
pub fn now_nanos() -> u128 {
    now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn epoch_millis_counts_from_1970_and_clamps_before_it() {
        assert_eq!(
            epoch_millis(UNIX_EPOCH + Duration::from_millis(1_764_547_200_123)),
            1_764_547_200_123
        );
        assert_eq!(epoch_millis(UNIX_EPOCH - Duration::from_secs(5)), 0);
    }

    #[test]
    fn now_is_after_2025_and_moves_forward() {
        let a = now_millis();
        assert!(a > 1_735_689_600_000, "{a} is before 2025");
        let n = now_nanos();
        assert!(n / 1_000_000 >= a as u128, "nanos {n} behind millis {a}");
    }
}
