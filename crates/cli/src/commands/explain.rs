//! `explain USER`: why a user is or is not in each segment, with the values, counts and
//! windows that decided it.

use crate::open::{load_rules, open_store};
use crate::output::outln;
use crate::{RulesArgs, StoreArgs};
use anyhow::{bail, Result};
use audience_core::Explanation;

/// Arguments of `explain`.
#[derive(clap::Args)]
pub struct ExplainArgs {
    /// The user key (endpoint.User.UserId, or the endpoint ID for endpoint-only users).
    user: String,
    /// Only this segment.
    #[arg(long)]
    segment: Option<String>,
    #[command(flatten)]
    now: crate::NowArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    rules: RulesArgs,
    #[command(flatten)]
    store: StoreArgs,
}

/// Runs `explain`.
pub async fn run(args: ExplainArgs) -> Result<()> {
    let rules = load_rules(&args.rules.rules)?;
    let now = args.now.resolve()?;
    let store = open_store(&args.store.store).await?;
    let mut users = store.load_users(std::slice::from_ref(&args.user)).await?;
    if let Some(why) = users.unreadable.get(&args.user) {
        bail!(
            "user `{}` is quarantined: its stored state cannot be read ({why}); see `audience-stream stats` for quarantined users",
            args.user
        );
    }
    let Some(state) = users.states.remove(&args.user) else {
        bail!(
            "user `{}` is not in the store {}",
            args.user,
            args.store.store
        );
    };
    let mut out = Vec::new();
    for (i, seg) in rules.segments.iter().enumerate() {
        if args.segment.as_ref().is_some_and(|s| s != &seg.def.id) {
            continue;
        }
        if let Some(e) = audience_core::explain(&state, &rules, i, now) {
            out.push((
                seg.def.id.clone(),
                state.memberships.contains_key(&seg.def.id),
                e,
            ));
        }
    }
    if let Some(wanted) = &args.segment {
        if out.is_empty() {
            bail!(
                "segment `{wanted}` is not in {}",
                args.rules.rules.display()
            );
        }
    }
    if args.json {
        let doc: Vec<_> = out
            .iter()
            .map(|(id, stored, e)| serde_json::json!({"segment": id, "member_now": e.holds, "member_stored": stored, "explanation": e}))
            .collect();
        outln!("{}", serde_json::to_string_pretty(&doc)?)?;
        return Ok(());
    }
    outln!(
        "user {} at {}",
        args.user,
        audience_core::time::format_rfc3339(now)
    )?;
    for (id, stored, e) in &out {
        outln!(
            "\n{} {id}{}",
            if e.holds { "IN " } else { "OUT" },
            if *stored != e.holds {
                " (stored membership differs: a sweep or new event will update it)"
            } else {
                ""
            }
        )?;
        print_tree(e, 1)?;
    }
    Ok(())
}

fn print_tree(e: &Explanation, depth: usize) -> Result<()> {
    let mark = if e.holds { "✓" } else { "✗" };
    let detail = if e.detail.is_empty() {
        String::new()
    } else {
        format!(" — {}", e.detail)
    };
    outln!("{}{mark} {}{detail}", "  ".repeat(depth), e.condition)?;
    for c in &e.children {
        print_tree(c, depth + 1)?;
    }
    Ok(())
}
