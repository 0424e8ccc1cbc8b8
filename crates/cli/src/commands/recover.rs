//! `recover`: apply a Kinesis batch the consumer Lambda gave up on, from the on-failure
//! destination message that names it (stream, shard, first and last sequence number).
//!
//! For each message the shard is read from the first sequence number to the last, inclusive
//! (GetShardIterator AT_SEQUENCE_NUMBER, then GetRecords page by page: at most 10,000 records
//! each, sequence numbers compared as big integers), and every page goes through
//! [`audience_pipeline::process_batch`], as the consumer would have applied it, at `--now`
//! (default: the wall clock).
//!
//! Recovering is safe to repeat, and safe over a range that was partly applied before: an
//! event is counted once by its fingerprint whatever record, shard or stream brings it
//! (crates/core/src/apply.rs), so records already applied come out as duplicates and change
//! nothing. A range the stream no longer holds entirely (records expired past the retention
//! period, 24 hours by default) is named with the part that is missing, and the run ends
//! non-zero, as it does when a record could not be committed.

mod message;

use crate::open::{load_rules, open_store};
use crate::output::outln;
use crate::{NowArgs, RulesArgs, StoreArgs};
use anyhow::{Context, Result};
use audience_core::{ChangeKind, Millis, Payload, RawRecord, RecordId, Rules};
use audience_kinesis::{RangeReader, ReadRecord, ShardRange};
use audience_pipeline::{process_batch, BatchOptions, BatchOutcome};
use audience_store::StateStore;
use message::{parse_messages, parse_stream_arn, LabelledBatch};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Read;

/// Arguments of `recover`.
#[derive(clap::Args)]
pub struct RecoverArgs {
    #[command(flatten)]
    rules: RulesArgs,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    now: NowArgs,
    /// Print the summary as one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// Files of on-failure destination messages, or `-` for standard input. Each holds JSON
    /// documents one after another (JSON Lines or pretty-printed): the message itself, an SQS
    /// message whose `Body` is one, or a whole `aws sqs receive-message` answer.
    #[arg(required = true, value_name = "MESSAGES")]
    inputs: Vec<String>,
}

/// What `recover` did.
#[derive(Debug, Default, Serialize)]
pub struct RecoverSummary {
    /// Messages read.
    pub messages: u64,
    /// Records read from the stream.
    pub records_read: u64,
    /// Records applied that changed the state (decoded, not counted before, committed).
    pub applied: u64,
    /// Records whose event was already counted (applied before, or twice in the range).
    pub duplicates: u64,
    /// Records whose every effect was already in the state (applied before): nothing written.
    pub unchanged: u64,
    /// Records set aside (undecodable, refused, or of a quarantined user), kept as dead
    /// letters as the consumer keeps them.
    pub set_aside: u64,
    /// Reason → count.
    pub set_aside_reasons: BTreeMap<String, u64>,
    /// Users quarantined (state unreadable, or refused by the store).
    pub quarantined_users: Vec<String>,
    /// Records whose user could not be committed (run `recover` again).
    pub failed: u64,
    /// Users whose state was written.
    pub users_written: u64,
    /// Segment entries committed.
    pub entered: u64,
    /// Segment exits committed.
    pub exited: u64,
    /// The `now` used.
    pub now: String,
    /// Each message's range: records read against the batch size Lambda reported.
    pub ranges: Vec<RangeLine>,
    /// Messages whose range could not be read entirely.
    pub incomplete: Vec<IncompleteRange>,
}

/// One message's range and how many of its records were read.
#[derive(Debug, Serialize)]
pub struct RangeLine {
    /// Which message (input, position, request ID, condition).
    pub message: String,
    /// The stream's name.
    pub stream: String,
    /// The shard.
    pub shard: String,
    /// The first sequence number.
    pub start: String,
    /// The last sequence number (included).
    pub end: String,
    /// Records read from the range.
    pub records_read: u64,
    /// Records in the batch, as the message says (`batchSize`).
    pub batch_size: Option<u64>,
}

