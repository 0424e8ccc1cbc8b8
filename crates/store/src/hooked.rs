//! One delegating wrapper for instrumenting a store: [`HookedStore`] forwards every call to an
//! inner store and lets [`Hooks`] run before and after it — count calls, inject a failure,
//! hold callers at a barrier. Tests (crash injection, concurrency) and the dashboard's read
//! budget use it instead of each writing its own full delegation.

use crate::model::*;
use crate::{Erased, StateStore, StoreResult, UserErasure};
use async_trait::async_trait;
use audience_core::Millis;
use std::collections::{BTreeMap, HashMap};

/// The store operations, as hooks see them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    /// [`StateStore::load_users`]
    LoadUsers,
    /// [`StateStore::load_links`]
    LoadLinks,
    /// [`StateStore::commit_user`] (also once per user of `commit_users`)
    CommitUser,
    /// [`StateStore::user_count`]
    UserCount,
    /// [`StateStore::segment_counts`]
    SegmentCounts,
    /// [`StateStore::daily_history`]
    DailyHistory,
    /// [`StateStore::list_members`]
    ListMembers,
    /// [`StateStore::pending_summary`]
    PendingSummary,
    /// [`StateStore::pending`]
    Pending,
    /// [`StateStore::ack_pending`]
    AckPending,
    /// [`StateStore::append_ledger`]
    AppendLedger,
    /// [`StateStore::ledger`]
    Ledger,
    /// [`StateStore::due_users`]
    DueUsers,
    /// [`StateStore::scan_users`] and [`StateStore::scan_users_part`]
    ScanUsers,
    /// [`StateStore::destination_state`]
    DestinationState,
    /// [`StateStore::put_destination_state`]
    PutDestinationState,
    /// [`StateStore::record_batch`]
    RecordBatch,
    /// [`StateStore::batches`]
    Batches,
    /// [`StateStore::put_dead_letters`]
    PutDeadLetters,
    /// [`StateStore::due_done`]
    DueDone,
    /// [`StateStore::quarantine`]
    Quarantine,
    /// [`StateStore::quarantined`]
    Quarantined,
    /// [`StateStore::list_members_consistent`]
    ListMembersConsistent,
    /// [`StateStore::acquire_lease`]
    AcquireLease,
    /// [`StateStore::release_lease`]
    ReleaseLease,
    /// [`StateStore::lease`]
    Lease,
    /// [`StateStore::memberships_of`]
    MembershipsOf,
    /// [`StateStore::erase_user`]
    EraseUser,
    /// [`StateStore::fold_counters`]
    FoldCounters,
    /// [`StateStore::record_sizes`]
    RecordSizes,
    /// [`StateStore::sizes_at`]
    SizesAt,
}

impl Op {
    /// The trait method's name.
    pub fn name(self) -> &'static str {
        match self {
            Op::LoadUsers => "load_users",
            Op::LoadLinks => "load_links",
            Op::CommitUser => "commit_user",
            Op::UserCount => "user_count",
            Op::SegmentCounts => "segment_counts",
            Op::DailyHistory => "daily_history",
            Op::ListMembers => "list_members",
            Op::PendingSummary => "pending_summary",
            Op::Pending => "pending",
            Op::AckPending => "ack_pending",
            Op::AppendLedger => "append_ledger",
            Op::Ledger => "ledger",
            Op::DueUsers => "due_users",
            Op::ScanUsers => "scan_users",
            Op::DestinationState => "destination_state",
            Op::PutDestinationState => "put_destination_state",
            Op::RecordBatch => "record_batch",
            Op::Batches => "batches",
            Op::PutDeadLetters => "put_dead_letters",
            Op::DueDone => "due_done",
            Op::Quarantine => "quarantine",
            Op::Quarantined => "quarantined",
            Op::ListMembersConsistent => "list_members_consistent",
            Op::AcquireLease => "acquire_lease",
            Op::ReleaseLease => "release_lease",
            Op::Lease => "lease",
            Op::MembershipsOf => "memberships_of",
            Op::EraseUser => "erase_user",
            Op::FoldCounters => "fold_counters",
            Op::RecordSizes => "record_sizes",
            Op::SizesAt => "sizes_at",
        }
    }

    /// Whether the operation writes.
    pub fn writes(self) -> bool {
        matches!(
            self,
            Op::CommitUser
                | Op::AckPending
                | Op::AppendLedger
                | Op::PutDestinationState
                | Op::RecordBatch
                | Op::PutDeadLetters
                | Op::DueDone
                | Op::Quarantine
                | Op::AcquireLease
                | Op::ReleaseLease
                | Op::EraseUser
                | Op::FoldCounters
                | Op::RecordSizes
        )
    }
}

