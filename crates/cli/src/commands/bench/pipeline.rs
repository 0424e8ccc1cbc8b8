//! The pipeline side: replays a slice in batches through `process_batch` on a
//! [`DynamoStore`] and measures requests, units and time (only the batch calls are timed).

use super::report::{Measured, PipelineDetail};
use super::workload::{newest, Record};
use anyhow::{bail, Result};
use audience_core::{decode_record, Clock, RawRecord, Rules};
use audience_pipeline::{process_batch, BatchOptions};
use audience_store::StateStore;
use audience_store_dynamodb::DynamoStore;
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// Replays `records` in batches of `size`, each evaluated at its newest event time.
pub async fn replay(
    store: &DynamoStore,
    rules: &Rules,
    records: &[Record],
    size: usize,
) -> Result<Measured> {
    let users_before = store.user_count().await?;
    let before = store.metrics();
    let mut elapsed = Duration::ZERO;
    let mut detail = PipelineDetail::default();
    let mut distinct_users = 0u64;
    let mut batches = 0u64;
    for batch in records.chunks(size) {
        let now = newest(batch);
        let raw: Vec<RawRecord> = batch.iter().map(|r| r.raw.clone()).collect();
        distinct_users += distinct_users_of(&raw, rules, now);
        let started = Instant::now();
        let out = process_batch(store, rules, &raw, now, &BatchOptions::default()).await?;
        elapsed += started.elapsed();
        if let Some((id, e)) = out.failed.first() {
            bail!(
                "{} records failed to commit (first: {}/{}: {e})",
                out.failed.len(),
                id.shard,
                id.seq
            );
        }
        detail.users_written += out.users_written as u64;
        detail.membership_changes += out.changes.len() as u64;
        detail.set_aside += out.set_aside.len() as u64;
        batches += 1;
    }
    let metrics = store.metrics().since(&before);
    detail.users_new = store.user_count().await?.saturating_sub(users_before);
    detail.transactions = metrics.transactions;
    let events = records.len() as u64;
    detail.distinct_users_per_event = distinct_users as f64 / events.max(1) as f64;
    detail.written_users_per_event = detail.users_written as f64 / events.max(1) as f64;
    Ok(Measured::new(metrics, events, batches, elapsed.as_secs_f64()).with_detail(detail))
}

/// Distinct users (after decoding) in one batch.
fn distinct_users_of(raw: &[RawRecord], rules: &Rules, now: audience_core::Millis) -> u64 {
    let clock = Clock::at(now);
    raw.iter()
        .filter_map(|r| decode_record(r, &rules.decode, clock).ok())
        .map(|e| e.key.id)
        .collect::<HashSet<_>>()
        .len() as u64
}
