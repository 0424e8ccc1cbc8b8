//! `audience-stream`: the command-line tool. Replay fixture files through the pipeline,
//! inspect segments, explain a user, recover a Kinesis batch the consumer gave up on, run the
//! sweep, check and diff rules, generate fixtures, create the DynamoDB table, collect events
//! over HTTP. This file is only the command-line definition and dispatch;
//! each command lives in `commands/`.

mod commands;
mod input;
mod open;
mod output;
mod timeparse;

use clap::{Parser, Subcommand};

/// mimalloc: replay holds whole batches of decoded events; the system allocator spends a
/// quarter of decode time on them (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::path::PathBuf;
use std::process::ExitCode;

/// Real-time user segmentation from Pinpoint-shaped events, synced to LINE audiences and
/// Pinpoint segments.
///
/// Quick start: `audience-stream replay fixtures/events.jsonl` replays the shipped fixtures
/// into the embedded store (.audience-stream/state) and prints segment sizes and the planned
/// LINE and Pinpoint requests.
#[derive(Parser)]
#[command(name = "audience-stream", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the state lives.
#[derive(clap::Args, Clone)]
pub struct StoreArgs {
    /// State store: `embedded:PATH` (SQLite file) or `dynamodb:TABLE` (endpoint and
    /// credentials from the AWS SDK's standard configuration, e.g. AWS_ENDPOINT_URL).
    #[arg(
        long,
        env = "AUDIENCE_STREAM_STORE",
        default_value = "embedded:.audience-stream/state"
    )]
    pub store: String,
}

/// The rules file.
#[derive(clap::Args, Clone)]
pub struct RulesArgs {
    /// Segment rules (YAML; see docs/rules.md).
    #[arg(
        long,
        env = "AUDIENCE_STREAM_RULES",
        default_value = "fixtures/segments.yaml"
    )]
    pub rules: PathBuf,
}

/// The instant to evaluate at.
#[derive(clap::Args, Clone)]
pub struct NowArgs {
    /// Evaluate at this instant (RFC 3339, e.g. 2025-12-01T00:00:00Z); default: the wall clock.
    #[arg(long)]
    pub now: Option<String>,
}

