//! Per-user state: what the evaluator needs to decide memberships, kept compact (well under
//! 1 KB for a typical user, ≤ 4 KiB encoded for a heavy one) because every byte is billed on
//! every write. Stores keep it in the binary form of `codec`.
//!
//! Bounded by design: aggregates are day buckets inside each aggregate's own window;
//! first/last-seen times only for `*` and the event types the rules name; attributes only those
//! the rules read or keep; the [`MAX_ENDPOINTS`] most recent endpoints. Exactly-once counting
//! keeps the fingerprints of the events counted in aggregates, per day, pruned with the window:
//! an event outside every window cannot be counted again, so its fingerprint can go.

use crate::limits::{add_saturating, MAX_ENDPOINTS};
use crate::time::Millis;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// A value with the event time that wrote it. Later event time wins; on a tie the larger
/// value wins, so the result never depends on the order records arrive in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stamped<T> {
    /// The value.
    pub v: T,
    /// Event time that wrote it.
    pub t: Millis,
}

impl<T: PartialOrd + Clone> Stamped<T> {
    /// Replaces `slot` with `(v, t)` when it is newer (last writer wins by event time).
    pub fn write(slot: &mut Option<Stamped<T>>, v: &T, t: Millis) {
        let newer = match slot {
            None => true,
            Some(old) => match t.cmp(&old.t) {
                Ordering::Greater => true,
                Ordering::Less => false,
                Ordering::Equal => v.partial_cmp(&old.v) == Some(Ordering::Greater),
            },
        };
        if newer {
            *slot = Some(Stamped { v: v.clone(), t });
        }
    }
}

/// One day of one aggregate: `[count, sum, max]`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Bucket(pub u32, pub f64, pub f64);

impl Bucket {
    /// Adds one event with an optional (finite, bounded) metric value; the sum saturates.
    pub fn add(&mut self, value: Option<f64>) {
        self.0 = self.0.saturating_add(1);
        if let Some(v) = value {
            let v = crate::limits::clamp_aggregate(v);
            if self.0 == 1 || v > self.2 {
                self.2 = v;
            }
            self.1 = add_saturating(self.1, v);
        }
    }

    /// Combines two buckets of the same day (used when folding identities).
    pub fn merge(&mut self, other: &Bucket) {
        if other.0 > 0 && (self.0 == 0 || other.2 > self.2) {
            self.2 = other.2;
        }
        self.0 = self.0.saturating_add(other.0);
        self.1 = add_saturating(self.1, other.1);
    }

    /// Whether both numbers are finite (a stored bucket that is not was corrupted).
    pub fn is_finite(&self) -> bool {
        self.1.is_finite() && self.2.is_finite()
    }
}

/// A Pinpoint endpoint seen for this user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointInfo {
    /// Channel type (`APNS`, `GCM`, `EMAIL`, `SMS`, …), with the event time that set it.
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Stamped<String>>,
    /// Address on that channel, with the event time that set it.
    #[serde(rename = "ad", default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Stamped<String>>,
    /// Event time of the newest event that showed it.
    #[serde(rename = "t")]
    pub t: Millis,
    /// Pinpoint's `OptOut` (`NONE`, `ALL`, …), with the event time that set it.
    #[serde(rename = "oo", default, skip_serializing_if = "Option::is_none")]
    pub opt_out: Option<Stamped<String>>,
    /// Pinpoint's `EndpointStatus` (`ACTIVE`, `INACTIVE`), with the event time that set it.
    #[serde(rename = "st", default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Stamped<String>>,
}

impl EndpointInfo {
    /// An endpoint first seen at `t`, nothing known about it yet.
    pub fn seen_at(t: Millis) -> EndpointInfo {
        EndpointInfo {
            channel: None,
            address: None,
            t,
            opt_out: None,
            status: None,
        }
    }

    /// Whether messages may be sent to it: not opted out (`OptOut` absent or `NONE`) and not
    /// `INACTIVE`, as its newest event says. Pinpoint imports leave the others out.
    pub fn is_reachable(&self) -> bool {
        let opted_out = self
            .opt_out
            .as_ref()
            .is_some_and(|o| !o.v.eq_ignore_ascii_case("NONE"));
        let inactive = self
            .status
            .as_ref()
            .is_some_and(|s| s.v.eq_ignore_ascii_case("INACTIVE"));
        !opted_out && !inactive
    }
}