/// What runs around each call. Both hooks default to doing nothing.
#[async_trait]
pub trait Hooks: Send + Sync {
    /// Before the call; an error is returned instead of calling the inner store.
    async fn before(&self, _op: Op) -> StoreResult<()> {
        Ok(())
    }
    /// After the call (whatever its result).
    async fn after(&self, _op: Op) {}
}

/// A store that runs `hooks` around every call to `inner`.
pub struct HookedStore<'a, H> {
    inner: &'a dyn StateStore,
    /// The hooks (public so callers can read counters they keep).
    pub hooks: H,
}

impl<'a, H: Hooks> HookedStore<'a, H> {
    /// Wraps `inner`.
    pub fn new(inner: &'a dyn StateStore, hooks: H) -> Self {
        HookedStore { inner, hooks }
    }
}

macro_rules! hooked {
    ($self:ident, $op:expr, $call:expr) => {{
        $self.hooks.before($op).await?;
        let result = $call.await;
        $self.hooks.after($op).await;
        result
    }};
}

#[async_trait]
impl<H: Hooks> StateStore for HookedStore<'_, H> {
    async fn load_users(&self, keys: &[String]) -> StoreResult<UserLoad> {
        hooked!(self, Op::LoadUsers, self.inner.load_users(keys))
    }
    async fn load_links(&self, ids: &[String]) -> StoreResult<HashMap<String, String>> {
        hooked!(self, Op::LoadLinks, self.inner.load_links(ids))
    }
    async fn commit_user(&self, commit: &UserCommit) -> StoreResult<()> {
        hooked!(self, Op::CommitUser, self.inner.commit_user(commit))
    }
    async fn user_count(&self) -> StoreResult<u64> {
        hooked!(self, Op::UserCount, self.inner.user_count())
    }
    async fn segment_counts(&self) -> StoreResult<BTreeMap<String, SegmentCounts>> {
        hooked!(self, Op::SegmentCounts, self.inner.segment_counts())
    }
    async fn daily_history(
        &self,
        segment: &str,
        from: i32,
        to: i32,
    ) -> StoreResult<Vec<DailyCounts>> {
        hooked!(
            self,
            Op::DailyHistory,
            self.inner.daily_history(segment, from, to)
        )
    }
    async fn list_members(
        &self,
        segment: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        hooked!(
            self,
            Op::ListMembers,
            self.inner.list_members(segment, after, limit)
        )
    }
    async fn pending_summary(&self) -> StoreResult<Vec<PendingSummary>> {
        hooked!(self, Op::PendingSummary, self.inner.pending_summary())
    }
    async fn pending(
        &self,
        destination: &str,
        segment: &str,
        limit: usize,
    ) -> StoreResult<Vec<OutboxEntry>> {
        hooked!(
            self,
            Op::Pending,
            self.inner.pending(destination, segment, limit)
        )
    }
    async fn ack_pending(&self, entries: &[OutboxEntry]) -> StoreResult<usize> {
        hooked!(self, Op::AckPending, self.inner.ack_pending(entries))
    }
    async fn append_ledger(&self, entry: &LedgerEntry) -> StoreResult<()> {
        hooked!(self, Op::AppendLedger, self.inner.append_ledger(entry))
    }
    async fn ledger(&self, limit: usize) -> StoreResult<Vec<LedgerEntry>> {
        hooked!(self, Op::Ledger, self.inner.ledger(limit))
    }
    async fn due_users(&self, now: Millis, limit: usize) -> StoreResult<Vec<String>> {
        hooked!(self, Op::DueUsers, self.inner.due_users(now, limit))
    }
    async fn due_done(&self, now: Millis, users: &[String]) -> StoreResult<()> {
        hooked!(self, Op::DueDone, self.inner.due_done(now, users))
    }
    async fn scan_users(&self, after: Option<&str>, limit: usize) -> StoreResult<ScanPage> {
        hooked!(self, Op::ScanUsers, self.inner.scan_users(after, limit))
    }
    async fn scan_users_part(
        &self,
        part: u32,
        total: u32,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<ScanPage> {
        hooked!(
            self,
            Op::ScanUsers,
            self.inner.scan_users_part(part, total, after, limit)
        )
    }
    async fn destination_state(
        &self,
        destination: &str,
        segment: &str,
    ) -> StoreResult<Option<serde_json::Value>> {
        hooked!(
            self,
            Op::DestinationState,
            self.inner.destination_state(destination, segment)
        )
    }
    async fn put_destination_state(
        &self,
        destination: &str,
        segment: &str,
        value: &serde_json::Value,
    ) -> StoreResult<()> {
        hooked!(
            self,
            Op::PutDestinationState,
            self.inner
                .put_destination_state(destination, segment, value)
        )
    }
    async fn record_batch(&self, batch: &BatchRecord) -> StoreResult<()> {
        hooked!(self, Op::RecordBatch, self.inner.record_batch(batch))
    }
    async fn batches(&self, from: i32, to: i32) -> StoreResult<Vec<BatchRecord>> {
        hooked!(self, Op::Batches, self.inner.batches(from, to))
    }
    async fn put_dead_letters(&self, letters: &[DeadLetter]) -> StoreResult<()> {
        hooked!(
            self,
            Op::PutDeadLetters,
            self.inner.put_dead_letters(letters)
        )
    }
    async fn quarantine(&self, entries: &[Quarantined]) -> StoreResult<()> {
        hooked!(self, Op::Quarantine, self.inner.quarantine(entries))
    }
    async fn quarantined(&self, limit: usize) -> StoreResult<Vec<Quarantined>> {
        hooked!(self, Op::Quarantined, self.inner.quarantined(limit))
    }
    async fn list_members_consistent(
        &self,
        segment: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        hooked!(
            self,
            Op::ListMembersConsistent,
            self.inner.list_members_consistent(segment, after, limit)
        )
    }
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: Millis,
        until: Millis,
    ) -> StoreResult<bool> {
        hooked!(
            self,
            Op::AcquireLease,
            self.inner.acquire_lease(name, holder, now, until)
        )
    }
    async fn release_lease(&self, name: &str, holder: &str) -> StoreResult<()> {
        hooked!(
            self,
            Op::ReleaseLease,
            self.inner.release_lease(name, holder)
        )
    }
    async fn lease(&self, name: &str) -> StoreResult<Option<Lease>> {
        hooked!(self, Op::Lease, self.inner.lease(name))
    }
    async fn memberships_of(&self, user: &str) -> StoreResult<Vec<String>> {
        hooked!(self, Op::MembershipsOf, self.inner.memberships_of(user))
    }
    async fn erase_user(&self, erasure: &UserErasure) -> StoreResult<Erased> {
        hooked!(self, Op::EraseUser, self.inner.erase_user(erasure))
    }
    async fn fold_counters(
        &self,
        now: Millis,
        limits: &crate::FoldLimits,
    ) -> StoreResult<crate::FoldOutcome> {
        hooked!(
            self,
            Op::FoldCounters,
            self.inner.fold_counters(now, limits)
        )
    }
    async fn record_sizes(&self, snapshot: &crate::SizeSnapshot) -> StoreResult<()> {
        hooked!(self, Op::RecordSizes, self.inner.record_sizes(snapshot))
    }
    async fn sizes_at(
        &self,
        at: Millis,
        not_before: Millis,
    ) -> StoreResult<Option<crate::SizeSnapshot>> {
        hooked!(self, Op::SizesAt, self.inner.sizes_at(at, not_before))
    }
}
