//! LINE audience planning: batching additions (≤ 10,000 IDs per JSON request, or one upload
//! by file above a threshold), creating the audience on first use, and the rotation policy
//! that handles exits (LINE upload audiences cannot shrink).
//!
//! Rotation builds a fresh audience from the full current membership and switches the segment
//! to it once LINE reports it READY; the old one is deleted after a grace period. The policy
//! keeps rotations rare (LINE's guideline is against needless create/delete churn): only when
//! pending exits are a large enough share of members or old enough, never more often than
//! `min_interval`, and always before the audience expires. Upload audiences have no minimum
//! size (a small or empty replacement becomes READY), so a segment that shrank to a handful of
//! members, or to none, rotates like any other; only narrowcasts need 50 recipients.

use crate::time::{Millis, DAY_MS};
use serde::{Deserialize, Serialize};

/// LINE's limit of user IDs per JSON request.
pub const MAX_IDS_PER_JSON: usize = 10_000;
/// LINE's limit of user IDs per file upload.
pub const MAX_IDS_PER_FILE: usize = 1_500_000;
/// LINE's limit on the audience name, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 120;
/// The fewest final recipients LINE accepts for a narrowcast with an audience condition
/// (send-time rule, errorCode 4). Upload audiences themselves have no minimum size.
pub const MIN_NARROWCAST_RECIPIENTS: u64 = 50;

/// The warning shown (stats, dashboard, `audiences`) for a segment whose LINE audience holds
/// `members` users, when that is fewer than LINE accepts for a narrowcast.
pub fn narrowcast_warning(members: u64) -> Option<String> {
    (members < MIN_NARROWCAST_RECIPIENTS).then(|| {
        format!(
            "{members} members: LINE refuses narrowcasts to fewer than {MIN_NARROWCAST_RECIPIENTS} recipients"
        )
    })
}

/// When exits justify rebuilding an audience.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RotationPolicy {
    /// Rotate when pending exits are at least this share of current members (default 0.10).
    pub min_exit_ratio: f64,
    /// …or when the oldest pending exit is older than this (default 7 days).
    pub max_exit_age_ms: Millis,
    /// Never rotate a segment more often than this (default 24 hours).
    pub min_interval_ms: Millis,
    /// Rebuild an audience this long before its `expireTimestamp` (default 14 days).
    pub expiry_margin_ms: Millis,
    /// Keep the old audience this long after the new one is READY before deleting it (default 1 hour).
    pub delete_grace_ms: Millis,
}

impl Default for RotationPolicy {
    fn default() -> Self {
        RotationPolicy {
            min_exit_ratio: 0.10,
            max_exit_age_ms: 7 * DAY_MS,
            min_interval_ms: DAY_MS,
            expiry_margin_ms: 14 * DAY_MS,
            delete_grace_ms: 3_600_000,
        }
    }
}

/// What the system remembers about a segment's LINE audience.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LineAudienceState {
    /// The audience members are added to.
    pub audience_id: Option<i64>,
    /// Whether this system created it (only those are ever deleted).
    #[serde(default)]
    pub created_by_us: bool,
    /// Its description (name).
    #[serde(default)]
    pub description: Option<String>,
    /// Its `expireTimestamp`, epoch ms.
    #[serde(default)]
    pub expire_at: Option<Millis>,
    /// How many audiences this segment has had (names rotations deterministically).
    #[serde(default)]
    pub generation: u32,
    /// When the last rotation started.
    #[serde(default)]
    pub last_rotation_at: Option<Millis>,
    /// A replacement being built: its ID, and when it was created.
    #[serde(default)]
    pub replacement: Option<Replacement>,
    /// Old audiences to delete once their grace period ends: (ID, delete after).
    #[serde(default)]
    pub retired: Vec<(i64, Millis)>,
}

/// A replacement audience under construction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Replacement {
    /// Its audience ID.
    pub audience_id: i64,
    /// Its description.
    pub description: String,
    /// When it was created.
    pub created_at: Millis,
    /// Its `expireTimestamp`.
    pub expire_at: Option<Millis>,
}

