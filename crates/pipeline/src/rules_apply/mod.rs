//! `rules apply`: publishes a rules change to the users already stored. Every user is
//! re-evaluated under the new rules at `now`, and the enter/exit changes are committed through
//! the normal commit path — memberships, counters, daily history, one outbox entry per
//! destination of the segment, the due index (`next_flip_at`) — so LINE, Pinpoint and every
//! other destination follow at the next sync.
//!
//! - **Bounded reads.** Users are scanned in `parallel` parts (DynamoDB's parallel scan,
//!   `Segment`/`TotalSegments`; the embedded store keeps everyone in part 0), `page` users at a
//!   time, at most `max_pages` pages per invocation when asked.
//! - **Only what changes is written.** A user is read again (strongly consistent, completing a
//!   fan-out a crash left pending) and written only when the new rules change a membership or
//!   its next flip time; the commit is version-conditioned. A lost race reloads and
//!   re-evaluates: the writer that won (an event, the sweep) runs the new rules too when they
//!   were deployed first, so applying twice, or while events arrive, changes nothing more.
//! - **One user never stops the run.** An unreadable user, or one the store refuses, is
//!   quarantined and skipped. A store-wide fault stops the run after every part saved its
//!   progress; running again continues there.
//! - **Resumable.** After every page the parts' cursors, the counts and the rules file's hash
//!   are saved (job [`JOB`]); a run of the same rules that did not finish is resumed
//!   ([`Start`]), any other starts over.
//! - **One run at a time.** With a [`RunLease`], the run holds the store lease
//!   [`APPLY_LEASE`] (renewed after every page, released at the end); a second run against the
//!   same store is refused at once, naming the holder, instead of sharing the saved progress.
//!   A run that died holds it until its lease expires (`hold_ms` after its last page).
//! - **Removed segments are explicit.** Segments the new rules drop while they still have
//!   members are refused unless `drop_removed`: their members then leave in the store, but no
//!   destination hears of it (a segment not in the rules is never synced), so its LINE audience
//!   or Pinpoint segment stays as last synced. To empty a segment at its destinations, first
//!   apply rules that keep it with a condition nobody meets, sync, then remove it (docs/rules.md).

mod progress;

pub use progress::{starting_point, ApplyCounts, NoResume, PartCursor, Progress, Start, JOB};

use crate::outbox::outbox_entries;
use audience_core::rules::Rules;
use audience_core::{reevaluate, Cause, Millis, UserState};
use audience_store::{Quarantined, StateStore, StoreError, UserCommit};
use futures::lock::Mutex;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The store lease a run holds (see [`RunLease`]).
pub const APPLY_LEASE: &str = "rules-apply";

/// The lease a run takes: who it is, the wall clock (leases are wall-clock times, whatever
/// `now` the rules are applied at) and how long a page may take before another run may take
/// over.
#[derive(Debug, Clone)]
pub struct RunLease {
    /// This run's identity (process, start time).
    pub holder: String,
    /// Reads the wall clock, in Unix milliseconds.
    pub clock: fn() -> Millis,
    /// How long the lease lasts after each renewal.
    pub hold_ms: Millis,
}

impl RunLease {
    fn until(&self) -> Millis {
        (self.clock)().saturating_add(self.hold_ms)
    }
}

/// Scan parts at most (DynamoDB allows a million; more than this only adds empty pages).
pub const MAX_PARALLEL: u32 = 64;

/// How a rules change is applied.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Identifies the rules (the file's hash): progress is resumed only for the same hash.
    pub rules_hash: String,
    /// Resume, or start over.
    pub start: Start,
    /// Scan parts read concurrently (1..=[`MAX_PARALLEL`]); a resumed run keeps its own.
    pub parallel: u32,
    /// Users per scan page.
    pub page: usize,
    /// Commit attempts per user on version conflicts.
    pub max_attempts: u32,
    /// Let members of segments the new rules drop leave (their destinations are left as
    /// they are); without it such segments are refused.
    pub drop_removed: bool,
    /// Stop after this many pages in this invocation (a time-boxed run; run again to go on).
    pub max_pages: Option<u64>,
    /// Hold the store lease [`APPLY_LEASE`] while running (the CLI always does).
    pub lease: Option<RunLease>,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            rules_hash: String::new(),
            start: Start::Auto,
            parallel: 4,
            page: 500,
            max_attempts: 5,
            drop_removed: false,
            max_pages: None,
            lease: None,
        }
    }
}

/// What a `rules apply` invocation did.
#[derive(Debug, Serialize)]
pub struct ApplyOutcome {
    /// It continued an unfinished run.
    pub resumed: bool,
    /// Every user has been evaluated (false: stopped at `max_pages`; run again).
    pub finished: bool,
    /// Scan parts of the run.
    pub parts: u32,
    /// What this invocation did.
    pub this_invocation: ApplyCounts,
    /// What the whole run did (earlier invocations included).
    pub run: ApplyCounts,
    /// Segments dropped by the new rules that had members when this invocation started, with
    /// their member counts.
    pub dropped: BTreeMap<String, i64>,
}

