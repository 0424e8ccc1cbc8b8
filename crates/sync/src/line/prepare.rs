//! Reads a segment's pending LINE work, sorts it into what must be sent and what needs no
//! request, and asks the core planner what to do. Shared by the real run and the dry run.

use super::settings::LineAudienceSettings as LineRule;
use super::state::{StoredLineState, KIND};
use crate::config::LineSyncConfig;
use crate::error::SyncError;
use crate::members::{for_each_member, load_users};
use crate::runner::SyncContext;
use audience_core::plan::line::{plan_line, LinePlan, LinePlanInput, LineRequest};
use audience_core::{ChangeKind, Millis};
use audience_store::OutboxEntry;
use std::collections::{BTreeMap, BTreeSet};

/// A segment's pending work, sorted.
#[derive(Debug, Default)]
pub struct Pending {
    /// Additions with the LINE ID to send: LINE ID → entries (normally one).
    pub additions: BTreeMap<String, Vec<OutboxEntry>>,
    /// Entered users with no usable LINE ID (none, or blocked): nothing to send.
    pub no_line_id: Vec<OutboxEntry>,
    /// Exits that may concern an ID in the audience: users with a LINE ID, and users whose
    /// state no longer exists (an identity folded into another user, e.g. `line:U…` from the
    /// webhook: its LINE ID may have been uploaded under the old key).
    pub exits: Vec<OutboxEntry>,
    /// Exits of users whose state says they never had a LINE ID: never sent, nothing to remove.
    pub exits_never_sent: Vec<OutboxEntry>,
    /// Entries read (a full read means more may be waiting).
    pub read: usize,
}

impl Pending {
    /// When the oldest exit happened.
    pub fn oldest_exit(&self) -> Option<Millis> {
        self.exits.iter().map(|e| e.at).min()
    }
}

/// Reads and sorts the segment's pending entries.
pub async fn read_pending(
    ctx: &SyncContext<'_>,
    segment: &str,
    limit: usize,
) -> Result<Pending, SyncError> {
    let entries = ctx.store.pending(KIND, segment, limit).await?;
    let keys: Vec<String> = entries
        .iter()
        .map(|e| e.user.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let users = load_users(ctx.store, &keys).await?;
    let mut out = Pending {
        read: entries.len(),
        ..Pending::default()
    };
    for e in entries {
        let user = users.get(&e.user);
        match e.op {
            ChangeKind::Entered => match user.and_then(|u| u.active_line_user_id()) {
                Some(id) => out.additions.entry(id.to_string()).or_default().push(e),
                None => out.no_line_id.push(e),
            },
            ChangeKind::Exited => match user {
                Some(u) if u.line_user_id.is_none() => out.exits_never_sent.push(e),
                // A LINE ID, or no state left to tell: possibly sent, so it counts for rotation.
                _ => out.exits.push(e),
            },
        }
    }
    Ok(out)
}

/// Every current member's active LINE ID, sorted and without duplicates.
pub async fn full_membership(
    ctx: &SyncContext<'_>,
    segment: &str,
) -> Result<Vec<String>, SyncError> {
    let mut ids = BTreeSet::new();
    for_each_member(ctx.store, segment, |u| {
        if let Some(id) = u.active_line_user_id() {
            ids.insert(id.to_string());
        }
    })
    .await?;
    Ok(ids.into_iter().collect())
}

/// The plan and what it was made from.
#[derive(Debug)]
pub struct Prepared {
    /// The core's plan.
    pub plan: LinePlan,
    /// The full membership, when the plan creates or rotates (those upload everyone).
    pub full: Option<Vec<String>>,
    /// True when the plan creates the segment's first audience from the full membership.
    pub first_create: bool,
}

/// Whether exits can ever be handled: only for audiences this system creates.
pub fn rotatable(rule: &LineRule, state: &StoredLineState) -> bool {
    rule.audience_id.is_none()
        && (state.audience.audience_id.is_none() || state.audience.created_by_us)
}

/// Plans a segment: the first audience is created from the full membership; a rotation is
/// confirmed against the exact number of members with a LINE ID.
pub async fn prepare(
    ctx: &SyncContext<'_>,
    config: &LineSyncConfig,
    segment: &str,
    rule: &LineRule,
    state: &StoredLineState,
    pending: &Pending,
) -> Result<Option<Prepared>, SyncError> {
    let has_audience = rule.audience_id.is_some() || state.audience.audience_id.is_some();
    let exits = if rotatable(rule, state) {
        pending.exits.len() as u64
    } else {
        0
    } + state.exits_owed;
    let oldest_exit_at = match (pending.oldest_exit(), state.exits_owed_since) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let (additions, members, full) = if has_audience {
        let members = ctx
            .store
            .segment_counts()
            .await?
            .get(segment)
            .map_or(0, |c| c.members.max(0) as u64);
        (
            pending.additions.keys().cloned().collect::<Vec<_>>(),
            members,
            None,
        )
    } else {
        let full = full_membership(ctx, segment).await?;
        if full.is_empty() {
            return Ok(None);
        }
        (full.clone(), full.len() as u64, Some(full))
    };
    let mut input = LinePlanInput {
        segment,
        audience_name: rule.audience_name.as_deref(),
        bound_audience_id: rule.audience_id,
        ifa: rule.ifa,
        additions,
        exits,
        oldest_exit_at,
        members,
        state: &state.audience,
        now: ctx.now,
    };
    let mut plan = plan_line(&input, &config.rotation, config.file_threshold);
    let mut full = full;
    if full.is_none()
        && plan
            .requests
            .iter()
            .any(|r| matches!(r, LineRequest::Rotate { .. }))
    {
        let everyone = full_membership(ctx, segment).await?;
        input.members = everyone.len() as u64;
        plan = plan_line(&input, &config.rotation, config.file_threshold);
        full = Some(everyone);
    }
    Ok(Some(Prepared {
        plan,
        full,
        first_create: !has_audience,
    }))
}

/// One line per planned request, for reports and the dry run.
pub fn describe(req: &LineRequest, full: Option<&Vec<String>>) -> String {
    match req {
        LineRequest::Create { description, ids, by_file, is_ifa } => format!(
            "{} create audience {description:?}{} with {} IDs",
            if *by_file { "POST /v2/bot/audienceGroup/upload/byFile" } else { "POST /v2/bot/audienceGroup/upload" },
            if *is_ifa { " (IFA)" } else { "" },
            ids.len()
        ),
        LineRequest::Add { audience_id, ids, by_file } => format!(
            "{} add {} IDs to audience {audience_id}",
            if *by_file { "PUT /v2/bot/audienceGroup/upload/byFile" } else { "PUT /v2/bot/audienceGroup/upload" },
            ids.len()
        ),
        LineRequest::Rotate { description, reason, .. } => format!(
            "POST /v2/bot/audienceGroup/upload/byFile rotate: build replacement {description:?} from {} members ({reason})",
            full.map_or(0, Vec::len)
        ),
        LineRequest::CheckReplacement { audience_id } => {
            format!("GET /v2/bot/audienceGroup/{audience_id} is the replacement READY?")
        }
        LineRequest::Delete { audience_id } => format!("DELETE /v2/bot/audienceGroup/{audience_id} (retired, grace period over)"),
    }
}