/// Everything the system keeps about one user.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserState {
    /// The user key.
    #[serde(rename = "id")]
    pub user: String,
    /// Optimistic-concurrency version: 0 = never stored; the store increments it on save.
    #[serde(rename = "v", default)]
    pub version: u64,
    /// Attributes: `u:<name>` from `User.UserAttributes`, `e:<name>` from endpoint `Attributes`.
    #[serde(rename = "a", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attrs: BTreeMap<String, Stamped<Vec<String>>>,
    /// The LINE user ID.
    #[serde(rename = "li", default, skip_serializing_if = "Option::is_none")]
    pub line_user_id: Option<Stamped<String>>,
    /// Whether the user blocked / unfollowed the LINE account (from the webhook).
    #[serde(rename = "lb", default, skip_serializing_if = "Option::is_none")]
    pub line_blocked: Option<Stamped<bool>>,
    /// Endpoints by endpoint ID.
    #[serde(rename = "ep", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub endpoints: BTreeMap<String, EndpointInfo>,
    /// Aggregates: aggregate ID → UTC day → bucket.
    #[serde(rename = "g", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub aggs: BTreeMap<String, BTreeMap<i32, Bucket>>,
    /// Newest event time per event type (`*` = any event).
    #[serde(rename = "ls", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub last_seen: BTreeMap<String, Millis>,
    /// Oldest event time per event type (`*` = any event).
    #[serde(rename = "fs", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub first_seen: BTreeMap<String, Millis>,
    /// Current segment memberships: segment ID → entered at.
    #[serde(rename = "m", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub memberships: BTreeMap<String, Millis>,
    /// Fingerprints (sorted) of the events counted in aggregates, by UTC day of the event.
    #[serde(rename = "c", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub counted: BTreeMap<i32, Vec<u64>>,
    /// The earliest instant a time-based condition can change with no new event.
    #[serde(rename = "n", default, skip_serializing_if = "Option::is_none")]
    pub next_flip_at: Option<Millis>,
}

impl UserState {
    /// A new, empty state for `user`.
    pub fn new(user: impl Into<String>) -> Self {
        UserState {
            user: user.into(),
            ..UserState::default()
        }
    }

    /// True when an event with this fingerprint, of this day, was already counted.
    pub fn has_counted(&self, day: i32, fingerprint: u64) -> bool {
        self.counted
            .get(&day)
            .is_some_and(|fps| fps.binary_search(&fingerprint).is_ok())
    }

    /// Remembers that an event was counted (returns false when it already was).
    pub fn mark_counted(&mut self, day: i32, fingerprint: u64) -> bool {
        let fps = self.counted.entry(day).or_default();
        match fps.binary_search(&fingerprint) {
            Ok(_) => false,
            Err(at) => {
                fps.insert(at, fingerprint);
                true
            }
        }
    }

    /// Keeps only the [`MAX_ENDPOINTS`] most recently seen endpoints (ties by ID), so the
    /// result does not depend on the order endpoints were seen in.
    pub fn trim_endpoints(&mut self) {
        while self.endpoints.len() > MAX_ENDPOINTS {
            let oldest = self
                .endpoints
                .iter()
                .min_by(|a, b| a.1.t.cmp(&b.1.t).then_with(|| b.0.cmp(a.0)))
                .map(|(id, _)| id.clone());
            match oldest {
                Some(id) => {
                    self.endpoints.remove(&id);
                }
                None => break,
            }
        }
    }

    /// Whether every stored number is finite (false only for corrupted state).
    pub fn is_sane(&self) -> bool {
        self.aggs
            .values()
            .all(|days| days.values().all(Bucket::is_finite))
    }

    /// The user's attribute values, by scope prefix and name.
    pub fn attr(&self, key: &str) -> Option<&[String]> {
        self.attrs.get(key).map(|s| s.v.as_slice())
    }

    /// The LINE user ID, when known and the user has not blocked the account.
    pub fn active_line_user_id(&self) -> Option<&str> {
        let blocked = self.line_blocked.as_ref().is_some_and(|b| b.v);
        match (&self.line_user_id, blocked) {
            (Some(id), false) => Some(id.v.as_str()),
            _ => None,
        }
    }

    /// Folds another identity's state (e.g. state kept under an endpoint ID before the
    /// owning user was known) into this one. Memberships are not merged: the caller
    /// re-evaluates.
    pub fn absorb(&mut self, other: &UserState) {
        for (k, v) in &other.attrs {
            let mut slot = self.attrs.remove(k);
            Stamped::write(&mut slot, &v.v, v.t);
            if let Some(s) = slot {
                self.attrs.insert(k.clone(), s);
            }
        }
        if let Some(l) = &other.line_user_id {
            Stamped::write(&mut self.line_user_id, &l.v, l.t);
        }
        if let Some(b) = &other.line_blocked {
            Stamped::write(&mut self.line_blocked, &b.v, b.t);
        }
        for (id, e) in &other.endpoints {
            match self.endpoints.get_mut(id) {
                None => {
                    self.endpoints.insert(id.clone(), e.clone());
                }
                Some(mine) => {
                    if let Some(c) = &e.channel {
                        Stamped::write(&mut mine.channel, &c.v, c.t);
                    }
                    if let Some(a) = &e.address {
                        Stamped::write(&mut mine.address, &a.v, a.t);
                    }
                    if let Some(o) = &e.opt_out {
                        Stamped::write(&mut mine.opt_out, &o.v, o.t);
                    }
                    if let Some(st) = &e.status {
                        Stamped::write(&mut mine.status, &st.v, st.t);
                    }
                    mine.t = mine.t.max(e.t);
                }
            }
        }
        for (agg, days) in &other.aggs {
            let mine = self.aggs.entry(agg.clone()).or_default();
            for (day, b) in days {
                mine.entry(*day).or_default().merge(b);
            }
        }
        for (k, t) in &other.last_seen {
            let e = self.last_seen.entry(k.clone()).or_insert(*t);
            *e = (*e).max(*t);
        }
        for (k, t) in &other.first_seen {
            let e = self.first_seen.entry(k.clone()).or_insert(*t);
            *e = (*e).min(*t);
        }
        for (day, fps) in &other.counted {
            for fp in fps {
                self.mark_counted(*day, *fp);
            }
        }
        self.trim_endpoints();
    }
}