/// Why a rules change was not applied (or not entirely).
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The new rules drop segments that still have members, and `drop_removed` was not set.
    #[error(
        "the new rules drop segments that still have members: {}. Their members would leave, but \
         no destination would hear of it (a segment not in the rules is never synced), so their \
         LINE audiences and Pinpoint segments would stay as last synced. Either keep each such \
         segment with a condition nobody meets, apply, sync, then drop it (its destinations are \
         emptied; docs/rules.md), or pass --drop-removed to drop them and leave their \
         destinations as they are",
        list(.0)
    )]
    RemovedSegments(BTreeMap<String, i64>),
    /// `Start::Resume` without an unfinished run of the same rules.
    #[error("nothing to resume: {0}; run without --resume to start over")]
    NothingToResume(NoResume),
    /// Another run holds the lease.
    #[error("another rules apply is running against this store ({0}); wait for it to finish, or for its lease to expire if it died")]
    Busy(String),
    /// A store-wide fault; the progress up to it is saved.
    #[error("{0} (progress is saved: run the same command again to continue)")]
    Store(#[from] StoreError),
}

fn list(segments: &BTreeMap<String, i64>) -> String {
    segments
        .iter()
        .map(|(id, n)| format!("`{id}` ({n} members)"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Segments with members that `rules` does not define, with their member counts.
pub async fn removed_segments(
    store: &dyn StateStore,
    rules: &Rules,
) -> Result<BTreeMap<String, i64>, StoreError> {
    Ok(store
        .segment_counts()
        .await?
        .into_iter()
        .filter(|(id, c)| c.members > 0 && rules.segment(id).is_none())
        .map(|(id, c)| (id, c.members))
        .collect())
}

/// The state of one run, shared by its parts.
struct Run<'a> {
    store: &'a dyn StateStore,
    rules: &'a Rules,
    now: Millis,
    opts: &'a ApplyOptions,
    batch_id: String,
    progress: Mutex<(Progress, ApplyCounts)>,
    stop: AtomicBool,
    pages: AtomicU64,
    on_page: &'a (dyn Fn(&ApplyCounts) + Send + Sync),
}

/// Applies `rules` to every stored user at `now`. `on_page` is called with the run's counts
/// after every page (progress display).
pub async fn apply_rules(
    store: &dyn StateStore,
    rules: &Rules,
    now: Millis,
    opts: &ApplyOptions,
    on_page: &(dyn Fn(&ApplyCounts) + Send + Sync),
) -> Result<ApplyOutcome, ApplyError> {
    if let Some(lease) = &opts.lease {
        let now_wall = (lease.clock)();
        if !store
            .acquire_lease(APPLY_LEASE, &lease.holder, now_wall, lease.until())
            .await?
        {
            let held = match store.lease(APPLY_LEASE).await? {
                Some(l) => format!(
                    "run {} holds the lease until {}",
                    l.holder,
                    audience_core::time::format_rfc3339(l.until)
                ),
                None => "its lease was released meanwhile: try again".to_string(),
            };
            return Err(ApplyError::Busy(held));
        }
    }
    let outcome = apply_held(store, rules, now, opts, on_page).await;
    if let Some(lease) = &opts.lease {
        if let Err(e) = store.release_lease(APPLY_LEASE, &lease.holder).await {
            tracing::warn!(error = %e, "could not release the rules apply lease; it expires by itself");
        }
    }
    outcome
}

async fn apply_held(
    store: &dyn StateStore,
    rules: &Rules,
    now: Millis,
    opts: &ApplyOptions,
    on_page: &(dyn Fn(&ApplyCounts) + Send + Sync),
) -> Result<ApplyOutcome, ApplyError> {
    let dropped = removed_segments(store, rules).await?;
    if !dropped.is_empty() && !opts.drop_removed {
        return Err(ApplyError::RemovedSegments(dropped));
    }
    let parallel = opts.parallel.clamp(1, MAX_PARALLEL);
    let saved = store.job_progress(JOB).await?;
    let (progress, resumed) = starting_point(saved, &opts.rules_hash, opts.start, parallel)
        .map_err(ApplyError::NothingToResume)?;
    let parts = progress.parts.len() as u32;
    if resumed {
        tracing::info!(parts, users = progress.counts.users, "resuming rules apply");
    }
    store.put_job_progress(JOB, &to_json(&progress)?).await?;
    let run = Run {
        store,
        rules,
        now,
        opts,
        batch_id: format!("rules-apply:{}@{now}", opts.rules_hash),
        progress: Mutex::new((progress, ApplyCounts::default())),
        stop: AtomicBool::new(false),
        pages: AtomicU64::new(0),
        on_page,
    };
    let results = futures::future::join_all((0..parts).map(|part| run.part(part, parts))).await;
    let (mut progress, this_invocation) = run.progress.into_inner();
    if let Some(e) = results.into_iter().find_map(Result::err) {
        return Err(e.into());
    }
    if progress.all_done() && !progress.finished {
        progress.finished = true;
        store.put_job_progress(JOB, &to_json(&progress)?).await?;
    }
    Ok(ApplyOutcome {
        resumed,
        finished: progress.finished,
        parts,
        this_invocation,
        run: progress.counts,
        dropped,
    })
}

fn to_json(progress: &Progress) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(progress)
        .map_err(|e| StoreError::Other(format!("cannot serialise the rules apply progress: {e}")))
}

/// One page's result: its counts, and the store-wide fault that cut it short (its cursor
/// then stays where it was, so the page is read again).
struct PageDone {
    counts: ApplyCounts,
    fault: Option<StoreError>,
}

impl Run<'_> {
    /// Works through one scan part, page by page, saving progress after each.
    async fn part(&self, part: u32, parts: u32) -> Result<(), StoreError> {
        loop {
            if self.stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            let after = {
                let guard = self.progress.lock().await;
                match guard.0.parts.get(part as usize) {
                    Some(cursor) if !cursor.done => cursor.after.clone(),
                    _ => return Ok(()),
                }
            };
            if let Some(max) = self.opts.max_pages {
                if self.pages.fetch_add(1, Ordering::SeqCst) >= max {
                    return Ok(());
                }
            }
            let page = match self
                .store
                .scan_users_part(part, parts, after.as_deref(), self.opts.page.max(1))
                .await
            {
                Ok(page) => page,
                Err(e) => return Err(self.halt(e)),
            };
            let done = self.page(page.users, page.unreadable).await;
            let mut guard = self.progress.lock().await;
            let (progress, this_invocation) = &mut *guard;
            progress.counts.add(&done.counts);
            this_invocation.add(&done.counts);
            if done.fault.is_none() {
                progress.parts[part as usize] = PartCursor {
                    done: page.next.is_none(),
                    after: page.next,
                };
            }
            let saved = match to_json(progress) {
                Ok(json) => self.store.put_job_progress(JOB, &json).await,
                Err(e) => Err(e),
            };
            let saved = match (saved, &self.opts.lease) {
                (Ok(()), Some(lease)) => self.renew(lease).await,
                (other, _) => other,
            };
            (self.on_page)(&progress.counts);
            drop(guard);
            if let Some(e) = done.fault {
                return Err(self.halt(e));
            }
            if let Err(e) = saved {
                return Err(self.halt(e));
            }
        }
    }

    /// Extends the run's lease after a page; a lease another run took over stops the run.
    async fn renew(&self, lease: &RunLease) -> Result<(), StoreError> {
        let renewed = self
            .store
            .acquire_lease(APPLY_LEASE, &lease.holder, (lease.clock)(), lease.until())
            .await?;
        if renewed {
            Ok(())
        } else {
            Err(StoreError::Other(format!(
                "the rules apply lease expired and another run took it over (this run: {})",
                lease.holder
            )))
        }
    }

    /// Tells the other parts to stop after their current page.
    fn halt(&self, e: StoreError) -> StoreError {
        tracing::warn!(error = %e, "rules apply stops on a store fault");
        self.stop.store(true, Ordering::SeqCst);
        e
    }

    /// Re-evaluates one page of users and commits what changed.
    async fn page(&self, users: Vec<UserState>, unreadable: BTreeMap<String, String>) -> PageDone {
        let mut counts = ApplyCounts {
            users: users.len() as u64,
            ..ApplyCounts::default()
        };
        let mut quarantine: Vec<Quarantined> = unreadable
            .iter()
            .map(|(user, why)| {
                self.quarantined(
                    user,
                    "unreadable_state",
                    format!("stored state is unreadable: {why}"),
                )
            })
            .collect();
        let fault = self
            .commit_changed(&users, &mut counts, &mut quarantine)
            .await
            .err();
        for q in &quarantine {
            tracing::warn!(user = %q.user, reason = %q.reason, error = %q.message, "user quarantined by rules apply");
            counts.quarantine(&q.user);
        }
        let fault = match (fault, quarantine.is_empty()) {
            (Some(e), _) => Some(e),
            (None, true) => None,
            (None, false) => self.store.quarantine(&quarantine).await.err(),
        };
        if fault.is_some() {
            // The page is read again: count only the commits it made (the next reading
            // finds those users settled and counts nothing for them).
            counts = ApplyCounts {
                written: counts.written,
                entered: counts.entered,
                exited: counts.exited,
                ..ApplyCounts::default()
            };
        }
        PageDone { counts, fault }
    }

    /// Commits the users of a page whose scanned state the new rules change, from a fresh
    /// read of each.
    async fn commit_changed(
        &self,
        scanned: &[UserState],
        counts: &mut ApplyCounts,
        quarantine: &mut Vec<Quarantined>,
    ) -> Result<(), StoreError> {
        let changed: Vec<String> = scanned
            .iter()
            .filter(|s| self.commit_for(s).is_some())
            .map(|s| s.user.clone())
            .collect();
        if changed.is_empty() {
            return Ok(());
        }
        let loaded = self.store.load_users(&changed).await?;
        for (user, why) in &loaded.unreadable {
            quarantine.push(self.quarantined(
                user,
                "unreadable_state",
                format!("stored state is unreadable: {why}"),
            ));
        }
        let commits: Vec<UserCommit> = changed
            .iter()
            .filter_map(|user| loaded.states.get(user))
            .filter_map(|state| self.commit_for(state))
            .collect();
        let results = self.store.commit_users(&commits).await;
        let mut lost = Vec::new();
        let mut fault = None;
        // Every result is looked at, so the commits made before or beside a fault are counted.
        for (commit, result) in commits.into_iter().zip(results) {
            match result {
                Ok(()) => written(counts, &commit),
                Err(StoreError::VersionConflict { .. }) => lost.push(commit.state.user),
                Err(e) if e.is_user_fault() => quarantine.push(self.quarantined(
                    &commit.state.user,
                    "rejected_by_store",
                    e.to_string(),
                )),
                Err(e) => {
                    fault.get_or_insert(e);
                }
            }
        }
        if let Some(e) = fault {
            return Err(e);
        }
        for user in lost {
            self.retry(&user, counts, quarantine).await?;
        }
        Ok(())
    }

    /// Reloads, re-evaluates and commits a user that lost a race, until it wins, nothing is
    /// left to change, or the attempts run out (the first was the page's commit).
    async fn retry(
        &self,
        user: &str,
        counts: &mut ApplyCounts,
        quarantine: &mut Vec<Quarantined>,
    ) -> Result<(), StoreError> {
        for attempt in 2..=self.opts.max_attempts.max(2) {
            let loaded = self.store.load_users(&[user.to_string()]).await?;
            if let Some(why) = loaded.unreadable.get(user) {
                quarantine.push(self.quarantined(
                    user,
                    "unreadable_state",
                    format!("stored state is unreadable: {why}"),
                ));
                return Ok(());
            }
            // Gone (folded into another identity meanwhile), or settled by the writer that won.
            let Some(commit) = loaded.states.get(user).and_then(|s| self.commit_for(s)) else {
                return Ok(());
            };
            match self.store.commit_user(&commit).await {
                Ok(()) => {
                    written(counts, &commit);
                    return Ok(());
                }
                Err(StoreError::VersionConflict { .. }) => {
                    tracing::debug!(
                        user,
                        attempt,
                        "version conflict; reloading and re-evaluating"
                    );
                }
                Err(e) if e.is_user_fault() => {
                    quarantine.push(self.quarantined(user, "rejected_by_store", e.to_string()));
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
        tracing::warn!(
            user,
            "rules apply left the user to a concurrent writer after repeated conflicts"
        );
        counts.conflicts += 1;
        Ok(())
    }

    /// The commit that brings `state` under the new rules, or `None` when they change neither a
    /// membership nor the next flip time (what the rules no longer need is pruned at the user's
    /// next write, not worth a write of its own).
    fn commit_for(&self, state: &UserState) -> Option<UserCommit> {
        let (mut next, changes) = reevaluate(state, self.rules, self.now, Cause::Rules);
        if changes.is_empty() && next.next_flip_at == state.next_flip_at {
            return None;
        }
        next.version = state.version + 1;
        let change_id = format!("{}#{}", self.batch_id, next.version);
        Some(UserCommit {
            outbox: outbox_entries(self.rules, &changes, &change_id),
            state: next,
            expected_version: state.version,
            changes,
            links: Vec::new(),
            absorbed: Vec::new(),
            batch_id: self.batch_id.clone(),
            prior_next_flip_at: state.next_flip_at,
        })
    }

    fn quarantined(&self, user: &str, reason: &str, message: String) -> Quarantined {
        Quarantined {
            user: user.to_string(),
            reason: reason.to_string(),
            message,
            at: self.now,
            records: Vec::new(),
        }
    }
}

fn written(counts: &mut ApplyCounts, commit: &UserCommit) {
    counts.written += 1;
    for change in &commit.changes {
        counts.record(change);
    }
}
