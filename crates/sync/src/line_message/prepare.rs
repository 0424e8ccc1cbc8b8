//! Turns a segment's pending `line_message` entries into requests, shared by the real run and
//! the dry run: drops changes held past the quiet hours' expiry, holds the rest during quiet
//! hours, sets aside users without a LINE ID (or who blocked the account), users whose
//! messages cannot be rendered and users messaged within the frequency cap, renders and
//! groups with `audience_core::plan::message`, and keeps to the per-run recipient cap.

use super::cap;
use super::settings::LineMessageSettings;
use super::state::PlannedRequest;
use crate::error::SyncError;
use crate::members::load_users;
use crate::runner::SyncContext;
use audience_core::plan::message::{
    attribute_value, plan_messages, render, QuietDecision, Recipient,
};
use audience_core::{ChangeKind, Millis, Zone};
use audience_store::OutboxEntry;
use std::collections::BTreeSet;

/// One recipient with its rendered messages.
type Rendered = (Recipient, Vec<serde_json::Value>);

/// A segment's pending work, sorted.
#[derive(Debug, Default)]
pub struct Prepared {
    /// Requests to send, in order.
    pub requests: Vec<PlannedRequest>,
    /// Entries whose user has no usable LINE ID (none, or blocked): nothing to send.
    pub no_line_id: Vec<OutboxEntry>,
    /// Entries whose messages could not be rendered, with why.
    pub not_rendered: Vec<(OutboxEntry, String)>,
    /// Entries of a change kind with no messages declared (e.g. exits without `on_exit`).
    pub no_messages: Vec<OutboxEntry>,
    /// Entries of users messaged for this segment within the cap window: not sent again.
    pub capped: Vec<OutboxEntry>,
    /// Entries held past the quiet hours' expiry: dropped, not sent.
    pub expired: Vec<OutboxEntry>,
    /// Quiet hours now: entries held, until about when.
    pub held: Option<(usize, Millis)>,
    /// Recipients left pending by the per-run cap.
    pub over_cap: usize,
}

impl Prepared {
    /// Recipients of all requests (what LINE counts against the quota).
    pub fn recipients(&self) -> u64 {
        self.requests.iter().map(|r| r.to.len() as u64).sum()
    }
}

/// Reads nothing from LINE; reads users from the store.
pub async fn prepare(
    ctx: &SyncContext<'_>,
    settings: &LineMessageSettings,
    zone: &Zone,
    segment: &str,
    entries: Vec<OutboxEntry>,
    max_recipients: usize,
) -> Result<Prepared, SyncError> {
    let mut out = Prepared::default();
    let quiet = settings.quiet_hours().map_err(SyncError::Config)?;
    let mut live = Vec::with_capacity(entries.len());
    for e in entries {
        if settings
            .messages(e.op)
            .map_err(SyncError::Config)?
            .is_empty()
        {
            out.no_messages.push(e);
        } else if quiet.is_some_and(|q| q.expired(e.at, ctx.now)) {
            out.expired.push(e);
        } else {
            live.push(e);
        }
    }
    if let Some(QuietDecision::HoldUntil(until)) = quiet.map(|q| q.decide(ctx.now, zone)) {
        if !live.is_empty() {
            out.held = Some((live.len(), until));
        }
        return Ok(out);
    }
    let keys: Vec<String> = live
        .iter()
        .map(|e| e.user.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let users = load_users(ctx.store, &keys).await?;
    let mut candidates: Vec<(OutboxEntry, String, Vec<serde_json::Value>)> =
        Vec::with_capacity(live.len());
    for e in live {
        let Some(user) = users.get(&e.user) else {
            out.no_line_id.push(e);
            continue;
        };
        let Some(line_id) = user.active_line_user_id() else {
            out.no_line_id.push(e);
            continue;
        };
        let specs = settings.messages(e.op).map_err(SyncError::Config)?;
        match render(&specs, &|name| attribute_value(user, name)) {
            Ok(messages) => candidates.push((e, line_id.to_string(), messages)),
            Err(why) => {
                tracing::warn!(segment, user = %e.user, error = %why, "message not rendered; not sent");
                out.not_rendered.push((e, why));
            }
        }
    }
    if let Some(cap) = settings.cap {
        let keys: Vec<String> = candidates.iter().map(|(e, _, _)| e.user.clone()).collect();
        let last = cap::last_sent(ctx.store, segment, &keys).await?;
        let (capped, free): (Vec<_>, Vec<_>) = candidates.into_iter().partition(|(e, _, _)| {
            last.get(&e.user)
                .is_some_and(|at| ctx.now.saturating_sub(*at) < cap.millis())
        });
        out.capped = capped.into_iter().map(|(e, _, _)| e).collect();
        candidates = free;
    }
    let mut by_op: [(ChangeKind, Vec<Rendered>); 2] = [
        (ChangeKind::Entered, Vec::new()),
        (ChangeKind::Exited, Vec::new()),
    ];
    let mut kept: Vec<OutboxEntry> = Vec::with_capacity(candidates.len());
    for (e, line_user_id, messages) in candidates {
        let slot = if e.op == ChangeKind::Entered { 0 } else { 1 };
        by_op[slot].1.push((
            Recipient {
                entry: kept.len(),
                change_id: e.change_id.clone(),
                line_user_id,
            },
            messages,
        ));
        kept.push(e);
    }
    let mut budget = max_recipients;
    for (op, rendered) in by_op {
        for p in plan_messages(segment, op, rendered) {
            if p.to.len() > budget {
                out.over_cap += p.to.len();
                continue;
            }
            budget -= p.to.len();
            out.requests.push(PlannedRequest {
                kind: p.kind,
                to: p.to,
                messages: p.messages,
                retry_key: p.retry_key,
                notification_disabled: settings.notification_disabled,
                aggregation_unit: settings.aggregation_unit.clone(),
                entries: p
                    .entries
                    .iter()
                    .filter_map(|i| kept.get(*i).cloned())
                    .collect(),
                planned_at: ctx.now,
            });
        }
    }
    Ok(out)
}
