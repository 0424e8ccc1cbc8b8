//! `sweep`: re-evaluate users whose next time-based flip has passed (exits on time).

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
    Ok(())
}
