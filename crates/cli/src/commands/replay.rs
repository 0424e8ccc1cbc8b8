//! `replay`: fixture files through the same pipeline as the consumer Lambda, in batches of
//! up to 10,000, with a progress bar, a summary and (with --out) the set-aside records and
//! the sync requests that would be sent.

use crate::commands::report::{self, SegmentLine};
use crate::input::{read_input, row_to_record, Format, InputRecord};
use crate::open::{load_rules, open_store};
use crate::output::{out, outln};
use crate::timeparse::{parse_rfc3339, wall_clock};
use crate::{RulesArgs, StoreArgs};
use anyhow::{Context, Result};
use audience_core::{decode_record, ChangeKind, DecodeError, DecodedEvent, Millis, RawRecord};
use audience_pipeline::{process_decoded, BatchOptions};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `replay`.
#[derive(clap::Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    rules: RulesArgs,
    #[command(flatten)]
    store: StoreArgs,
    /// Evaluate at this instant (RFC 3339). Default: the newest event time in the input
    /// (the wall clock if the input has no events).
    #[arg(long)]
    now: Option<String>,
    /// Force the input format instead of detecting it per file.
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Records per batch (the Kinesis Lambda maximum is 10,000).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    batch_size: u32,
    /// Print the summary as one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// Write set-aside.jsonl and outbox/ (the requests `sync` would send, as `sync --dry-run`
    /// plans them) into this directory.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Instead of applying the records here, send them into this Kinesis stream (name or ARN)
    /// with PutRecords, partition key = user key; the endpoint and credentials come from the
    /// AWS SDK's standard configuration (AWS_ENDPOINT_URL for an emulator).
    #[arg(long, value_name = "STREAM")]
    to_kinesis: Option<String>,
    /// With --to-kinesis: at most this many records per second.
    #[arg(long, value_name = "N", requires = "to_kinesis", value_parser = clap::value_parser!(u32).range(1..))]
    rate: Option<u32>,
    /// Input files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

/// One input file.
#[derive(Debug, Serialize)]
pub struct FileLine {
    /// The path given.
    pub path: String,
    /// Detected (or forced) format.
    pub format: Format,
    /// Records (lines) in it.
    pub records: u64,
}

/// The replay summary.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// The input files.
    pub files: Vec<FileLine>,
    /// Records read.
    pub records: u64,
    /// Records decoded.
    pub decoded: u64,
    /// Records already applied in an earlier run (skipped).
    pub duplicates: u64,
    /// Records set aside.
    pub set_aside: u64,
    /// Reason → count.
    pub set_aside_reasons: BTreeMap<String, u64>,
    /// Records whose user could not be committed (retry the replay).
    pub failed: u64,
    /// Distinct users in the store.
    pub users: u64,
    /// The `now` used.
    pub now: String,
    /// Segment → members, enters and exits in this run.
    pub segments: BTreeMap<String, SegmentLine>,
    /// Destination → segment → pending additions and exits.
    pub pending: report::PendingMap,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Records per second.
    pub records_per_second: f64,
}

