//! The state-store trait, its model and errors, store limits (`validate`), a hooked wrapper
//! (`hooked`) and store URLs (`url`). No implementation lives here: the embedded SQLite store
//! is `audience-store-sqlite`, the DynamoDB store `audience-store-dynamodb`.
//!
//! Everything the system keeps lives behind [`StateStore`]: user state with optimistic
//! versions, segment memberships, counters and daily history, the sync outbox and ledger,
//! the due-for-re-evaluation index, batch statistics and dead letters. The pipeline, the
//! sync runner and the dashboards only see this trait; DynamoDB and SQLite are two crates
//! that fill it in, and a conformance suite (in `audience-testkit`) holds both to the same
//! behaviour.

pub mod erasure;
pub mod error;
pub mod hooked;
pub mod model;
pub mod upkeep;
pub mod url;
pub mod validate;

pub use erasure::{Erased, ErasedVersion, UserErasure};
pub use error::{StoreError, StoreResult};
pub use hooked::{HookedStore, Hooks, Op};
pub use model::*;
pub use upkeep::{FoldLimits, FoldOutcome, SizeSnapshot};
pub use url::StoreUrl;

use async_trait::async_trait;
use audience_core::Millis;
use std::collections::{BTreeMap, HashMap};

/// The reserved destination kind under which [`StateStore::job_progress`] is kept by default.
pub const JOB_PROGRESS_KIND: &str = "_job";

/// Checks the part of a parallel scan ([`StateStore::scan_users_part`]).
pub fn check_scan_part(part: u32, total: u32) -> StoreResult<()> {
    if part < total {
        Ok(())
    } else {
        Err(StoreError::Other(format!(
            "scan part {part} is outside 0..{total}"
        )))
    }
}

/// Where state lives. All methods are safe to call concurrently.
#[async_trait]
pub trait StateStore: Send + Sync {
    /// Loads many users at once; users never saved are absent. A user whose item cannot be
    /// read back is reported in [`UserLoad::unreadable`], never as an error of the whole call.
    async fn load_users(&self, keys: &[String]) -> StoreResult<UserLoad>;

    /// The users these endpoint IDs are known to belong to.
    async fn load_links(&self, endpoint_ids: &[String]) -> StoreResult<HashMap<String, String>>;

    /// Saves a user's new state with everything that follows from it. Fails with
    /// [`StoreError::VersionConflict`] when the stored version is not `expected_version`
    /// (nothing is written then), and with [`StoreError::Rejected`] when the user breaks a
    /// store limit (see `validate`). Exactly once: a crash never leaves a user saved without
    /// its memberships, counters and outbox entries eventually following, nor counts them
    /// twice (SQLite: one transaction; DynamoDB: a pending record in the user item, completed
    /// idempotently — see docs/dynamodb.md).
    async fn commit_user(&self, commit: &UserCommit) -> StoreResult<()>;

    /// Commits many users, each independently: one user's conflict or failure does not undo
    /// another's commit. The results are in input order. The default commits one by one;
    /// stores override it to batch (SQLite: one transaction with a savepoint per user;
    /// DynamoDB: concurrent transactions).
    async fn commit_users(&self, commits: &[UserCommit]) -> Vec<StoreResult<()>> {
        let mut out = Vec::with_capacity(commits.len());
        for c in commits {
            out.push(self.commit_user(c).await);
        }
        out
    }

    /// Number of users stored.
    async fn user_count(&self) -> StoreResult<u64>;

    /// Totals per segment that has ever had a member.
    async fn segment_counts(&self) -> StoreResult<BTreeMap<String, SegmentCounts>>;

    /// Daily enters/exits of a segment for days `from..=to` (days with no change omitted).
    async fn daily_history(
        &self,
        segment: &str,
        from_day: i32,
        to_day: i32,
    ) -> StoreResult<Vec<DailyCounts>>;

