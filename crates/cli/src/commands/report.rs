//! The shapes commands print: segment totals and pending sync work, as JSON and as text.

use crate::output::outln;
use anyhow::Result;
use audience_store::{PendingSummary, StateStore};
use serde::Serialize;
use std::collections::BTreeMap;

/// One segment's line in a summary.
#[derive(Debug, Default, Serialize, Clone, Copy, PartialEq)]
pub struct SegmentLine {
    /// Current members.
    pub members: i64,
    /// Enters (in this run for `replay`, ever for `stats`).
    pub entered: u64,
    /// Exits (in this run for `replay`, ever for `stats`).
    pub exited: u64,
}

/// Pending work per destination and segment.
#[derive(Debug, Default, Serialize, Clone, Copy, PartialEq, Eq)]
pub struct PendingLine {
    /// Users to add.
    pub additions: u64,
    /// Users to remove.
    pub exits: u64,
}

/// destination → segment → pending.
pub type PendingMap = BTreeMap<String, BTreeMap<String, PendingLine>>;

/// Reads pending work from the store.
pub async fn pending(store: &dyn StateStore) -> Result<PendingMap> {
    let mut out: PendingMap = BTreeMap::new();
    for PendingSummary {
        destination,
        segment,
        additions,
        exits,
        ..
    } in store.pending_summary().await?
    {
        out.entry(destination)
            .or_default()
            .insert(segment, PendingLine { additions, exits });
    }
    Ok(out)
}

/// Prints segments and pending work as aligned text.
pub fn print_segments(
    segments: &BTreeMap<String, SegmentLine>,
    pending: &PendingMap,
) -> Result<()> {
    outln!(
        "{:<24} {:>8} {:>8} {:>8}",
        "segment",
        "members",
        "entered",
        "exited"
    )?;
    for (id, s) in segments {
        outln!(
            "{:<24} {:>8} {:>8} {:>8}",
            id,
            s.members,
            s.entered,
            s.exited
        )?;
    }
    if pending.is_empty() {
        outln!("\nno pending sync work")?;
        return Ok(());
    }
    outln!(
        "\n{:<10} {:<24} {:>9} {:>6}",
        "pending",
        "segment",
        "additions",
        "exits"
    )?;
    for (dest, segs) in pending {
        for (seg, p) in segs {
            outln!("{:<10} {:<24} {:>9} {:>6}", dest, seg, p.additions, p.exits)?;
        }
    }
    Ok(())
}
