//! The fake LINE's in-memory state: audiences with their member sets and jobs, issued
//! tokens, injected faults and the request log. Pure data and rules; no HTTP here.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::model::{AudienceStatus, FailedType, JobStatus};

use super::{FakeConfig, FakeOp, Fault, LoggedRequest};

/// Max QUEUED/WORKING jobs per audience before LINE answers 429.
pub(crate) const MAX_ACTIVE_JOBS: usize = 10;
/// Max live short-lived tokens per channel; issuing more revokes the oldest.
pub(crate) const MAX_LIVE_SHORT_LIVED: usize = 30;
const RETENTION: Duration = Duration::from_secs(180 * 24 * 60 * 60);

/// A snapshot of one audience held by the fake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeAudience {
    /// Audience ID.
    pub id: i64,
    /// Current name.
    pub description: String,
    /// Whether it holds IFAs.
    pub is_ifa: bool,
    /// Every ID ever uploaded (LINE cannot remove IDs).
    pub members: BTreeSet<String>,
    /// Status.
    pub status: AudienceStatus,
    /// Failure reason, if FAILED.
    pub failed_type: Option<FailedType>,
    /// Creation time (UNIX seconds).
    pub created: i64,
    /// Expiry time (UNIX seconds).
    pub expire_timestamp: i64,
    /// Upload jobs, oldest first.
    pub jobs: Vec<FakeJob>,
}

/// One upload job held by the fake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeJob {
    /// Job ID.
    pub id: i64,
    /// `uploadDescription`.
    pub description: Option<String>,
    /// Status.
    pub status: JobStatus,
    /// Failure reason.
    pub failed_type: Option<FailedType>,
    /// IDs in the upload that were new to the audience.
    pub new_ids: usize,
    /// Accounts counted once the job finished.
    pub audience_count: usize,
    /// Creation time (UNIX seconds).
    pub created: i64,
}

pub(crate) struct IssuedToken {
    pub expires_at: SystemTime,
    pub stateless: bool,
    pub issued_at_seq: u64,
}

pub(crate) struct State {
    pub config: FakeConfig,
    pub audiences: BTreeMap<i64, FakeAudience>,
    pub next_audience_id: i64,
    pub next_job_id: i64,
    pub issued: HashMap<String, IssuedToken>,
    pub issued_total: u64,
    pub issued_stateless_total: u64,
    pub faults: VecDeque<(FakeOp, Fault)>,
    pub log: Vec<LoggedRequest>,
    pub request_seq: u64,
    pub messages: super::messages::MessageState,
}

/// An HTTP answer of the fake, before it becomes an axum response.
pub(crate) struct Reply {
    pub status: u16,
    pub body: Value,
    pub retry_after: Option<u64>,
}

impl Reply {
    pub fn ok(status: u16, body: Value) -> Self {
        Reply {
            status,
            body,
            retry_after: None,
        }
    }

    /// LINE's error JSON: `{"message", "details": [{"message", "property"}]}`.
    pub fn error(status: u16, message: &str, details: &[(&str, Option<&str>)]) -> Self {
        let mut body = json!({ "message": message });
        if !details.is_empty() {
            body["details"] = Value::Array(
                details
                    .iter()
                    .map(|(m, p)| match p {
                        Some(p) => json!({ "message": m, "property": p }),
                        None => json!({ "message": m }),
                    })
                    .collect(),
            );
        }
        Reply::ok(status, body)
    }

    pub fn bad_request(code: &str, property: Option<&str>) -> Self {
        Reply::error(400, "The request body has 1 error(s)", &[(code, property)])
    }

    pub fn not_found_audience() -> Self {
        Reply::error(
            400,
            "audience group not found",
            &[("AUDIENCE_GROUP_NOT_FOUND", None)],
        )
    }
}

pub(crate) fn unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// True for a LINE user ID: `U` followed by 32 lowercase hex digits.
pub fn is_user_id(id: &str) -> bool {
    id.len() == 33
        && id.starts_with('U')
        && id[1..].chars().all(|c| matches!(c, '0'..='9' | 'a'..='f'))
}

impl State {
    pub fn new(config: FakeConfig) -> Self {
        State {
            config,
            audiences: BTreeMap::new(),
            next_audience_id: 5_000_000_000_001,
            next_job_id: 70_000_001,
            issued: HashMap::new(),
            issued_total: 0,
            issued_stateless_total: 0,
            faults: VecDeque::new(),
            log: Vec::new(),
            request_seq: 0,
            messages: super::messages::MessageState::default(),
        }
    }