/// Runs `replay`.
pub async fn run(args: ReplayArgs) -> Result<()> {
    let started = Instant::now();
    let rules = load_rules(&args.rules.rules)?;
    let mut inputs = Vec::new();
    let mut files = Vec::new();
    for path in &args.files {
        let input = read_input(path, args.format)?;
        files.push(FileLine {
            path: path.display().to_string(),
            format: input.format,
            records: input.records.len() as u64,
        });
        inputs.push(input);
    }
    // Decode everything first: `now` defaults to the newest event time in the input.
    let mut decoded: Vec<Result<DecodedEvent, DecodeError>> = Vec::new();
    let mut raws: Vec<RawRecord> = Vec::new();
    let mut rows = Vec::new();
    for input in inputs {
        for rec in input.records {
            match rec {
                InputRecord::Raw(raw) => {
                    decoded.push(decode_record(&raw, &rules.decode));
                    raws.push(raw);
                }
                InputRecord::Row(id, row) => {
                    raws.push(RawRecord {
                        id: id.clone(),
                        payload: audience_core::Payload::Json(Vec::new()),
                        arrival_ms: None,
                    });
                    decoded.push(Err(DecodeError {
                        record: id.clone(),
                        // Replaced below, once `now` (the rows' timestamp) is known.
                        kind: audience_core::DecodeErrorKind::NotJson(
                            "pending attribute row".into(),
                        ),
                    }));
                    rows.push((decoded.len() - 1, id, row));
                }
            }
        }
    }
    let now: Millis = match &args.now {
        Some(text) => parse_rfc3339(text)?,
        None => decoded
            .iter()
            .filter_map(|d| d.as_ref().ok())
            .map(|d| d.event.event_timestamp)
            .max()
            .unwrap_or_else(wall_clock),
    };
    for (index, id, row) in rows {
        let raw: RawRecord = row_to_record(id, row, now, &rules.decode.line_user_id_attribute);
        decoded[index] = decode_record(&raw, &rules.decode);
        raws[index] = raw;
    }
    if let Some(stream) = &args.to_kinesis {
        let sent = crate::commands::to_kinesis::send(stream, &raws, &decoded, args.rate).await?;
        if args.json {
            outln!("{}", serde_json::to_string_pretty(&sent)?)?;
        } else {
            outln!(
                "sent {} of {} records to {} in {} calls ({} re-sent after partial failures, {} never accepted, {} set aside) in {:.2}s",
                sent.sent, sent.records, sent.stream, sent.calls, sent.retried, sent.failed, sent.set_aside, sent.seconds
            )?;
        }
        if sent.failed > 0 {
            anyhow::bail!(
                "{} records were never accepted by {}",
                sent.failed,
                sent.stream
            );
        }
        return Ok(());
    }

    let store = open_store(&args.store.store).await?;
    let progress = ProgressBar::with_draw_target(
        Some(decoded.len() as u64),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} {bar:40} {pos}/{len} records {per_sec} eta {eta}")
    {
        progress.set_style(style);
    }
    let opts = BatchOptions::default();
    let mut summary = Summary {
        files,
        records: decoded.len() as u64,
        decoded: 0,
        duplicates: 0,
        set_aside: 0,
        set_aside_reasons: BTreeMap::new(),
        failed: 0,
        users: 0,
        now: audience_core::time::format_rfc3339(now),
        segments: BTreeMap::new(),
        pending: BTreeMap::new(),
        seconds: 0.0,
        records_per_second: 0.0,
    };
    let mut set_aside_all = Vec::new();
    let mut failed_all = Vec::new();
    let mut run_changes: BTreeMap<String, SegmentLine> = BTreeMap::new();
    let mut remaining = decoded.into_iter().peekable();
    while remaining.peek().is_some() {
        let chunk: Vec<_> = remaining.by_ref().take(args.batch_size as usize).collect();
        let batch_id = chunk
            .first()
            .map(|r| match r {
                Ok(e) => e.record.to_string(),
                Err(e) => e.record.to_string(),
            })
            .unwrap_or_default();
        let len = chunk.len() as u64;
        let (events, errors): (Vec<_>, Vec<_>) = chunk.into_iter().partition(Result::is_ok);
        let events: Vec<DecodedEvent> = events.into_iter().filter_map(Result::ok).collect();
        let errors: Vec<DecodeError> = errors.into_iter().filter_map(Result::err).collect();
        let outcome = process_decoded(
            store.as_ref(),
            &rules,
            events,
            errors,
            &batch_id,
            now,
            &opts,
        )
        .await
        .with_context(|| format!("batch starting at record {batch_id}"))?;
        summary.decoded += outcome.decoded as u64;
        summary.duplicates += outcome.duplicates as u64;
        summary.failed += outcome.failed.len() as u64;
        for c in &outcome.changes {
            let line = run_changes.entry(c.segment.clone()).or_default();
            match c.kind {
                ChangeKind::Entered => line.entered += 1,
                ChangeKind::Exited => line.exited += 1,
            }
        }
        set_aside_all.extend(outcome.set_aside);
        failed_all.extend(outcome.failed);
        progress.inc(len);
    }
    progress.finish_and_clear();
    summary.set_aside = set_aside_all.len() as u64;
    for e in &set_aside_all {
        *summary
            .set_aside_reasons
            .entry(e.kind.reason().to_string())
            .or_default() += 1;
    }
    summary.users = store.user_count().await?;
    let counts = store.segment_counts().await?;
    for seg in &rules.segments {
        let id = &seg.def.id;
        let changes = run_changes.get(id).copied().unwrap_or_default();
        summary.segments.insert(
            id.clone(),
            SegmentLine {
                members: counts.get(id).map_or(0, |c| c.members),
                entered: changes.entered,
                exited: changes.exited,
            },
        );
    }
    summary.pending = report::pending(store.as_ref()).await?;
    summary.seconds = started.elapsed().as_secs_f64();
    summary.records_per_second = summary.records as f64 / summary.seconds.max(1e-9);

    let mut planned = None;
    if let Some(dir) = &args.out {
        write_out(dir, &set_aside_all, &failed_all)?;
        planned = Some(write_planned(dir, store.as_ref(), &rules, now).await?);
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&summary)?)?;
    } else {
        print_human(&summary, args.out.as_ref())?;
        if let Some(report) = planned {
            outln!("\nplanned sync requests (as `sync --dry-run` plans them; nothing was sent):")?;
            out!("{}", report.to_text())?;
        }
    }
    Ok(())
}

