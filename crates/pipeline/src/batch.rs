//! One batch through the pipeline: decode → resolve identities → group by user → load →
//! apply → commit (with reload-and-retry on version conflicts) → batch statistics.
//!
//! Nothing one record or one user does can stop the batch for the others:
//! - a record that cannot be decoded or admitted is set aside (dead letter with its reason);
//! - a user whose stored state cannot be read, or whose new state a store refuses (a limit),
//!   is quarantined: its records are kept as dead letters with reason `user_quarantined`, a
//!   quarantine entry names the user and the cause, and everyone else's changes stand;
//! - a user whose commit fails for a store-wide reason (throttling, network) has its records
//!   reported as failed, so the Lambda's partial batch response redelivers them;
//! - past the deadline (the Lambda's remaining time), no new commit starts: the unfinished
//!   users' records are reported as failed instead of letting the invocation time out.
//!
//! Only a store-wide failure of a read or of the batch's own bookkeeping fails the batch.

use crate::identity::resolve;
use crate::outbox::line_identity_entries;
pub use crate::outbox::outbox_entries;
use audience_core::rules::Rules;
use audience_core::{
    apply_each, ChangeKind, Clock, DecodeError, DecodedEvent, Decoder, MembershipChange, Millis,
    Payload, RawRecord, RecordId, SetAside, UserState,
};
use audience_store::{
    AbsorbedIdentity, BatchRecord, DeadLetter, Quarantined, StateStore, StoreError, UserCommit,
    UserLoad,
};
use futures::stream::{self, StreamExt};
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

/// Identities folded into one user in one commit at most; more links wait for a later batch
/// of that user (the links are stored, so its next events still resolve to the user).
pub const MAX_ABSORBED_PER_COMMIT: usize = 24;

/// How a batch is processed.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// Commit attempts per user on version conflicts (reload and re-apply each time).
    pub max_attempts: u32,
    /// Users committed concurrently.
    pub concurrency: usize,
    /// Keep set-aside records in the store's dead-letter items.
    pub store_dead_letters: bool,
    /// Start no commit after this instant (the Lambda passes its deadline minus a margin).
    pub deadline: Option<Instant>,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions {
            max_attempts: 5,
            concurrency: 16,
            store_dead_letters: true,
            deadline: None,
        }
    }
}

