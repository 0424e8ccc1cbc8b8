//! `explain USER`: why a user is or is not in each segment, with the values, counts and
//! windows that decided it, and for segments with a `line_message` destination the user's
//! messages (pending, held and why, sent) as `audience_sync::line_message::explain` reads them.

use crate::open::{load_rules, open_store};
use crate::output::outln;
use crate::{RulesArgs, StoreArgs};
use anyhow::{bail, Result};
use audience_core::{Explanation, Millis};
use audience_sync::line_message::explain::{user_messages, Guard, SentRecord, UserMessages};
use audience_sync::line_message::settings::LineMessageSettings;
use audience_sync::spec::SegmentSettings;

/// Arguments of `explain`.
///
/// For each segment with a `line_message` destination it also shows the user's messages: the
/// pending entry with its rendered text and what holds it (no LINE ID or blocked, the
/// frequency cap, quiet hours), requests planned and not yet confirmed, and the last send per
/// the cap record (without `cap` no per-user send record exists: the ledger holds no user IDs).
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
            let messages = match LineMessageSettings::of(seg) {
                None => None,
                Some(settings) => {
                    let settings =
                        settings.map_err(|m| anyhow::anyhow!("segment `{}`: {m}", seg.def.id))?;
                    Some(
                        user_messages(
                            store.as_ref(),
                            &settings,
                            &rules.zone,
                            &seg.def.id,
                            &args.user,
                            Some(&state),
                            now,
                        )
                        .await?,
                    )
                }
            };
            out.push((
                seg.def.id.clone(),
                state.memberships.contains_key(&seg.def.id),
                e,
                messages,
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
            .map(|(id, stored, e, messages)| {
                let mut v = serde_json::json!({"segment": id, "member_now": e.holds, "member_stored": stored, "explanation": e});
                if let Some(m) = messages {
                    v["messages"] = serde_json::to_value(m)?;
                }
                Ok(v)
            })
            .collect::<Result<_>>()?;
        outln!("{}", serde_json::to_string_pretty(&doc)?)?;
        return Ok(());
    }
    outln!(
        "user {} at {}",
        args.user,
        audience_core::time::format_rfc3339(now)
    )?;
    for (id, stored, e, messages) in &out {
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
        if let Some(m) = messages {
            print_messages(m)?;
        }
    }
    Ok(())
}

fn at(ms: Millis) -> String {
    audience_core::time::format_rfc3339(ms)
}

fn print_messages(m: &UserMessages) -> Result<()> {
    outln!("  messages (line_message):")?;
    if m.pending.is_empty() {
        outln!("    nothing pending")?;
    }
    for p in &m.pending {
        let why = match &p.guard {
            Guard::WouldSend => "would be sent by the next sync run".to_string(),
            Guard::NoMessages => format!("no {} messages declared: nothing is sent", p.on),
            Guard::Expired { expired_at } => format!(
                "held by quiet hours past their expiry ({}): dropped, not sent",
                at(*expired_at)
            ),
            Guard::QuietHours {
                send_after,
                expires_at,
            } => format!(
                "held by quiet hours: sent after about {}, dropped if still held at {}",
                at(*send_after),
                at(*expires_at)
            ),
            Guard::NoLineId => "not sent: the user has no LINE user ID".to_string(),
            Guard::Blocked => "not sent: the user blocked the LINE account".to_string(),
            Guard::NotRendered { why } => format!("not sent: cannot render ({why})"),
            Guard::Capped {
                last_sent,
                cap_ends,
            } => format!(
                "not sent: capped (last message {}, cap ends {})",
                at(*last_sent),
                at(*cap_ends)
            ),
        };
        outln!(
            "    pending {} (change at {}): {why}",
            p.on,
            at(p.changed_at)
        )?;
        for msg in &p.messages {
            outln!("      {}", message_line(msg))?;
        }
    }
    if m.pending_scan_truncated {
        outln!(
            "    (the segment has more pending entries than were read: the user's may be among the rest)"
        )?;
    }
    for r in &m.planned {
        outln!(
            "    planned {} at {}, not yet confirmed sent (retry key {}): the next run re-sends it",
            r.kind,
            at(r.planned_at),
            r.retry_key
        )?;
    }
    if let Some(parked) = &m.parked {
        outln!("    segment parked ({parked}): nothing is sent until `sync --retry-parked`")?;
    }
    match &m.sent {
        SentRecord::NoCapNoRecord => outln!(
            "    sent: unknown per user (no cap declared, so no per-user send record; the ledger counts sends without user IDs)"
        )?,
        SentRecord::NeverSent => {
            outln!("    sent: none recorded (the cap record has no send to this user)")?
        }
        SentRecord::LastSent { at: last, cap_ends } => outln!(
            "    sent: last message {} (cap record); cap ends {}",
            at(*last),
            at(*cap_ends)
        )?,
    }
    Ok(())
}

/// A rendered message on one line: the text of a text message, else its type and altText.
fn message_line(msg: &serde_json::Value) -> String {
    let kind = msg["type"].as_str().unwrap_or("?");
    match (kind, msg["text"].as_str(), msg["altText"].as_str()) {
        ("text", Some(text), _) => format!("text: {text}"),
        (_, _, Some(alt)) => format!("{kind}: {alt}"),
        _ => kind.to_string(),
    }
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
