//! An audience's life around the plan: reconciling a create a crash interrupted, deleting
//! retired audiences after their grace period, and checking a replacement — switching the
//! segment to it once LINE reports it READY with no `failedType`, or retiring it if it failed.

use super::call::{endpoint, Call, CallError, Caller};
use super::state::{save, StoredLineState};
use crate::report::{Rotation, SegmentReport};
use audience_core::Millis;
use audience_line::{AudienceGroup, AudienceStatus, LineClient, LineError, ListAudiences};
use audience_store::LedgerStatus;

/// An audience LINE created: its ID and expiry (epoch ms).
#[derive(Debug, Clone, Copy)]
pub struct Created {
    /// Audience ID.
    pub id: i64,
    /// `expireTimestamp` in epoch ms.
    pub expire_at: Option<Millis>,
}

impl From<&AudienceGroup> for Created {
    fn from(g: &AudienceGroup) -> Self {
        Created {
            id: g.audience_group_id,
            expire_at: g.expire_timestamp.map(|s| s.saturating_mul(1000)),
        }
    }
}

/// Finds an audience this channel created through the Messaging API with exactly this
/// description (LINE compares names case-insensitively), other than `exclude`; the newest.
pub async fn find_by_description(
    client: &LineClient,
    description: &str,
    exclude: &[i64],
) -> Result<Option<Created>, LineError> {
    let mut query = ListAudiences::own_by_description(description);
    let mut best: Option<AudienceGroup> = None;
    loop {
        let page = client.list_audiences(&query).await?;
        for g in page.audience_groups {
            let same = g
                .description
                .as_deref()
                .is_some_and(|d| d.to_lowercase() == description.to_lowercase());
            let ours = g
                .create_route
                .as_deref()
                .is_none_or(|r| r == "MESSAGING_API");
            if same
                && ours
                && !exclude.contains(&g.audience_group_id)
                && best.as_ref().is_none_or(|b| g.created > b.created)
            {
                best = Some(g);
            }
        }
        if !page.has_next_page || query.page >= 25 {
            break;
        }
        query.page += 1;
    }
    Ok(best.as_ref().map(Created::from))
}

/// Audience IDs the segment already knows (never adopted as "found by description").
pub fn known_ids(state: &StoredLineState) -> Vec<i64> {
    let a = &state.audience;
    let mut ids: Vec<i64> = a.retired.iter().map(|(id, _)| *id).collect();
    ids.extend(a.audience_id);
    ids.extend(a.replacement.as_ref().map(|r| r.audience_id));
    ids
}

/// A create was started and never recorded as finished (the process stopped in between):
/// look the audience up by its description. A first audience found is adopted (the
/// additions it was created with are still pending and are simply sent again); a replacement
/// found is retired at once, because exits that happened since may be in it — a new one is
/// built under the next generation's name.
pub async fn reconcile_intent(
    caller: &Caller<'_>,
    client: &LineClient,
    state: &mut StoredLineState,
    report: &mut SegmentReport,
) -> Result<(), CallError> {
    let Some(intent) = state.creating.clone() else {
        return Ok(());
    };
    let call = Call {
        action: "lookup",
        endpoint: endpoint::LIST,
        target: None,
        users: 0,
        exits: 0,
    };
    let exclude = known_ids(state);
    let done = caller
        .send(&call, || {
            find_by_description(client, &intent.description, &exclude)
        })
        .await?;
    caller
        .record_ok(
            &call,
            done.value.map(|c| c.id),
            &done,
            Some(format!(
                "reconciling an interrupted {} of {:?}",
                intent.kind, intent.description
            )),
        )
        .await
        .map_err(CallError::Store)?;
    let now = caller.ctx.now;
    state.audience.generation = state.audience.generation.max(intent.generation);
    match (intent.kind.as_str(), done.value) {
        ("create", Some(found)) => {
            let a = &mut state.audience;
            a.audience_id = Some(found.id);
            a.created_by_us = true;
            a.description = Some(intent.description.clone());
            a.expire_at = found.expire_at;
            report.notes.push(format!(
                "adopted audience {} created by an interrupted run",
                found.id
            ));
            caller
                .note(
                    "create",
                    Some(found.id),
                    0,
                    0,
                    LedgerStatus::Ok,
                    format!(
                        "adopted audience {} ({:?}) created by an interrupted run",
                        found.id, intent.description
                    ),
                )
                .await
                .map_err(CallError::Store)?;
        }
        (_, Some(found)) => {
            state.audience.retired.push((found.id, now));
            report.notes.push(format!(
                "retired replacement {} left by an interrupted rotation",
                found.id
            ));
            caller
                .note("rotate", Some(found.id), 0, 0, LedgerStatus::Failed, format!("replacement {} ({:?}) was left by an interrupted rotation; retired, a new one will be built", found.id, intent.description))
                .await
                .map_err(CallError::Store)?;
        }
        (_, None) => {}
    }
    state.creating = None;
    save(caller.ctx.store, caller.segment, state)
        .await
        .map_err(CallError::Store)
}

