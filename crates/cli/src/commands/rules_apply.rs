//! `rules apply NEW`: publish a rules change — re-evaluate every stored user under NEW and
//! commit the enter/exit changes through the normal outbox (`audience_pipeline::rules_apply`),
//! with a progress bar on a terminal, resumable, and a summary at the end.

use crate::open::{load_rules, open_store};
use crate::output::outln;
use crate::StoreArgs;
use anyhow::{Context, Result};
use audience_pipeline::rules_apply::MAX_PARALLEL;
use audience_pipeline::{apply_rules, ApplyCounts, ApplyOptions, ApplyOutcome, RunLease, Start};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// Arguments of `rules apply`.
#[derive(clap::Args)]
pub struct ApplyArgs {
    /// The new rules (the ones the consumer, sweep and sync run from now on).
    pub new: PathBuf,
    #[command(flatten)]
    pub now: crate::NowArgs,
    /// Resume the unfinished run of these rules; fail if there is none. Without --resume or
    /// --restart, an unfinished run of the same rules file (same hash) is resumed and
    /// anything else starts over.
    #[arg(long, conflicts_with = "restart")]
    pub resume: bool,
    /// Start over even if a run of these rules is unfinished (safe: users already applied
    /// change nothing, they are only read again).
    #[arg(long)]
    pub restart: bool,
    /// Scan parts read in parallel (DynamoDB's parallel scan; the embedded store reads one).
    /// A resumed run keeps the parts it started with.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_PARALLEL)))]
    pub parallel: u32,
    /// Users per scan page (progress is saved after each page).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub page: u64,
    /// Stop after this many pages (a time-boxed run); run the same command again to go on.
    #[arg(long)]
    pub max_pages: Option<u64>,
    /// Let the members of segments NEW no longer defines leave, and leave those segments'
    /// LINE audiences and Pinpoint segments as they are (nothing syncs a segment that is not
    /// in the rules). Without it, such segments with members stop the command before anything
    /// is written; docs/rules.md shows how to empty them at the destinations first.
    #[arg(long)]
    pub drop_removed: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Identifies a rules file by its bytes (FNV-1a 64, hex): progress is resumed only for the
/// same file.
fn rules_hash(text: &[u8]) -> String {
    format!("{:016x}", audience_core::hash::fnv1a64(text))
}

/// Runs `rules apply`.
pub async fn run(args: ApplyArgs) -> Result<()> {
    let rules = load_rules(&args.new)?;
    let text = std::fs::read(&args.new)
        .with_context(|| format!("cannot read rules file {}", args.new.display()))?;
    let hash = rules_hash(&text);
    let now = args.now.resolve()?;
    let store = open_store(&args.store.store).await?;
    let opts = ApplyOptions {
        rules_hash: hash.clone(),
        start: match (args.resume, args.restart) {
            (true, _) => Start::Resume,
            (_, true) => Start::Restart,
            _ => Start::Auto,
        },
        parallel: args.parallel,
        page: usize::try_from(args.page).unwrap_or(500),
        drop_removed: args.drop_removed,
        max_pages: args.max_pages,
        // One run at a time per store; a run that died frees it ten minutes after its last page.
        lease: Some(RunLease {
            holder: format!(
                "rules-apply-{}-{}",
                std::process::id(),
                audience_clock::now_nanos()
            ),
            clock: audience_clock::now_millis,
            hold_ms: 10 * 60 * 1000,
        }),
        ..ApplyOptions::default()
    };
    let users = store.user_count().await?;
    let progress = ProgressBar::with_draw_target(Some(users), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{bar:30} {pos}/{len} users {per_sec} eta {eta} {msg}")
    {
        progress.set_style(style);
    }
    let on_page = |counts: &ApplyCounts| {
        progress.set_position(counts.users);
        progress.set_message(format!("{} changes", counts.changes()));
    };
    let outcome = apply_rules(store.as_ref(), &rules, now, &opts, &on_page).await;
    progress.finish_and_clear();
    let outcome = outcome.with_context(|| format!("rules apply {}", args.new.display()))?;
    if args.json {
        let doc = serde_json::json!({
            "rules": args.new.display().to_string(),
            "rules_hash": hash,
            "now": audience_core::time::format_rfc3339(now),
            "outcome": outcome,
        });
        outln!("{}", serde_json::to_string_pretty(&doc)?)?;
        return Ok(());
    }
    print_summary(&args, &hash, now, &outcome)
}

fn print_summary(args: &ApplyArgs, hash: &str, now: i64, o: &ApplyOutcome) -> Result<()> {
    let state = match (o.finished, o.resumed) {
        (true, true) => "finished (resumed an unfinished run)",
        (true, false) => "finished",
        (false, _) => "stopped at --max-pages: run the same command again to continue",
    };
    outln!(
        "rules apply {} (hash {hash}) at {}: {state}",
        args.new.display(),
        audience_core::time::format_rfc3339(now)
    )?;
    let r = &o.run;
    outln!(
        "  {} users evaluated, {} written, {} enters/exits, {} left to concurrent writers, {} quarantined ({} scan parts)",
        r.users,
        r.written,
        r.changes(),
        r.conflicts,
        r.quarantined,
        o.parts
    )?;
    if o.resumed {
        let t = &o.this_invocation;
        outln!(
            "  this invocation: {} users evaluated, {} written, {} enters/exits",
            t.users,
            t.written,
            t.changes()
        )?;
    }
    let segments: BTreeSet<&String> = r.entered.keys().chain(r.exited.keys()).collect();
    if segments.is_empty() {
        outln!("  no user entered or exited any segment")?;
    }
    for s in segments {
        let dropped = if o.dropped.contains_key(s) {
            "  (dropped: its destinations are left as they are)"
        } else {
            ""
        };
        outln!(
            "  {s:<24} entered {:>6}  exited {:>6}{dropped}",
            r.entered.get(s).copied().unwrap_or(0),
            r.exited.get(s).copied().unwrap_or(0)
        )?;
    }
    if !r.quarantined_users.is_empty() {
        outln!(
            "  quarantined (unreadable or refused by the store; see `stats`): {}",
            r.quarantined_users.join(", ")
        )?;
    }
    if r.changes() > 0 {
        outln!("the changes are in the outbox: the next `audience-stream sync` (in AWS, the scheduled sync function) sends them")?;
    }
    Ok(())
}
