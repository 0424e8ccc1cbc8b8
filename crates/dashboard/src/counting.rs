//! [`CountingStore`]: a [`StateStore`] wrapper that delegates every call and counts them, so
//! a page can show (and a test can assert) how many store reads it took.

use async_trait::async_trait;
use audience_core::{Millis, UserState};
use audience_store::{
    BatchRecord, DailyCounts, DeadLetter, LedgerEntry, OutboxEntry, PendingSummary, SegmentCounts,
    StateStore, StoreResult, UserCommit,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// Delegates to `inner` and counts calls per method.
pub struct CountingStore<'a> {
    inner: &'a dyn StateStore,
    calls: Mutex<BTreeMap<&'static str, u64>>,
}

impl<'a> CountingStore<'a> {
    /// Wraps a store; counts start at zero.
    pub fn new(inner: &'a dyn StateStore) -> Self {
        CountingStore {
            inner,
            calls: Mutex::new(BTreeMap::new()),
        }
    }

    /// Calls made so far, all methods together.
    pub fn total(&self) -> u64 {
        self.by_method().values().sum()
    }

    /// Calls made so far per method name.
    pub fn by_method(&self) -> BTreeMap<&'static str, u64> {
        match self.calls.lock() {
            Ok(calls) => calls.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn count(&self, method: &'static str) {
        let mut calls = match self.calls.lock() {
            Ok(calls) => calls,
            Err(poisoned) => poisoned.into_inner(),
        };
        *calls.entry(method).or_default() += 1;
    }
}

#[async_trait]
impl StateStore for CountingStore<'_> {
    async fn load_users(&self, keys: &[String]) -> StoreResult<HashMap<String, UserState>> {
        self.count("load_users");
        self.inner.load_users(keys).await
    }
    async fn load_links(&self, endpoint_ids: &[String]) -> StoreResult<HashMap<String, String>> {
        self.count("load_links");
        self.inner.load_links(endpoint_ids).await
    }
    async fn commit_user(&self, commit: &UserCommit) -> StoreResult<()> {
        self.count("commit_user");
        self.inner.commit_user(commit).await
    }
    async fn user_count(&self) -> StoreResult<u64> {
        self.count("user_count");
        self.inner.user_count().await
    }
    async fn segment_counts(&self) -> StoreResult<BTreeMap<String, SegmentCounts>> {
        self.count("segment_counts");
        self.inner.segment_counts().await
    }
    async fn daily_history(
        &self,
        segment: &str,
        from_day: i32,
        to_day: i32,
    ) -> StoreResult<Vec<DailyCounts>> {
        self.count("daily_history");
        self.inner.daily_history(segment, from_day, to_day).await
    }
    async fn list_members(
        &self,
        segment: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        self.count("list_members");
        self.inner.list_members(segment, after, limit).await
    }
    async fn pending_summary(&self) -> StoreResult<Vec<PendingSummary>> {
        self.count("pending_summary");
        self.inner.pending_summary().await
    }
    async fn pending(
        &self,
        destination: &str,
        segment: &str,
        limit: usize,
    ) -> StoreResult<Vec<OutboxEntry>> {
        self.count("pending");
        self.inner.pending(destination, segment, limit).await
    }
    async fn ack_pending(&self, entries: &[OutboxEntry]) -> StoreResult<usize> {
        self.count("ack_pending");
        self.inner.ack_pending(entries).await
    }
    async fn append_ledger(&self, entry: &LedgerEntry) -> StoreResult<()> {
        self.count("append_ledger");
        self.inner.append_ledger(entry).await
    }
    async fn ledger(&self, limit: usize) -> StoreResult<Vec<LedgerEntry>> {
        self.count("ledger");
        self.inner.ledger(limit).await
    }
    async fn due_users(&self, now: Millis, limit: usize) -> StoreResult<Vec<String>> {
        self.count("due_users");
        self.inner.due_users(now, limit).await
    }
    async fn scan_users(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<UserState>> {
        self.count("scan_users");
        self.inner.scan_users(after, limit).await
    }
    async fn destination_state(
        &self,
        destination: &str,
        segment: &str,
    ) -> StoreResult<Option<serde_json::Value>> {
        self.count("destination_state");
        self.inner.destination_state(destination, segment).await
    }
    async fn put_destination_state(
        &self,
        destination: &str,
        segment: &str,
        value: &serde_json::Value,
    ) -> StoreResult<()> {
        self.count("put_destination_state");
        self.inner
            .put_destination_state(destination, segment, value)
            .await
    }
    async fn record_batch(&self, batch: &BatchRecord) -> StoreResult<()> {
        self.count("record_batch");
        self.inner.record_batch(batch).await
    }
    async fn batches(&self, from_day: i32, to_day: i32) -> StoreResult<Vec<BatchRecord>> {
        self.count("batches");
        self.inner.batches(from_day, to_day).await
    }
    async fn put_dead_letters(&self, letters: &[DeadLetter]) -> StoreResult<()> {
        self.count("put_dead_letters");
        self.inner.put_dead_letters(letters).await
    }
}
