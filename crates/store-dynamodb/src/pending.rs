//! The pending fan-out of a commit: everything that follows from a user's new state besides
//! the state itself (membership items, counter and user-count elements, outbox entries,
//! links), stored in the user item (`p`) by the same conditional write that saves the state.
//!
//! Why: DynamoDB transactions bill every write twice and hold at most 100 actions, so a commit
//! is one conditional PutItem of the user item, and the rest is written afterwards with
//! idempotent writes (set `ADD`, version-conditioned puts) keyed by the fan-out ID. A crash
//! between the two leaves the pending record in the user item; whoever loads the user next
//! (the retried batch, another batch, the sweep) writes it again — harmlessly, being
//! idempotent — and removes it. Exactly once, without a transaction or a ceiling.

use audience_core::hash::Fnv64;
use audience_core::{ChangeKind, Millis};
use audience_store::UserCommit;
use serde::{Deserialize, Serialize};

/// One membership change, with the version that orders it among the user's changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingChange {
    /// Segment ID.
    pub segment: String,
    /// The user (the committing user, or an identity folded into it).
    pub user: String,
    /// Entered (true) or exited.
    pub entered: bool,
    /// When.
    pub at: Millis,
    /// Orders this change among the user's: the committing user's new version, or an absorbed
    /// identity's last version + 1.
    pub version: u64,
}

impl PendingChange {
    /// The change's stable ID (8 bytes): the element counter items count.
    pub fn id(&self) -> [u8; 8] {
        let mut h = Fnv64::new();
        h.field(self.segment.as_bytes());
        h.field(self.user.as_bytes());
        h.field(&self.version.to_le_bytes());
        h.field(&[u8::from(self.entered)]);
        h.finish().to_le_bytes()
    }
}

/// One outbox entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingOutbox {
    /// Destination kind.
    pub destination: String,
    /// Segment ID.
    pub segment: String,
    /// User key.
    pub user: String,
    /// Add (true) or remove.
    pub add: bool,
    /// When the change happened.
    pub at: Millis,
    /// Orders entries of one user: the newest version wins.
    pub version: u64,
}

/// What a commit still has to write after the user item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingFanOut {
    /// The fan-out ID (time-ordered, unique per commit call): names the items written.
    pub fanout: String,
    /// The user's version in the committing write.
    pub version: u64,
    /// Membership changes.
    pub changes: Vec<PendingChange>,
    /// Outbox entries.
    pub outbox: Vec<PendingOutbox>,
    /// Endpoint → user links.
    pub links: Vec<(String, String)>,
    /// The commit created the user.
    pub new_user: bool,
    /// Identities folded into the user (deleted by the commit).
    pub absorbed: Vec<(String, u64)>,
    /// Items each set is spread over (chosen by the committing batch so that no item nears
    /// DynamoDB's 400 KB; stored so a re-written fan-out puts every element where it was).
    pub chunks: u16,
    /// The calendar day (rules' time zone) of each of `changes`, in the same order: the day of
    /// the daily history it counts on. Last, so a fan-out stored before it existed still
    /// decodes (its changes count on their UTC day).
    pub days: Vec<i32>,
    /// Change and user-count IDs also hash `fanout` (every fan-out written since erasures
    /// exist): a user erased and created again under the same key counts anew although its
    /// versions start over at 1. Last, so a fan-out stored before it still decodes (its IDs
    /// stay what they were).
    pub ids_name_fanout: bool,
}

/// The stored form before `ids_name_fanout` existed (read only).
#[derive(Deserialize)]
struct PendingFanOutV2 {
    fanout: String,
    version: u64,
    changes: Vec<PendingChange>,
    outbox: Vec<PendingOutbox>,
    links: Vec<(String, String)>,
    new_user: bool,
    absorbed: Vec<(String, u64)>,
    chunks: u16,
    days: Vec<i32>,
}

/// The stored form before `days` existed (read only).
#[derive(Deserialize)]
struct PendingFanOutV1 {
    fanout: String,
    version: u64,
    changes: Vec<PendingChange>,
    outbox: Vec<PendingOutbox>,
    links: Vec<(String, String)>,
    new_user: bool,
    absorbed: Vec<(String, u64)>,
    chunks: u16,
}

