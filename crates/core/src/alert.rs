//! Size alerts: a segment's optional `alert: { change_pct, change_abs, within }` and the pure
//! check of its size now against its size `within` ago. A segment that suddenly doubles or
//! empties (a broken app release, a rules typo) is flagged with a reason for people.
//!
//! Every threshold given must be met: `change_pct: 50, change_abs: 1000` flags a change of at
//! least 50 % *and* at least 1,000 members, so a segment of 10 that gains 10 is not flagged.
//! From an empty segment any growth is an infinite percentage.

use crate::time::{RuleDuration, DAY_MS};
use crate::Millis;
use serde::{Deserialize, Serialize};

/// The longest `within`: size snapshots are kept 8 days.
pub const MAX_WITHIN_MS: Millis = 7 * DAY_MS;
/// The shortest `within` (the sweep records sizes every few minutes).
pub const MIN_WITHIN_MS: Millis = 60_000;

/// A segment's `alert` setting.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SizeAlert {
    /// Smallest relative change flagged, in percent of the earlier size (e.g. 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_pct: Option<f64>,
    /// Smallest absolute change flagged, in members (e.g. 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_abs: Option<u64>,
    /// How far back the earlier size is taken (e.g. `1h`; 1 minute to 7 days).
    pub within: RuleDuration,
}

/// A flagged change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SuddenChange {
    /// Members `within` ago (the size snapshot used).
    pub before: i64,
    /// Members now.
    pub now: i64,
    /// `now − before`.
    pub change: i64,
    /// The change in percent of `before` (`None` when `before` is 0).
    pub change_pct: Option<f64>,
    /// For people: "grew from 1200 to 2600 (+1400, +116.7%) within 1h".
    pub reason: String,
}

impl SizeAlert {
    /// Checks the setting; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.change_pct.is_none() && self.change_abs.is_none() {
            return Err("alert needs change_pct, change_abs or both (e.g. `alert: { change_pct: 50, change_abs: 1000, within: 1h }`)".into());
        }
        if let Some(pct) = self.change_pct {
            if !(pct.is_finite() && pct > 0.0 && pct <= 1_000_000.0) {
                return Err(format!(
                    "alert.change_pct must be a percentage above 0 (at most 1000000), not {pct}"
                ));
            }
        }
        if self.change_abs == Some(0) {
            return Err("alert.change_abs must be at least 1 member".into());
        }
        let within = self.within.millis();
        if !(MIN_WITHIN_MS..=MAX_WITHIN_MS).contains(&within) {
            return Err(format!(
                "alert.within must be between 1m and 7d (size snapshots are kept 8 days), not {}",
                self.within
            ));
        }
        Ok(())
    }

    /// Whether going from `before` members to `now` members is a sudden change. Negative sizes
    /// (never expected) count as 0.
    pub fn check(&self, before: i64, now: i64) -> Option<SuddenChange> {
        let (before, now) = (before.max(0), now.max(0));
        let change = now.saturating_sub(before);
        if change == 0 {
            return None;
        }
        let magnitude = change.unsigned_abs();
        if self.change_abs.is_some_and(|abs| magnitude < abs) {
            return None;
        }
        let pct = (before > 0).then(|| change as f64 * 100.0 / before as f64);
        if let Some(min) = self.change_pct {
            // From 0, any growth is an infinite change.
            if pct.is_some_and(|p| p.abs() < min) {
                return None;
            }
        }
        let direction = if change > 0 { "grew" } else { "shrank" };
        let pct_text = pct.map_or(String::new(), |p| format!(", {p:+.1}%"));
        Some(SuddenChange {
            before,
            now,
            change,
            change_pct: pct,
            reason: format!(
                "{direction} from {before} to {now} ({change:+}{pct_text}) within {}",
                self.within
            ),
        })
    }
}