impl BatchOptions {
    fn past_deadline(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

/// What happened to a batch.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    /// Records in the batch.
    pub records: usize,
    /// Records decoded.
    pub decoded: usize,
    /// Records whose event was already counted (same fingerprint) or came twice.
    pub duplicates: usize,
    /// Records applied that changed nothing (a redelivery of an already applied event).
    pub unchanged: usize,
    /// Records set aside (never retried), with their reasons.
    pub set_aside: Vec<DecodeError>,
    /// Users quarantined in this batch (their records are dead letters).
    pub quarantined: Vec<QuarantinedUser>,
    /// Records that must be retried (their user's commit failed), with the error.
    pub failed: Vec<(RecordId, String)>,
    /// Membership changes committed.
    pub changes: Vec<MembershipChange>,
    /// Users whose state was written.
    pub users_written: usize,
    /// Records not attempted because the deadline passed (also in `failed`).
    pub deferred: usize,
}

/// Decodes and processes one batch of raw records at `now` (the wall clock).
pub async fn process_batch(
    store: &dyn StateStore,
    rules: &Rules,
    records: &[RawRecord],
    now: Millis,
    opts: &BatchOptions,
) -> Result<BatchOutcome, StoreError> {
    let mut decoded = Vec::with_capacity(records.len());
    let mut set_aside = Vec::new();
    let mut decoder = Decoder::new(&rules.decode, Clock::at(now));
    for raw in records {
        match decoder.decode(raw) {
            Ok(ev) => decoded.push(ev),
            Err(e) => set_aside.push(e),
        }
    }
    let batch_id = records
        .first()
        .map(|r| r.id.to_string())
        .unwrap_or_default();
    let raw_by_id: HashMap<&RecordId, &RawRecord> = records.iter().map(|r| (&r.id, r)).collect();
    let payload = |id: &RecordId| {
        raw_by_id
            .get(id)
            .map(|r| truncated(payload_text(&r.payload)))
    };
    let mut outcome =
        process_decoded(store, rules, decoded, set_aside, &batch_id, now, opts).await?;
    outcome.records = records.len();
    if opts.store_dead_letters {
        let letters = dead_letters(&outcome, now, &payload);
        if !letters.is_empty() {
            store.put_dead_letters(&letters).await?;
        }
    }
    Ok(outcome)
}

/// Decodes and processes one batch, consuming its records (the Lambda's path).
///
/// A batch is not held twice: each record's Base64 text is dropped as soon as it is decoded,
/// and only its JSON bytes (3/4 of the Base64) stay, beside the decoded event, for as long
/// as the batch runs — a user may still be quarantined at its commit, and its dead letters
/// carry the payloads as received (Base64 encoded again, exactly the `data` that came).
/// A record set aside keeps its payload as it came. The outcome is [`process_batch`]'s.
pub async fn process_records(
    store: &dyn StateStore,
    rules: &Rules,
    records: Vec<RawRecord>,
    now: Millis,
    opts: &BatchOptions,
) -> Result<BatchOutcome, StoreError> {
    let count = records.len();
    let batch_id = records
        .first()
        .map(|r| r.id.to_string())
        .unwrap_or_default();
    let mut decoded = Vec::with_capacity(count);
    let mut kept = Vec::with_capacity(count);
    let mut set_aside = Vec::new();
    let mut set_aside_payloads: HashMap<RecordId, Payload> = HashMap::new();
    let mut decoder = Decoder::new(&rules.decode, Clock::at(now));
    for raw in records {
        match decoder.decode_keeping_bytes(raw) {
            Ok((event, payload)) => {
                decoded.push(event);
                kept.push(payload);
            }
            Err(aside) => {
                let SetAside { error, payload } = *aside;
                set_aside_payloads.insert(error.record.clone(), payload);
                set_aside.push(error);
            }
        }
    }
    let (mut outcome, decoded) =
        process_events(store, rules, decoded, set_aside, &batch_id, now, opts).await?;
    outcome.records = count;
    if opts.store_dead_letters && (!outcome.set_aside.is_empty() || !outcome.quarantined.is_empty())
    {
        // `kept[i]` is the payload of `decoded[i]`.
        let by_id: HashMap<&RecordId, usize> = decoded
            .iter()
            .enumerate()
            .map(|(i, e)| (&e.record, i))
            .collect();
        let payload = |id: &RecordId| {
            if let Some(p) = set_aside_payloads.get(id) {
                return Some(truncated(payload_text(p)));
            }
            let kept = kept.get(*by_id.get(id)?)?;
            Some(truncated(payload_text(&kept.to_payload())))
        };
        let letters = dead_letters(&outcome, now, &payload);
        if !letters.is_empty() {
            store.put_dead_letters(&letters).await?;
        }
    }
    Ok(outcome)
}

/// Dead letters for the records set aside and the records of quarantined users.
pub fn dead_letters(
    outcome: &BatchOutcome,
    now: Millis,
    payload: &dyn Fn(&RecordId) -> Option<String>,
) -> Vec<DeadLetter> {
    let mut letters: Vec<DeadLetter> = outcome
        .set_aside
        .iter()
        .map(|e| DeadLetter {
            record: e.record.to_string(),
            reason: e.kind.reason().to_string(),
            message: e.kind.to_string(),
            at: now,
            data: payload(&e.record).unwrap_or_default(),
        })
        .collect();
    for q in &outcome.quarantined {
        for record in &q.record_ids {
            letters.push(DeadLetter {
                record: record.to_string(),
                reason: "user_quarantined".to_string(),
                message: format!(
                    "user `{}` is quarantined: {}",
                    q.entry.user, q.entry.message
                ),
                at: now,
                data: payload(record).unwrap_or_default(),
            });
        }
    }
    letters
}

/// A payload as a dead letter's text: the Base64 as received, or the JSON text.
fn payload_text(payload: &Payload) -> String {
    match payload {
        Payload::Base64(s) => s.clone(),
        Payload::Json(b) => String::from_utf8_lossy(b).into_owned(),
    }
}

/// A dead letter keeps at most 64 KiB of a payload.
fn truncated(mut text: String) -> String {
    if text.len() > 65_536 {
        let mut cut = 65_536;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

/// One user's work in a batch: its events are picked out of the batch's decoded events by
/// index (the batch is grouped without moving or copying its events).
struct UserWork {
    user: String,
    events: Vec<usize>,
    links: Vec<(String, String)>,
}

impl UserWork {
    /// This user's events, in batch order.
    fn events<'a>(
        &'a self,
        batch: &'a [DecodedEvent],
    ) -> impl ExactSizeIterator<Item = &'a DecodedEvent> + 'a {
        self.events.iter().map(move |&i| &batch[i])
    }
}

/// Processes already-decoded events (the replay decodes as it reads).
/// `batch_id` names the batch (first record ID) for idempotent per-batch items.
pub async fn process_decoded(
    store: &dyn StateStore,
    rules: &Rules,
    events: Vec<DecodedEvent>,
    set_aside: Vec<DecodeError>,
    batch_id: &str,
    now: Millis,
    opts: &BatchOptions,
) -> Result<BatchOutcome, StoreError> {
    let (outcome, _) = process_events(store, rules, events, set_aside, batch_id, now, opts).await?;
    Ok(outcome)
}

/// [`process_decoded`], handing the events back (to find dead letters' payloads by index).
async fn process_events(
    store: &dyn StateStore,
    rules: &Rules,
    events: Vec<DecodedEvent>,
    set_aside: Vec<DecodeError>,
    batch_id: &str,
    now: Millis,
    opts: &BatchOptions,
) -> Result<(BatchOutcome, Vec<DecodedEvent>), StoreError> {
    let decoded_count = events.len();
    let mut outcome = BatchOutcome {
        records: decoded_count + set_aside.len(),
        decoded: decoded_count,
        set_aside,
        ..BatchOutcome::default()
    };
    let newest_arrival = events
        .iter()
        .filter_map(|e| e.arrival_ms.or(e.event.arrival_timestamp))
        .max();
    let batch = events;
    let work = group(store, rules, &batch).await?;
    let events = batch.as_slice();
    // One bulk load for the whole batch (BatchGetItem in DynamoDB), one bulk commit; only
    // users that lost a race are reloaded and re-applied, one by one.
    let mut keys: Vec<String> = work.iter().map(|w| w.user.clone()).collect();
    keys.extend(
        work.iter()
            .flat_map(|w| w.links.iter().map(|(e, _)| e.clone())),
    );
    keys.sort();
    keys.dedup();
    let loaded = store.load_users(&keys).await?;
    let retries = commit_all(
        store,
        rules,
        events,
        work,
        &loaded,
        batch_id,
        now,
        opts,
        &mut outcome,
    )
    .await;
    retry_conflicts(
        store,
        rules,
        events,
        retries,
        batch_id,
        now,
        opts,
        &mut outcome,
    )
    .await;
    if !outcome.quarantined.is_empty() {
        let entries: Vec<Quarantined> = outcome
            .quarantined
            .iter()
            .map(|q| q.entry.clone())
            .collect();
        store.quarantine(&entries).await?;
    }
    outcome
        .changes
        .sort_by(|a, b| (&a.segment, &a.user).cmp(&(&b.segment, &b.user)));
    record(
        store,
        &outcome,
        batch_id,
        rules.zone.day_of(now),
        newest_arrival,
    )
    .await?;
    Ok((outcome, batch))
}

/// Resolves identities and groups the events by user (key order), as indexes into `events`.
async fn group(
    store: &dyn StateStore,
    rules: &Rules,
    events: &[DecodedEvent],
) -> Result<Vec<UserWork>, StoreError> {
    let resolved = resolve(store, events, &rules.decode).await?;
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, (ev, user)) in events.iter().zip(&resolved.users).enumerate() {
        let user = user.as_deref().unwrap_or(&ev.key.id);
        groups.entry(user).or_default().push(i);
    }
    let mut links_by_user: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (endpoint, user) in &resolved.new_links {
        if endpoint != user {
            links_by_user
                .entry(user.clone())
                .or_default()
                .push((endpoint.clone(), user.clone()));
        }
    }
    Ok(groups
        .into_iter()
        .map(|(user, events)| UserWork {
            links: links_by_user.remove(user).unwrap_or_default(),
            user: user.to_string(),
            events,
        })
        .collect())
}

/// A quarantined user and the records set aside with it.
#[derive(Debug, Clone)]
pub struct QuarantinedUser {
    /// What the store keeps.
    pub entry: Quarantined,
    /// The user's records in this batch (kept as dead letters).
    pub record_ids: Vec<RecordId>,
}

fn quarantine<'e>(
    outcome: &mut BatchOutcome,
    user: &str,
    reason: &str,
    message: String,
    events: impl ExactSizeIterator<Item = &'e DecodedEvent>,
    now: Millis,
) {
    tracing::warn!(user_records = events.len(), reason, error = %message, "user quarantined; its records are kept as dead letters");
    let record_ids: Vec<RecordId> = events.map(|e| e.record.clone()).collect();
    outcome.quarantined.push(QuarantinedUser {
        entry: Quarantined {
            user: user.to_string(),
            reason: reason.to_string(),
            message,
            at: now,
            records: record_ids
                .iter()
                .take(100)
                .map(RecordId::to_string)
                .collect(),
        },
        record_ids,
    });
}

