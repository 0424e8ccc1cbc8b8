//! Erasure decisions: what deleting one person's data (a request under Japan's APPI or the
//! GDPR, `audience-stream user delete`) means for segments and identities. Pure: the pipeline
//! loads the user, asks here, and hands the result to the store, which deletes.
//!
//! - Every segment the user is a member of — by its state, or by the store's member index
//!   when the two disagree or the state is unreadable — gets an exit, stamped with the
//!   calendar day of `now` in the rules' time zone, so segment sizes, daily history and the
//!   destinations follow as for any exit ([`Cause::Erasure`]).
//! - The identity keys the state names (its endpoint IDs and `line:<LINE user ID>`) are the
//!   links to remove; when the state may have dropped some (it keeps the most recent
//!   endpoints only) or is unreadable, the store is told to search for the rest.

use crate::apply::{Cause, ChangeKind, MembershipChange};
use crate::decode::LINE_KEY_PREFIX;
use crate::limits::MAX_ENDPOINTS;
use crate::rules::Rules;
use crate::state::UserState;
use crate::time::Millis;
use std::collections::BTreeSet;

/// What erasing one user removes besides its stored items.
#[derive(Debug, Clone, PartialEq)]
pub struct ErasurePlan {
    /// The user key.
    pub user: String,
    /// One exit per segment the user is a member of, in segment order.
    pub exits: Vec<MembershipChange>,
    /// Identity keys the state names (endpoint IDs, `line:<ID>`), sorted: their links go.
    pub identities: Vec<String>,
    /// Whether `identities` name every link of the user: false when there is no readable
    /// state, or when it holds [`MAX_ENDPOINTS`] endpoints (older ones may have been dropped
    /// from it, their links not).
    pub identities_complete: bool,
}

impl ErasurePlan {
    /// Whether there is nothing to remove besides what the store itself finds.
    pub fn is_empty(&self) -> bool {
        self.exits.is_empty() && self.identities.is_empty()
    }
}

/// Plans the erasure of `user` at `now`: `state` is its readable state (none when absent or
/// unreadable), `indexed` the segments the store's member index lists it in.
pub fn plan_erasure(
    user: &str,
    state: Option<&UserState>,
    indexed: &[String],
    rules: &Rules,
    now: Millis,
) -> ErasurePlan {
    let mut segments: BTreeSet<&str> = indexed.iter().map(String::as_str).collect();
    let mut identities = BTreeSet::new();
    if let Some(state) = state {
        segments.extend(state.memberships.keys().map(String::as_str));
        identities.extend(state.endpoints.keys().filter(|e| *e != user).cloned());
        if let Some(line) = &state.line_user_id {
            identities.insert(format!("{LINE_KEY_PREFIX}{}", line.v));
        }
    }
    identities.remove(user);
    let day = rules.zone.day_of(now);
    ErasurePlan {
        user: user.to_string(),
        exits: segments
            .into_iter()
            .map(|segment| MembershipChange {
                segment: segment.to_string(),
                user: user.to_string(),
                kind: ChangeKind::Exited,
                at: now,
                day,
                cause: Cause::Erasure,
            })
            .collect(),
        identities: identities.into_iter().collect(),
        identities_complete: state.is_some_and(|s| s.endpoints.len() < MAX_ENDPOINTS),
    }
}
