//! The state transition: `apply(state, events, rules, now)` → new state and membership
//! changes, each enter/exit reported exactly once.
//!
//! Everything here is commutative per batch (counts add, last-writer-wins by event time,
//! watermarks take the maximum), so neither the order of records in a batch nor a repeated
//! delivery changes the result.

use crate::decode::{is_line_user_id, DecodedEvent};
use crate::eval::{evaluate_all, next_flip_at};
use crate::event::PinpointEvent;
use crate::record::RecordId;
use crate::rules::Rules;
use crate::state::{EndpointInfo, Stamped, UserState};
use crate::time::{day_of, Millis};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// Entered or exited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// The user joined the segment.
    Entered,
    /// The user left the segment.
    Exited,
}

/// What caused a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "by", content = "event_type")]
pub enum Cause {
    /// New events (the newest event type is named).
    Event(String),
    /// Time passing (a window or recency bound was crossed).
    Time,
    /// A changed rules file.
    Rules,
}

/// One membership change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MembershipChange {
    /// Segment ID.
    pub segment: String,
    /// User key.
    pub user: String,
    /// Entered or exited.
    pub kind: ChangeKind,
    /// When (the `now` of the evaluation), epoch ms.
    pub at: Millis,
    /// Why.
    pub cause: Cause,
}

/// The result of applying a batch to one user.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// The new state (same version as the input: the store increments it on save).
    pub state: UserState,
    /// Membership changes, in segment dependency order.
    pub changes: Vec<MembershipChange>,
    /// Records applied now.
    pub applied: Vec<RecordId>,
    /// Records skipped because they were applied before (or twice in this batch).
    pub duplicates: Vec<RecordId>,
}

impl Applied {
    /// Whether anything changed that must be saved.
    pub fn is_dirty(&self, before: &UserState) -> bool {
        !self.applied.is_empty()
            || !self.changes.is_empty()
            || self.state.next_flip_at != before.next_flip_at
    }
}

/// Applies `events` (all for this user) to `state` and re-evaluates every segment at `now`.
pub fn apply(state: &UserState, events: &[DecodedEvent], rules: &Rules, now: Millis) -> Applied {
    let mut next = state.clone();
    let mut seen: HashSet<&RecordId> = HashSet::with_capacity(events.len());
    let mut applied = Vec::with_capacity(events.len());
    let mut duplicates = Vec::new();
    let cutoff_day = day_of(now) - (rules.max_window_days - 1);
    let mut newest: Option<&PinpointEvent> = None;
    for ev in events {
        if state.has_applied(&ev.record) || !seen.insert(&ev.record) {
            duplicates.push(ev.record.clone());
            continue;
        }
        fold_event(&mut next, &ev.event, rules, cutoff_day);
        if newest.is_none_or(|n| {
            (ev.event.event_timestamp, &ev.event.event_type) > (n.event_timestamp, &n.event_type)
        }) {
            newest = Some(&ev.event);
        }
        applied.push(ev.record.clone());
    }
    for record in &applied {
        next.mark_applied(record);
    }
    let cause = match newest {
        Some(e) => Cause::Event(e.event_type.clone()),
        None => Cause::Time,
    };
    let changes = settle(&mut next, rules, now, cause, cutoff_day);
    Applied {
        state: next,
        changes,
        applied,
        duplicates,
    }
}

/// Re-evaluates a stored state at `now` with no new events (the sweep, or a rules change).
pub fn reevaluate(
    state: &UserState,
    rules: &Rules,
    now: Millis,
    cause: Cause,
) -> (UserState, Vec<MembershipChange>) {
    let mut next = state.clone();
    let cutoff_day = day_of(now) - (rules.max_window_days - 1);
    let changes = settle(&mut next, rules, now, cause, cutoff_day);
    (next, changes)
}

/// Prunes expired buckets, evaluates every segment and records enters/exits.
fn settle(
    state: &mut UserState,
    rules: &Rules,
    now: Millis,
    cause: Cause,
    cutoff_day: i32,
) -> Vec<MembershipChange> {
    state.aggs.retain(|id, days| {
        days.retain(|day, _| *day >= cutoff_day);
        !days.is_empty() && rules.aggs.iter().any(|a| &a.id == id)
    });
    let members = evaluate_all(state, rules, now);
    let mut changes = Vec::new();
    for (seg, is_member) in rules.segments.iter().zip(members) {
        let id = &seg.def.id;
        let was_member = state.memberships.contains_key(id);
        if is_member && !was_member {
            state.memberships.insert(id.clone(), now);
            changes.push(change(id, state, ChangeKind::Entered, now, &cause));
        } else if !is_member && was_member {
            state.memberships.remove(id);
            changes.push(change(id, state, ChangeKind::Exited, now, &cause));
        }
    }
    // Segments no longer in the rules: their members leave.
    let stale: Vec<String> = state
        .memberships
        .keys()
        .filter(|id| rules.index_of(id).is_none())
        .cloned()
        .collect();
    for id in stale {
        state.memberships.remove(&id);
        changes.push(change(&id, state, ChangeKind::Exited, now, &Cause::Rules));
    }
    state.next_flip_at = next_flip_at(state, rules, now);
    changes
}

