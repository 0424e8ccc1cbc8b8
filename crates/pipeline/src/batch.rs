//! One batch through the pipeline: decode → resolve identities → group by user → load →
//! apply → commit (with reload-and-retry on version conflicts) → batch statistics.
//!
//! A record that cannot be decoded is set aside and the batch goes on. A user whose commit
//! fails for good marks only that user's records as failed, so a Lambda can report them in
//! its partial batch response while every other user's changes stand.

use crate::identity::resolve;
use audience_core::rules::Rules;
use audience_core::time::day_of;
use audience_core::{
    apply, decode_record, ChangeKind, DecodeError, DecodedEvent, MembershipChange, Millis,
    RawRecord, RecordId, UserState,
};
use audience_store::{
    AbsorbedIdentity, BatchRecord, DeadLetter, OutboxEntry, StateStore, StoreError, UserCommit,
};
use futures::stream::{self, StreamExt};
use std::collections::{BTreeMap, HashMap};

/// How a batch is processed.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// Commit attempts per user on version conflicts (reload and re-apply each time).
    pub max_attempts: u32,
    /// Users committed concurrently.
    pub concurrency: usize,
    /// Keep set-aside records in the store's dead-letter items.
    pub store_dead_letters: bool,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions {
            max_attempts: 5,
            concurrency: 16,
            store_dead_letters: true,
        }
    }
}

/// What happened to a batch.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    /// Records in the batch.
    pub records: usize,
    /// Records decoded.
    pub decoded: usize,
    /// Records already applied before (skipped).
    pub duplicates: usize,
    /// Records set aside (never retried), with their reasons.
    pub set_aside: Vec<DecodeError>,
    /// Records that must be retried (their user's commit failed), with the error.
    pub failed: Vec<(RecordId, String)>,
    /// Membership changes committed.
    pub changes: Vec<MembershipChange>,
    /// Users whose state was written.
    pub users_written: usize,
}

/// Decodes and processes one batch of raw records.
pub async fn process_batch(
    store: &dyn StateStore,
    rules: &Rules,
    records: &[RawRecord],
    now: Millis,
    opts: &BatchOptions,
) -> Result<BatchOutcome, StoreError> {
    let mut decoded = Vec::with_capacity(records.len());
    let mut set_aside = Vec::new();
    for raw in records {
        match decode_record(raw, &rules.decode) {
            Ok(ev) => decoded.push(ev),
            Err(e) => set_aside.push(e),
        }
    }
    let batch_id = records
        .first()
        .map(|r| r.id.to_string())
        .unwrap_or_default();
    let raw_by_id: HashMap<&RecordId, &RawRecord> = records.iter().map(|r| (&r.id, r)).collect();
    let mut outcome =
        process_decoded(store, rules, decoded, set_aside, &batch_id, now, opts).await?;
    outcome.records = records.len();
    if opts.store_dead_letters && !outcome.set_aside.is_empty() {
        let letters: Vec<DeadLetter> = outcome
            .set_aside
            .iter()
            .map(|e| DeadLetter {
                record: e.record.to_string(),
                reason: e.kind.reason().to_string(),
                message: e.kind.to_string(),
                at: now,
                data: raw_by_id
                    .get(&e.record)
                    .map(|r| payload_text(r))
                    .unwrap_or_default(),
            })
            .collect();
        store.put_dead_letters(&letters).await?;
    }
    Ok(outcome)
}

