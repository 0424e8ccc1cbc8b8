//! `audiences`: each segment's LINE audiences — the current one (ID, name, created, size as
//! LINE reports it when LINE is reachable), a replacement being built, and the earlier ones
//! with when they were replaced and deleted — from the stored sync state and ledger.

use crate::open::{load_rules, open_store};
use crate::output::outln;
use crate::{RulesArgs, StoreArgs};
use anyhow::{Context, Result};
use audience_core::plan::line::narrowcast_warning;
use audience_core::time::format_rfc3339;
use audience_destinations::{line_client, LineCredentials};
use audience_sync::line::history::{audience_history, AudienceHistory, AudienceRecord};
use audience_sync::line::state::StoredLineState;
use serde::Serialize;

/// Arguments of `audiences`.
#[derive(clap::Args)]
pub struct AudiencesArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    rules: RulesArgs,
    /// Only this segment.
    #[arg(long, value_name = "ID")]
    segment: Option<String>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// Do not ask LINE for sizes, even when credentials are set.
    #[arg(long)]
    offline: bool,
    /// LINE Messaging API base URL (default https://api.line.me, or LINE_API_BASE).
    #[arg(long, value_name = "URL")]
    line_api_base: Option<String>,
    /// Ledger rows read (newest first) to find earlier audiences.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    ledger_limit: usize,
}

#[derive(Serialize)]
struct SegmentAudiences {
    #[serde(flatten)]
    history: AudienceHistory,
    /// Current members of the segment.
    members: i64,
    /// Why LINE sizes are missing, when they are.
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<String>,
    warnings: Vec<String>,
}

/// Runs `audiences`.
pub async fn run(args: AudiencesArgs) -> Result<()> {
    let rules = load_rules(&args.rules.rules)?;
    let store = open_store(&args.store.store).await?;
    let client = if args.offline {
        None
    } else {
        line_client(LineCredentials::Env {
            api_base: args.line_api_base.as_deref(),
            data_base: None,
        })?
    };
    let ledger = store.ledger(args.ledger_limit).await?;
    let counts = store.segment_counts().await?;
    let mut out = Vec::new();
    for seg in &rules.segments {
        let id = seg.def.id.as_str();
        if !seg.def.destinations.has("line") || args.segment.as_deref().is_some_and(|s| s != id) {
            continue;
        }
        let state: Option<StoredLineState> = store
            .destination_state("line", id)
            .await?
            .map(serde_json::from_value)
            .transpose()
            .with_context(|| format!("the stored LINE state of segment {id} cannot be read"))?;
        let mut history = audience_history(id, state.as_ref(), &ledger);
        let mut line_note = None;
        match &client {
            None => {
                line_note = Some(if args.offline {
                    "not asked (--offline)".to_string()
                } else {
                    "LINE is not configured: sizes unknown".to_string()
                });
            }
            Some(client) => {
                for rec in history.all_mut().filter(|r| r.deleted_at.is_none()) {
                    match client.get_audience(rec.audience_id).await {
                        Ok(detail) => fill(rec, &detail.audience_group),
                        Err(e) if e.has_code("AUDIENCE_GROUP_NOT_FOUND") => {
                            rec.status = Some("NOT_FOUND".into());
                        }
                        Err(e) => line_note = Some(format!("LINE could not be asked: {e}")),
                    }
                }
            }
        }
        let members = counts.get(id).map_or(0, |c| c.members);
        let size = history
            .current
            .as_ref()
            .and_then(|c| c.size)
            .unwrap_or(u64::try_from(members).unwrap_or(0));
        let warnings = narrowcast_warning(size).into_iter().collect();
        out.push(SegmentAudiences {
            history,
            members,
            line: line_note,
            warnings,
        });
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&out)?)?;
        return Ok(());
    }
    if out.is_empty() {
        outln!("no segment has a LINE destination")?;
    }
    for s in &out {
        outln!("{} ({} members)", s.history.segment, s.members)?;
        match &s.history.current {
            Some(c) => outln!("  current      {}", describe(c))?,
            None => outln!("  current      none yet (created by the first sync)")?,
        }
        if let Some(r) = &s.history.replacement {
            outln!("  replacement  {} (being built)", describe(r))?;
        }
        for e in &s.history.earlier {
            outln!("  earlier      {}", describe(e))?;
        }
        if let Some(note) = &s.line {
            outln!("  ({note})")?;
        }
        for w in &s.warnings {
            outln!("  warning: {w}")?;
        }
    }
    Ok(())
}

fn fill(rec: &mut AudienceRecord, g: &audience_line::AudienceGroup) {
    rec.size = g.audience_count.and_then(|n| u64::try_from(n).ok());
    rec.status = Some(g.status.to_string());
    if rec.name.is_none() {
        rec.name.clone_from(&g.description);
    }
    if rec.created_at.is_none() {
        rec.created_at = g.created.map(|s| s.saturating_mul(1000));
    }
}

fn describe(r: &AudienceRecord) -> String {
    let mut out = format!(
        "{} {:?}",
        r.audience_id,
        r.name.as_deref().unwrap_or("(name unknown)")
    );
    let at = |label: &str, t: Option<i64>| t.map(|t| format!(", {label} {}", format_rfc3339(t)));
    out.extend(at("created", r.created_at));
    out.extend(at("in use from", r.in_use_from));
    out.extend(at("replaced", r.replaced_at));
    out.extend(at("deleted", r.deleted_at));
    if let Some(size) = r.size {
        out.push_str(&format!(", size {size} (LINE)"));
    }
    if let Some(status) = &r.status {
        out.push_str(&format!(", {status}"));
    }
    if r.failed {
        out.push_str(", failed replacement (never used)");
    }
    out
}