    pub fn next_request_id(&mut self) -> String {
        self.request_seq += 1;
        format!(
            "fake-{:08x}-{:04x}",
            self.request_seq,
            std::process::id() & 0xffff
        )
    }

    /// Takes one injected fault for `op`, if any is pending.
    pub fn take_fault(&mut self, op: FakeOp) -> Option<Fault> {
        let pos = self
            .faults
            .iter()
            .position(|(o, f)| *o == op && f.times > 0)?;
        let (_, fault) = self.faults.get_mut(pos)?;
        fault.times -= 1;
        let taken = fault.clone();
        if fault.times == 0 {
            self.faults.remove(pos);
        }
        Some(taken)
    }

    pub fn token_valid(&self, token: &str, now: SystemTime) -> bool {
        self.config.long_lived_tokens.iter().any(|t| t == token)
            || self.issued.get(token).is_some_and(|t| t.expires_at > now)
    }

    pub fn issue_token(&mut self, stateless: bool, now: SystemTime) -> (String, u64) {
        let expires_in = if stateless {
            self.config.stateless_expires_in
        } else {
            self.config.token_expires_in
        };
        self.issued_total += 1;
        if stateless {
            self.issued_stateless_total += 1;
        } else {
            let mut live: Vec<(u64, String)> = self
                .issued
                .iter()
                .filter(|(_, t)| !t.stateless && t.expires_at > now)
                .map(|(k, t)| (t.issued_at_seq, k.clone()))
                .collect();
            if live.len() >= MAX_LIVE_SHORT_LIVED {
                live.sort();
                if let Some((_, oldest)) = live.first() {
                    self.issued.remove(oldest);
                }
            }
        }
        let token = format!(
            "fake-{}-{}-{:x}",
            if stateless { "stateless" } else { "short" },
            self.issued_total,
            unix(now)
        );
        self.issued.insert(
            token.clone(),
            IssuedToken {
                expires_at: now + Duration::from_secs(expires_in),
                stateless,
                issued_at_seq: self.issued_total,
            },
        );
        (token, expires_in)
    }

    pub fn create_audience(
        &mut self,
        description: String,
        is_ifa: bool,
        upload_description: Option<String>,
        ids: Vec<String>,
        now: SystemTime,
    ) -> Result<Value, Reply> {
        let own = self.audiences.len();
        if own >= self.config.max_audiences {
            return Err(Reply::bad_request("AUDIENCE_GROUP_COUNT_MAX_OVER", None));
        }
        let id = self.next_audience_id;
        self.next_audience_id += 1;
        let created = unix(now);
        let audience = FakeAudience {
            id,
            description: description.clone(),
            is_ifa,
            members: BTreeSet::new(),
            status: AudienceStatus::InProgress,
            failed_type: None,
            created,
            expire_timestamp: unix(now + RETENTION),
            jobs: Vec::new(),
        };
        self.audiences.insert(id, audience);
        if !ids.is_empty() {
            self.add_ids(id, upload_description, ids, now)?;
        } else if self.config.auto_settle {
            self.settle(id);
        }
        Ok(serde_json::json!({
            "audienceGroupId": id,
            "createRoute": "MESSAGING_API",
            "type": "UPLOAD",
            "description": description,
            "created": created,
            "permission": "READ_WRITE",
            "expireTimestamp": unix(now + RETENTION),
            "isIfaAudience": is_ifa,
        }))
    }

    /// Checks an audience can take an upload (exists, not expired, < 10 running jobs).
    pub fn check_uploadable(&self, id: i64) -> Result<(), Reply> {
        let Some(a) = self.audiences.get(&id) else {
            return Err(Reply::not_found_audience());
        };
        if a.status == AudienceStatus::Expired {
            return Err(Reply::bad_request(
                "AUDIENCE_GROUP_CAN_NOT_UPLOAD_STATUS_EXPIRED",
                None,
            ));
        }
        let active = a
            .jobs
            .iter()
            .filter(|j| matches!(j.status, JobStatus::Queued | JobStatus::Working))
            .count();
        if active >= MAX_ACTIVE_JOBS {
            return Err(Reply::error(
                429,
                "The number of running jobs for this audience has reached the limit",
                &[],
            ));
        }
        Ok(())
    }

