//! `rules check FILE`, `rules diff OLD NEW` and `rules apply NEW`: validate a rules file; show
//! who would enter or exit if NEW replaced OLD (a dry run over the stored users); publish NEW
//! to the stored users (`rules_apply`).

use crate::open::{load_rules, open_store};
use crate::output::outln;
use crate::StoreArgs;
use anyhow::Result;
use std::path::PathBuf;

/// `rules` subcommands.
#[derive(clap::Subcommand)]
pub enum RulesCommand {
    /// Validate a rules file; errors name file:line:column.
    ///
    /// Example: audience-stream rules check fixtures/segments.yaml
    Check {
        /// The rules file.
        file: PathBuf,
    },
    /// Who would enter or exit each segment if NEW replaced OLD (nothing is written).
    ///
    /// Example: audience-stream rules diff fixtures/segments.yaml new-segments.yaml
    Diff {
        /// The rules in force.
        old: PathBuf,
        /// The proposed rules.
        new: PathBuf,
        #[command(flatten)]
        now: crate::NowArgs,
        /// Print JSON (with the user keys).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Publish a rules change: re-evaluate every stored user under NEW and queue the enters
    /// and exits for LINE, Pinpoint and every destination (the next sync sends them).
    ///
    /// Deploy NEW where the consumer, sweep and sync read their rules FIRST, then run this:
    /// events arriving meanwhile are evaluated by NEW already, and every write is
    /// version-conditioned, so nothing is applied twice or lost. Only users something changes
    /// for are written. Progress is saved after every page: a run that was stopped (Ctrl-C, a
    /// fault, --max-pages) continues where it stopped when run again with the same file.
    /// Running it twice changes nothing the second time. Segments NEW no longer defines are
    /// refused while they have members unless --drop-removed (docs/rules.md).
    ///
    /// Example: audience-stream rules diff fixtures/segments.yaml new.yaml && audience-stream rules apply new.yaml --store dynamodb:audience-stream
    Apply(super::rules_apply::ApplyArgs),
}

/// Runs a `rules` subcommand.
pub async fn run(cmd: RulesCommand) -> Result<()> {
    match cmd {
        RulesCommand::Apply(args) => super::rules_apply::run(args).await,
        RulesCommand::Check { file } => {
            let rules = load_rules(&file)?;
            outln!(
                "{}: {} segments, {} aggregates, longest window {} days",
                file.display(),
                rules.segments.len(),
                rules.aggs.len(),
                rules.max_window_days
            )?;
            for s in &rules.segments {
                let dests: Vec<&str> = s.def.destinations.kinds().collect();
                outln!(
                    "  {:<24} {:<18} {}",
                    s.def.id,
                    dests.join("+"),
                    s.def.description
                )?;
            }
            Ok(())
        }
        RulesCommand::Diff {
            old,
            new,
            now,
            json,
            store,
        } => {
            let old_rules = load_rules(&old)?;
            let new_rules = load_rules(&new)?;
            let now = now.resolve()?;
            let store = open_store(&store.store).await?;
            let diff =
                audience_pipeline::diff_rules(store.as_ref(), &old_rules, &new_rules, now).await?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&diff)?)?;
                return Ok(());
            }
            outln!(
                "{} users evaluated at {}",
                diff.users,
                audience_core::time::format_rfc3339(now)
            )?;
            let mut segments: Vec<&String> = diff.enter.keys().chain(diff.exit.keys()).collect();
            segments.sort();
            segments.dedup();
            if segments.is_empty() {
                outln!("no user would enter or exit any segment")?;
            }
            for s in segments {
                outln!(
                    "  {s:<24} would enter {:>6}  would exit {:>6}",
                    diff.enter.get(s).map_or(0, Vec::len),
                    diff.exit.get(s).map_or(0, Vec::len)
                )?;
            }
            Ok(())
        }
    }
}