/// Deletes retired audiences whose grace period is over (only audiences this system created
/// are ever retired). A delete that fails is kept for the next run; it never parks the segment.
pub async fn delete_retired(
    caller: &Caller<'_>,
    client: &LineClient,
    state: &mut StoredLineState,
    report: &mut SegmentReport,
) -> Result<(), CallError> {
    let due: Vec<i64> = state
        .audience
        .retired
        .iter()
        .filter(|(_, after)| *after <= caller.ctx.now)
        .map(|(id, _)| *id)
        .collect();
    for id in due {
        let call = Call {
            action: "delete",
            endpoint: endpoint::DELETE,
            target: Some(id),
            users: 0,
            exits: 0,
        };
        let gone = match caller.send(&call, || client.delete_audience(id)).await {
            Ok(done) => {
                caller
                    .record_ok(&call, Some(id), &done, None)
                    .await
                    .map_err(CallError::Store)?;
                report.sent += 1;
                true
            }
            Err(CallError::Refused(e)) if e.has_code("AUDIENCE_GROUP_NOT_FOUND") => true,
            Err(e @ (CallError::Store(_) | CallError::Deadline)) => return Err(e),
            Err(e) => {
                report.failed += 1;
                report.notes.push(format!(
                    "delete of retired audience {id} failed, kept for the next run: {e}"
                ));
                false
            }
        };
        if gone {
            state.audience.retired.retain(|(r, _)| *r != id);
            save(caller.ctx.store, caller.segment, state)
                .await
                .map_err(CallError::Store)?;
        }
    }
    Ok(())
}

/// Checks the replacement under construction, switching to it or retiring it.
pub async fn check_replacement(
    caller: &Caller<'_>,
    client: &LineClient,
    state: &mut StoredLineState,
    grace_ms: Millis,
    report: &mut SegmentReport,
) -> Result<(), CallError> {
    let Some(rep) = state.audience.replacement.clone() else {
        return Ok(());
    };
    let call = Call {
        action: "check",
        endpoint: endpoint::GET,
        target: Some(rep.audience_id),
        users: 0,
        exits: 0,
    };
    let group = match caller
        .send(&call, || client.get_audience(rep.audience_id))
        .await
    {
        Ok(done) => {
            let g = done.value.audience_group.clone();
            caller
                .record_ok(
                    &call,
                    Some(rep.audience_id),
                    &done,
                    Some(format!(
                        "status {}{}",
                        g.status,
                        g.failed_type
                            .as_ref()
                            .map(|f| format!(", failedType {f}"))
                            .unwrap_or_default()
                    )),
                )
                .await
                .map_err(CallError::Store)?;
            Some(g)
        }
        Err(CallError::Refused(e)) if e.has_code("AUDIENCE_GROUP_NOT_FOUND") => None,
        Err(e) => return Err(e),
    };
    let now = caller.ctx.now;
    match group {
        Some(g) if g.is_usable() => {
            let a = &mut state.audience;
            let old = a.audience_id;
            let old_ours = a.created_by_us;
            a.audience_id = Some(rep.audience_id);
            a.description = Some(rep.description.clone());
            a.expire_at = g
                .expire_timestamp
                .map(|s| s.saturating_mul(1000))
                .or(rep.expire_at);
            a.created_by_us = true;
            a.replacement = None;
            if let (Some(old), true) = (old, old_ours) {
                a.retired.push((old, now + grace_ms));
            }
            let exits = state.exits_owed;
            state.exits_owed = 0;
            state.exits_owed_since = None;
            save(caller.ctx.store, caller.segment, state)
                .await
                .map_err(CallError::Store)?;
            let msg = format!(
                "switched to replacement {} (READY); {exits} exits now effective; old audience {} deleted after the grace period",
                rep.audience_id,
                old.map_or("-".into(), |o| o.to_string())
            );
            caller
                .note_with(
                    "rotate",
                    Some(rep.audience_id),
                    (0, exits),
                    LedgerStatus::Ok,
                    msg.clone(),
                    serde_json::json!({
                        "switched": true,
                        "old_audience_id": old,
                        "description": rep.description,
                    }),
                )
                .await
                .map_err(CallError::Store)?;
            report.notes.push(msg);
            // One structured line per rotation, for log queries and alerts.
            tracing::info!(
                target: "audience_stream::rotation",
                segment = caller.segment,
                old_audience_id = old,
                new_audience_id = rep.audience_id,
                exits,
                "LINE audience rotated"
            );
            report.rotations.push(Rotation {
                old_audience_id: old,
                new_audience_id: rep.audience_id,
                exits,
                at: now,
            });
        }
        Some(g)
            if g.status == AudienceStatus::Failed
                || g.status == AudienceStatus::Expired
                || g.failed_type.is_some() =>
        {
            retire_failed(
                caller,
                state,
                &rep.audience_id,
                format!(
                    "status {}, failedType {}",
                    g.status,
                    g.failed_type.as_ref().map_or("-".into(), |f| f.to_string())
                ),
                report,
            )
            .await?;
        }
        None => {
            retire_failed(
                caller,
                state,
                &rep.audience_id,
                "no longer exists at LINE".into(),
                report,
            )
            .await?;
        }
        Some(g) => {
            report.notes.push(format!(
                "replacement {} is {}; exits become effective once it is READY",
                rep.audience_id, g.status
            ));
        }
    }
    Ok(())
}

async fn retire_failed(
    caller: &Caller<'_>,
    state: &mut StoredLineState,
    id: &i64,
    why: String,
    report: &mut SegmentReport,
) -> Result<(), CallError> {
    state.audience.replacement = None;
    state.audience.retired.push((*id, caller.ctx.now));
    save(caller.ctx.store, caller.segment, state)
        .await
        .map_err(CallError::Store)?;
    let msg = format!(
        "replacement {id} failed ({why}); the segment keeps its current audience, {} exits stay owed and a new replacement is built when the policy allows",
        state.exits_owed
    );
    caller
        .note(
            "rotate",
            Some(*id),
            0,
            state.exits_owed,
            LedgerStatus::Failed,
            msg.clone(),
        )
        .await
        .map_err(CallError::Store)?;
    report.notes.push(msg);
    report.failed += 1;
    Ok(())
}