fn payload_text(raw: &RawRecord) -> String {
    let mut text = match &raw.payload {
        audience_core::Payload::Base64(s) => s.clone(),
        audience_core::Payload::Json(b) => String::from_utf8_lossy(b).into_owned(),
    };
    if text.len() > 65_536 {
        let mut cut = 65_536;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

/// Processes already-decoded events (the replay decodes up front to find its `now`).
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
    let resolved = resolve(store, &events, &rules.decode.line_user_id_attribute).await?;
    let mut groups: BTreeMap<String, Vec<DecodedEvent>> = BTreeMap::new();
    for (ev, user) in events.into_iter().zip(resolved.users) {
        groups.entry(user).or_default().push(ev);
    }
    // Links per user, and which endpoint-keyed states they may fold in.
    let mut links_by_user: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (endpoint, user) in &resolved.new_links {
        if endpoint != user {
            links_by_user
                .entry(user.clone())
                .or_default()
                .push((endpoint.clone(), user.clone()));
        }
    }
    let decoded_count: usize = groups.values().map(Vec::len).sum();
    let mut outcome = BatchOutcome {
        records: decoded_count + set_aside.len(),
        decoded: decoded_count,
        set_aside,
        ..BatchOutcome::default()
    };
    let newest_arrival = groups
        .values()
        .flatten()
        .filter_map(|e| e.arrival_ms.or(e.event.arrival_timestamp))
        .max();

    // One bulk load for the whole batch (BatchGetItem in DynamoDB), one bulk commit; only
    // users that lost a race are reloaded and re-applied, one by one.
    let mut keys: Vec<String> = groups.keys().cloned().collect();
    keys.extend(
        links_by_user
            .values()
            .flatten()
            .map(|(endpoint, _)| endpoint.clone()),
    );
    keys.sort();
    keys.dedup();
    let loaded = store.load_users(&keys).await?;
    let mut work = Vec::with_capacity(groups.len());
    for (user, evs) in groups {
        let links = links_by_user.remove(&user).unwrap_or_default();
        let prepared = prepare(rules, &user, &evs, &links, &loaded, batch_id, now);
        work.push((user, evs, links, prepared));
    }
    let commits: Vec<UserCommit> = work
        .iter()
        .filter_map(|(_, _, _, p)| p.commit.clone())
        .collect();
    let mut results = store.commit_users(&commits).await.into_iter();
    let mut retries = Vec::new();
    for (user, evs, links, prepared) in work {
        let Some(commit) = prepared.commit else {
            outcome.duplicates += prepared.duplicates;
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
            Err(StoreError::VersionConflict { .. }) => retries.push((user, evs, links)),
            Err(e) => fail(&mut outcome, &user, &evs, &e),
        }
    }
    let jobs = retries.into_iter().map(|(user, evs, links)| async move {
        let result =
            commit_with_retries(store, rules, &user, &evs, &links, batch_id, now, opts).await;
        (user, evs, result)
    });
    let results: Vec<_> = stream::iter(jobs)
        .buffer_unordered(opts.concurrency.max(1))
        .collect()
        .await;
    for (user, evs, result) in results {
        match result {
            Ok(done) => {
                outcome.duplicates += done.duplicates;
                outcome.users_written += usize::from(done.written);
                outcome.changes.extend(done.changes);
            }
            Err(e) => fail(&mut outcome, &user, &evs, &e),
        }
    }
    outcome
        .changes
        .sort_by(|a, b| (&a.segment, &a.user).cmp(&(&b.segment, &b.user)));
    let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
    for e in &outcome.set_aside {
        *reasons.entry(e.kind.reason().to_string()).or_default() += 1;
    }
    store
        .record_batch(&BatchRecord {
            batch_id: batch_id.to_string(),
            day: day_of(now),
            records: outcome.records as u64,
            decoded: outcome.decoded as u64,
            set_aside: outcome.set_aside.len() as u64,
            duplicates: outcome.duplicates as u64,
            set_aside_reasons: reasons,
            newest_arrival_ms: newest_arrival,
        })
        .await?;
    Ok(outcome)
}

fn fail(outcome: &mut BatchOutcome, user: &str, evs: &[DecodedEvent], e: &StoreError) {
    tracing::warn!(user_records = evs.len(), error = %e, "user commit failed; records will be retried");
    let message = format!("user `{user}`: {e}");
    outcome
        .failed
        .extend(evs.iter().map(|ev| (ev.record.clone(), message.clone())));
}

struct UserDone {
    duplicates: usize,
    written: bool,
    changes: Vec<MembershipChange>,
}

/// One user's commit, computed from loaded state (no I/O).
struct Prepared {
    /// `None` when nothing changed (every record was a duplicate).
    commit: Option<UserCommit>,
    duplicates: usize,
}

/// Folds any endpoint-keyed identity the new links reveal, applies the events and builds the
/// commit. `loaded` holds the user and the linked endpoints' states, as read.
fn prepare(
    rules: &Rules,
    user: &str,
    events: &[DecodedEvent],
    links: &[(String, String)],
    loaded: &HashMap<String, UserState>,
    batch_id: &str,
    now: Millis,
) -> Prepared {
    let fresh;
    let base: &UserState = match loaded.get(user) {
        Some(state) => state,
        None => {
            fresh = UserState::new(user);
            &fresh
        }
    };
    // Cloned only when an identity is folded in; `apply` makes the one copy it needs.
    let mut merged = std::borrow::Cow::Borrowed(base);
    let mut absorbed = None;
    let mut absorbed_exits = Vec::new();
    // One absorbed identity per commit; a further one is folded by a later batch.
    if let Some((endpoint, ep_state)) = links
        .iter()
        .find_map(|(e, _)| loaded.get(e).map(|s| (e, s)))
    {
        merged.to_mut().absorb(ep_state);
        for segment in ep_state.memberships.keys() {
            absorbed_exits.push(MembershipChange {
                segment: segment.clone(),
                user: endpoint.clone(),
                kind: ChangeKind::Exited,
                at: now,
                cause: audience_core::Cause::Event("identity.linked".into()),
            });
        }
        absorbed = Some(AbsorbedIdentity {
            key: endpoint.clone(),
            version: ep_state.version,
        });
    }
    let applied = apply(&merged, events, rules, now);
    let duplicates = applied.duplicates.len();
    let dirty = applied.is_dirty(base) || absorbed.is_some() || !links.is_empty();
    if !dirty {
        return Prepared {
            commit: None,
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
            links: links.to_vec(),
            absorbed,
            batch_id: batch_id.to_string(),
        }),
        duplicates,
    }
}