    pub fn add_ids(
        &mut self,
        id: i64,
        upload_description: Option<String>,
        ids: Vec<String>,
        now: SystemTime,
    ) -> Result<(), Reply> {
        self.check_uploadable(id)?;
        let job_id = self.next_job_id;
        self.next_job_id += 1;
        let auto = self.config.auto_settle;
        let Some(a) = self.audiences.get_mut(&id) else {
            return Err(Reply::not_found_audience());
        };
        let before = a.members.len();
        a.members.extend(ids);
        let new_ids = a.members.len() - before;
        a.status = AudienceStatus::InProgress;
        a.failed_type = None;
        a.jobs.push(FakeJob {
            id: job_id,
            description: upload_description,
            status: JobStatus::Queued,
            failed_type: None,
            new_ids,
            audience_count: 0,
            created: unix(now),
        });
        if auto {
            self.settle(id);
        }
        Ok(())
    }

    /// Finishes running jobs: the audience becomes READY whatever its size. Upload audiences
    /// have no minimum (a small or empty one is valid); only click and impression audiences
    /// under 50 users end FAILED with `AUDIENCE_GROUP_AUDIENCE_INSUFFICIENT`, and those are not
    /// made through the Messaging API. Returns false if the audience does not exist.
    pub fn settle(&mut self, id: i64) -> bool {
        let Some(a) = self.audiences.get_mut(&id) else {
            return false;
        };
        if a.status == AudienceStatus::Expired {
            return true;
        }
        for job in a
            .jobs
            .iter_mut()
            .filter(|j| matches!(j.status, JobStatus::Queued | JobStatus::Working))
        {
            job.status = JobStatus::Finished;
            job.audience_count = job.new_ids;
        }
        a.status = AudienceStatus::Ready;
        a.failed_type = None;
        true
    }

    pub fn audience_json(a: &FakeAudience) -> Value {
        let mut v = json!({
            "audienceGroupId": a.id,
            "type": "UPLOAD",
            "description": a.description,
            "status": a.status.as_str(),
            "audienceCount": if a.status == AudienceStatus::Ready { a.members.len() } else { 0 },
            "created": a.created,
            "permission": "READ_WRITE",
            "createRoute": "MESSAGING_API",
            "isIfaAudience": a.is_ifa,
            "expireTimestamp": a.expire_timestamp,
        });
        if let Some(f) = &a.failed_type {
            v["failedType"] = Value::String(f.as_str().to_owned());
        }
        v
    }

    pub fn detail_json(a: &FakeAudience) -> Value {
        let jobs: Vec<Value> = a
            .jobs
            .iter()
            .rev()
            .take(50)
            .map(|j| {
                let mut v = json!({
                    "audienceGroupJobId": j.id,
                    "audienceGroupId": a.id,
                    "type": "DIFF_ADD",
                    "jobStatus": j.status.as_str(),
                    "audienceCount": j.audience_count,
                    "created": j.created,
                });
                if let Some(d) = &j.description {
                    v["description"] = Value::String(d.clone());
                }
                if let Some(f) = &j.failed_type {
                    v["failedType"] = Value::String(f.as_str().to_owned());
                }
                v
            })
            .collect();
        json!({ "audienceGroup": Self::audience_json(a), "jobs": jobs })
    }

    pub fn list_json(
        &self,
        description: Option<&str>,
        status: Option<&str>,
        create_route: Option<&str>,
        page: usize,
        size: usize,
    ) -> Value {
        let needle = description.map(str::to_lowercase);
        let matching: Vec<&FakeAudience> = self
            .audiences
            .values()
            .rev()
            .filter(|a| {
                needle
                    .as_deref()
                    .is_none_or(|n| a.description.to_lowercase().contains(n))
            })
            .filter(|a| status.is_none_or(|s| a.status.as_str() == s))
            .filter(|_| create_route.is_none_or(|r| r == "MESSAGING_API"))
            .collect();
        let start = (page - 1).saturating_mul(size);
        let items: Vec<Value> = matching
            .iter()
            .skip(start)
            .take(size)
            .map(|a| Self::audience_json(a))
            .collect();
        json!({
            "audienceGroups": items,
            "hasNextPage": start.saturating_add(size) < matching.len(),
            "totalCount": matching.len(),
            "readWriteAudienceGroupTotalCount": matching.len(),
            "page": page,
            "size": size,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_id_shape() {
        assert!(is_user_id(&super::super::user_id(7)));
        assert!(!is_user_id("U123"));
        assert!(!is_user_id(&format!("U{}", "G".repeat(32))));
    }
}