impl NowArgs {
    /// The instant in epoch milliseconds.
    pub fn resolve(&self) -> anyhow::Result<audience_core::Millis> {
        match &self.now {
            Some(text) => timeparse::parse_rfc3339(text),
            None => Ok(timeparse::wall_clock()),
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Feed fixture files through the same pipeline as the consumer Lambda.
    ///
    /// FILES may be Lambda Kinesis events ({"Records":[...]}), JSON Lines of raw Pinpoint
    /// events, or JSON Lines of user-attribute rows ({"id":"123","pref":"兵庫県"}); the format
    /// is detected per file. Records are applied in batches of up to 10,000, as the Lambda
    /// receives them. Time: `now` defaults to the NEWEST EVENT TIME in the input, so windowed
    /// segments ("purchased within 30 days") mean the same as they did live; --now overrides.
    ///
    /// Example: audience-stream replay --out out fixtures/kinesis-batch-1.json fixtures/kinesis-batch-2.json
    Replay(commands::replay::ReplayArgs),
    /// Apply a Kinesis batch the consumer Lambda gave up on, from its dead-letter message.
    ///
    /// MESSAGES are the on-failure destination messages of the consumer's event source
    /// mapping (the DeadLetterQueue): each names a stream, a shard and a range of sequence
    /// numbers, not the data. The records of each range are read again from the stream (they
    /// must still be retained: 24 hours by default) and applied through the same pipeline as
    /// the consumer, in batches of at most 10,000. Safe to repeat: an event is counted once by
    /// its fingerprint, so records applied before come out as duplicates. Ends non-zero if a
    /// record could not be committed or a range could not be read entirely.
    ///
    /// Example: aws sqs receive-message --queue-url "$DLQ_URL" --max-number-of-messages 10 | audience-stream recover -
    Recover(commands::recover::RecoverArgs),
    /// Segment sizes, enters/exits, pending sync work and daily history.
    ///
    /// Example: audience-stream stats --json
    Stats(commands::stats::StatsArgs),
    /// Each segment's LINE audiences: the current one (ID, name, created, size as LINE
    /// reports it when LINE credentials are set), a replacement being built, and the earlier
    /// ones with when they were replaced and deleted.
    ///
    /// Example: audience-stream audiences --segment hyogo
    Audiences(commands::audiences::AudiencesArgs),
    /// Why a user is or is not in each segment.
    ///
    /// Example: audience-stream explain user-0001 --segment recent-buyers
    Explain(commands::explain::ExplainArgs),
    /// Re-evaluate users whose next time-based flip has passed and report the changes.
    ///
    /// Then the upkeep the sweep Lambda also runs: fold counter deltas older than
    /// --fold-margin into base items (DynamoDB; keeps `stats` reads O(segments)), record each
    /// segment's size, and flag segments whose rules `alert` sees a sudden change.
    ///
    /// Example: audience-stream sweep --now 2026-01-01T00:00:00Z
    Sweep(commands::sweep::SweepArgs),
    /// Send pending membership changes to LINE audiences and Pinpoint import jobs, or plan
    /// them with --dry-run (no credentials needed).
    ///
    /// Example: audience-stream sync --dry-run
    Sync(commands::sync::SyncArgs),
    /// Write one self-contained HTML dashboard (no JavaScript, no external URL).
    ///
    /// Example: audience-stream dashboard --now 2025-12-01T00:00:00Z --out report.html
    Dashboard(commands::dashboard::DashboardArgs),
    /// Serve the dashboard and its read-only JSON API (loopback by default).
    ///
    /// Against DNS rebinding (a web page whose name resolves to 127.0.0.1 reading the
    /// dashboard through your browser), the page and the API answer only requests whose Host
    /// header is localhost, 127.0.0.1 or [::1] (with or without the bound port), the --bind
    /// address with its port, or a name given with --allow-host; any other Host, or none,
    /// gets 421 Misdirected Request and a warning in the log. Behind a reverse proxy that
    /// keeps the public Host, pass --allow-host with that name.
    ///
    /// Example: audience-stream serve --bind 127.0.0.1:8080 --refresh 30s
    ///
    /// Example: audience-stream serve --bind 10.0.0.5:8080 --allow-host dash.example.com
    Serve(commands::dashboard::ServeArgs),
    /// Receive analytics events over HTTP and put them on a Kinesis stream (development
    /// server of the `collector` Lambda function; same handler, same answers).
    ///
    /// Apps and backends POST Segment's HTTP API shapes — a batch {"batch": [...],
    /// "context": {...}} (the batch context is merged into each event), a single call object
    /// (on /v1/track, /v1/identify, ... the path gives a missing `type`) — or JSON Lines
    /// (Content-Type application/x-ndjson, or detected). Authentication is a write key per
    /// source: HTTP Basic with the key as the user name and an empty password (Segment's
    /// convention), or `Authorization: Bearer KEY`. Keys are read from the
    /// AUDIENCE_STREAM_COLLECTOR_KEYS environment variable (or --keys-file) as
    /// {"sources": {"NAME": "KEY", ...}}, never from the command line.
    ///
    /// Each event gets `receivedAt` (when missing) and is written as one record keyed by its
    /// userId, else anonymousId, else previousId. Answers: 200 {"success": true, "accepted":
    /// N, "rejected": [{"index": I, "reason": "..."}]} (an item that is not an object or is
    /// too large is rejected on its own), 401 without a valid key, 413 over the limits, 400
    /// for an unreadable body, 503 when Kinesis did not take every event (send again: events
    /// with a messageId count once). Kinesis endpoint and credentials: the AWS SDK's standard
    /// configuration (e.g. AWS_ENDPOINT_URL for a local emulator), as for --to-kinesis.
    ///
    /// Example: AUDIENCE_STREAM_COLLECTOR_KEYS='{"sources": {"dev": "devkey"}}' audience-stream collect --stream events
    ///
    /// Example: curl -u devkey: -H 'content-type: application/json' -d '{"batch": [{"type": "track", "event": "Order Completed", "userId": "user-1"}]}' http://127.0.0.1:8088/v1/batch
    Collect(commands::collect::CollectArgs),
    /// Check a rules file, diff two over the stored users, or apply a new one to them.
    #[command(subcommand)]
    Rules(commands::rules::RulesCommand),
    /// Generate realistic fixture events (deterministic for a seed).
    ///
    /// Example: audience-stream gen --events 100000 --users 5000 --out /tmp/big.jsonl
    Gen(commands::gen::GenArgs),
    /// Manage the DynamoDB table.
    #[command(subcommand)]
    Table(commands::table::TableCommand),
    /// Measure costs (DynamoDB write/read units per 1,000 events).
    #[command(subcommand)]
    Bench(commands::bench::BenchCommand),
    /// One person's data: show what is kept, or erase it on request (APPI, GDPR).
    ///
    /// Example: audience-stream user delete user-0001 --dry-run
    #[command(subcommand)]
    User(commands::user::UserCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AUDIENCE_STREAM_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Replay(a) => commands::replay::run(a).await,
            Command::Recover(a) => commands::recover::run(a).await,
            Command::Stats(a) => commands::stats::run(a).await,
            Command::Audiences(a) => commands::audiences::run(a).await,
            Command::Explain(a) => commands::explain::run(a).await,
            Command::Sweep(a) => commands::sweep::run(a).await,
            Command::Sync(a) => commands::sync::run(a).await,
            Command::Dashboard(a) => commands::dashboard::run(a).await,
            Command::Serve(a) => commands::dashboard::run_serve(a).await,
            Command::Collect(a) => commands::collect::run(a).await,
            Command::Rules(c) => commands::rules::run(c).await,
            Command::Gen(a) => commands::gen::run(a),
            Command::Table(c) => commands::table::run(c).await,
            Command::Bench(c) => commands::bench::run(c).await,
            Command::User(c) => commands::user::run(c).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of stdout went away (`audience-stream stats | head`): end quietly with
        // status 0, as ripgrep does, rather than the shell's 141 (128 + SIGPIPE), so that
        // `set -o pipefail` scripts do not fail because `head` had read enough. Only writes
        // to stdout produce this error (see `output`); a broken socket is still reported.
        Err(e) if output::is_stdout_closed(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
