//! `sync`: drain the outbox into LINE audiences and Pinpoint import jobs, or (`--dry-run`)
//! plan and write the requests without credentials, sending and changing nothing.

use crate::output::{out, outln};
use anyhow::{bail, Context, Result};
use audience_destinations::{DestinationKind, LineCredentials};
use audience_sync::{wall_clock_ms, SyncConfig, SyncContext, SyncRunner};
use std::path::PathBuf;
use std::time::Duration;

const AFTER_HELP: &str = "\
LINE credentials come from the environment, never from flags:
  LINE_CHANNEL_ACCESS_TOKEN (or LINE_CHANNEL_ACCESS_TOKEN_FILE)   a long-lived channel token, or
  LINE_CHANNEL_ID + LINE_CHANNEL_SECRET (or LINE_CHANNEL_SECRET_FILE)
                                                short-lived tokens issued and cached until near expiry
  LINE_TOKEN_KIND=stateless                      15-minute stateless tokens instead
Pinpoint uses the AWS SDK's standard configuration (AWS_REGION, AWS_PROFILE, credentials,
AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL_PINPOINT for emulators).

What a run does, per segment: LINE additions are batched (≤ 10,000 IDs per JSON request, one
file upload above line.file_threshold); exits are handled by rotating to a fresh audience when
the rotation policy allows (docs/line.md); Pinpoint re-imports the segment's full membership
when it changed (docs/pinpoint.md). Every request and result goes to the sync ledger; an outbox
entry is acknowledged only after the destination accepted it. A permanent refusal parks the
segment until --retry-parked.

Destinations: every configured one by default. A destination with no configuration (no LINE
credentials; no Pinpoint application, bucket and role) is reported `not_configured` and
skipped — its changes stay pending — while the others sync. --destination limits the run to
the kinds named (an unconfigured one named is an error).

One run at a time: a run holds the store's `sync` lease until its deadline (--max-seconds) plus
30 s; a run started meanwhile prints \"another sync run holds the lease until …\" and sends
nothing. --dry-run takes no lease.

Examples:
  audience-stream sync --dry-run                         plan every segment, write out/sync/
  audience-stream sync --segment recent-buyers           sync one segment
  audience-stream sync --destination line                LINE only (Pinpoint not configured or not wanted)
  audience-stream sync --line-api-base http://127.0.0.1:8080 --line-data-base http://127.0.0.1:8081
  audience-stream sync --pinpoint-application-id APP --s3-bucket B --import-role-arn arn:aws:iam::123456789012:role/pinpoint-import";

/// Arguments of `audience-stream sync`.
#[derive(clap::Args)]
#[command(after_long_help = AFTER_HELP)]
pub struct SyncArgs {
    #[command(flatten)]
    pub store: crate::StoreArgs,
    #[command(flatten)]
    pub rules: crate::RulesArgs,
    /// Plan only: print the planned requests and write them (LINE plans with every ID, the
    /// Pinpoint CSV and CreateImportJob request, LINE messages rendered with their
    /// recipients) under --out. Sends nothing, acknowledges nothing, needs no credentials
    /// and no AWS.
    #[arg(long)]
    pub dry_run: bool,
    /// Sync only this segment (default: every segment with a destination).
    #[arg(long, value_name = "ID")]
    pub segment: Option<String>,
    /// Sync only this destination kind: `line`, `pinpoint`, `eventbridge` or `line_message`
    /// (repeatable; default: every configured one, the others reported `not_configured`).
    #[arg(long = "destination", value_name = "KIND")]
    pub destinations: Vec<DestinationKind>,
    /// Where --dry-run writes its files.
    #[arg(long, value_name = "DIR", default_value = "out/sync")]
    pub out: PathBuf,
    /// LINE Messaging API base URL (default https://api.line.me, or LINE_API_BASE).
    #[arg(long, value_name = "URL")]
    pub line_api_base: Option<String>,
    /// LINE by-file upload base URL (default https://api-data.line.me, or LINE_DATA_BASE).
    #[arg(long, value_name = "URL")]
    pub line_data_base: Option<String>,
    /// Pinpoint project (application) ID (overrides pinpoint.application_id of --config).
    #[arg(
        long,
        value_name = "ID",
        env = "AUDIENCE_STREAM_PINPOINT_APPLICATION_ID"
    )]
    pub pinpoint_application_id: Option<String>,
    /// Bucket for Pinpoint import files (overrides pinpoint.bucket).
    #[arg(long, value_name = "BUCKET", env = "AUDIENCE_STREAM_S3_BUCKET")]
    pub s3_bucket: Option<String>,
    /// Key prefix of import files: PREFIX/SEGMENT/vN.csv (default audience-stream/imports).
    #[arg(long, value_name = "PREFIX")]
    pub s3_prefix: Option<String>,
    /// The role Pinpoint assumes to read the import files (overrides pinpoint.role_arn).
    #[arg(long, value_name = "ARN", env = "AUDIENCE_STREAM_IMPORT_ROLE_ARN")]
    pub import_role_arn: Option<String>,
    /// Sync configuration (YAML): rotation policy, batching, rate limit, retries, Pinpoint
    /// settings. Every field is optional; see docs/line.md and docs/pinpoint.md.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Try again segments whose last refusal was parked (after fixing its cause).
    #[arg(long)]
    pub retry_parked: bool,
    /// Stop starting new work after this many seconds (the rest waits for the next run).
    #[arg(long, value_name = "SECONDS", default_value_t = 840)]
    pub max_seconds: u64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `audience-stream sync`.
pub async fn run(args: SyncArgs) -> Result<()> {
    let store = crate::open::open_store(&args.store.store).await?;
    let rules = crate::open::load_rules(&args.rules.rules)?;
    let mut config = SyncConfig::load(args.config.as_deref())?;
    let p = &mut config.pinpoint;
    p.application_id = args
        .pinpoint_application_id
        .clone()
        .or(p.application_id.take());
    p.bucket = args.s3_bucket.clone().or(p.bucket.take());
    p.role_arn = args.import_role_arn.clone().or(p.role_arn.take());
    if let Some(prefix) = &args.s3_prefix {
        p.prefix = prefix.clone();
    }
    config.validate()?;

    let destinations = audience_destinations::select_destinations(
        &config,
        &rules,
        args.segment.as_deref(),
        args.dry_run,
        LineCredentials::Env {
            api_base: args.line_api_base.as_deref(),
            data_base: args.line_data_base.as_deref(),
        },
        &args.destinations,
    )
    .await
    .context("cannot set up the sync (use --dry-run to plan without credentials)")?;
    let runner = SyncRunner::new(destinations);
    let mut ctx = SyncContext::new(
        store.as_ref(),
        wall_clock_ms(),
        Duration::from_secs(args.max_seconds),
    );
    ctx.dry_run = args.dry_run;
    ctx.retry_parked = args.retry_parked;
    if args.dry_run {
        ctx.out_dir = Some(args.out.clone());
    }
    let report = runner.run(&ctx, &rules, args.segment.as_deref()).await?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        out!("{}", report.to_text())?;
        if args.dry_run {
            outln!(
                "\ndry run: nothing was sent or acknowledged; files under {}",
                args.out.display()
            )?;
        }
    }
    if report.has_failures() {
        bail!("some segments failed or are parked; see the report above and the sync ledger");
    }
    Ok(())
}
