//! Request accounting: how many DynamoDB requests a store made and the capacity units they
//! consumed (every call asks for `ReturnConsumedCapacity = TOTAL`), so a bench can report
//! write and read units per 1,000 events — the number that drives the bill.

use aws_sdk_dynamodb::types::ConsumedCapacity;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters shared by every clone of a store. Units are kept in thousandths so they add up
/// exactly without a lock.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: AtomicU64,
    write_requests: AtomicU64,
    read_milli_units: AtomicU64,
    write_milli_units: AtomicU64,
    transactional_write_milli_units: AtomicU64,
    transactions: AtomicU64,
    transaction_retries: AtomicU64,
}

/// A point-in-time copy of [`Metrics`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MetricsSnapshot {
    /// Requests sent (including retries of unprocessed keys and transaction conflicts).
    pub requests: u64,
    /// Of those, write requests (PutItem, UpdateItem, DeleteItem, BatchWriteItem, TransactWriteItems).
    pub write_requests: u64,
    /// Read capacity units consumed.
    pub read_units: f64,
    /// Write capacity units consumed, as DynamoDB reported them.
    pub write_units: f64,
    /// Of those, units of TransactWriteItems (AWS bills each transactional write twice,
    /// DynamoDB Local reports them once; see [`MetricsSnapshot::billed_write_units`]).
    pub transactional_write_units: f64,
    /// TransactWriteItems calls that succeeded or failed for good.
    pub transactions: u64,
    /// Transactions retried after a `TransactionConflict`.
    pub transaction_retries: u64,
}

impl MetricsSnapshot {
    /// The difference `self - earlier` (what happened between two snapshots).
    pub fn since(&self, earlier: &MetricsSnapshot) -> MetricsSnapshot {
        MetricsSnapshot {
            requests: self.requests.saturating_sub(earlier.requests),
            write_requests: self.write_requests.saturating_sub(earlier.write_requests),
            read_units: self.read_units - earlier.read_units,
            write_units: self.write_units - earlier.write_units,
            transactional_write_units: self.transactional_write_units
                - earlier.transactional_write_units,
            transactions: self.transactions.saturating_sub(earlier.transactions),
            transaction_retries: self
                .transaction_retries
                .saturating_sub(earlier.transaction_retries),
        }
    }
}

impl MetricsSnapshot {
    /// Write units as AWS bills them: transactional writes count twice.
    pub fn billed_write_units(&self) -> f64 {
        self.write_units + self.transactional_write_units
    }
}

/// Whether a request reads or writes (decides which total its capacity goes to when the
/// response reports only `CapacityUnits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// GetItem, BatchGetItem, Query, Scan.
    Read,
    /// PutItem, DeleteItem, UpdateItem, BatchWriteItem.
    Write,
    /// TransactWriteItems (billed twice by AWS).
    Transaction,
}

impl Metrics {
    /// Counts one request and the capacity it consumed.
    pub fn record<'a>(
        &self,
        access: Access,
        consumed: impl IntoIterator<Item = &'a ConsumedCapacity>,
    ) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if access != Access::Read {
            self.write_requests.fetch_add(1, Ordering::Relaxed);
        }
        for c in consumed {
            let (read, write) = match (c.read_capacity_units(), c.write_capacity_units()) {
                (None, None) => match access {
                    Access::Read => (c.capacity_units().unwrap_or(0.0), 0.0),
                    Access::Write | Access::Transaction => (0.0, c.capacity_units().unwrap_or(0.0)),
                },
                (r, w) => (r.unwrap_or(0.0), w.unwrap_or(0.0)),
            };
            self.read_milli_units
                .fetch_add(milli(read), Ordering::Relaxed);
            self.write_milli_units
                .fetch_add(milli(write), Ordering::Relaxed);
            if access == Access::Transaction {
                self.transactional_write_milli_units
                    .fetch_add(milli(write), Ordering::Relaxed);
            }
        }
    }

    /// Counts a finished transaction.
    pub fn transaction(&self) {
        self.transactions.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a transaction retried after a conflict.
    pub fn transaction_retry(&self) {
        self.transaction_retries.fetch_add(1, Ordering::Relaxed);
    }

    /// The current totals.
    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            requests: self.requests.load(Ordering::Relaxed),
            write_requests: self.write_requests.load(Ordering::Relaxed),
            read_units: self.read_milli_units.load(Ordering::Relaxed) as f64 / 1000.0,
            write_units: self.write_milli_units.load(Ordering::Relaxed) as f64 / 1000.0,
            transactional_write_units: self.transactional_write_milli_units.load(Ordering::Relaxed)
                as f64
                / 1000.0,
            transactions: self.transactions.load(Ordering::Relaxed),
            transaction_retries: self.transaction_retries.load(Ordering::Relaxed),
        }
    }
}

fn milli(units: f64) -> u64 {
    if units.is_finite() && units > 0.0 {
        (units * 1000.0).round() as u64
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_capacity_by_access() {
        let m = Metrics::default();
        let total = ConsumedCapacity::builder()
            .table_name("t")
            .capacity_units(2.5)
            .build();
        m.record(Access::Write, [&total]);
        m.record(Access::Read, [&total]);
        let split = ConsumedCapacity::builder()
            .read_capacity_units(1.0)
            .write_capacity_units(4.0)
            .build();
        m.record(Access::Read, [&split]);
        let snap = m.snapshot();
        assert_eq!(
            (snap.requests, snap.read_units, snap.write_units),
            (3, 3.5, 6.5)
        );
        assert_eq!(snap.since(&snap).requests, 0);
    }
}
