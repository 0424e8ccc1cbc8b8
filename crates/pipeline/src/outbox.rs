//! The sync work a commit creates: one outbox entry per membership change and destination of
//! its segment, and LINE entries for members whose LINE reachability changed on its own.

use audience_core::rules::Rules;
use audience_core::{ChangeKind, MembershipChange, Millis, UserState};
use audience_store::OutboxEntry;

/// The LINE destination's kind: its audiences also follow LINE reachability (a LINE ID
/// learned, the account blocked), not only membership.
const LINE: &str = "line";

/// LINE outbox entries for members whose LINE reachability changed without a membership
/// change: a LINE ID learned (or changed) after the user entered is added; a user who blocked
/// the account is queued as an exit (handled by the next rotation).
pub fn line_identity_entries(
    rules: &Rules,
    before: &UserState,
    after: &UserState,
    changes: &[MembershipChange],
    change_id: &str,
    now: Millis,
) -> Vec<OutboxEntry> {
    let (was, is) = (before.active_line_user_id(), after.active_line_user_id());
    if was == is {
        return Vec::new();
    }
    let op = if is.is_some() {
        ChangeKind::Entered
    } else {
        ChangeKind::Exited
    };
    after
        .memberships
        .keys()
        .filter(|seg| !changes.iter().any(|c| &c.segment == *seg))
        .filter(|seg| {
            rules
                .segment(seg)
                .is_some_and(|s| s.def.destinations.has(LINE))
        })
        .map(|seg| OutboxEntry {
            destination: LINE.to_string(),
            segment: seg.clone(),
            user: after.user.clone(),
            op,
            at: now,
            change_id: change_id.to_string(),
        })
        .collect()
}

/// Outbox entries for membership changes: one per change and destination of its segment,
/// whatever the destination's kind.
pub fn outbox_entries(
    rules: &Rules,
    changes: &[MembershipChange],
    change_id: &str,
) -> Vec<OutboxEntry> {
    let mut out = Vec::new();
    for c in changes {
        let Some(seg) = rules.segment(&c.segment) else {
            continue;
        };
        for destination in seg.def.destinations.kinds() {
            out.push(OutboxEntry {
                destination: destination.to_string(),
                segment: c.segment.clone(),
                user: c.user.clone(),
                op: c.kind,
                at: c.at,
                change_id: change_id.to_string(),
            });
        }
    }
    out
}
