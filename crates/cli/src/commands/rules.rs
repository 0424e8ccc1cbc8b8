//! `rules check FILE` and `rules diff OLD NEW`: validate a rules file; show who would enter or
//! exit if NEW replaced OLD (a dry run over the stored users).

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
}

/// Runs a `rules` subcommand.
pub async fn run(cmd: RulesCommand) -> Result<()> {
    match cmd {
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
