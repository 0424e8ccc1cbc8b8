//! The state transition: `apply(state, events, rules, now)` → new state and membership
//! changes, each enter/exit reported exactly once.
//!
//! Everything here is commutative and idempotent (counts add once per event fingerprint,
//! last-writer-wins by event time, first/last seen take the minimum/maximum), so neither the
//! order of records nor a repeated delivery of an event changes the result.

use crate::decode::DecodedEvent;
use crate::eval::{evaluate_all, next_flip_at};
use crate::event::{EventKind, PinpointEvent};
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
    /// The user's data was erased on request (`user delete`, see `erase`).
    Erasure,
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
    /// The calendar day of `at` in the rules' time zone (`settings.timezone`): the day of the
    /// daily enter/exit history this change counts on.
    pub day: i32,
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
    /// Records skipped because their event was counted before (same fingerprint, under any
    /// record, shard or stream) or came twice in this batch.
    pub duplicates: Vec<RecordId>,
}

impl Applied {
    /// Whether anything changed that must be saved. Re-applying events whose every effect is
    /// already in the state (a redelivery) changes nothing and needs no write.
    pub fn is_dirty(&self, before: &UserState) -> bool {
        !self.changes.is_empty() || self.state != *before
    }
}

/// Applies `events` (all for this user) to `state` and re-evaluates every segment at `now`.
///
/// Exactly once per event: an event that adds to an aggregate is counted only if its
/// fingerprint is not among the fingerprints counted for its day; every other effect
/// (first/last seen, attributes, endpoints, LINE ID) is a maximum, minimum or
/// last-writer-wins, so applying it again changes nothing. No sequence-number watermark is
/// needed, so the order records arrive in (several shards, ParallelizationFactor > 1, a
/// backfill) does not matter.
pub fn apply(state: &UserState, events: &[DecodedEvent], rules: &Rules, now: Millis) -> Applied {
    apply_each(state, events, rules, now)
}

/// [`apply`] over events given by reference, e.g. one user's events picked by index out of a
/// whole decoded batch, so a batch is grouped by user without moving its events.
pub fn apply_each<'e>(
    state: &UserState,
    events: impl IntoIterator<Item = &'e DecodedEvent>,
    rules: &Rules,
    now: Millis,
) -> Applied {
    let events = events.into_iter();
    let mut next = state.clone();
    let mut seen: HashSet<u64> = HashSet::with_capacity(events.size_hint().0);
    let mut applied = Vec::with_capacity(events.size_hint().0);
    let mut duplicates = Vec::new();
    let today = day_of(now);
    let mut newest: Option<&PinpointEvent> = None;
    let mut matched = Vec::new();
    for ev in events {
        if !seen.insert(ev.fingerprint) {
            duplicates.push(ev.record.clone());
            continue;
        }
        let day = day_of(ev.event.event_timestamp);
        matched.clear();
        matched.extend(rules.aggs.iter().filter_map(|spec| {
            let in_window = day >= today.saturating_sub(spec.days.saturating_sub(1));
            spec.matches(&ev.event)
                .filter(|_| in_window)
                .map(|value| (spec, value))
        }));
        if !matched.is_empty() {
            if !next.mark_counted(day, ev.fingerprint) {
                duplicates.push(ev.record.clone());
                continue;
            }
            for (spec, value) in &matched {
                next.aggs
                    .entry(spec.id.clone())
                    .or_default()
                    .entry(day)
                    .or_default()
                    .add(*value);
            }
        }
        fold_event(&mut next, ev, rules);
        if newest.is_none_or(|n| {
            (ev.event.event_timestamp, &ev.event.event_type) > (n.event_timestamp, &n.event_type)
        }) {
            newest = Some(&ev.event);
        }
        applied.push(ev.record.clone());
    }
    let cause = match newest {
        Some(e) => Cause::Event(e.event_type.clone()),
        None => Cause::Time,
    };
    let changes = settle(&mut next, rules, now, cause);
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
    let changes = settle(&mut next, rules, now, cause);
    (next, changes)
}

/// Drops what the rules no longer need: buckets outside their aggregate's window, fingerprints
/// outside every window, first/last-seen times of event types no rule names, attributes no
/// rule reads or keeps. This is what bounds a user's state however long it lives.
fn prune(state: &mut UserState, rules: &Rules, now: Millis) {
    let today = day_of(now);
    state.aggs.retain(|id, days| {
        let Some(spec) = rules.aggs.iter().find(|a| &a.id == id) else {
            return false;
        };
        let cutoff = today.saturating_sub(spec.days.saturating_sub(1));
        days.retain(|day, _| *day >= cutoff);
        !days.is_empty()
    });
    let cutoff = today.saturating_sub(rules.max_window_days.saturating_sub(1));
    state
        .counted
        .retain(|day, fps| *day >= cutoff && !fps.is_empty());
    state
        .last_seen
        .retain(|k, _| k == "*" || rules.recency_types.contains(k));
    state
        .first_seen
        .retain(|k, _| k == "*" || rules.recency_types.contains(k));
    state.attrs.retain(|k, _| rules.keeps_attribute(k));
}

