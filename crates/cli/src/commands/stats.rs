//! `stats`: segment sizes and totals, pending sync work and daily history.

use crate::commands::report::{self, SegmentLine};
use crate::open::{load_rules, open_store};
use crate::output::outln;
use crate::{RulesArgs, StoreArgs};
use anyhow::Result;
use audience_core::time::format_day;
use serde::Serialize;
use std::collections::BTreeMap;

/// Arguments of `stats`.
#[derive(clap::Args)]
pub struct StatsArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    rules: RulesArgs,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// Days of daily history to show, ending at the newest day with a change.
    #[arg(long, default_value_t = 14)]
    days: u32,
    /// "Now" for today and size alerts (RFC 3339); default: the wall clock.
    #[command(flatten)]
    now: crate::NowArgs,
}

#[derive(Serialize)]
struct DayLine {
    day: String,
    entered: u64,
    exited: u64,
}

#[derive(Serialize)]
struct Stats {
    users: u64,
    /// The calendar time zone of the daily history (`settings.timezone`).
    timezone: String,
    segments: BTreeMap<String, SegmentLine>,
    pending: report::PendingMap,
    history: BTreeMap<String, Vec<DayLine>>,
    /// Warnings for people (segments synced to LINE with fewer members than LINE accepts as
    /// narrowcast recipients).
    warnings: Vec<String>,
    /// Segments with an `alert`: size now, when the earlier size was recorded and the
    /// sudden change flagged, if any.
    size_alerts: BTreeMap<String, audience_pipeline::SizeVerdict>,
    /// Users quarantined (newest first, at most 100): their state could not be read or
    /// was refused by the store; their records are kept as dead letters.
    quarantined: Vec<audience_store::Quarantined>,
}

/// Runs `stats`.
pub async fn run(args: StatsArgs) -> Result<()> {
    let rules = load_rules(&args.rules.rules)?;
    let store = open_store(&args.store.store).await?;
    let counts = store.segment_counts().await?;
    let segments: BTreeMap<String, SegmentLine> = counts
        .iter()
        .map(|(id, c)| {
            (
                id.clone(),
                SegmentLine {
                    members: c.members,
                    entered: c.entered,
                    exited: c.exited,
                },
            )
        })
        .collect();
    let now = args.now.resolve()?;
    let today = rules.zone.day_of(now);
    let mut history = BTreeMap::new();
    for id in counts.keys() {
        let rows = store.daily_history(id, 0, today + 366).await?;
        let last = rows.last().map_or(today, |r| r.day);
        let first = last - args.days as i32 + 1;
        history.insert(
            id.clone(),
            rows.into_iter()
                .filter(|r| r.day >= first)
                .map(|r| DayLine {
                    day: format_day(r.day),
                    entered: r.entered,
                    exited: r.exited,
                })
                .collect::<Vec<_>>(),
        );
    }
    let warnings = rules
        .segments
        .iter()
        .filter(|s| s.def.destinations.has("line"))
        .filter_map(|s| {
            let members = counts.get(&s.def.id).map_or(0, |c| c.members);
            audience_core::plan::line::narrowcast_warning(u64::try_from(members).unwrap_or(0))
                .map(|w| format!("{}: {w}", s.def.id))
        })
        .collect();
    let sizes = audience_pipeline::sizes_now(&rules, &counts);
    let size_alerts = audience_pipeline::size_alerts(store.as_ref(), &rules, &sizes, now).await?;
    let stats = Stats {
        users: store.user_count().await?,
        timezone: rules.zone.name().to_string(),
        segments,
        pending: report::pending(store.as_ref()).await?,
        history,
        warnings,
        size_alerts,
        quarantined: store.quarantined(100).await?,
    };
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&stats)?)?;
        return Ok(());
    }
    outln!("users in store: {}\n", stats.users)?;
    report::print_segments(&stats.segments, &stats.pending)?;
    for w in &stats.warnings {
        outln!("warning: {w}")?;
    }
    for (id, verdict) in &stats.size_alerts {
        if let Some(change) = &verdict.sudden_change {
            outln!("sudden change: {id} {}", change.reason)?;
        }
    }
    if !stats.quarantined.is_empty() {
        outln!(
            "\nquarantined users: {} (records kept as dead letters; see docs/limits.md)",
            stats.quarantined.len()
        )?;
        for q in &stats.quarantined {
            outln!(
                "  {}  {}  {}  {}",
                audience_core::time::format_rfc3339(q.at),
                q.user,
                q.reason,
                q.message
            )?;
        }
    }
    for (id, days) in &stats.history {
        if days.is_empty() {
            continue;
        }
        outln!("\n{id}: day ({}) entered exited", stats.timezone)?;
        for d in days {
            outln!("  {} {:>7} {:>6}", d.day, d.entered, d.exited)?;
        }
    }
    Ok(())
}
