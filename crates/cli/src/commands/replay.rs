//! `replay`: files through the same pipeline as the consumer Lambda, streamed in batches of up
//! to 10,000 (memory stays bounded whatever the input size), with a progress bar, a summary
//! and (with --out) the set-aside records and the sync requests that would be sent.
//!
//! `now` defaults to the newest event time that passes the time bounds, found by a first,
//! light pass over the files (event and arrival times only). A run that could not apply every
//! user (failed commits, quarantined users) ends with a non-zero status naming them.

use crate::commands::report::{self, SegmentLine};
use crate::input::{
    row_to_record, ColumnArgs, FileInfo, Format, InputRecord, RecordReader, RowMapping,
};
use crate::open::{load_rules, open_store};
use crate::output::{out, outln};
use crate::timeparse::{parse_rfc3339, wall_clock};
use crate::{RulesArgs, StoreArgs};
use anyhow::{Context, Result};
use audience_core::time::check_event_time;
use audience_core::{
    decode_record, ChangeKind, Clock, DecodeError, DecodedEvent, Millis, Payload, Rules,
};
use audience_pipeline::{process_decoded, BatchOptions, BatchOutcome};
use base64::Engine;
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
    /// Evaluate at this instant (RFC 3339). Default: the newest event time in the input that
    /// passes the time bounds (settings.event_time), so one event dated 2100 cannot become
    /// `now`; the wall clock if the input has no usable event.
    #[arg(long)]
    now: Option<String>,
    /// Force the input format instead of detecting it per file.
    #[arg(long, value_enum)]
    format: Option<Format>,
    #[command(flatten)]
    columns: ColumnArgs,
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

/// The replay summary.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// The input files.
    pub files: Vec<FileInfo>,
    /// Records read.
    pub records: u64,
    /// Records decoded.
    pub decoded: u64,
    /// Records whose event was already counted (a replay of the same files, a re-sent event).
    pub duplicates: u64,
    /// Records applied that changed nothing (their effect was already in the state).
    pub unchanged: u64,
    /// Records set aside (including the records of quarantined users).
    pub set_aside: u64,
    /// Reason → count.
    pub set_aside_reasons: BTreeMap<String, u64>,
    /// Users quarantined in this run (state unreadable, or refused by the store).
    pub quarantined: Vec<QuarantineLine>,
    /// Records whose user could not be committed (retry the replay).
    pub failed: u64,
    /// Users whose commit failed (at most 100 listed).
    pub failed_users: Vec<String>,
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

/// A user quarantined by the replay.
#[derive(Debug, Serialize)]
pub struct QuarantineLine {
    /// The user key.
    pub user: String,
    /// Reason code.
    pub reason: String,
    /// What was wrong.
    pub message: String,
}

/// Most users named in `failed_users` and `quarantined`.
const NAMED: usize = 100;

/// Runs `replay`.
pub async fn run(args: ReplayArgs) -> Result<()> {
    let started = Instant::now();
    let rules = load_rules(&args.rules.rules)?;
    let wall = wall_clock();
    if let Some(stream) = &args.to_kinesis {
        return to_kinesis(&args, stream, &rules, wall).await;
    }
    let now: Millis = match &args.now {
        Some(text) => parse_rfc3339(text)?,
        None => prescan_now(
            &args.files,
            args.format,
            &args.columns.id_column,
            &rules,
            wall,
        )?
        .unwrap_or(wall),
    };
    let clock = Clock { now, wall };
    let store = open_store(&args.store.store).await?;
    let progress = ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{spinner} {pos} records {per_sec}") {
        progress.set_style(style);
    }
    let mut out = match &args.out {
        Some(dir) => Some(SetAsideFile::create(dir)?),
        None => None,
    };
    let mut run = Run::default();
    let mut reader = RecordReader::new(args.files.clone(), args.format, &args.columns.id_column);
    let mapping = args.columns.mapping(&rules.decode.line_user_id_attribute);
    let opts = BatchOptions::default();
    loop {
        let chunk: Vec<InputRecord> = reader
            .by_ref()
            .take(args.batch_size as usize)
            .collect::<Result<_>>()?;
        if chunk.is_empty() {
            break;
        }
        let len = chunk.len() as u64;
        let (batch_id, events, errors) = decode_chunk(chunk, &rules, &mapping, clock);
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
        if let Some(file) = out.as_mut() {
            file.write(&outcome)?;
        }
        run.add(outcome);
        progress.inc(len);
    }
    progress.finish_and_clear();
    if let Some(file) = out {
        file.finish()?;
    }
    let summary = summarize(
        run,
        reader.files().to_vec(),
        store.as_ref(),
        &rules,
        now,
        started,
    )
    .await?;
    let mut planned = None;
    if let Some(dir) = &args.out {
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
    fail_on_unfinished(&summary)
}