impl PendingFanOut {
    /// The fan-out of a commit (empty when only the state changes).
    pub fn of(commit: &UserCommit, fanout: &str) -> PendingFanOut {
        let user = commit.state.user.as_str();
        let version_of = |key: &str| {
            commit
                .absorbed
                .iter()
                .find(|a| a.key == key && key != user)
                .map_or(commit.state.version, |a| a.version.saturating_add(1))
        };
        PendingFanOut {
            fanout: fanout.to_string(),
            version: commit.state.version,
            changes: commit
                .changes
                .iter()
                .map(|c| PendingChange {
                    segment: c.segment.clone(),
                    user: c.user.clone(),
                    entered: c.kind == ChangeKind::Entered,
                    at: c.at,
                    version: version_of(&c.user),
                })
                .collect(),
            outbox: commit
                .outbox
                .iter()
                .map(|e| PendingOutbox {
                    destination: e.destination.clone(),
                    segment: e.segment.clone(),
                    user: e.user.clone(),
                    add: e.op == ChangeKind::Entered,
                    at: e.at,
                    version: version_of(&e.user),
                })
                .collect(),
            links: commit.links.clone(),
            new_user: commit.expected_version == 0,
            absorbed: commit
                .absorbed
                .iter()
                .map(|a| (a.key.clone(), a.version))
                .collect(),
            chunks: 1,
            days: commit.changes.iter().map(|c| c.day).collect(),
            ids_name_fanout: true,
        }
    }

    /// The stable ID (8 bytes) of one of `changes`: the element counter items count.
    pub fn change_id(&self, c: &PendingChange) -> [u8; 8] {
        if !self.ids_name_fanout {
            return c.id();
        }
        let mut h = Fnv64::new();
        h.field(&c.id());
        h.field(self.fanout.as_bytes());
        h.finish().to_le_bytes()
    }

    /// The text whose hash a user-count item counts for `key` at `version`.
    pub fn user_count_text(&self, key: &str, version: u64) -> String {
        if self.ids_name_fanout {
            format!("{key}#{version}#{}", self.fanout)
        } else {
            format!("{key}#{version}")
        }
    }

    /// The calendar day of change `i` (its UTC day when the fan-out predates `days`).
    pub fn day_of_change(&self, i: usize) -> i32 {
        match (self.days.get(i), self.changes.get(i)) {
            (Some(day), _) => *day,
            (None, Some(c)) => audience_core::time::day_of(c.at),
            (None, None) => 0,
        }
    }

    /// Bytes this fan-out adds to the largest per-batch item, roughly.
    pub fn weight(&self) -> usize {
        let outbox: usize = self.outbox.iter().map(|o| o.user.len() + 48).sum();
        outbox + self.changes.len() * 10 + 10
    }

    /// Whether there is nothing to write besides the state.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
            && self.outbox.is_empty()
            && self.links.is_empty()
            && !self.new_user
            && self.absorbed.is_empty()
    }

    /// The stored form.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// Reads the stored form.
    pub fn decode(bytes: &[u8]) -> Result<PendingFanOut, String> {
        match postcard::from_bytes(bytes) {
            Ok(p) => Ok(p),
            // A fan-out written before `days` ends where `days` would start.
            Err(e) => postcard::from_bytes::<PendingFanOutV2>(bytes)
                .map(|v2| PendingFanOut {
                    fanout: v2.fanout,
                    version: v2.version,
                    changes: v2.changes,
                    outbox: v2.outbox,
                    links: v2.links,
                    new_user: v2.new_user,
                    absorbed: v2.absorbed,
                    chunks: v2.chunks,
                    days: v2.days,
                    ids_name_fanout: false,
                })
                .or_else(|_| {
                    postcard::from_bytes::<PendingFanOutV1>(bytes).map(|v1| PendingFanOut {
                        fanout: v1.fanout,
                        version: v1.version,
                        changes: v1.changes,
                        outbox: v1.outbox,
                        links: v1.links,
                        new_user: v1.new_user,
                        absorbed: v1.absorbed,
                        chunks: v1.chunks,
                        days: Vec::new(),
                        ids_name_fanout: false,
                    })
                })
                .map_err(|_| format!("pending fan-out does not decode: {e}")),
        }
    }
}

/// Bytes of set elements one per-batch item may hold (DynamoDB's item limit is 400 KB).
pub const MAX_ITEM_SET_BYTES: usize = 200_000;

/// How many items a batch's sets must be spread over, given its fan-outs' weights.
pub fn chunks_for(total_weight: usize) -> u16 {
    u16::try_from(total_weight / MAX_ITEM_SET_BYTES + 1).unwrap_or(u16::MAX)
}

/// Which of `chunks` items an element goes to (stable: a re-written fan-out agrees).
pub fn chunk_of(element: &[u8], chunks: u16) -> usize {
    (audience_core::hash::fnv1a64(element) % u64::from(chunks.max(1))) as usize
}