/// The inputs of one segment's plan.
#[derive(Debug, Clone)]
pub struct LinePlanInput<'a> {
    /// Segment ID.
    pub segment: &'a str,
    /// Audience name from the rules file (None when bound to an existing ID).
    pub audience_name: Option<&'a str>,
    /// Existing audience ID from the rules file.
    pub bound_audience_id: Option<i64>,
    /// Upload IFAs.
    pub ifa: bool,
    /// LINE IDs to add (pending additions).
    pub additions: Vec<String>,
    /// Pending exits.
    pub exits: u64,
    /// When the oldest pending exit happened.
    pub oldest_exit_at: Option<Millis>,
    /// Current members that have a LINE ID.
    pub members: u64,
    /// What is remembered.
    pub state: &'a LineAudienceState,
    /// Now.
    pub now: Millis,
}

/// One planned LINE request.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum LineRequest {
    /// `POST /v2/bot/audienceGroup/upload` (JSON) or `…/upload/byFile` when `by_file`.
    Create {
        /// Audience name.
        description: String,
        /// IFA audience.
        is_ifa: bool,
        /// IDs to upload with the create (≤ 10,000 by JSON).
        ids: Vec<String>,
        /// Upload by file (api-data.line.me).
        by_file: bool,
    },
    /// `PUT /v2/bot/audienceGroup/upload` (JSON) or `…/upload/byFile` when `by_file`.
    Add {
        /// Audience ID.
        audience_id: i64,
        /// IDs.
        ids: Vec<String>,
        /// Upload by file.
        by_file: bool,
    },
    /// Build a replacement audience by file from the full current membership.
    Rotate {
        /// The replacement's name.
        description: String,
        /// IFA audience.
        is_ifa: bool,
        /// Why.
        reason: String,
    },
    /// `GET /v2/bot/audienceGroup/{id}`: is the replacement READY?
    CheckReplacement {
        /// Replacement ID.
        audience_id: i64,
    },
    /// `DELETE /v2/bot/audienceGroup/{id}` of a retired audience this system created.
    Delete {
        /// Audience ID.
        audience_id: i64,
    },
}

/// A segment's plan.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LinePlan {
    /// Requests in order.
    pub requests: Vec<LineRequest>,
    /// Whether pending exits are handled by this plan (a rotation); otherwise they stay pending.
    pub handles_exits: bool,
    /// Notes for people (why exits wait, etc.).
    pub notes: Vec<String>,
}

/// The audience name of a segment's `generation`-th audience: the configured name, with
/// ` #N` for rotations, cut to LINE's 120 characters.
pub fn audience_description(name: &str, generation: u32) -> String {
    let suffix = if generation <= 1 {
        String::new()
    } else {
        format!(" #{generation}")
    };
    let keep = MAX_DESCRIPTION_CHARS - suffix.chars().count();
    let mut out: String = name.chars().take(keep).collect();
    out.push_str(&suffix);
    out
}

/// Plans one segment's LINE requests.
pub fn plan_line(
    input: &LinePlanInput<'_>,
    policy: &RotationPolicy,
    file_threshold: usize,
) -> LinePlan {
    let mut plan = LinePlan::default();
    let state = input.state;
    let now = input.now;
    // Retired audiences whose grace period ended.
    for (id, after) in &state.retired {
        if *after <= now {
            plan.requests.push(LineRequest::Delete { audience_id: *id });
        }
    }
    if let Some(rep) = &state.replacement {
        // While a replacement is being built, additions go to both: the current audience keeps
        // serving sends, the replacement must not miss anyone who entered meanwhile.
        plan.requests.push(LineRequest::CheckReplacement {
            audience_id: rep.audience_id,
        });
        add_requests(&mut plan, rep.audience_id, &input.additions, file_threshold);
        if let Some(current) = state.audience_id {
            add_requests(&mut plan, current, &input.additions, file_threshold);
        }
        plan.notes
            .push("a replacement audience is being built; exits wait until it is READY".into());
        return plan;
    }
    let current = input.bound_audience_id.or(state.audience_id);
    let Some(audience_id) = current else {
        // First use: create, with the first ≤ 10,000 IDs (or all of them by file).
        // The name is numbered by generation, so an audience that had to be re-created (it
        // expired or was deleted at LINE) never reuses the name of one that may still exist.
        let name = input.audience_name.unwrap_or(input.segment);
        let description = audience_description(name, state.generation.saturating_add(1));
        let by_file = input.additions.len() > file_threshold;
        let (first, rest) = if by_file || input.additions.len() <= MAX_IDS_PER_JSON {
            (input.additions.clone(), &[][..])
        } else {
            (
                input.additions[..MAX_IDS_PER_JSON].to_vec(),
                &input.additions[MAX_IDS_PER_JSON..],
            )
        };
        plan.requests.push(LineRequest::Create {
            description,
            is_ifa: input.ifa,
            ids: first,
            by_file,
        });
        if !rest.is_empty() {
            plan.notes.push(format!(
                "{} more IDs are added once the audience exists",
                rest.len()
            ));
        }
        plan.handles_exits = input.exits > 0 && input.members == input.additions.len() as u64;
        return plan;
    };
    let rotation = if input.bound_audience_id.is_some() || !state.created_by_us {
        if input.exits > 0 {
            plan.notes.push(format!(
                "{} exits pending: audience {audience_id} was not created by audience-stream, so it is never rotated; exits cannot be removed from it",
                input.exits
            ));
        }
        None
    } else {
        rotation_reason(input, policy)
    };
    match rotation {
        Some(reason) => {
            let name = input.audience_name.unwrap_or(input.segment);
            plan.requests.push(LineRequest::Rotate {
                description: audience_description(name, state.generation + 1),
                is_ifa: input.ifa,
                reason,
            });
            plan.handles_exits = true;
            plan.notes.extend(narrowcast_warning(input.members));
            // The replacement is built from the full membership, which includes the additions;
            // the current audience still gets them so sends in the meantime reach them.
            add_requests(&mut plan, audience_id, &input.additions, file_threshold);
        }
        None => {
            if input.exits > 0 && input.bound_audience_id.is_none() && state.created_by_us {
                plan.notes.push(format!(
                    "{} exits wait for the rotation policy",
                    input.exits
                ));
            }
            add_requests(&mut plan, audience_id, &input.additions, file_threshold);
        }
    }
    plan
}

