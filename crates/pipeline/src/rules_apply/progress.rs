//! What `rules apply` saves in the store after every page, and where a run starts from it:
//! the rules file's hash, each scan part's cursor, and the counts so far. A run of the same
//! rules that did not finish is resumed; anything else starts over.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The job name the progress is saved under ([`audience_store::StateStore::job_progress`]).
pub const JOB: &str = "rules-apply";

/// Users named in the counts at most (the count itself is exact).
const MAX_NAMED: usize = 100;

/// Whether a run resumes an unfinished one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Start {
    /// Resume an unfinished run of the same rules; otherwise start over.
    #[default]
    Auto,
    /// Resume an unfinished run of the same rules; an error when there is none.
    Resume,
    /// Start over, whatever was saved.
    Restart,
}

/// What a run did, per segment and in total.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyCounts {
    /// Users evaluated (readable ones).
    pub users: u64,
    /// Users whose state was written (a membership or the next flip time changed).
    pub written: u64,
    /// Segment → users who entered.
    pub entered: BTreeMap<String, u64>,
    /// Segment → users who exited.
    pub exited: BTreeMap<String, u64>,
    /// Users that kept losing the race to a concurrent writer (which runs the new rules too).
    pub conflicts: u64,
    /// Users quarantined (unreadable, or refused by the store).
    pub quarantined: u64,
    /// The first quarantined users, by key.
    #[serde(default)]
    pub quarantined_users: Vec<String>,
}

impl ApplyCounts {
    /// Membership changes counted (enters and exits).
    pub fn changes(&self) -> u64 {
        self.entered.values().chain(self.exited.values()).sum()
    }

    /// Counts one committed change.
    pub fn record(&mut self, change: &audience_core::MembershipChange) {
        let side = match change.kind {
            audience_core::ChangeKind::Entered => &mut self.entered,
            audience_core::ChangeKind::Exited => &mut self.exited,
        };
        *side.entry(change.segment.clone()).or_default() += 1;
    }

    /// Counts a quarantined user.
    pub fn quarantine(&mut self, user: &str) {
        self.quarantined += 1;
        if self.quarantined_users.len() < MAX_NAMED {
            self.quarantined_users.push(user.to_string());
        }
    }

    /// Adds another count to this one.
    pub fn add(&mut self, other: &ApplyCounts) {
        self.users += other.users;
        self.written += other.written;
        for (seg, n) in &other.entered {
            *self.entered.entry(seg.clone()).or_default() += n;
        }
        for (seg, n) in &other.exited {
            *self.exited.entry(seg.clone()).or_default() += n;
        }
        self.conflicts += other.conflicts;
        self.quarantined += other.quarantined;
        for user in &other.quarantined_users {
            if self.quarantined_users.len() < MAX_NAMED {
                self.quarantined_users.push(user.clone());
            }
        }
    }
}

/// Where one scan part stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartCursor {
    /// The last user of the last page done (`None`: from the start).
    pub after: Option<String>,
    /// Every page of the part is done.
    pub done: bool,
}

/// A run's saved progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Hash of the rules file being applied.
    pub rules_hash: String,
    /// One cursor per scan part.
    pub parts: Vec<PartCursor>,
    /// Counts of the whole run so far (every invocation).
    pub counts: ApplyCounts,
    /// Every part is done.
    pub finished: bool,
}

impl Progress {
    /// A run from the start, in `parts` scan parts.
    pub fn new(rules_hash: &str, parts: u32) -> Self {
        Progress {
            rules_hash: rules_hash.to_string(),
            parts: vec![PartCursor::default(); parts.max(1) as usize],
            counts: ApplyCounts::default(),
            finished: false,
        }
    }

    /// Whether every part is done.
    pub fn all_done(&self) -> bool {
        self.parts.iter().all(|p| p.done)
    }
}

/// Why a run cannot start from what was saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoResume {
    /// Nothing saved, or the saved run finished.
    NothingUnfinished,
    /// The unfinished run applies other rules (its hash).
    OtherRules(String),
    /// The saved progress cannot be read (why).
    Unreadable(String),
}