fn fail<'e>(
    outcome: &mut BatchOutcome,
    user: &str,
    evs: impl ExactSizeIterator<Item = &'e DecodedEvent>,
    e: &str,
) {
    tracing::warn!(user_records = evs.len(), error = %e, "user commit failed; records will be retried");
    let message = format!("user `{user}`: {e}");
    outcome
        .failed
        .extend(evs.map(|ev| (ev.record.clone(), message.clone())));
}

/// Prepares every user from the bulk load and commits them together; returns the users that
/// lost a race (to reload and retry).
#[allow(clippy::too_many_arguments)]
async fn commit_all(
    store: &dyn StateStore,
    rules: &Rules,
    batch: &[DecodedEvent],
    work: Vec<UserWork>,
    loaded: &UserLoad,
    batch_id: &str,
    now: Millis,
    opts: &BatchOptions,
    outcome: &mut BatchOutcome,
) -> Vec<UserWork> {
    let mut ready = Vec::with_capacity(work.len());
    for w in work {
        if let Some(why) = loaded.unreadable.get(&w.user) {
            let message = format!("stored state is unreadable: {why}");
            quarantine(
                outcome,
                &w.user,
                "unreadable_state",
                message,
                w.events(batch),
                now,
            );
            continue;
        }
        // A linked identity that cannot be read is quarantined on its own and not folded.
        for (endpoint, _) in &w.links {
            if let Some(why) = loaded.unreadable.get(endpoint) {
                let message = format!("stored state is unreadable: {why}");
                quarantine(
                    outcome,
                    endpoint,
                    "unreadable_state",
                    message,
                    std::iter::empty(),
                    now,
                );
            }
        }
        let prepared = prepare(rules, batch, &w, &loaded.states, batch_id, now);
        ready.push((w, prepared));
    }
    if opts.past_deadline() {
        for (w, _) in ready {
            outcome.deferred += w.events.len();
            fail(
                outcome,
                &w.user,
                w.events(batch),
                "deadline reached before its commit started",
            );
        }
        return Vec::new();
    }
    // The commits move out of `ready` (not copied) and back in order after the store's answer.
    let commits: Vec<UserCommit> = ready
        .iter_mut()
        .filter_map(|(_, p)| p.commit.take())
        .collect();
    let mut results = store.commit_users(&commits).await.into_iter();
    let mut commits = commits.into_iter();
    let mut retries = Vec::new();
    for (w, prepared) in ready {
        if !prepared.commits {
            outcome.duplicates += prepared.duplicates;
            outcome.unchanged += w.events.len() - prepared.duplicates;
            continue;
        }
        let Some(commit) = commits.next() else {
            continue;
        };
        let result = results.next().unwrap_or_else(|| {
            Err(StoreError::Other(
                "the store returned too few commit results".into(),
            ))
        });
        match result {
            Ok(()) => {
                outcome.duplicates += prepared.duplicates;
                outcome.users_written += 1;
                outcome.changes.extend(commit.changes);
            }
            Err(StoreError::VersionConflict { .. }) => retries.push(w),
            Err(e) if e.is_user_fault() => quarantine(
                outcome,
                &w.user,
                "rejected_by_store",
                e.to_string(),
                w.events(batch),
                now,
            ),
            Err(e) => fail(outcome, &w.user, w.events(batch), &e.to_string()),
        }
    }
    retries
}

