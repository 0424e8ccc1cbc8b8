//! The consumer Lambda's memory and CPU on one generated Kinesis batch: peak RSS (the
//! process's `VmHWM`, i.e. `ru_maxrss` without what Linux carries over from the parent) and
//! handler CPU time (`getrusage` user + system), measured in a fresh child process per store
//! so that nothing else has touched its heap.
//!
//! The child does what the Lambda does: it builds the shared state from the environment
//! (`Shared::from_env`, `AUDIENCE_STREAM_STORE`, `AUDIENCE_STREAM_RULES`), reads the event
//! body into memory, deserialises it into `KinesisEnvelope` with serde_json as
//! `lambda_runtime` does, drops the body, and calls `consumer::handle`. Three invocations in
//! the same process: batch A (first sight), batch A again (a redelivery to a warm process),
//! then batch B (the next events of the same workload, to a warm process).
//!
//! The batches come from `audience-gen` (realistic ~1.8 KB Pinpoint events, Zipf users). The
//! DynamoDB store runs against `--endpoint URL`, or a DynamoDB Local this bench starts; the
//! embedded store on a temporary SQLite file.
//!
//! Run: `cargo bench -p audience-lambda --bench consumer -- [--endpoint URL] [--records N]
//! [--users N] [--store dynamodb|embedded|both] [--json]`.
//!
//! To profile the handler's heap (heaptrack, valgrind's massif), `--write-batches DIR` writes
//! the two batches and stops; the child then runs on its own:
//! `AUDIENCE_STREAM_RULES=fixtures/segments.yaml AUDIENCE_STREAM_STORE=embedded:/tmp/s/state
//! heaptrack <bench binary> --child embedded DIR/batch-a.json DIR/batch-b.json`.

use anyhow::{anyhow, bail, Context, Result};
use audience_core::KinesisEnvelope;
use audience_gen::{generate_events, to_kinesis_envelope, GenOptions};
use audience_lambda::{consumer, Shared};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Newest event time of the generated workload (2025-12-01T00:00:00Z).
const END_MS: i64 = 1_764_547_200_000;
/// The handler's wall clock: a minute after the newest event.
const NOW_MS: i64 = END_MS + 60_000;

/// Options of a run.
struct Options {
    endpoint: Option<String>,
    records: usize,
    users: usize,
    days: u32,
    stores: Vec<String>,
    json: bool,
    write_batches: Option<PathBuf>,
}

fn parse_args() -> Result<Options> {
    let mut opts = Options {
        endpoint: std::env::var("AWS_ENDPOINT_URL").ok(),
        records: 10_000,
        users: 2_000,
        days: 7,
        stores: vec!["dynamodb".into(), "embedded".into()],
        json: false,
        write_batches: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| anyhow!("{name} needs a value"));
        match arg.as_str() {
            // cargo bench passes --bench to harness-less benches.
            "--bench" => {}
            "--endpoint" => opts.endpoint = Some(value("--endpoint")?),
            "--records" => opts.records = value("--records")?.parse().context("--records")?,
            "--users" => opts.users = value("--users")?.parse().context("--users")?,
            "--days" => opts.days = value("--days")?.parse().context("--days")?,
            "--store" => {
                opts.stores = match value("--store")?.as_str() {
                    "both" => vec!["dynamodb".into(), "embedded".into()],
                    s @ ("dynamodb" | "embedded") => vec![s.to_string()],
                    other => bail!("--store {other}: expected dynamodb, embedded or both"),
                }
            }
            "--json" => opts.json = true,
            "--write-batches" => opts.write_batches = Some(value("--write-batches")?.into()),
            other => bail!("unknown argument {other}"),
        }
    }
    if opts.records == 0 {
        bail!("--records must be at least 1");
    }
    Ok(opts)
}

/// One invocation as the child measured it.
#[derive(Debug, Serialize, Deserialize)]
struct Invocation {
    /// What was sent.
    label: String,
    /// Size of the event body, bytes.
    body_bytes: usize,
    /// CPU (user + system) of deserialising the body, seconds.
    deserialise_cpu_s: f64,
    /// CPU (user + system) of the handler, seconds.
    handler_cpu_s: f64,
    /// Wall time of the handler, seconds.
    handler_wall_s: f64,
    /// Peak RSS of the process so far, KB, after this invocation.
    peak_rss_kb: i64,
    /// Records the handler reported as failed (to be redelivered).
    failed: usize,
}

/// The child's report on stdout.
#[derive(Debug, Serialize, Deserialize)]
struct ChildReport {
    store: String,
    /// Peak RSS after start-up (runtime, store client, rules), before any event, KB.
    startup_rss_kb: i64,
    invocations: Vec<Invocation>,
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some("--child") {
        let store = args.next().ok_or_else(|| anyhow!("--child STORE A B"))?;
        let a = args.next().ok_or_else(|| anyhow!("--child STORE A B"))?;
        let b = args.next().ok_or_else(|| anyhow!("--child STORE A B"))?;
        return child(&store, Path::new(&a), Path::new(&b));
    }
    parent(parse_args()?)
}

