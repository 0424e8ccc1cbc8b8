//! `gen`: realistic fixture events from the deterministic generator of the `audience-gen`
//! crate, as JSON Lines or as a Lambda Kinesis event; or user-attribute rows.

use crate::output::stdout_error;
use crate::timeparse::parse_rfc3339;
use anyhow::{bail, Context, Result};
use audience_gen::{generate_events, to_kinesis_envelope, user_attribute_rows, GenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

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
    /// Output file (default: stdout); a directory with --records-per-file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// With --format kinesis: write one Lambda Kinesis event per this many records, as
    /// DIR/kinesis-000001.json, … in the --out directory (sequence numbers continue from
    /// file to file).
    #[arg(long, requires = "out")]
    records_per_file: Option<usize>,
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
    if let Some(per_file) = args.records_per_file {
        let dir = args
            .out
            .as_deref()
            .context("--records-per-file needs --out DIR")?;
        return write_kinesis_files(dir, per_file, args.format, &opts);
    }
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

/// Writes the events as Lambda Kinesis events of `per_file` records each into `dir`.
fn write_kinesis_files(
    dir: &Path,
    per_file: usize,
    format: GenFormat,
    opts: &GenOptions,
) -> Result<()> {
    if !matches!(format, GenFormat::Kinesis) {
        bail!("--records-per-file needs --format kinesis");
    }
    if per_file == 0 {
        bail!("--records-per-file must be at least 1");
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let events = generate_events(opts);
    for (i, chunk) in events.chunks(per_file).enumerate() {
        // Each record moves a shard's counter by at most 2^40: start every file past the
        // previous one's largest counter.
        let first_seq = 1 + (i as u128) * (per_file as u128) * (1u128 << 40);
        let path = dir.join(format!("kinesis-{:06}.json", i + 1));
        let file = std::fs::File::create(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let mut sink = std::io::BufWriter::new(file);
        writeln!(
            sink,
            "{}",
            to_kinesis_envelope(chunk, opts.shards, first_seq)
        )
        .and_then(|()| sink.flush())
        .with_context(|| format!("cannot write {}", path.display()))?;
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