/// A message whose range was not (entirely) read.
#[derive(Debug, Serialize)]
pub struct IncompleteRange {
    /// Which message (input, position, request ID).
    pub message: String,
    /// The stream's name.
    pub stream: String,
    /// The shard.
    pub shard: String,
    /// The parts that are missing, `[from, to]` (`(` / `)` for excluded ends), or the error
    /// that stopped the read.
    pub missing: Vec<String>,
}

/// Runs `recover`.
pub async fn run(args: RecoverArgs) -> Result<()> {
    let rules = load_rules(&args.rules.rules)?;
    let now = args.now.resolve()?;
    let mut batches = Vec::new();
    for input in &args.inputs {
        let text = read_input(input)?;
        batches.extend(parse_messages(input, &text)?);
    }
    let store = open_store(&args.store.store).await?;
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let mut summary = RecoverSummary {
        now: audience_core::time::format_rfc3339(now),
        ..RecoverSummary::default()
    };
    for batch in &batches {
        summary.messages += 1;
        recover_one(&sdk, store.as_ref(), &rules, now, batch, &mut summary).await?;
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&summary)?)?;
    } else {
        print_human(&summary)?;
    }
    fail_on_unfinished(&summary)
}

fn read_input(input: &str) -> Result<String> {
    if input == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read messages from standard input")?;
        Ok(text)
    } else {
        std::fs::read_to_string(input).with_context(|| format!("cannot read {input}"))
    }
}

/// A Kinesis client for the stream's region (the ARN's), otherwise configured as usual.
fn client_for(sdk: &aws_config::SdkConfig, region: &str) -> aws_sdk_kinesis::Client {
    let conf = aws_sdk_kinesis::config::Builder::from(sdk)
        .region(aws_config::Region::new(region.to_owned()))
        .build();
    aws_sdk_kinesis::Client::from_conf(conf)
}

async fn recover_one(
    sdk: &aws_config::SdkConfig,
    store: &dyn StateStore,
    rules: &Rules,
    now: Millis,
    batch: &LabelledBatch,
    summary: &mut RecoverSummary,
) -> Result<()> {
    let info = &batch.message.batch;
    let arn = parse_stream_arn(&info.stream_arn).with_context(|| batch.label.clone())?;
    let client = client_for(sdk, &arn.region);
    let range = ShardRange {
        stream: arn.name.clone(),
        shard_id: info.shard_id.clone(),
        start: info.start_sequence_number.clone(),
        end: info.end_sequence_number.clone(),
    };
    let mut reader = RangeReader::new(&client, range);
    let mut read_error = None;
    let mut records_read = 0u64;
    loop {
        let page = match reader.next_page().await {
            Ok(Some(page)) => page,
            Ok(None) => break,
            Err(e) => {
                read_error = Some(e.to_string());
                break;
            }
        };
        if page.is_empty() {
            continue;
        }
        records_read += page.len() as u64;
        let records: Vec<RawRecord> = page.into_iter().map(raw_record).collect();
        let first = records
            .first()
            .map(|r| r.id.to_string())
            .unwrap_or_default();
        let outcome = process_batch(store, rules, &records, now, &BatchOptions::default())
            .await
            .with_context(|| format!("{}: applying the records from {first}", batch.label))?;
        add(summary, outcome);
    }
    summary.records_read += records_read;
    summary.ranges.push(RangeLine {
        message: batch.label.clone(),
        stream: arn.name.clone(),
        shard: info.shard_id.clone(),
        start: info.start_sequence_number.clone(),
        end: info.end_sequence_number.clone(),
        records_read,
        batch_size: info.batch_size,
    });
    let mut missing: Vec<String> = reader.missing().iter().map(|m| m.to_string()).collect();
    if let Some(e) = read_error {
        missing.push(format!("read stopped: {e}"));
    }
    if !missing.is_empty() {
        summary.incomplete.push(IncompleteRange {
            message: batch.label.clone(),
            stream: arn.name,
            shard: info.shard_id.clone(),
            missing,
        });
    }
    Ok(())
}