fn change(
    segment: &str,
    state: &UserState,
    kind: ChangeKind,
    at: Millis,
    cause: &Cause,
) -> MembershipChange {
    MembershipChange {
        segment: segment.to_string(),
        user: state.user.clone(),
        kind,
        at,
        cause: cause.clone(),
    }
}

/// Folds one event into the state: recency, aggregates, attributes, LINE ID, endpoint.
fn fold_event(state: &mut UserState, event: &PinpointEvent, rules: &Rules, cutoff_day: i32) {
    let t = event.event_timestamp;
    let activity =
        crate::event::EventKind::of(&event.event_type) != crate::event::EventKind::Import;
    for key in ["*", event.event_type.as_str()]
        .into_iter()
        .filter(|_| activity)
    {
        let last = state.last_seen.entry(key.to_string()).or_insert(t);
        *last = (*last).max(t);
        let first = state.first_seen.entry(key.to_string()).or_insert(t);
        *first = (*first).min(t);
    }
    let day = day_of(t);
    if day >= cutoff_day {
        for spec in &rules.aggs {
            if let Some(value) = spec.matches(event) {
                state
                    .aggs
                    .entry(spec.id.clone())
                    .or_default()
                    .entry(day)
                    .or_default()
                    .add(value);
            }
        }
    }
    match event.event_type.as_str() {
        "line.follow" | "line.unfollow" => {
            let blocked = event.event_type == "line.unfollow";
            Stamped::write(&mut state.line_blocked, &blocked, t);
        }
        _ => {}
    }
    // LINE webhook events (line.follow / line.unfollow) name the LINE user in an attribute.
    if let Some(line_id) = event
        .attributes
        .get("line_user_id")
        .filter(|id| is_line_user_id(id))
    {
        Stamped::write(&mut state.line_user_id, line_id, t);
    }
    let Some(endpoint) = &event.endpoint else {
        return;
    };
    let mut key = String::new();
    for (name, values) in &endpoint.attributes {
        key.clear();
        key.push_str("e:");
        key.push_str(name);
        write_attr(state, &key, values, t);
    }
    if let Some(user) = &endpoint.user {
        for (name, values) in &user.user_attributes {
            key.clear();
            key.push_str("u:");
            key.push_str(name);
            write_attr(state, &key, values, t);
        }
        let line = user
            .user_attributes
            .get(&rules.decode.line_user_id_attribute)
            .and_then(|v| v.iter().find(|id| is_line_user_id(id)));
        if let Some(line_id) = line {
            Stamped::write(&mut state.line_user_id, line_id, t);
        }
    }
    if let Some(id) = endpoint.id.as_deref().filter(|id| !id.is_empty()) {
        // Each field is last-writer-wins on its own: an event that names the endpoint but not
        // its channel or address (an attribute import) leaves those as they were.
        let info = state
            .endpoints
            .entry(id.to_string())
            .or_insert_with(|| EndpointInfo {
                channel: None,
                address: None,
                t,
            });
        if let Some(c) = endpoint.channel_type.as_ref().filter(|c| !c.is_empty()) {
            Stamped::write(&mut info.channel, c, t);
        }
        if let Some(a) = endpoint.address.as_ref().filter(|a| !a.is_empty()) {
            Stamped::write(&mut info.address, a, t);
        }
        info.t = info.t.max(t);
    }
}

fn write_attr(state: &mut UserState, key: &str, values: &[String], t: Millis) {
    match state.attrs.get_mut(key) {
        // Most events repeat the current value: compare before cloning anything.
        Some(old) if old.t > t || (old.t == t && values <= old.v.as_slice()) => {}
        Some(old) => {
            old.v = values.to_vec();
            old.t = t;
        }
        None => {
            state.attrs.insert(
                key.to_string(),
                Stamped {
                    v: values.to_vec(),
                    t,
                },
            );
        }
    }
}
