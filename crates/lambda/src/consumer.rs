//! The Kinesis consumer: decode → group by user → apply → store, answering with a partial
//! batch response.
//!
//! The envelope is read with `data` as a string (not `aws_lambda_events`' `Base64Data`), so
//! one record that is not Base64 is set aside instead of failing the whole invocation.
//! Malformed records are set aside (logged with reason, counted, kept as dead letters) and
//! never reported as failures: reporting them would stall the shard until they expire. Only
//! records of users whose commit failed are reported, so Lambda redelivers from there.

use crate::env::Shared;
use audience_core::{KinesisEnvelope, Millis};
use audience_pipeline::{process_records, BatchOptions};
use aws_lambda_events::event::streams::{KinesisBatchItemFailure, KinesisEventResponse};
use std::collections::BTreeMap;
use std::time::Instant;

/// Handles one invocation at `now` (the wall clock in production), with no deadline.
pub async fn handle(
    shared: &Shared,
    event: KinesisEnvelope,
    now: Millis,
) -> Result<KinesisEventResponse, audience_store::StoreError> {
    handle_until(shared, event, now, None).await
}

/// Handles one invocation; no commit starts after `stop` (the invocation's deadline minus a
/// margin): the records not committed by then are reported as batch item failures, so Lambda
/// redelivers them instead of timing out the whole batch.
pub async fn handle_until(
    shared: &Shared,
    event: KinesisEnvelope,
    now: Millis,
    stop: Option<Instant>,
) -> Result<KinesisEventResponse, audience_store::StoreError> {
    let started = Instant::now();
    // The envelope is consumed: its payloads move into the records, and each record's
    // Base64 text is dropped as soon as it is decoded (its JSON bytes stay for the dead
    // letters of quarantined users), so the batch is not held as text and as events at once.
    let records = event.into_raw();
    let opts = BatchOptions {
        deadline: stop,
        ..BatchOptions::default()
    };
    let outcome =
        process_records(shared.store.as_ref(), &shared.rules, records, now, &opts).await?;
    let mut reasons: BTreeMap<&str, u64> = BTreeMap::new();
    for e in &outcome.set_aside {
        *reasons.entry(e.kind.reason()).or_default() += 1;
        // The record ID and reason only: attribute values may be personal data.
        tracing::warn!(record = %e.record, reason = e.kind.reason(), "record set aside");
    }
    let entered = outcome
        .changes
        .iter()
        .filter(|c| c.kind == audience_core::ChangeKind::Entered)
        .count();
    tracing::info!(
        records = outcome.records,
        decoded = outcome.decoded,
        duplicates = outcome.duplicates,
        set_aside = outcome.set_aside.len(),
        set_aside_reasons = ?reasons,
        failed = outcome.failed.len(),
        deferred = outcome.deferred,
        quarantined = outcome.quarantined.len(),
        users_written = outcome.users_written,
        entered,
        exited = outcome.changes.len() - entered,
        duration_ms = started.elapsed().as_millis() as u64,
        "batch processed"
    );
    crate::metrics::emit(&crate::emf::Totals {
        records: outcome.records as u64,
        decoded: outcome.decoded as u64,
        set_aside: outcome.set_aside.len() as u64,
        duplicates: outcome.duplicates as u64,
        entered: entered as u64,
        exited: (outcome.changes.len() - entered) as u64,
        quarantined: outcome.quarantined.len() as u64,
        deferred: outcome.deferred as u64,
        ..Default::default()
    });
    // Only sequence numbers that are in this batch, each once.
    let mut failed: Vec<String> = outcome
        .failed
        .iter()
        .map(|(id, _)| id.seq.clone())
        .collect();
    failed.sort_by(|a, b| audience_core::record::compare_seq(a, b));
    failed.dedup();
    let mut response = KinesisEventResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|seq| {
            let mut f = KinesisBatchItemFailure::default();
            f.item_identifier = Some(seq);
            f
        })
        .collect();
    Ok(response)
}
