//! `user show USER` and `user delete USER`: what the store keeps about one person, and erasing
//! it on request (APPI, GDPR). The erasure itself is `audience_pipeline::erase`; see
//! docs/erasure.md for what is deleted, what remains and when it goes.

use crate::open::{load_rules, open_store};
use crate::output::outln;
use crate::{RulesArgs, StoreArgs};
use anyhow::{bail, Result};
use audience_pipeline::EraseReport;

/// `user` subcommands.
#[derive(clap::Subcommand)]
pub enum UserCommand {
    /// Print what the store keeps about a user: its state (attributes, endpoints, LINE ID,
    /// aggregates, memberships) as JSON, the segments its member index lists and where its key
    /// is linked. Reads only.
    ///
    /// Example: audience-stream user show user-0001
    Show(ShowArgs),
    /// Erase a user on request (Japan's APPI, the GDPR): its state, memberships, identity
    /// links, due-index entries, quarantine entry and dead letters; its pending additions
    /// become exits.
    ///
    /// Segment sizes and daily history count the user as exiting each segment it was in, and
    /// each of those segments' destinations gets an exit entry: the next `sync` removes the
    /// user from LINE (the next rotation builds the audience without it) and from Pinpoint
    /// (the next import no longer lists it). Until then LINE and Pinpoint keep their own copy;
    /// docs/erasure.md lists everything that remains (logs, backups) and when it goes.
    ///
    /// USER is the user key as `explain` takes it (endpoint.User.UserId; an endpoint ID or
    /// `line:U…` for users known only by those). The ledger records that an erasure happened,
    /// with counts, never the key. Running it again reports nothing to delete. A consumer
    /// write racing the erasure is retried; an event arriving after it creates a new user.
    /// Ends non-zero when the store fails (nothing half-done stays unnoticed: run it again).
    ///
    /// In AWS, the same command against the table: --store dynamodb:TABLE (credentials and
    /// region from the AWS SDK's standard configuration).
    ///
    /// Example: audience-stream user delete user-0001 --dry-run
    ///
    /// Example: audience-stream user delete user-0001 --store dynamodb:audience-stream
    Delete(DeleteArgs),
}

/// Arguments of `user show`.
#[derive(clap::Args)]
pub struct ShowArgs {
    /// The user key.
    user: String,
    #[command(flatten)]
    store: StoreArgs,
}

/// Arguments of `user delete`.
#[derive(clap::Args)]
pub struct DeleteArgs {
    /// The user key (endpoint.User.UserId, an endpoint ID, or `line:U…`).
    user: String,
    /// Show what would be deleted and which exits would be queued; write nothing.
    #[arg(long)]
    dry_run: bool,
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

/// Runs a `user` subcommand.
pub async fn run(cmd: UserCommand) -> Result<()> {
    match cmd {
        UserCommand::Show(args) => show(args).await,
        UserCommand::Delete(args) => delete(args).await,
    }
}

async fn show(args: ShowArgs) -> Result<()> {
    if args.user.is_empty() {
        bail!("the user key is empty");
    }
    let store = open_store(&args.store.store).await?;
    let key = std::slice::from_ref(&args.user);
    let loaded = store.load_users(key).await?;
    let members = store.memberships_of(&args.user).await?;
    let linked_to = store.load_links(key).await?.remove(&args.user);
    let doc = serde_json::json!({
        "user": args.user,
        "state": loaded.states.get(&args.user),
        "unreadable": loaded.unreadable.get(&args.user),
        "member_of": members,
        "key_linked_to": linked_to,
    });
    outln!("{}", serde_json::to_string_pretty(&doc)?)?;
    Ok(())
}

async fn delete(args: DeleteArgs) -> Result<()> {
    if args.user.is_empty() {
        bail!("the user key is empty");
    }
    let rules = load_rules(&args.rules.rules)?;
    let now = args.now.resolve()?;
    let store = open_store(&args.store.store).await?;
    let report =
        audience_pipeline::erase_user(store.as_ref(), &rules, &args.user, now, args.dry_run)
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "erasing user `{}` did not finish: {e}\nRun the same command again: an erasure is safe to repeat.",
                    args.user
                )
            })?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?)?;
        return Ok(());
    }
    print_report(&report)
}

fn print_report(r: &EraseReport) -> Result<()> {
    if let Some(owner) = &r.linked_to {
        outln!(
            "note: `{}` is an identity linked to user `{owner}`; only `{}` is erased here (erase `{owner}` too if it is the same person)",
            r.user,
            r.user
        )?;
    }
    if r.found_nothing() {
        if r.dry_run {
            outln!(
                "user `{}`: no state and no membership (a real run still removes any link, pending addition, quarantine entry or dead letter left)",
                r.user
            )?;
        } else {
            outln!(
                "user `{}`: nothing to delete (no state, membership, link or pending entry is left)",
                r.user
            )?;
        }
        return Ok(());
    }
    let verb = if r.dry_run { "would leave" } else { "left" };
    outln!(
        "user `{}`{}{}",
        r.user,
        if r.dry_run {
            " (dry run: nothing written)"
        } else {
            ""
        },
        if r.unreadable {
            ": stored state unreadable, erased all the same"
        } else {
            ""
        }
    )?;
    outln!(
        "  {verb} {} segments: {}",
        r.segments.len(),
        r.segments.join(", ")
    )?;
    outln!(
        "  exit entries for destinations: {}",
        if r.exits_queued.is_empty() {
            "none".to_string()
        } else {
            r.exits_queued.join(", ")
        }
    )?;
    if !r.identities.is_empty() {
        outln!("  identities unlinked: {}", r.identities.join(", "))?;
    }
    if r.dry_run {
        outln!("  pending additions of the user also become exits; quarantine and dead letters of the user go")?;
        return Ok(());
    }
    let e = &r.erased;
    outln!(
        "  removed: state {}, memberships {}, exit entries {}, links {}, due entries {}, quarantine {}, dead letters {}",
        e.state, e.memberships, e.outbox, e.links, e.due, e.quarantine, e.dead_letters
    )?;
    outln!("  next: `audience-stream sync` removes the user from LINE (rotation) and Pinpoint (next import); see docs/erasure.md")?;
    Ok(())
}
