//! Executes a segment's plan: creates (with reconciliation when the outcome is unknown),
//! additions and rotations, acknowledging outbox entries only once every request carrying
//! their LINE ID was accepted and recorded.

use super::call::{endpoint, Call, CallError, Caller};
use super::lifecycle::{find_by_description, known_ids, Created};
use super::prepare::{Pending, Prepared};
use super::state::{save, CreateIntent, StoredLineState};
use crate::error::SyncError;
use crate::report::SegmentReport;
use audience_core::plan::line::{LineRequest, Replacement, MAX_IDS_PER_JSON};
use audience_line::{LineClient, LineError};
use audience_store::OutboxEntry;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

/// Where an addition goes.
#[derive(Debug, Clone, Copy)]
enum Target {
    Audience(i64),
    /// The audience created earlier in this run.
    Created,
}

/// One step of the run.
#[derive(Debug)]
enum Step {
    Create {
        description: String,
        is_ifa: bool,
        ids: Vec<String>,
        by_file: bool,
    },
    Add {
        target: Target,
        ids: Vec<String>,
        by_file: bool,
    },
    Rotate {
        description: String,
        is_ifa: bool,
        reason: String,
    },
}

fn steps(prepared: &Prepared) -> Vec<Step> {
    let mut out = Vec::new();
    for req in &prepared.plan.requests {
        match req {
            LineRequest::Create {
                description,
                is_ifa,
                ids,
                by_file,
            } => {
                out.push(Step::Create {
                    description: description.clone(),
                    is_ifa: *is_ifa,
                    ids: ids.clone(),
                    by_file: *by_file,
                });
                // The core sends the first 10,000 with the create; the rest follow as adds.
                if let (false, Some(full)) = (*by_file, &prepared.full) {
                    for chunk in full
                        .get(ids.len()..)
                        .unwrap_or_default()
                        .chunks(MAX_IDS_PER_JSON)
                    {
                        out.push(Step::Add {
                            target: Target::Created,
                            ids: chunk.to_vec(),
                            by_file: false,
                        });
                    }
                }
            }
            LineRequest::Add {
                audience_id,
                ids,
                by_file,
            } => out.push(Step::Add {
                target: Target::Audience(*audience_id),
                ids: ids.clone(),
                by_file: *by_file,
            }),
            LineRequest::Rotate {
                description,
                is_ifa,
                reason,
            } => out.push(Step::Rotate {
                description: description.clone(),
                is_ifa: *is_ifa,
                reason: reason.clone(),
            }),
            // Checked and deleted before planning.
            LineRequest::CheckReplacement { .. } | LineRequest::Delete { .. } => {}
        }
    }
    out
}

/// Runs the plan. Returns the error that stopped it, if any (already in the ledger).
pub async fn execute(
    caller: &Caller<'_>,
    client: &LineClient,
    state: &mut StoredLineState,
    prepared: &Prepared,
    pending: &mut Pending,
    report: &mut SegmentReport,
) -> Result<(), CallError> {
    let steps = steps(prepared);
    // How many requests still have to carry each pending LINE ID.
    let mut outstanding: HashMap<String, u32> = HashMap::new();
    for step in &steps {
        if let Step::Create { ids, .. } | Step::Add { ids, .. } = step {
            for id in ids.iter().filter(|id| pending.additions.contains_key(*id)) {
                *outstanding.entry(id.clone()).or_default() += 1;
            }
        }
    }
    let mut created: Option<i64> = None;
    for step in steps {
        match step {
            Step::Create {
                description,
                is_ifa,
                ids,
                by_file,
            } => {
                let exits = if prepared.first_create {
                    pending.exits.len() as u64
                } else {
                    0
                };
                let new = create(
                    caller,
                    client,
                    state,
                    "create",
                    &description,
                    is_ifa,
                    &ids,
                    by_file,
                    exits,
                    report,
                )
                .await?;
                let a = &mut state.audience;
                a.audience_id = Some(new.id);
                a.created_by_us = true;
                a.description = Some(description.clone());
                a.expire_at = new.expire_at;
                state.creating = None;
                save(caller.ctx.store, caller.segment, state)
                    .await
                    .map_err(CallError::Store)?;
                created = Some(new.id);
                let mut acks = accepted(&ids, &mut outstanding, pending);
                if prepared.first_create {
                    // Built from the full membership: exits are not in it.
                    acks.append(&mut pending.exits);
                }
                ack(caller, acks, report).await?;
            }
            Step::Add {
                target,
                ids,
                by_file,
            } => {
                let audience_id = match (target, created) {
                    (Target::Audience(id), _) | (Target::Created, Some(id)) => id,
                    (Target::Created, None) => continue,
                };
                let call = Call {
                    action: if by_file { "add_by_file" } else { "add" },
                    endpoint: if by_file {
                        endpoint::ADD_BY_FILE
                    } else {
                        endpoint::ADD
                    },
                    target: Some(audience_id),
                    users: ids.len() as u64,
                    exits: 0,
                };
                let done = caller
                    .send(&call, || async {
                        if by_file {
                            client
                                .add_to_upload_audience_by_file(audience_id, &ids, None)
                                .await
                        } else {
                            client.add_to_upload_audience(audience_id, &ids, None).await
                        }
                    })
                    .await?;
                caller
                    .record_ok(&call, Some(audience_id), &done, None)
                    .await
                    .map_err(CallError::Store)?;
                report.sent += 1;
                let acks = accepted(&ids, &mut outstanding, pending);
                ack(caller, acks, report).await?;
            }
            Step::Rotate {
                description,
                is_ifa,
                reason,
            } => {
                let full = prepared.full.clone().unwrap_or_default();
                let exits = pending.exits.len() as u64;
                // Upload audiences have no minimum size: a segment that shrank to nobody
                // rotates to an empty audience, created by JSON (a file cannot be empty).
                let by_file = !full.is_empty();
                let new = create(
                    caller,
                    client,
                    state,
                    "rotate",
                    &description,
                    is_ifa,
                    &full,
                    by_file,
                    exits + state.exits_owed,
                    report,
                )
                .await?;
                let oldest = pending.oldest_exit();
                let a = &mut state.audience;
                a.replacement = Some(Replacement {
                    audience_id: new.id,
                    description: description.clone(),
                    created_at: caller.ctx.now,
                    expire_at: new.expire_at,
                });
                a.last_rotation_at = Some(caller.ctx.now);
                state.exits_owed += exits;
                state.exits_owed_since = match (state.exits_owed_since, oldest) {
                    (Some(x), Some(y)) => Some(x.min(y)),
                    (x, y) => x.or(y),
                };
                state.creating = None;
                save(caller.ctx.store, caller.segment, state)
                    .await
                    .map_err(CallError::Store)?;
                report.notes.push(format!(
                    "rotation started ({reason}): replacement {} built from {} members; the segment switches to it once LINE reports it READY",
                    new.id,
                    full.len()
                ));
                let acks = std::mem::take(&mut pending.exits);
                ack(caller, acks, report).await?;
            }
        }
    }
    Ok(())
}