fn rotation_reason(input: &LinePlanInput<'_>, policy: &RotationPolicy) -> Option<String> {
    let state = input.state;
    let now = input.now;
    // At most one rotation per `min_interval`, whatever the reason: a replacement that
    // failed must not be rebuilt on every run (LINE's guideline against churn).
    if state
        .last_rotation_at
        .is_some_and(|t| now - t < policy.min_interval_ms)
    {
        return None;
    }
    if let Some(expire) = state.expire_at {
        if expire - now <= policy.expiry_margin_ms {
            return Some(format!(
                "audience expires within {} days",
                policy.expiry_margin_ms / DAY_MS
            ));
        }
    }
    if input.exits == 0 {
        return None;
    }
    let ratio = input.exits as f64 / (input.members.max(1) as f64);
    if ratio >= policy.min_exit_ratio {
        return Some(format!(
            "{} exits = {:.1}% of {} members",
            input.exits,
            ratio * 100.0,
            input.members
        ));
    }
    if input
        .oldest_exit_at
        .is_some_and(|t| now - t >= policy.max_exit_age_ms)
    {
        return Some(format!(
            "oldest exit is older than {} days",
            policy.max_exit_age_ms / DAY_MS
        ));
    }
    None
}

fn add_requests(plan: &mut LinePlan, audience_id: i64, ids: &[String], file_threshold: usize) {
    if ids.is_empty() {
        return;
    }
    if ids.len() > file_threshold {
        for chunk in ids.chunks(MAX_IDS_PER_FILE) {
            plan.requests.push(LineRequest::Add {
                audience_id,
                ids: chunk.to_vec(),
                by_file: true,
            });
        }
    } else {
        for chunk in ids.chunks(MAX_IDS_PER_JSON) {
            plan.requests.push(LineRequest::Add {
                audience_id,
                ids: chunk.to_vec(),
                by_file: false,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("U{:032x}", i)).collect()
    }

    fn input<'a>(
        state: &'a LineAudienceState,
        additions: Vec<String>,
        exits: u64,
        members: u64,
    ) -> LinePlanInput<'a> {
        LinePlanInput {
            segment: "seg",
            audience_name: Some("Seg"),
            bound_audience_id: None,
            ifa: false,
            additions,
            exits,
            oldest_exit_at: Some(0),
            members,
            state,
            now: 10 * DAY_MS,
        }
    }

    #[test]
    fn additions_batch_in_tens_of_thousands_or_one_file() {
        let state = LineAudienceState {
            audience_id: Some(7),
            created_by_us: true,
            ..Default::default()
        };
        let plan = plan_line(
            &input(&state, ids(25_000), 0, 25_000),
            &RotationPolicy::default(),
            100_000,
        );
        let sizes: Vec<usize> = plan
            .requests
            .iter()
            .map(|r| match r {
                LineRequest::Add {
                    ids,
                    by_file: false,
                    ..
                } => ids.len(),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(sizes, vec![10_000, 10_000, 5_000]);
        let plan = plan_line(
            &input(&state, ids(25_000), 0, 25_000),
            &RotationPolicy::default(),
            20_000,
        );
        assert!(
            matches!(&plan.requests[..], [LineRequest::Add { by_file: true, ids, .. }] if ids.len() == 25_000)
        );
    }

    #[test]
    fn first_use_creates() {
        let state = LineAudienceState::default();
        let plan = plan_line(
            &input(&state, ids(3), 0, 3),
            &RotationPolicy::default(),
            100_000,
        );
        assert!(
            matches!(&plan.requests[..], [LineRequest::Create { description, ids, .. }] if description == "Seg" && ids.len() == 3)
        );
    }

    #[test]
    fn rotation_follows_the_policy() {
        let policy = RotationPolicy::default();
        let mut state = LineAudienceState {
            audience_id: Some(7),
            created_by_us: true,
            generation: 1,
            ..Default::default()
        };
        // 20 exits of 100 members: rotate.
        let plan = plan_line(&input(&state, vec![], 20, 100), &policy, 100_000);
        assert!(plan.handles_exits);
        assert!(
            matches!(&plan.requests[..], [LineRequest::Rotate { description, .. }] if description == "Seg #2")
        );
        // 2 exits, recent: wait.
        let mut few = input(&state, vec![], 2, 100);
        few.oldest_exit_at = Some(few.now - DAY_MS);
        assert!(!plan_line(&few, &policy, 100_000).handles_exits);
        // Rotated an hour ago: wait, whatever the exits.
        state.last_rotation_at = Some(10 * DAY_MS - 3_600_000);
        assert!(!plan_line(&input(&state, vec![], 90, 100), &policy, 100_000).handles_exits);
        // A segment that shrank to a handful of members, or to none, rotates too (upload
        // audiences have no minimum size); the plan warns about LINE's narrowcast minimum.
        state.last_rotation_at = None;
        for members in [40, 3, 0] {
            let small = plan_line(&input(&state, vec![], 20, members), &policy, 100_000);
            assert!(small.handles_exits, "{members}: {small:?}");
            assert!(matches!(&small.requests[..], [LineRequest::Rotate { .. }]));
            assert!(small
                .notes
                .iter()
                .any(|n| n.contains("fewer than 50 recipients")));
        }
        // Audiences not created by us are never rotated.
        state.created_by_us = false;
        assert!(!plan_line(&input(&state, vec![], 90, 100), &policy, 100_000).handles_exits);
    }

    #[test]
    fn re_creation_uses_the_next_generation_name() {
        // The audience vanished at LINE (deleted or expired) after generation 2 existed.
        let state = LineAudienceState {
            generation: 2,
            ..Default::default()
        };
        let plan = plan_line(
            &input(&state, ids(3), 0, 3),
            &RotationPolicy::default(),
            100_000,
        );
        assert!(
            matches!(&plan.requests[..], [LineRequest::Create { description, .. }] if description == "Seg #3")
        );
    }

    #[test]
    fn expiry_rotation_also_respects_the_interval() {
        let policy = RotationPolicy::default();
        let now = 10 * DAY_MS;
        let mut state = LineAudienceState {
            audience_id: Some(7),
            created_by_us: true,
            generation: 1,
            expire_at: Some(now + DAY_MS),
            ..Default::default()
        };
        let plan = plan_line(&input(&state, vec![], 0, 100), &policy, 100_000);
        assert!(
            matches!(&plan.requests[..], [LineRequest::Rotate { reason, .. }] if reason.contains("expires"))
        );
        // A replacement was tried an hour ago (and failed): wait for the interval.
        state.last_rotation_at = Some(now - 3_600_000);
        let plan = plan_line(&input(&state, vec![], 0, 100), &policy, 100_000);
        assert!(plan.requests.is_empty(), "{plan:?}");
    }

    #[test]
    fn names_are_cut_to_120_characters() {
        let long = "あ".repeat(200);
        let d = audience_description(&long, 12);
        assert_eq!(d.chars().count(), 120);
        assert!(d.ends_with(" #12"));
    }
}