/// The requests a sync would send, planned by the sync runner's dry run (nothing is sent or
/// acknowledged) and written under `DIR/outbox/`: `line/<segment>.json` with every ID, and
/// `pinpoint/<segment>/v<N>.csv` with its CreateImportJob request.
async fn write_planned(
    dir: &std::path::Path,
    store: &dyn audience_store::StateStore,
    rules: &audience_core::Rules,
    now: Millis,
) -> Result<audience_sync::SyncReport> {
    let config = audience_sync::SyncConfig::default();
    let destinations = audience_sync::destinations(
        &config,
        rules,
        None,
        true,
        audience_sync::LineCredentials::Env {
            api_base: None,
            data_base: None,
        },
    )
    .await?;
    let mut ctx = audience_sync::SyncContext::new(store, now, std::time::Duration::from_secs(3600));
    ctx.dry_run = true;
    ctx.out_dir = Some(dir.join("outbox"));
    let report = audience_sync::SyncRunner::new(destinations)
        .run(&ctx, rules, None)
        .await
        .context("planning the sync requests")?;
    Ok(report)
}

fn write_out(
    dir: &std::path::Path,
    set_aside: &[DecodeError],
    failed: &[(audience_core::RecordId, String)],
) -> Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create output directory {}", dir.display()))?;
    let path = dir.join("set-aside.jsonl");
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(&path).with_context(|| format!("cannot write {}", path.display()))?,
    );
    for e in set_aside {
        let line = serde_json::json!({"record": e.record.to_string(), "reason": e.kind.reason(), "message": e.kind.to_string()});
        writeln!(file, "{line}").with_context(|| format!("cannot write {}", path.display()))?;
    }
    for (record, error) in failed {
        let line = serde_json::json!({"record": record.to_string(), "reason": "commit_failed", "message": error});
        writeln!(file, "{line}").with_context(|| format!("cannot write {}", path.display()))?;
    }
    file.flush()
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn print_human(s: &Summary, out: Option<&PathBuf>) -> Result<()> {
    outln!(
        "replayed {} records in {:.2}s ({:.0} records/s) at now = {}",
        s.records,
        s.seconds,
        s.records_per_second,
        s.now
    )?;
    outln!(
        "decoded {}, duplicates {}, set aside {}{}, failed {}, users in store {}",
        s.decoded,
        s.duplicates,
        s.set_aside,
        if s.set_aside_reasons.is_empty() {
            String::new()
        } else {
            format!(
                " ({})",
                s.set_aside_reasons
                    .iter()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
        s.failed,
        s.users
    )?;
    outln!()?;
    report::print_segments(&s.segments, &s.pending)?;
    if let Some(dir) = out {
        outln!(
            "\nset-aside records: {}/set-aside.jsonl; planned sync requests: {}/outbox/",
            dir.display(),
            dir.display()
        )?;
    }
    Ok(())
}