/// A record read from the shard, as the consumer receives it (identity shard + sequence
/// number, Kinesis arrival time).
fn raw_record(r: ReadRecord) -> RawRecord {
    RawRecord {
        id: RecordId::new(r.shard_id, r.sequence_number),
        payload: Payload::Json(r.data),
        arrival_ms: r
            .approximate_arrival_epoch_secs
            .map(|s| (s * 1000.0).round() as i64),
    }
}

fn add(summary: &mut RecoverSummary, outcome: BatchOutcome) {
    let quarantined: usize = outcome.quarantined.iter().map(|q| q.record_ids.len()).sum();
    let applied = outcome.decoded.saturating_sub(
        outcome.duplicates + outcome.unchanged + outcome.failed.len() + quarantined,
    );
    summary.applied += applied as u64;
    summary.duplicates += outcome.duplicates as u64;
    summary.unchanged += outcome.unchanged as u64;
    for e in &outcome.set_aside {
        summary.set_aside += 1;
        *summary
            .set_aside_reasons
            .entry(e.kind.reason().to_string())
            .or_default() += 1;
    }
    if quarantined > 0 {
        summary.set_aside += quarantined as u64;
        *summary
            .set_aside_reasons
            .entry("user_quarantined".to_string())
            .or_default() += quarantined as u64;
    }
    summary
        .quarantined_users
        .extend(outcome.quarantined.into_iter().map(|q| q.entry.user));
    summary.failed += outcome.failed.len() as u64;
    summary.users_written += outcome.users_written as u64;
    for c in &outcome.changes {
        match c.kind {
            ChangeKind::Entered => summary.entered += 1,
            ChangeKind::Exited => summary.exited += 1,
        }
    }
}

fn print_human(s: &RecoverSummary) -> Result<()> {
    outln!(
        "{} messages, {} records read: {} applied, {} already applied ({} duplicates, {} unchanged), {} set aside, {} failed",
        s.messages,
        s.records_read,
        s.applied,
        s.duplicates + s.unchanged,
        s.duplicates,
        s.unchanged,
        s.set_aside,
        s.failed
    )?;
    outln!(
        "{} users written, {} segment entries, {} exits (now = {})",
        s.users_written,
        s.entered,
        s.exited,
        s.now
    )?;
    for r in &s.ranges {
        let size = r
            .batch_size
            .map(|n| format!(" (batch size {n})"))
            .unwrap_or_default();
        outln!(
            "  {}: stream {} {} [{}, {}]: {} records read{size}",
            r.message,
            r.stream,
            r.shard,
            r.start,
            r.end,
            r.records_read
        )?;
    }
    for (reason, n) in &s.set_aside_reasons {
        outln!("  set aside: {reason}: {n}")?;
    }
    for user in &s.quarantined_users {
        outln!("  quarantined: {user}")?;
    }
    for i in &s.incomplete {
        outln!(
            "  NOT READ: {} (stream {} {}): {}",
            i.message,
            i.stream,
            i.shard,
            i.missing.join("; ")
        )?;
    }
    Ok(())
}

/// Non-zero when a record failed or a range was not read entirely, naming them.
fn fail_on_unfinished(s: &RecoverSummary) -> Result<()> {
    let mut problems = Vec::new();
    if s.failed > 0 {
        problems.push(format!(
            "{} records could not be committed: run `recover` again with the same messages",
            s.failed
        ));
    }
    for i in &s.incomplete {
        problems.push(format!(
            "{}: records of stream {} {} were not read: {} (the shard no longer holds them, \
             past the stream's retention period (24 hours by default), or never held them)",
            i.message,
            i.stream,
            i.shard,
            i.missing.join("; ")
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("{}", problems.join("\n"))
    }
}
