//! Upkeep of stored aggregates, run by the sweep: folding counter deltas
//! ([`StateStore::fold_counters`](crate::StateStore::fold_counters)) and the per-segment size
//! snapshots that size alerts compare against
//! ([`StateStore::record_sizes`](crate::StateStore::record_sizes),
//! [`StateStore::sizes_at`](crate::StateStore::sizes_at)).

use audience_core::Millis;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How much one [`fold_counters`](crate::StateStore::fold_counters) call may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FoldLimits {
    /// Only deltas written longer ago than this are folded (a writer still completing a
    /// fan-out may add to a delta item for a while after its commit; Lambda stops at 15 min).
    pub margin_ms: Millis,
    /// Most write transactions (≤ 100 actions each) in one call; the rest waits for the next.
    pub max_transactions: usize,
}

impl FoldLimits {
    /// The default margin: one hour.
    pub const DEFAULT_MARGIN_MS: Millis = 3_600_000;
    /// The default work per call: 50 transactions (≤ 5,000 delta items).
    pub const DEFAULT_MAX_TRANSACTIONS: usize = 50;
}

impl Default for FoldLimits {
    fn default() -> Self {
        FoldLimits {
            margin_ms: Self::DEFAULT_MARGIN_MS,
            max_transactions: Self::DEFAULT_MAX_TRANSACTIONS,
        }
    }
}

/// What a fold did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FoldOutcome {
    /// Delta items folded into base items (and deleted).
    pub folded_items: u64,
    /// Write transactions committed.
    pub transactions: u64,
    /// Transactions refused because something changed under them (a concurrent fold, a
    /// late fan-out write); their deltas stay and the next run folds them.
    pub conflicts: u64,
    /// The work limit stopped the fold before every eligible delta was folded.
    pub more: bool,
    /// Deltas written before this instant were eligible (`None`: nothing to fold).
    pub cutoff: Option<Millis>,
}

/// Member counts of every segment at one instant, as the sweep recorded them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SizeSnapshot {
    /// When the sizes were read (epoch ms).
    pub at: Millis,
    /// Segment → members.
    pub sizes: BTreeMap<String, i64>,
}

/// Size snapshots are kept this long (the longest `alert.within` is 7 days).
pub const SIZE_SNAPSHOT_RETENTION_MS: Millis = 8 * 86_400_000;