/// Prunes, evaluates every segment and records enters/exits.
fn settle(
    state: &mut UserState,
    rules: &Rules,
    now: Millis,
    cause: Cause,
) -> Vec<MembershipChange> {
    prune(state, rules, now);
    let members = evaluate_all(state, rules, now);
    let mut changes = Vec::new();
    let at = (now, rules.zone.day_of(now));
    for (seg, is_member) in rules.segments.iter().zip(members) {
        let id = &seg.def.id;
        let was_member = state.memberships.contains_key(id);
        if is_member && !was_member {
            state.memberships.insert(id.clone(), now);
            changes.push(change(id, state, ChangeKind::Entered, at, &cause));
        } else if !is_member && was_member {
            state.memberships.remove(id);
            changes.push(change(id, state, ChangeKind::Exited, at, &cause));
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
        changes.push(change(&id, state, ChangeKind::Exited, at, &Cause::Rules));
    }
    state.next_flip_at = next_flip_at(state, rules, now);
    changes
}

fn change(
    segment: &str,
    state: &UserState,
    kind: ChangeKind,
    (at, day): (Millis, i32),
    cause: &Cause,
) -> MembershipChange {
    MembershipChange {
        segment: segment.to_string(),
        user: state.user.clone(),
        kind,
        at,
        day,
        cause: cause.clone(),
    }
}

/// Folds one event's idempotent effects into the state: recency, attributes, LINE ID,
/// endpoint. (Aggregates are counted by the caller, once per fingerprint.)
fn fold_event(state: &mut UserState, ev: &DecodedEvent, rules: &Rules) {
    let event = &ev.event;
    let t = event.event_timestamp;
    if EventKind::of(&event.event_type).is_activity() {
        let types = ["*", event.event_type.as_str()];
        for key in types
            .into_iter()
            .filter(|k| *k == "*" || rules.recency_types.contains(*k))
        {
            match state.last_seen.get_mut(key) {
                Some(last) => *last = (*last).max(t),
                None => {
                    state.last_seen.insert(key.to_string(), t);
                }
            }
            match state.first_seen.get_mut(key) {
                Some(first) => *first = (*first).min(t),
                None => {
                    state.first_seen.insert(key.to_string(), t);
                }
            }
        }
    }
    if ev.line_trusted {
        match event.event_type.as_str() {
            "line.follow" | "line.unfollow" => {
                let blocked = event.event_type == "line.unfollow";
                Stamped::write(&mut state.line_blocked, &blocked, t);
            }
            _ => {}
        }
    }
    if let Some(line_id) = ev.line_user_id(&rules.decode) {
        Stamped::write(&mut state.line_user_id, &line_id.to_string(), t);
    }
    let Some(endpoint) = &event.endpoint else {
        return;
    };
    let mut key = String::new();
    for (name, values) in &endpoint.attributes {
        key.clear();
        key.push_str("e:");
        key.push_str(name);
        if rules.keeps_attribute(&key) {
            write_attr(state, &key, values, t);
        }
    }
    if let Some(user) = &endpoint.user {
        for (name, values) in &user.user_attributes {
            key.clear();
            key.push_str("u:");
            key.push_str(name);
            if rules.keeps_attribute(&key) {
                write_attr(state, &key, values, t);
            }
        }
    }
    if let Some(id) = endpoint.id.as_deref().filter(|id| !id.is_empty()) {
        // Each field is last-writer-wins on its own: an event that names the endpoint but not
        // its channel or address (an attribute import) leaves those as they were.
        let info = state
            .endpoints
            .entry(id.to_string())
            .or_insert_with(|| EndpointInfo::seen_at(t));
        if let Some(c) = endpoint.channel_type.as_ref().filter(|c| !c.is_empty()) {
            Stamped::write(&mut info.channel, c, t);
        }
        if let Some(a) = endpoint.address.as_ref().filter(|a| !a.is_empty()) {
            Stamped::write(&mut info.address, a, t);
        }
        if let Some(o) = endpoint.opt_out.as_ref().filter(|o| !o.is_empty()) {
            Stamped::write(&mut info.opt_out, o, t);
        }
        if let Some(st) = endpoint.endpoint_status.as_ref().filter(|s| !s.is_empty()) {
            Stamped::write(&mut info.status, st, t);
        }
        info.t = info.t.max(t);
        state.trim_endpoints();
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