    /// Members of a segment in key order, after `after`, at most `limit`.
    async fn list_members(
        &self,
        segment: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<String>>;

    /// Pending sync work per destination and segment.
    async fn pending_summary(&self) -> StoreResult<Vec<PendingSummary>>;

    /// Pending entries of one destination and segment, oldest first, at most `limit`.
    async fn pending(
        &self,
        destination: &str,
        segment: &str,
        limit: usize,
    ) -> StoreResult<Vec<OutboxEntry>>;

    /// Removes entries the destination has accepted; an entry replaced by a newer change
    /// since it was read (different `change_id`) stays. Returns how many were removed.
    async fn ack_pending(&self, entries: &[OutboxEntry]) -> StoreResult<usize>;

    /// Appends a ledger row.
    async fn append_ledger(&self, entry: &LedgerEntry) -> StoreResult<()>;

    /// The newest ledger rows, newest first.
    async fn ledger(&self, limit: usize) -> StoreResult<Vec<LedgerEntry>>;

    /// Users whose `next_flip_at` is at or before `now`, at most `limit`. A user may be
    /// listed although it is no longer due (an index may lag behind a newer state): callers
    /// load it and check. Listed users stay listed until [`StateStore::due_done`].
    async fn due_users(&self, now: Millis, limit: usize) -> StoreResult<Vec<String>>;

    /// Tells the store these users were re-evaluated at `now` (committed or found not due),
    /// so their index entries at or before `now` can go. The default does nothing (stores
    /// that derive the index from the users' own `next_flip_at`).
    async fn due_done(&self, _now: Millis, _users: &[String]) -> StoreResult<()> {
        Ok(())
    }

    /// All users, a page at a time (for rules diffs; a scan). Pass the page's `next` as
    /// `after` to get the next; pages cover every user once, in an order of the store's
    /// choosing (key order for SQLite, scan order for DynamoDB). Unreadable users are listed
    /// in the page, not fatal.
    async fn scan_users(&self, after: Option<&str>, limit: usize) -> StoreResult<ScanPage>;

    /// One part of a parallel scan over all users: the users are split into `total` disjoint
    /// parts (`part` in `0..total`) that together hold every user once, each paged like
    /// [`StateStore::scan_users`] (`after` is the `next` of the same part's previous page).
    /// DynamoDB scans the parts in parallel (`Segment`/`TotalSegments`); the default puts
    /// every user in part 0 and leaves the others empty (stores without a parallel scan, such
    /// as the embedded SQLite store). A `part` outside `0..total` is an error.
    async fn scan_users_part(
        &self,
        part: u32,
        total: u32,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<ScanPage> {
        check_scan_part(part, total)?;
        if part == 0 {
            self.scan_users(after, limit).await
        } else {
            Ok(ScanPage::default())
        }
    }

    /// The saved progress of a resumable job (e.g. `rules apply`), by name; `None` when none
    /// was saved. The default keeps it as the destination state of the reserved kind `_job`
    /// (destination kinds start with a lowercase letter, so none can be named so).
    async fn job_progress(&self, job: &str) -> StoreResult<Option<serde_json::Value>> {
        self.destination_state(JOB_PROGRESS_KIND, job).await
    }

    /// Replaces the saved progress of a resumable job.
    async fn put_job_progress(&self, job: &str, progress: &serde_json::Value) -> StoreResult<()> {
        self.put_destination_state(JOB_PROGRESS_KIND, job, progress)
            .await
    }

    /// A destination's remembered state for a segment (audience ID, last import job…).
    async fn destination_state(
        &self,
        destination: &str,
        segment: &str,
    ) -> StoreResult<Option<serde_json::Value>>;

    /// Replaces a destination's remembered state for a segment.
    async fn put_destination_state(
        &self,
        destination: &str,
        segment: &str,
        value: &serde_json::Value,
    ) -> StoreResult<()>;

    /// Records a processed batch's statistics (rewriting the same `batch_id` is harmless).
    async fn record_batch(&self, batch: &BatchRecord) -> StoreResult<()>;

    /// Batch statistics of the days `from..=to`.
    async fn batches(&self, from_day: i32, to_day: i32) -> StoreResult<Vec<BatchRecord>>;

    /// Keeps records that were set aside.
    async fn put_dead_letters(&self, letters: &[DeadLetter]) -> StoreResult<()>;

    /// Quarantines users (rewriting an entry of the same user replaces it).
    async fn quarantine(&self, entries: &[Quarantined]) -> StoreResult<()>;

    /// Quarantined users, newest first, at most `limit`.
    async fn quarantined(&self, limit: usize) -> StoreResult<Vec<Quarantined>>;
    /// Like [`StateStore::list_members`], but strongly consistent: a member committed before
    /// the call is listed (DynamoDB: `ConsistentRead` on the Query). For reads whose result
    /// must not miss a recent entry, such as building a replacement audience.
    async fn list_members_consistent(
        &self,
        segment: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<String>>;

    /// Takes the lease `name` for `holder` until `until` (epoch ms). True when acquired: no
    /// lease, an expired one (`until < now`), or already `holder`'s (re-acquiring extends it).
    /// False when someone else holds it; nothing is changed then.
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: Millis,
        until: Millis,
    ) -> StoreResult<bool>;

    /// Releases the lease `name` if `holder` holds it; someone else's lease is left alone.
    async fn release_lease(&self, name: &str, holder: &str) -> StoreResult<()>;

    /// The lease `name` as stored (expired or not), if any.
    async fn lease(&self, name: &str) -> StoreResult<Option<Lease>>;

    /// Segments whose member index lists `user` (besides its state, for an erasure: the two
    /// agree unless a write was interrupted, and an unreadable state lists nothing).
    async fn memberships_of(&self, user: &str) -> StoreResult<Vec<String>>;

    /// Erases one user (see [`UserErasure`]): its state, memberships (members, counters and
    /// daily history count the exits), identity links in both directions, due-index entries,
    /// quarantine entry and the dead letters naming it; its pending additions become exits
    /// and the erasure's exit entries are written, so destinations drop the user. Fails with
    /// [`StoreError::VersionConflict`], having removed nothing of the state, when the user was
    /// saved since it was read. Idempotent: a repeated erasure removes nothing and reports
    /// zeros.
    async fn erase_user(&self, erasure: &UserErasure) -> StoreResult<Erased>;
    /// Folds counter deltas written before `now − limits.margin_ms` into per-segment (and
    /// per-day, and user-count) base items, so the reads of `segment_counts`, `user_count`
    /// and `daily_history` stay O(segments) / O(days asked) however many batches ran. Crash-
    /// safe and idempotent: totals never change, whether a call stops after any write, runs
    /// twice, or runs while batches commit. The default does nothing (stores whose counters
    /// are already one row per segment and day, like SQLite).
    async fn fold_counters(&self, _now: Millis, _limits: &FoldLimits) -> StoreResult<FoldOutcome> {
        Ok(FoldOutcome::default())
    }

    /// Keeps a snapshot of segment sizes (the sweep writes one per run, for size alerts).
    /// Snapshots older than [`upkeep::SIZE_SNAPSHOT_RETENTION_MS`] may be dropped.
    async fn record_sizes(&self, snapshot: &SizeSnapshot) -> StoreResult<()>;

    /// The newest size snapshot taken at or before `at` and not before `not_before`.
    async fn sizes_at(&self, at: Millis, not_before: Millis) -> StoreResult<Option<SizeSnapshot>>;
}
