//! Pinpoint import planning: when a segment is re-imported, and the rows of its import file.
//!
//! An imported Pinpoint segment is a fixed set of endpoints, so a sync re-imports the full
//! current membership: only when membership changed since the last completed import, at most
//! once per interval, and never while a job for the segment is still running.

use crate::state::UserState;
use crate::time::Millis;
use serde::{Deserialize, Serialize};

/// What the system remembers about a segment's Pinpoint imports.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PinpointSegmentState {
    /// The Pinpoint segment ID, once an import created it.
    #[serde(default)]
    pub segment_id: Option<String>,
    /// A job started and not yet seen finished: its ID and S3 URL.
    #[serde(default)]
    pub running_job: Option<String>,
    /// When the last import completed.
    #[serde(default)]
    pub last_completed_at: Option<Millis>,
    /// Import versions started so far (names the S3 object).
    #[serde(default)]
    pub version: u32,
}

/// Whether to start an import now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "decision")]
pub enum ImportDecision {
    /// Resume polling the running job.
    Resume {
        /// The job.
        job_id: String,
    },
    /// Start a new import.
    Start,
    /// Nothing to do, and why.
    Skip {
        /// Why.
        reason: String,
    },
}

/// Decides whether a segment needs an import.
pub fn decide_import(
    state: &PinpointSegmentState,
    pending_changes: u64,
    min_interval_ms: Millis,
    now: Millis,
) -> ImportDecision {
    if let Some(job) = &state.running_job {
        return ImportDecision::Resume {
            job_id: job.clone(),
        };
    }
    if pending_changes == 0 {
        return ImportDecision::Skip {
            reason: "membership unchanged since the last completed import".into(),
        };
    }
    if let Some(t) = state.last_completed_at {
        if now - t < min_interval_ms {
            return ImportDecision::Skip {
                reason: format!(
                    "last import completed {} s ago; the interval is {} s",
                    (now - t) / 1000,
                    min_interval_ms / 1000
                ),
            };
        }
    }
    ImportDecision::Start
}

/// One endpoint row of an import file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndpointRow {
    /// `ChannelType`.
    pub channel_type: String,
    /// `Address`.
    pub address: String,
    /// `Id`.
    pub endpoint_id: String,
    /// `User.UserId`.
    pub user_id: String,
}

/// The import rows of one member: each reachable endpoint with a channel and address. An
/// endpoint whose newest event shows `OptOut` other than `NONE`, or `EndpointStatus`
/// `INACTIVE`, is never imported. Users without any such endpoint yield none (the caller
/// counts them as skipped).
pub fn endpoint_rows(state: &UserState) -> Vec<EndpointRow> {
    state
        .endpoints
        .iter()
        .filter(|(_, e)| e.is_reachable())
        .filter_map(|(id, e)| {
            let channel = e
                .channel
                .as_ref()
                .map(|c| c.v.as_str())
                .filter(|c| !c.is_empty())?;
            let address = e
                .address
                .as_ref()
                .map(|a| a.v.as_str())
                .filter(|a| !a.is_empty())?;
            Some(EndpointRow {
                channel_type: channel.to_string(),
                address: address.to_string(),
                endpoint_id: id.clone(),
                user_id: state.user.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{EndpointInfo, Stamped};

    fn endpoint(address: &str, opt_out: Option<&str>, status: Option<&str>) -> EndpointInfo {
        let at = |v: &str| Stamped {
            v: v.to_string(),
            t: 5,
        };
        EndpointInfo {
            channel: Some(at("EMAIL")),
            address: Some(at(address)),
            opt_out: opt_out.map(at),
            status: status.map(at),
            ..EndpointInfo::seen_at(5)
        }
    }

    #[test]
    fn opted_out_and_inactive_endpoints_are_never_imported() {
        let mut u = UserState::new("u-1");
        let cases = [
            ("ep-a", "active@example.com", Some("NONE"), Some("ACTIVE")),
            ("ep-b", "unknown@example.com", None, None),
            ("ep-c", "optout@example.com", Some("ALL"), Some("ACTIVE")),
            (
                "ep-d",
                "inactive@example.com",
                Some("NONE"),
                Some("INACTIVE"),
            ),
            ("ep-e", "both@example.com", Some("ALL"), Some("INACTIVE")),
        ];
        for (id, address, opt_out, status) in cases {
            u.endpoints
                .insert(id.into(), endpoint(address, opt_out, status));
        }
        let rows: Vec<String> = endpoint_rows(&u).into_iter().map(|r| r.address).collect();
        assert_eq!(rows, vec!["active@example.com", "unknown@example.com"]);
    }

    #[test]
    fn imports_only_when_changed_idle_and_due() {
        let mut s = PinpointSegmentState::default();
        assert_eq!(
            decide_import(&s, 0, 1000, 5000),
            ImportDecision::Skip {
                reason: "membership unchanged since the last completed import".into()
            }
        );
        assert_eq!(decide_import(&s, 3, 1000, 5000), ImportDecision::Start);
        s.last_completed_at = Some(4500);
        assert!(matches!(
            decide_import(&s, 3, 1000, 5000),
            ImportDecision::Skip { .. }
        ));
        s.running_job = Some("j1".into());
        assert_eq!(
            decide_import(&s, 3, 1000, 5000),
            ImportDecision::Resume {
                job_id: "j1".into()
            }
        );
    }
}