impl std::fmt::Display for NoResume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoResume::NothingUnfinished => write!(f, "no unfinished run is saved"),
            NoResume::OtherRules(hash) => {
                write!(f, "the unfinished run applies other rules (hash {hash})")
            }
            NoResume::Unreadable(why) => write!(f, "the saved progress is unreadable: {why}"),
        }
    }
}

/// Where a run of the rules with hash `rules_hash` starts: the saved progress when it is an
/// unfinished run of the same rules (and `start` is not [`Start::Restart`]), else a new run in
/// `parts` parts. A resumed run keeps its own number of parts (its cursors belong to them).
/// Returns the progress and whether it was resumed.
pub fn starting_point(
    saved: Option<serde_json::Value>,
    rules_hash: &str,
    start: Start,
    parts: u32,
) -> Result<(Progress, bool), NoResume> {
    let fresh = || Ok((Progress::new(rules_hash, parts), false));
    if start == Start::Restart {
        return fresh();
    }
    let saved = match saved.map(serde_json::from_value::<Progress>) {
        None => Err(NoResume::NothingUnfinished),
        Some(Err(e)) => Err(NoResume::Unreadable(e.to_string())),
        Some(Ok(p)) if p.finished || p.parts.is_empty() => Err(NoResume::NothingUnfinished),
        Some(Ok(p)) if p.rules_hash != rules_hash => Err(NoResume::OtherRules(p.rules_hash)),
        Some(Ok(p)) => Ok(p),
    };
    match (saved, start) {
        (Ok(p), _) => Ok((p, true)),
        (Err(why), Start::Resume) => Err(why),
        (Err(why), _) => {
            if !matches!(why, NoResume::NothingUnfinished) {
                tracing::warn!(reason = %why, "rules apply starts over");
            }
            fresh()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(hash: &str, finished: bool) -> Option<serde_json::Value> {
        let mut p = Progress::new(hash, 2);
        p.parts[0] = PartCursor {
            after: Some("u7".into()),
            done: true,
        };
        p.counts.users = 7;
        p.finished = finished;
        Some(serde_json::to_value(p).unwrap())
    }

    #[test]
    fn an_unfinished_run_of_the_same_rules_is_resumed() {
        let (p, resumed) = starting_point(saved("h1", false), "h1", Start::Auto, 4).unwrap();
        assert!(resumed);
        assert_eq!(p.parts.len(), 2, "the saved parts, not the requested 4");
        assert_eq!(p.parts[0].after.as_deref(), Some("u7"));
        assert_eq!(p.counts.users, 7);
        let (_, resumed) = starting_point(saved("h1", false), "h1", Start::Resume, 4).unwrap();
        assert!(resumed);
    }

    #[test]
    fn other_rules_a_finished_run_or_restart_start_over() {
        for (saved, start) in [
            (saved("h0", false), Start::Auto),
            (saved("h1", true), Start::Auto),
            (saved("h1", false), Start::Restart),
            (None, Start::Auto),
            (Some(serde_json::json!({"odd": true})), Start::Auto),
        ] {
            let (p, resumed) = starting_point(saved, "h1", start, 4).unwrap();
            assert!(!resumed);
            assert_eq!(p, Progress::new("h1", 4));
        }
    }

    #[test]
    fn resume_without_an_unfinished_run_of_these_rules_is_an_error() {
        assert_eq!(
            starting_point(saved("h0", false), "h1", Start::Resume, 4).unwrap_err(),
            NoResume::OtherRules("h0".into())
        );
        assert_eq!(
            starting_point(saved("h1", true), "h1", Start::Resume, 4).unwrap_err(),
            NoResume::NothingUnfinished
        );
        assert_eq!(
            starting_point(None, "h1", Start::Resume, 4).unwrap_err(),
            NoResume::NothingUnfinished
        );
    }
}