/// Reloads, re-applies and commits each user that lost a race, concurrently.
#[allow(clippy::too_many_arguments)]
async fn retry_conflicts(
    store: &dyn StateStore,
    rules: &Rules,
    batch: &[DecodedEvent],
    retries: Vec<UserWork>,
    batch_id: &str,
    now: Millis,
    opts: &BatchOptions,
    outcome: &mut BatchOutcome,
) {
    let jobs = retries.into_iter().map(|w| async move {
        let result = commit_with_retries(store, rules, batch, &w, batch_id, now, opts).await;
        (w, result)
    });
    let results: Vec<_> = stream::iter(jobs)
        .buffer_unordered(opts.concurrency.max(1))
        .collect()
        .await;
    for (w, result) in results {
        match result {
            Ok(done) => {
                outcome.duplicates += done.duplicates;
                if done.written {
                    outcome.users_written += 1;
                } else {
                    outcome.unchanged += w.events.len() - done.duplicates;
                }
                outcome.changes.extend(done.changes);
            }
            Err(RetryError::Quarantine(reason, message)) => {
                quarantine(outcome, &w.user, reason, message, w.events(batch), now)
            }
            Err(RetryError::Deadline) => {
                outcome.deferred += w.events.len();
                fail(
                    outcome,
                    &w.user,
                    w.events(batch),
                    "deadline reached before its commit started",
                );
            }
            Err(RetryError::Store(e)) => fail(outcome, &w.user, w.events(batch), &e.to_string()),
        }
    }
}