/// Generates the batches, prepares each store and measures it in a fresh child process.
fn parent(opts: Options) -> Result<()> {
    if let Some(dir) = &opts.write_batches {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let (a, b) = write_batches(dir, &opts)?;
        println!("{}\n{}", a.display(), b.display());
        return Ok(());
    }
    let rt = tokio::runtime::Runtime::new().context("cannot start tokio")?;
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let (a, b) = write_batches(dir.path(), &opts)?;
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/segments.yaml");
    let mut reports = Vec::new();
    for store in &opts.stores {
        let mut cmd = Command::new(std::env::current_exe().context("cannot find this bench")?);
        cmd.env("AUDIENCE_STREAM_RULES", &rules)
            .env("AUDIENCE_STREAM_LOG", "error")
            .env("AUDIENCE_STREAM_METRICS_NAMESPACE", "AudienceStreamBench")
            .env_remove("AUDIENCE_STREAM_RECORD_KEY_SECRET_ARN");
        // Kept alive until the child is done.
        let mut _local = None;
        match store.as_str() {
            "dynamodb" => {
                let endpoint = match &opts.endpoint {
                    Some(e) => e.clone(),
                    None => {
                        let local = rt
                            .block_on(audience_testkit::dynamodb_local::DynamoDbLocal::start())
                            .map_err(|e| {
                                anyhow!("DynamoDB Local could not start (or pass --endpoint): {e}")
                            })?;
                        let endpoint = local.endpoint();
                        _local = Some(local);
                        endpoint
                    }
                };
                let table = format!("audience-bench-lambda-{}", std::process::id());
                let client = audience_testkit::dynamodb_local::local_client(&endpoint);
                rt.block_on(audience_store_dynamodb::create_table(&client, &table))
                    .with_context(|| format!("cannot create table {table} on {endpoint}"))?;
                cmd.env("AUDIENCE_STREAM_STORE", format!("dynamodb:{table}"))
                    .env("AWS_ENDPOINT_URL", &endpoint)
                    .env("AWS_REGION", "us-east-1")
                    .env("AWS_ACCESS_KEY_ID", "local")
                    .env("AWS_SECRET_ACCESS_KEY", "local");
                let report = run_child(&mut cmd, store, &a, &b);
                let deleted = rt.block_on(client.delete_table().table_name(&table).send());
                let report = report?;
                deleted.map_err(|e| anyhow!("cannot delete table {table}: {e}"))?;
                reports.push(report);
            }
            _ => {
                let path = dir.path().join("embedded/state");
                cmd.env(
                    "AUDIENCE_STREAM_STORE",
                    format!("embedded:{}", path.display()),
                );
                reports.push(run_child(&mut cmd, store, &a, &b)?);
            }
        }
    }
    if opts.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else {
        print_table(&opts, &reports);
    }
    Ok(())
}

/// Writes batch A (the first `records` events) and batch B (the next `records`) as Lambda
/// Kinesis events.
fn write_batches(dir: &Path, opts: &Options) -> Result<(PathBuf, PathBuf)> {
    let gen = GenOptions {
        seed: 7,
        users: opts.users,
        events: opts.records * 2,
        end_ms: END_MS,
        days: opts.days,
        shards: 1,
    };
    let events = generate_events(&gen);
    let (first, second) = events.split_at(opts.records);
    let a = dir.join("batch-a.json");
    let b = dir.join("batch-b.json");
    let envelope_a = to_kinesis_envelope(first, 1, 1);
    let envelope_b = to_kinesis_envelope(second, 1, 1u128 << 100);
    std::fs::write(&a, serde_json::to_vec(&envelope_a)?).context("cannot write batch A")?;
    std::fs::write(&b, serde_json::to_vec(&envelope_b)?).context("cannot write batch B")?;
    Ok((a, b))
}

