//! `sweep`: re-evaluate users whose next time-based flip has passed (exits on time), then the
//! upkeep: fold counter deltas (DynamoDB), record segment sizes, check size alerts.

use crate::open::{load_rules, open_store};
use crate::output::outln;
use crate::{RulesArgs, StoreArgs};
use anyhow::Result;
use audience_core::ChangeKind;
use std::collections::BTreeMap;

/// Arguments of `sweep`.
#[derive(clap::Args)]
pub struct SweepArgs {
    #[command(flatten)]
    now: crate::NowArgs,
    /// Users per page.
    #[arg(long, default_value_t = 500)]
    page: usize,
    /// Fold only counter deltas written longer ago than this (DynamoDB; e.g. 1h, 30m).
    #[arg(long, default_value = "1h")]
    fold_margin: audience_core::time::RuleDuration,
    /// Most fold transactions (≤ 100 items each) in this run; the rest waits for the next.
    #[arg(long, default_value_t = audience_store::FoldLimits::DEFAULT_MAX_TRANSACTIONS)]
    fold_transactions: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    rules: RulesArgs,
    #[command(flatten)]
    store: StoreArgs,
}

/// Runs `sweep`.
pub async fn run(args: SweepArgs) -> Result<()> {
    let rules = load_rules(&args.rules.rules)?;
    let now = args.now.resolve()?;
    let store = open_store(&args.store.store).await?;
    let out = audience_pipeline::sweep(store.as_ref(), &rules, now, args.page.max(1)).await?;
    let limits = audience_store::FoldLimits {
        margin_ms: args.fold_margin.millis(),
        max_transactions: args.fold_transactions,
    };
    let upkeep = audience_pipeline::upkeep(store.as_ref(), &rules, now, &limits).await?;
    let mut per_segment: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for c in &out.changes {
        let e = per_segment.entry(c.segment.clone()).or_default();
        match c.kind {
            ChangeKind::Entered => e.0 += 1,
            ChangeKind::Exited => e.1 += 1,
        }
    }
    if args.json {
        let segments: BTreeMap<_, _> = per_segment
            .iter()
            .map(|(k, (en, ex))| (k.clone(), serde_json::json!({"entered": en, "exited": ex})))
            .collect();
        let doc = serde_json::json!({
            "now": audience_core::time::format_rfc3339(now),
            "users": out.users,
            "conflicts": out.conflicts,
            "segments": segments,
            "changes": out.changes,
            "fold": upkeep.fold,
            "sizes": upkeep.sizes,
            "alerts": upkeep.alerts,
        });
        outln!("{}", serde_json::to_string_pretty(&doc)?)?;
        return Ok(());
    }
    outln!(
        "re-evaluated {} users at {}",
        out.users,
        audience_core::time::format_rfc3339(now)
    )?;
    for (seg, (en, ex)) in per_segment {
        outln!("  {seg:<24} entered {en:>6}  exited {ex:>6}")?;
    }
    if upkeep.fold.folded_items > 0 || upkeep.fold.more || upkeep.fold.conflicts > 0 {
        outln!(
            "folded {} counter items in {} transactions{}{}",
            upkeep.fold.folded_items,
            upkeep.fold.transactions,
            if upkeep.fold.more {
                " (more next run)"
            } else {
                ""
            },
            if upkeep.fold.conflicts > 0 {
                " (some refused: retried next run)"
            } else {
                ""
            },
        )?;
    }
    for (seg, change) in upkeep.flagged() {
        outln!("  sudden change: {seg} {}", change.reason)?;
    }
    Ok(())
}
