//! `bench parse`: the parse-only baseline for replay throughput — read each file, Base64-decode
//! every Kinesis record's `data` (or take each JSON line) and parse it into a
//! `serde_json::Value`, nothing else — so a replay of the same files can be compared with the
//! least work any reader of them must do.

use crate::output::outln;
use anyhow::{Context, Result};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::Value;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `bench parse`.
#[derive(clap::Args)]
pub struct ParseArgs {
    /// Lambda Kinesis event files or JSON Lines files of events.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// What the baseline did.
#[derive(Debug, Default, serde::Serialize)]
struct ParseReport {
    files: usize,
    input_bytes: u64,
    records: u64,
    /// Records whose `data` was not Base64 or not JSON (counted, not fatal).
    unparsable: u64,
    seconds: f64,
    records_per_second: f64,
    input_mb_per_second: f64,
}

/// Runs `bench parse`.
pub fn run(args: ParseArgs) -> Result<()> {
    let mut report = ParseReport::default();
    let started = Instant::now();
    for path in &args.files {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        report.files += 1;
        report.input_bytes += bytes.len() as u64;
        parse_file(&bytes, &mut report);
    }
    report.seconds = started.elapsed().as_secs_f64();
    if report.seconds > 0.0 {
        report.records_per_second = report.records as f64 / report.seconds;
        report.input_mb_per_second = report.input_bytes as f64 / 1e6 / report.seconds;
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        outln!(
            "parse-only baseline: {} files, {:.1} MB, {} records ({} unparsable) in {:.2} s: {:.0} records/s, {:.1} MB/s",
            report.files,
            report.input_bytes as f64 / 1e6,
            report.records,
            report.unparsable,
            report.seconds,
            report.records_per_second,
            report.input_mb_per_second
        )?;
    }
    Ok(())
}

/// A Kinesis event file (`{"Records":…}`) or JSON Lines.
fn parse_file(bytes: &[u8], report: &mut ParseReport) {
    let head = bytes.iter().take(64).filter(|b| !b.is_ascii_whitespace());
    let is_kinesis = head.take(10).copied().eq(b"{\"Records\"".iter().copied());
    if is_kinesis {
        let Ok(doc) = serde_json::from_slice::<Value>(bytes) else {
            report.unparsable += 1;
            return;
        };
        let records = doc.get("Records").and_then(Value::as_array);
        for record in records.into_iter().flatten() {
            report.records += 1;
            let data = record
                .get("kinesis")
                .and_then(|k| k.get("data"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            let parsed = BASE64
                .decode(data)
                .ok()
                .and_then(|raw| serde_json::from_slice::<Value>(&raw).ok());
            match parsed {
                Some(v) => {
                    black_box(v);
                }
                None => report.unparsable += 1,
            }
        }
    } else {
        for line in bytes.split(|&b| b == b'\n') {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            report.records += 1;
            match serde_json::from_slice::<Value>(line) {
                Ok(v) => {
                    black_box(v);
                }
                Err(_) => report.unparsable += 1,
            }
        }
    }
}