async fn record(
    store: &dyn StateStore,
    outcome: &BatchOutcome,
    batch_id: &str,
    day: i32,
    newest_arrival: Option<Millis>,
) -> Result<(), StoreError> {
    let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
    for e in &outcome.set_aside {
        *reasons.entry(e.kind.reason().to_string()).or_default() += 1;
    }
    let quarantined: u64 = outcome
        .quarantined
        .iter()
        .map(|q| q.record_ids.len() as u64)
        .sum();
    if quarantined > 0 {
        reasons.insert("user_quarantined".to_string(), quarantined);
    }
    store
        .record_batch(&BatchRecord {
            batch_id: batch_id.to_string(),
            day,
            records: outcome.records as u64,
            decoded: outcome.decoded as u64,
            set_aside: outcome.set_aside.len() as u64 + quarantined,
            duplicates: outcome.duplicates as u64,
            set_aside_reasons: reasons,
            newest_arrival_ms: newest_arrival,
        })
        .await
}

struct UserDone {
    duplicates: usize,
    written: bool,
    changes: Vec<MembershipChange>,
}

/// One user's commit, computed from loaded state (no I/O).
struct Prepared {
    /// `None` when nothing changed (every record was a duplicate or a no-op), or once taken
    /// out to be sent.
    commit: Option<UserCommit>,
    /// Whether there is a commit to send (still true after `commit` was taken).
    commits: bool,
    duplicates: usize,
}