/// Entries whose every request has now been accepted.
fn accepted(
    ids: &[String],
    outstanding: &mut HashMap<String, u32>,
    pending: &mut Pending,
) -> Vec<OutboxEntry> {
    let mut out = Vec::new();
    for id in ids {
        if let Some(n) = outstanding.get_mut(id) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                outstanding.remove(id);
                if let Some(entries) = pending.additions.remove(id) {
                    out.extend(entries);
                }
            }
        }
    }
    out
}

/// Acknowledges entries (an entry changed since it was read stays pending).
pub async fn ack(
    caller: &Caller<'_>,
    entries: Vec<OutboxEntry>,
    report: &mut SegmentReport,
) -> Result<(), CallError> {
    if entries.is_empty() {
        return Ok(());
    }
    let removed = caller
        .ctx
        .store
        .ack_pending(&entries)
        .await
        .map_err(|e| CallError::Store(SyncError::Store(e)))?;
    report.acked += removed;
    Ok(())
}

/// Creates an audience (JSON or by file). LINE has no idempotency key for this, so the
/// intent is stored first (a crash is reconciled on the next run), and after a failure whose
/// outcome is unknown (timeout, 5xx) the next attempt first looks the audience up by its
/// deterministic description instead of creating a second one.
#[allow(clippy::too_many_arguments)]
async fn create(
    caller: &Caller<'_>,
    client: &LineClient,
    state: &mut StoredLineState,
    action: &'static str,
    description: &str,
    is_ifa: bool,
    ids: &[String],
    by_file: bool,
    exits: u64,
    report: &mut SegmentReport,
) -> Result<Created, CallError> {
    let generation = state.audience.generation.saturating_add(1);
    state.creating = Some(CreateIntent {
        kind: action.to_string(),
        description: description.to_string(),
        generation,
        at: caller.ctx.now,
    });
    save(caller.ctx.store, caller.segment, state)
        .await
        .map_err(CallError::Store)?;
    let call = Call {
        action,
        endpoint: if by_file {
            endpoint::CREATE_BY_FILE
        } else {
            endpoint::CREATE
        },
        target: None,
        users: ids.len() as u64,
        exits,
    };
    let exclude = known_ids(state);
    let unknown = AtomicBool::new(false);
    let result = caller
        .send(&call, || async {
            if unknown.load(Ordering::Relaxed) {
                if let Some(found) = find_by_description(client, description, &exclude).await? {
                    tracing::info!(
                        segment = caller.segment,
                        audience = found.id,
                        "the create whose answer was lost did succeed; using it"
                    );
                    return Ok((found, true));
                }
            }
            let answer = if by_file {
                client
                    .create_upload_audience_by_file(description, is_ifa, None, ids)
                    .await
            } else {
                client
                    .create_upload_audience(description, is_ifa, None, ids)
                    .await
            };
            match answer {
                Ok(c) => Ok((
                    Created {
                        id: c.audience_group_id,
                        expire_at: c.expire_timestamp.map(|s| s.saturating_mul(1000)),
                    },
                    false,
                )),
                Err(e) => {
                    if e.outcome_unknown() {
                        unknown.store(true, Ordering::Relaxed);
                    }
                    Err::<_, LineError>(e)
                }
            }
        })
        .await;
    match result {
        Ok(done) => {
            state.audience.generation = generation;
            let (new, found) = done.value;
            let message = found.then(|| "found by description after a lost answer".to_string());
            let mut detail = serde_json::Map::new();
            detail.insert("description".into(), description.into());
            caller
                .record_ok_with(&call, Some(new.id), &done, message, detail)
                .await
                .map_err(CallError::Store)?;
            report.sent += 1;
            Ok(new)
        }
        Err(e) => {
            if matches!(e, CallError::Refused(_)) {
                // Refused: nothing was created, nothing to reconcile.
                state.creating = None;
                save(caller.ctx.store, caller.segment, state)
                    .await
                    .map_err(CallError::Store)?;
            }
            Err(e)
        }
    }
}