/// An outbox element: `<+|->|<version>|<at>|<user>` (sortable fixed-width numbers).
pub fn outbox_element(e: &PendingOutbox) -> String {
    format!(
        "{}|{:020}|{}|{}",
        if e.add { '+' } else { '-' },
        e.version,
        crate::keys::instant_code(e.at),
        e.user
    )
}

/// An outbox element read back: (add, version, at, user).
pub fn parse_outbox_element(text: &str) -> Option<(bool, u64, Millis, &str)> {
    let mut parts = text.splitn(4, '|');
    let add = match parts.next()? {
        "+" => true,
        "-" => false,
        _ => return None,
    };
    let version = parts.next()?.parse().ok()?;
    let at = crate::keys::instant_from_code(parts.next()?)?;
    Some((add, version, at, parts.next()?))
}

/// A fan-out ID: the wall-clock instant (so items sort oldest first) and 16 hex digits unique
/// to this process and call.
pub fn new_fanout_id(now_ms: Millis) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let mut h = Fnv64::new();
    h.field(&std::process::id().to_le_bytes());
    h.field(&SEQ.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    let nanos = audience_clock::now_nanos();
    h.field(&nanos.to_le_bytes());
    format!("{}#{:016x}", crate::keys::instant_code(now_ms), h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_round_trip() {
        let e = PendingOutbox {
            destination: "line".into(),
            segment: "s".into(),
            user: "a|b".into(),
            add: false,
            at: 1_764_547_200_000,
            version: 42,
        };
        assert_eq!(
            parse_outbox_element(&outbox_element(&e)),
            Some((false, 42, 1_764_547_200_000, "a|b"))
        );
        assert_ne!(new_fanout_id(5), new_fanout_id(5));
    }

    fn fanout_with_days(days: Vec<i32>) -> PendingFanOut {
        PendingFanOut {
            fanout: "f".into(),
            version: 3,
            changes: vec![PendingChange {
                segment: "s".into(),
                user: "u".into(),
                entered: true,
                // 2025-11-30T23:30:00Z: UTC day 20422, Asia/Tokyo day 20423.
                at: 1_764_545_400_000,
                version: 3,
            }],
            outbox: Vec::new(),
            links: Vec::new(),
            new_user: true,
            absorbed: Vec::new(),
            chunks: 1,
            days,
            ids_name_fanout: true,
        }
    }

    #[test]
    fn calendar_days_round_trip_and_older_fanouts_still_decode() {
        let p = fanout_with_days(vec![20_423]);
        let back = PendingFanOut::decode(&p.encode()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, p);
        assert_eq!(back.day_of_change(0), 20_423);
        // The stored form before `days`: the same fields without the trailing list.
        let v1 = (
            &p.fanout,
            p.version,
            &p.changes,
            &p.outbox,
            &p.links,
            p.new_user,
            &p.absorbed,
            p.chunks,
        );
        let bytes = postcard::to_allocvec(&v1).unwrap_or_default();
        let old = PendingFanOut::decode(&bytes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            old,
            PendingFanOut {
                ids_name_fanout: false,
                ..fanout_with_days(Vec::new())
            }
        );
        assert_eq!(old.day_of_change(0), 20_422);
        // The stored form before `ids_name_fanout`: its IDs stay what they were.
        let v2 = (
            &p.fanout,
            p.version,
            &p.changes,
            &p.outbox,
            &p.links,
            p.new_user,
            &p.absorbed,
            p.chunks,
            &p.days,
        );
        let bytes = postcard::to_allocvec(&v2).unwrap_or_default();
        let old = PendingFanOut::decode(&bytes).unwrap_or_else(|e| panic!("{e}"));
        assert!(!old.ids_name_fanout);
        assert_eq!(old.change_id(&old.changes[0]), old.changes[0].id());
        assert_eq!(old.user_count_text("u", 3), "u#3");
    }

    #[test]
    fn a_user_created_again_counts_anew() {
        // Erased, then created again under the same key: its versions start over, but its
        // fan-outs have other IDs, so their elements are new to the counter sets.
        let first = fanout_with_days(vec![20_423]);
        let again = PendingFanOut {
            fanout: "g".into(),
            ..first.clone()
        };
        let c = &first.changes[0];
        assert_ne!(first.change_id(c), again.change_id(c));
        assert_ne!(first.user_count_text("u", 1), again.user_count_text("u", 1));
        assert_eq!(first.change_id(c), first.clone().change_id(c), "stable");
    }
}
