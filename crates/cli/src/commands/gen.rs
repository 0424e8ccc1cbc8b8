//! `gen`: realistic fixture events from the deterministic generator of the `audience-gen`
//! crate, as JSON Lines or as a Lambda Kinesis event; or user-attribute rows.

use crate::output::stdout_error;
use crate::timeparse::parse_rfc3339;
use anyhow::{Context, Result};
use audience_gen::{generate_events, to_kinesis_envelope, user_attribute_rows, GenOptions};
use std::io::Write;
use std::path::PathBuf;

/// Output shape of `gen`.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum GenFormat {
    /// JSON Lines of raw Pinpoint events.
    Jsonl,
    /// One Lambda Kinesis event ({"Records":[...]}).
    Kinesis,
    /// JSON Lines of user-attribute rows.
    Attributes,
}

/// Arguments of `gen`.
#[derive(clap::Args)]
pub struct GenArgs {
    /// Random seed (same seed, same output).
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Users.
    #[arg(long, default_value_t = 240)]
    users: usize,
    /// Events.
    #[arg(long, default_value_t = 3000)]
    events: usize,
    /// Newest event time (RFC 3339).
    #[arg(long, default_value = "2025-12-01T00:00:00Z")]
    end: String,
    /// Days the events span, ending at --end.
    #[arg(long, default_value_t = 120)]
    days: u32,
    /// Kinesis shards (for --format kinesis).
    #[arg(long, default_value_t = 4)]
    shards: u32,
    /// Output format.
    #[arg(long, value_enum, default_value = "jsonl")]
    format: GenFormat,
    /// Output file (default: stdout).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Runs `gen`.
pub fn run(args: GenArgs) -> Result<()> {
    let opts = GenOptions {
        seed: args.seed,
        users: args.users,
        events: args.events,
        end_ms: parse_rfc3339(&args.end)?,
        days: args.days,
        shards: args.shards,
    };
    match &args.out {
        Some(p) => {
            let file = std::fs::File::create(p)
                .with_context(|| format!("cannot create {}", p.display()))?;
            write_output(std::io::BufWriter::new(file), args.format, &opts)
                .with_context(|| format!("cannot write {}", p.display()))?;
        }
        None => {
            let stdout = std::io::BufWriter::new(std::io::stdout().lock());
            write_output(stdout, args.format, &opts).map_err(stdout_error)?;
        }
    }
    Ok(())
}

/// Writes the generated output in `format` to `sink` and flushes it.
fn write_output(mut sink: impl Write, format: GenFormat, opts: &GenOptions) -> std::io::Result<()> {
    match format {
        GenFormat::Jsonl => {
            for e in generate_events(opts) {
                writeln!(sink, "{e}")?;
            }
        }
        GenFormat::Kinesis => {
            let events = generate_events(opts);
            writeln!(sink, "{}", to_kinesis_envelope(&events, opts.shards, 1))?;
        }
        GenFormat::Attributes => {
            for r in user_attribute_rows(opts) {
                writeln!(sink, "{r}")?;
            }
        }
    }
    sink.flush()
}
