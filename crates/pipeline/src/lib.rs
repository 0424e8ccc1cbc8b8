//! The pipeline: runs the pure core against a [`StateStore`] — decode a batch, resolve
//! identities, load users, apply, commit with optimistic retries — and the sweep, the rules
//! diff and `rules apply` (publishing a rules change) over stored state.
//!
//! The consumer Lambda, the replay tool and the sweep all call this crate, so a batch is
//! processed the same way everywhere. It knows nothing about DynamoDB or SQLite.

pub mod batch;
pub mod erase;
pub mod identity;
pub mod maintenance;
pub mod outbox;
pub mod rules_apply;
pub mod sizes;

pub use batch::{
    process_batch, process_decoded, process_records, BatchOptions, BatchOutcome, QuarantinedUser,
};
pub use erase::{erase_user, EraseReport};
pub use maintenance::{diff_rules, sweep, RulesDiff, SweepOutcome};
pub use rules_apply::{
    apply_rules, ApplyCounts, ApplyError, ApplyOptions, ApplyOutcome, RunLease, Start, APPLY_LEASE,
};
pub use sizes::{record_sizes, size_alerts, sizes_now, upkeep, SizeVerdict, Upkeep};