/// Folds the endpoint-keyed identities the new links reveal, applies the events and builds
/// the commit. `loaded` holds the user and the linked endpoints' states, as read.
fn prepare(
    rules: &Rules,
    batch: &[DecodedEvent],
    w: &UserWork,
    loaded: &HashMap<String, UserState>,
    batch_id: &str,
    now: Millis,
) -> Prepared {
    let fresh;
    let base: &UserState = match loaded.get(&w.user) {
        Some(state) => state,
        None => {
            fresh = UserState::new(&w.user);
            &fresh
        }
    };
    // Cloned only when an identity is folded in; `apply` makes the one copy it needs.
    let mut merged = std::borrow::Cow::Borrowed(base);
    let mut absorbed = Vec::new();
    let mut absorbed_exits = Vec::new();
    let linked = w
        .links
        .iter()
        .filter_map(|(e, _)| loaded.get(e).map(|s| (e, s)))
        .take(MAX_ABSORBED_PER_COMMIT);
    for (endpoint, ep_state) in linked {
        merged.to_mut().absorb(ep_state);
        for segment in ep_state.memberships.keys() {
            absorbed_exits.push(MembershipChange {
                segment: segment.clone(),
                user: endpoint.clone(),
                kind: ChangeKind::Exited,
                at: now,
                day: rules.zone.day_of(now),
                cause: audience_core::Cause::Event("identity.linked".into()),
            });
        }
        absorbed.push(AbsorbedIdentity {
            key: endpoint.clone(),
            version: ep_state.version,
        });
    }
    let applied = apply_each(&merged, w.events(batch), rules, now);
    let duplicates = applied.duplicates.len();
    let dirty = applied.is_dirty(base) || !absorbed.is_empty() || !w.links.is_empty();
    if !dirty {
        return Prepared {
            commit: None,
            commits: false,
            duplicates,
        };
    }
    let mut state = applied.state;
    state.version = base.version + 1;
    let mut changes = absorbed_exits;
    changes.extend(applied.changes);
    let change_id = format!("{batch_id}#{}", state.version);
    let mut outbox = outbox_entries(rules, &changes, &change_id);
    outbox.extend(line_identity_entries(
        rules, base, &state, &changes, &change_id, now,
    ));
    Prepared {
        commit: Some(UserCommit {
            state,
            expected_version: base.version,
            changes,
            outbox,
            links: w.links.clone(),
            absorbed,
            batch_id: batch_id.to_string(),
            prior_next_flip_at: base.next_flip_at,
        }),
        commits: true,
        duplicates,
    }
}

/// Why a retried user was not committed.
enum RetryError {
    Quarantine(&'static str, String),
    Deadline,
    Store(StoreError),
}

/// Reloads one user (and the identities its links fold in), re-applies and commits, until it
/// wins the race or the attempts run out (the first attempt was the bulk commit).
async fn commit_with_retries(
    store: &dyn StateStore,
    rules: &Rules,
    batch: &[DecodedEvent],
    w: &UserWork,
    batch_id: &str,
    now: Millis,
    opts: &BatchOptions,
) -> Result<UserDone, RetryError> {
    let mut keys = vec![w.user.clone()];
    keys.extend(w.links.iter().map(|(endpoint, _)| endpoint.clone()));
    let mut attempt = 1;
    loop {
        attempt += 1;
        if opts.past_deadline() {
            return Err(RetryError::Deadline);
        }
        let loaded = store.load_users(&keys).await.map_err(RetryError::Store)?;
        if let Some(why) = loaded.unreadable.get(&w.user) {
            return Err(RetryError::Quarantine(
                "unreadable_state",
                format!("stored state is unreadable: {why}"),
            ));
        }
        let prepared = prepare(rules, batch, w, &loaded.states, batch_id, now);
        let Some(commit) = prepared.commit else {
            return Ok(UserDone {
                duplicates: prepared.duplicates,
                written: false,
                changes: Vec::new(),
            });
        };
        match store.commit_user(&commit).await {
            Ok(()) => {
                return Ok(UserDone {
                    duplicates: prepared.duplicates,
                    written: true,
                    changes: commit.changes,
                })
            }
            Err(StoreError::VersionConflict { .. }) if attempt < opts.max_attempts => {
                tracing::debug!(attempt, "version conflict; reloading and re-applying");
            }
            Err(e) if e.is_user_fault() => {
                return Err(RetryError::Quarantine("rejected_by_store", e.to_string()))
            }
            Err(e) => return Err(RetryError::Store(e)),
        }
    }
}