/// A replay that could not apply every user ends non-zero, naming them: their records must
/// be replayed again (failed) or their state repaired (quarantined).
fn fail_on_unfinished(s: &Summary) -> Result<()> {
    let mut problems = Vec::new();
    if s.failed > 0 {
        problems.push(format!(
            "{} records of {} users could not be committed and must be replayed again ({}{})",
            s.failed,
            s.failed_users.len(),
            s.failed_users
                .iter()
                .take(10)
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
            if s.failed_users.len() > 10 {
                ", …"
            } else {
                ""
            }
        ));
    }
    if !s.quarantined.is_empty() {
        problems.push(format!(
            "{} users were quarantined and their records kept as dead letters ({}{})",
            s.quarantined.len(),
            s.quarantined
                .iter()
                .take(10)
                .map(|q| format!("{}: {}", q.user, q.reason))
                .collect::<Vec<_>>()
                .join(", "),
            if s.quarantined.len() > 10 {
                ", …"
            } else {
                ""
            }
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("replay incomplete: {}", problems.join("; "))
    }
}

/// The default `now`: the newest event time that passes the time bounds (an event dated 2100
/// or 1970 never becomes `now`). Reads only each record's times, not the whole event.
fn prescan_now(
    files: &[PathBuf],
    format: Option<crate::input::Format>,
    id_column: &str,
    rules: &Rules,
    wall: Millis,
) -> Result<Option<Millis>> {
    #[derive(serde::Deserialize)]
    struct Times {
        event_timestamp: i64,
        #[serde(default)]
        arrival_timestamp: Option<i64>,
    }
    let mut newest: Option<Millis> = None;
    for record in RecordReader::new(files.to_vec(), format, id_column) {
        let InputRecord::Raw(raw) = record? else {
            continue;
        };
        let bytes = match &raw.payload {
            Payload::Json(b) => std::borrow::Cow::Borrowed(b.as_slice()),
            Payload::Base64(text) => {
                match base64::engine::general_purpose::STANDARD.decode(text.trim()) {
                    Ok(b) => std::borrow::Cow::Owned(b),
                    Err(_) => continue,
                }
            }
        };
        let Ok(times) = serde_json::from_slice::<Times>(&bytes) else {
            continue;
        };
        let t = times.event_timestamp;
        let arrival = times.arrival_timestamp.or(raw.arrival_ms).or(Some(t));
        let clock = Clock { now: t, wall };
        if check_event_time(t, arrival, clock, &rules.decode.time_bounds).is_ok() {
            newest = Some(newest.map_or(t, |n| n.max(t)));
        }
    }
    Ok(newest)
}

/// Decodes one chunk at `clock`; attribute rows become `_import` events at `clock.now`.
fn decode_chunk(
    chunk: Vec<InputRecord>,
    rules: &Rules,
    mapping: &RowMapping,
    clock: Clock,
) -> (String, Vec<DecodedEvent>, Vec<DecodeError>) {
    let mut batch_id = String::new();
    let mut events = Vec::with_capacity(chunk.len());
    let mut errors = Vec::new();
    for record in chunk {
        let raw = match record {
            InputRecord::Raw(raw) => raw,
            InputRecord::Row(id, row) => row_to_record(id, row, clock.now, mapping),
        };
        if batch_id.is_empty() {
            batch_id = raw.id.to_string();
        }
        match decode_record(&raw, &rules.decode, clock) {
            Ok(ev) => events.push(ev),
            Err(e) => errors.push(e),
        }
    }
    (batch_id, events, errors)
}

/// What the batches of a run added up to.
#[derive(Default)]
struct Run {
    decoded: u64,
    duplicates: u64,
    unchanged: u64,
    set_aside: u64,
    reasons: BTreeMap<String, u64>,
    quarantined: Vec<QuarantineLine>,
    failed: u64,
    failed_users: std::collections::BTreeSet<String>,
    changes: BTreeMap<String, SegmentLine>,
}

impl Run {
    fn add(&mut self, outcome: BatchOutcome) {
        self.decoded += outcome.decoded as u64;
        self.duplicates += outcome.duplicates as u64;
        self.unchanged += outcome.unchanged as u64;
        for e in &outcome.set_aside {
            self.set_aside += 1;
            *self.reasons.entry(e.kind.reason().to_string()).or_default() += 1;
        }
        for q in outcome.quarantined {
            let n = q.record_ids.len() as u64;
            self.set_aside += n;
            if n > 0 {
                *self
                    .reasons
                    .entry("user_quarantined".to_string())
                    .or_default() += n;
            }
            if self.quarantined.len() < NAMED {
                self.quarantined.push(QuarantineLine {
                    user: q.entry.user,
                    reason: q.entry.reason,
                    message: q.entry.message,
                });
            }
        }
        self.failed += outcome.failed.len() as u64;
        for (_, message) in &outcome.failed {
            if self.failed_users.len() < NAMED {
                let user = message
                    .strip_prefix("user `")
                    .and_then(|m| m.split_once('`'))
                    .map_or(message.as_str(), |(u, _)| u);
                self.failed_users.insert(user.to_string());
            }
        }
        for c in &outcome.changes {
            let line = self.changes.entry(c.segment.clone()).or_default();
            match c.kind {
                ChangeKind::Entered => line.entered += 1,
                ChangeKind::Exited => line.exited += 1,
            }
        }
    }
}

async fn summarize(
    run: Run,
    files: Vec<FileInfo>,
    store: &dyn audience_store::StateStore,
    rules: &Rules,
    now: Millis,
    started: Instant,
) -> Result<Summary> {
    let counts = store.segment_counts().await?;
    let mut segments = BTreeMap::new();
    for seg in &rules.segments {
        let id = &seg.def.id;
        let changes = run.changes.get(id).copied().unwrap_or_default();
        segments.insert(
            id.clone(),
            SegmentLine {
                members: counts.get(id).map_or(0, |c| c.members),
                entered: changes.entered,
                exited: changes.exited,
            },
        );
    }
    let records: u64 = files.iter().map(|f| f.records).sum();
    let seconds = started.elapsed().as_secs_f64();
    Ok(Summary {
        files,
        records,
        decoded: run.decoded,
        duplicates: run.duplicates,
        unchanged: run.unchanged,
        set_aside: run.set_aside,
        set_aside_reasons: run.reasons,
        quarantined: run.quarantined,
        failed: run.failed,
        failed_users: run.failed_users.into_iter().collect(),
        users: store.user_count().await?,
        now: audience_core::time::format_rfc3339(now),
        segments,
        pending: report::pending(store).await?,
        seconds,
        records_per_second: records as f64 / seconds.max(1e-9),
    })
}

/// `--to-kinesis`: the records go to the stream, a chunk at a time; the consumer applies them.
/// Attribute rows are stamped with the wall clock (their arrival).
async fn to_kinesis(args: &ReplayArgs, stream: &str, rules: &Rules, wall: Millis) -> Result<()> {
    let clock = Clock { now: wall, wall };
    let mut sender = crate::commands::to_kinesis::Sender::new(stream, args.rate).await;
    let mut reader = RecordReader::new(args.files.clone(), args.format, &args.columns.id_column);
    let mapping = args.columns.mapping(&rules.decode.line_user_id_attribute);
    loop {
        let chunk: Vec<InputRecord> = reader
            .by_ref()
            .take(TO_KINESIS_CHUNK)
            .collect::<Result<_>>()?;
        if chunk.is_empty() {
            break;
        }
        let mut raws = Vec::with_capacity(chunk.len());
        let mut decoded = Vec::with_capacity(chunk.len());
        for record in chunk {
            let raw = match record {
                InputRecord::Raw(raw) => raw,
                InputRecord::Row(id, row) => row_to_record(id, row, wall, &mapping),
            };
            decoded.push(decode_record(&raw, &rules.decode, clock));
            raws.push(raw);
        }
        sender.send(&raws, &decoded).await?;
    }
    let sent = sender.finish();
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
    Ok(())
}

/// Records sent to Kinesis per chunk (memory stays bounded).
const TO_KINESIS_CHUNK: usize = 10_000;

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
    let destinations = audience_destinations::destinations(
        &config,
        rules,
        None,
        true,
        audience_destinations::LineCredentials::Env {
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

/// `DIR/set-aside.jsonl`, written as the batches go: every record set aside (with its reason),
/// of a quarantined user, or whose commit failed.
struct SetAsideFile {
    path: PathBuf,
    file: std::io::BufWriter<std::fs::File>,
}

impl SetAsideFile {
    fn create(dir: &std::path::Path) -> Result<SetAsideFile> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create output directory {}", dir.display()))?;
        let path = dir.join("set-aside.jsonl");
        let file = std::fs::File::create(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(SetAsideFile {
            path,
            file: std::io::BufWriter::new(file),
        })
    }

    fn write(&mut self, outcome: &BatchOutcome) -> Result<()> {
        let mut lines = Vec::new();
        for e in &outcome.set_aside {
            lines.push(serde_json::json!({"record": e.record.to_string(), "reason": e.kind.reason(), "message": e.kind.to_string()}));
        }
        for q in &outcome.quarantined {
            for record in &q.record_ids {
                lines.push(serde_json::json!({"record": record.to_string(), "reason": "user_quarantined", "message": format!("user `{}` is quarantined: {}", q.entry.user, q.entry.message)}));
            }
        }
        for (record, error) in &outcome.failed {
            lines.push(serde_json::json!({"record": record.to_string(), "reason": "commit_failed", "message": error}));
        }
        for line in lines {
            writeln!(self.file, "{line}")
                .with_context(|| format!("cannot write {}", self.path.display()))?;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<()> {
        self.file
            .flush()
            .with_context(|| format!("cannot write {}", self.path.display()))
    }
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
        "decoded {}, duplicates {}, no effect {}, set aside {}{}, failed {}, users in store {}",
        s.decoded,
        s.duplicates,
        s.unchanged,
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
