//! `bench dynamodb`: what the DynamoDB store costs per event and how fast it goes, next to a
//! naive handler measured in the same run.
//!
//! A Zipf workload from `audience-gen` is cut into batches of each requested size. Per size,
//! on fresh temporary tables: the *first* slice replayed on an empty table (most users new),
//! a warm-up (unmeasured, large batches), then a *steady* slice later in the same workload
//! over the populated table (most users exist). The naive handler (GetItem + PutItem of the
//! user's JSON state per record) runs on a sample of each slice on its own table. The tables
//! are created on `--endpoint` (DynamoDB Local or real AWS) and deleted at the end.

mod naive;
mod parse;
mod pipeline;
mod report;
mod target;
mod workload;

use crate::open::load_rules;
use crate::output::outln;
use crate::RulesArgs;
use anyhow::{bail, Result};
use report::{BatchSizeReport, Phase, Report};
use target::Target;
use workload::{Workload, WorkloadSpec};

/// Batches of the warm-up between the first and the steady slice (not measured).
const WARM_UP_BATCH: usize = 10_000;

/// `bench` subcommands.
#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// Billed write/read units per event and events/s of the pipeline on DynamoDB, next to a
    /// naive Get+Put handler, per batch size, on a generated Zipf workload.
    ///
    /// Creates temporary tables (unique names, deleted at the end) on --endpoint: DynamoDB
    /// Local (e.g. started with scripts/run-dynamodb-local.sh) or real AWS. Per batch size:
    /// the first slice of the workload on an empty table, then the last slice after a warm-up
    /// with the events between them (steady state). Write units are billed units:
    /// transactional writes count twice, as AWS bills them.
    ///
    /// Example: audience-stream bench dynamodb --endpoint http://localhost:8000 --users 2000 --events 40000 --phase-events 10000 --batch-sizes 100,1000,10000
    #[command(verbatim_doc_comment)]
    Dynamodb(BenchArgs),
    /// The parse-only baseline for replay throughput: read the files, Base64-decode each
    /// Kinesis record's data (or take each JSON line) and parse it into a serde_json Value,
    /// nothing more. Compare with `replay` of the same files.
    ///
    /// Example: audience-stream bench parse input/kinesis-*.json
    #[command(verbatim_doc_comment)]
    Parse(parse::ParseArgs),
}

/// Arguments of `bench dynamodb`.
#[derive(clap::Args)]
pub struct BenchArgs {
    #[command(flatten)]
    rules: RulesArgs,
    /// DynamoDB endpoint to create the temporary tables on (DynamoDB Local or real AWS).
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    endpoint: String,
    /// Users of the generated workload (Zipf activity).
    #[arg(long, default_value_t = 2_000)]
    users: usize,
    /// Days the workload's event times span (fewer days: denser traffic, fewer membership
    /// changes per event).
    #[arg(long, default_value_t = 120)]
    days: u32,
    /// Events of the whole generated workload.
    #[arg(long, default_value_t = 40_000)]
    events: usize,
    /// Events of each measured slice (the first and the last of the workload).
    #[arg(long, default_value_t = 10_000)]
    phase_events: usize,
    /// Batch sizes to measure, one run each.
    #[arg(long, value_delimiter = ',', default_value = "100,1000,10000")]
    batch_sizes: Vec<usize>,
    /// Events of each slice the naive handler replays (it is slow: two requests per event).
    #[arg(long, default_value_t = 2_000)]
    naive_events: usize,
    /// Workload seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Runs a `bench` subcommand.
pub async fn run(cmd: BenchCommand) -> Result<()> {
    let args = match cmd {
        BenchCommand::Dynamodb(args) => args,
        BenchCommand::Parse(args) => return parse::run(args),
    };
    check(&args)?;
    let rules = load_rules(&args.rules.rules)?;
    let spec = WorkloadSpec {
        seed: args.seed,
        users: args.users,
        events: args.events,
        days: args.days,
        phase_events: args.phase_events,
    };
    let workload = Workload::generate(&spec)?;
    let target = Target::connect(&args.endpoint).await?;
    let result = measure_all(&target, &rules, &workload, &args).await;
    let cleanup = target.delete_tables().await;
    let sizes = result?;
    cleanup?;
    let report = Report::new(&target, &spec, &workload, args.naive_events, sizes);
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        report.print_table()?;
    }
    Ok(())
}

fn check(args: &BenchArgs) -> Result<()> {
    if args.batch_sizes.is_empty() || args.batch_sizes.contains(&0) {
        bail!("--batch-sizes must list sizes above 0");
    }
    if args.phase_events == 0 || args.phase_events.saturating_mul(2) > args.events {
        bail!(
            "--phase-events ({}) must be above 0 and at most half of --events ({})",
            args.phase_events,
            args.events
        );
    }
    if args.users == 0 || args.days == 0 {
        bail!("--users and --days must be above 0");
    }
    Ok(())
}

/// Measures every batch size in turn.
async fn measure_all(
    target: &Target,
    rules: &audience_core::Rules,
    workload: &Workload,
    args: &BenchArgs,
) -> Result<Vec<BatchSizeReport>> {
    let mut out = Vec::new();
    for &size in &args.batch_sizes {
        tracing::info!(batch_size = size, "measuring");
        out.push(measure_size(target, rules, workload, size, args.naive_events).await?);
    }
    Ok(out)
}

/// One batch size: first slice, warm-up, steady slice; the naive handler on both slices.
async fn measure_size(
    target: &Target,
    rules: &audience_core::Rules,
    workload: &Workload,
    size: usize,
    naive_events: usize,
) -> Result<BatchSizeReport> {
    let store = target.store(&format!("p{size}")).await?;
    let naive_table = target.table(&format!("n{size}")).await?;
    let naive = naive::NaiveHandler::new(target.client().clone(), naive_table, rules);

    let first_p = pipeline::replay(&store, rules, workload.first(), size).await?;
    let first_n = naive.replay(workload.first(), size, naive_events).await?;
    pipeline::replay(&store, rules, workload.warm_up(), WARM_UP_BATCH).await?;
    let steady_p = pipeline::replay(&store, rules, workload.steady(), size).await?;
    let steady_n = naive.replay(workload.steady(), size, naive_events).await?;
    Ok(BatchSizeReport {
        batch_size: size,
        first: Phase::new(first_p, first_n),
        steady: Phase::new(steady_p, steady_n),
    })
}