fn run_child(cmd: &mut Command, store: &str, a: &Path, b: &Path) -> Result<ChildReport> {
    let out = cmd
        .arg("--child")
        .arg(store)
        .arg(a)
        .arg(b)
        .output()
        .context("cannot run the child process")?;
    if !out.status.success() {
        bail!(
            "the {store} child failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text
        .lines()
        .rev()
        .find(|l| l.starts_with("{\"store\""))
        .ok_or_else(|| anyhow!("the {store} child printed no report: {text}"))?;
    serde_json::from_str(last).context("the child's report is not JSON")
}

fn print_table(opts: &Options, reports: &[ChildReport]) {
    println!(
        "consumer handler, {} records per batch, {} users (Zipf), {} days",
        opts.records, opts.users, opts.days
    );
    println!("| store | invocation | body MB | deserialise CPU s | handler CPU s | handler wall s | peak RSS MB | failed |");
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in reports {
        println!(
            "| {} | start-up | | | | | {:.1} | |",
            r.store,
            r.startup_rss_kb as f64 / 1024.0
        );
        for i in &r.invocations {
            println!(
                "| {} | {} | {:.1} | {:.3} | {:.3} | {:.3} | {:.1} | {} |",
                r.store,
                i.label,
                i.body_bytes as f64 / 1e6,
                i.deserialise_cpu_s,
                i.handler_cpu_s,
                i.handler_wall_s,
                i.peak_rss_kb as f64 / 1024.0,
                i.failed
            );
        }
    }
}

/// Process CPU time (user + system) in seconds and peak RSS in KB.
///
/// The peak is this process image's own high-water mark (`VmHWM`): Linux carries a parent's
/// `ru_maxrss` over into a child at fork and exec, so `ru_maxrss` alone would report the
/// parent's peak (the generator's) when it is larger; `ru_maxrss` is the fallback.
fn usage() -> (f64, i64) {
    let (cpu, maxrss) = rusage();
    (cpu, vm_hwm_kb().unwrap_or(maxrss))
}

/// `VmHWM` of /proc/self/status, KB.
fn vm_hwm_kb() -> Option<i64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `getrusage(RUSAGE_SELF)`: CPU (user + system) seconds and `ru_maxrss` KB.
fn rusage() -> (f64, i64) {
    // SAFETY: getrusage only writes into the zeroed struct we pass it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid pointer.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    if rc != 0 {
        return (f64::NAN, -1);
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(ru.ru_utime) + secs(ru.ru_stime), ru.ru_maxrss)
}

/// The measured process: the Lambda's start-up, then three invocations.
fn child(store: &str, a: &Path, b: &Path) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start tokio")?;
    let shared = match store {
        // The Lambdas are built without SQLite (`Shared::from_env` refuses `embedded:`): the
        // embedded store is opened here, the rules read as `from_env` reads them.
        "embedded" => embedded_shared()?,
        _ => rt.block_on(Shared::from_env())?,
    };
    let (_, startup_rss_kb) = usage();
    let mut invocations = Vec::new();
    for (label, path) in [
        ("A (first)", a),
        ("A again (warm, redelivered)", a),
        ("B (warm, next events)", b),
    ] {
        invocations.push(invoke(&rt, &shared, label, path)?);
    }
    let report = ChildReport {
        store: store.to_string(),
        startup_rss_kb,
        invocations,
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// The shared state on the embedded store named by `AUDIENCE_STREAM_STORE`.
fn embedded_shared() -> Result<Shared> {
    let url = std::env::var("AUDIENCE_STREAM_STORE").context("AUDIENCE_STREAM_STORE")?;
    let path = url
        .strip_prefix("embedded:")
        .ok_or_else(|| anyhow!("not an embedded store URL: {url}"))?;
    let rules_path = std::env::var("AUDIENCE_STREAM_RULES").context("AUDIENCE_STREAM_RULES")?;
    let text = std::fs::read_to_string(&rules_path)
        .with_context(|| format!("cannot read rules file {rules_path}"))?;
    let rules = audience_core::Rules::load(&text, &rules_path)?;
    let store = audience_store_sqlite::EmbeddedStore::open(std::path::Path::new(path))
        .map_err(|e| anyhow!("cannot open {path}: {e}"))?;
    Ok(Shared {
        store: std::sync::Arc::new(store),
        rules: std::sync::Arc::new(rules),
    })
}

/// One invocation: the body is read and deserialised as `lambda_runtime` does, then dropped
/// before the handler runs.
fn invoke(
    rt: &tokio::runtime::Runtime,
    shared: &Shared,
    label: &str,
    path: &Path,
) -> Result<Invocation> {
    let body = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let body_bytes = body.len();
    let (cpu0, _) = usage();
    let event: KinesisEnvelope =
        serde_json::from_slice(&body).context("the batch is not a Kinesis event")?;
    drop(body);
    let (cpu1, _) = usage();
    let started = Instant::now();
    let response = rt.block_on(consumer::handle(shared, event, NOW_MS))?;
    let handler_wall_s = started.elapsed().as_secs_f64();
    let (cpu2, peak_rss_kb) = usage();
    Ok(Invocation {
        label: label.to_string(),
        body_bytes,
        deserialise_cpu_s: cpu1 - cpu0,
        handler_cpu_s: cpu2 - cpu1,
        handler_wall_s,
        peak_rss_kb,
        failed: response.batch_item_failures.len(),
    })
}