/// Reloads one user (and the identities its links fold in), re-applies and commits, until it
/// wins the race or the attempts run out (the first attempt was the bulk commit).
#[allow(clippy::too_many_arguments)]
async fn commit_with_retries(
    store: &dyn StateStore,
    rules: &Rules,
    user: &str,
    events: &[DecodedEvent],
    links: &[(String, String)],
    batch_id: &str,
    now: Millis,
    opts: &BatchOptions,
) -> Result<UserDone, StoreError> {
    let mut keys = vec![user.to_string()];
    keys.extend(links.iter().map(|(endpoint, _)| endpoint.clone()));
    let mut attempt = 1;
    loop {
        attempt += 1;
        let loaded = store.load_users(&keys).await?;
        let prepared = prepare(rules, user, events, links, &loaded, batch_id, now);
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
            Err(e) => return Err(e),
        }
    }
}

/// LINE outbox entries for members whose LINE reachability changed without a membership
/// change: a LINE ID learned (or changed) after the user entered is added; a user who blocked
/// the account is queued as an exit (handled by the next rotation).
fn line_identity_entries(
    rules: &Rules,
    before: &UserState,
    after: &UserState,
    changes: &[MembershipChange],
    change_id: &str,
    now: Millis,
) -> Vec<OutboxEntry> {
    let (was, is) = (before.active_line_user_id(), after.active_line_user_id());
    if was == is {
        return Vec::new();
    }
    let op = if is.is_some() {
        ChangeKind::Entered
    } else {
        ChangeKind::Exited
    };
    after
        .memberships
        .keys()
        .filter(|seg| !changes.iter().any(|c| &c.segment == *seg))
        .filter(|seg| {
            rules
                .segment(seg)
                .is_some_and(|s| s.def.destinations.line.is_some())
        })
        .map(|seg| OutboxEntry {
            destination: "line".to_string(),
            segment: seg.clone(),
            user: after.user.clone(),
            op,
            at: now,
            change_id: change_id.to_string(),
        })
        .collect()
}

/// Outbox entries for membership changes: one per change and destination of its segment.
pub fn outbox_entries(
    rules: &Rules,
    changes: &[MembershipChange],
    change_id: &str,
) -> Vec<OutboxEntry> {
    let mut out = Vec::new();
    for c in changes {
        let Some(seg) = rules.segment(&c.segment) else {
            continue;
        };
        let d = &seg.def.destinations;
        let kinds = [
            ("line", d.line.is_some()),
            ("pinpoint", d.pinpoint.is_some()),
        ];
        for (destination, enabled) in kinds {
            if enabled {
                out.push(OutboxEntry {
                    destination: destination.to_string(),
                    segment: c.segment.clone(),
                    user: c.user.clone(),
                    op: c.kind,
                    at: c.at,
                    change_id: change_id.to_string(),
                });
            }
        }
    }
    out
}
