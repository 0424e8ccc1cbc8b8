//! The naive handler the pipeline is compared with: per record, one GetItem of the user's
//! JSON state and one PutItem of the new state (what a straightforward Lambda would do),
//! sequentially, on its own table.

use super::report::Measured;
use super::workload::{newest, Record};
use anyhow::{Context, Result};
use audience_core::{apply, decode_record, Clock, DecodedEvent, Millis, Rules, UserState};
use audience_store_dynamodb::MetricsSnapshot;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};
use aws_sdk_dynamodb::Client;
use std::time::{Duration, Instant};

/// The naive handler on one table.
pub struct NaiveHandler<'a> {
    client: Client,
    table: String,
    rules: &'a Rules,
}

impl<'a> NaiveHandler<'a> {
    pub fn new(client: Client, table: String, rules: &'a Rules) -> Self {
        NaiveHandler {
            client,
            table,
            rules,
        }
    }

    /// Handles the first `limit` records of `records` (batches of `size` decide the
    /// evaluation instant, as for the pipeline).
    pub async fn replay(&self, records: &[Record], size: usize, limit: usize) -> Result<Measured> {
        let mut metrics = MetricsSnapshot::default();
        let mut elapsed = Duration::ZERO;
        let mut events = 0u64;
        let mut batches = 0u64;
        for batch in records[..limit.min(records.len())].chunks(size) {
            let now = newest(batch);
            let clock = Clock::at(now);
            batches += 1;
            for r in batch {
                events += 1;
                let Ok(ev) = decode_record(&r.raw, &self.rules.decode, clock) else {
                    continue;
                };
                let started = Instant::now();
                self.handle(&ev, now, &mut metrics).await?;
                elapsed += started.elapsed();
            }
        }
        Ok(Measured::new(
            metrics,
            events,
            batches,
            elapsed.as_secs_f64(),
        ))
    }

    /// Get, apply, Put.
    async fn handle(&self, ev: &DecodedEvent, now: Millis, m: &mut MetricsSnapshot) -> Result<()> {
        let key = AttributeValue::S(format!("USER#{}", ev.key.id));
        let got = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("PK", key.clone())
            .key("SK", AttributeValue::S("STATE".into()))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .context("naive GetItem")?;
        m.requests += 1;
        m.read_units += got
            .consumed_capacity()
            .and_then(|c| c.capacity_units())
            .unwrap_or(0.0);
        let state: UserState = got
            .item()
            .and_then(|i| i.get("state"))
            .and_then(|v| v.as_s().ok())
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_else(|| UserState::new(ev.key.id.clone()));
        let next = apply(&state, std::slice::from_ref(ev), self.rules, now).state;
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("PK", key)
            .item("SK", AttributeValue::S("STATE".into()))
            .item("state", AttributeValue::S(serde_json::to_string(&next)?))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .context("naive PutItem")?;
        m.requests += 1;
        m.write_requests += 1;
        m.write_units += put
            .consumed_capacity()
            .and_then(|c| c.capacity_units())
            .unwrap_or(0.0);
        Ok(())
    }
}
