//! The fake's memory: received jobs, their scripted progress, pending injected errors, and the
//! wire shapes of ImportJobRequest / ImportJobResponse (PascalCase, bare objects).

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::script::{FakeOp, JobScript};
use crate::job::JobStatus;

/// The bare ImportJobRequest body.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct WireRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(rename = "S3Url", skip_serializing_if = "Option::is_none")]
    pub s3_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub register_endpoints: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub define_segment: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

/// The bare ImportJobResponse body.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct WireResponse {
    pub id: String,
    pub application_id: String,
    pub job_status: String,
    pub creation_date: String,
    #[serde(rename = "Type")]
    pub job_type: &'static str,
    pub definition: WireRequest,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_pieces: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_pieces: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_pieces: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_processed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_failures: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failures: Option<Vec<String>>,
}

/// A job as the fake received and runs it.
#[derive(Debug, Clone)]
pub struct FakeJob {
    /// The application ID from the path.
    pub application_id: String,
    /// The ID the fake gave the job.
    pub id: String,
    /// The request body as received.
    pub request: WireRequest,
    /// Current status.
    pub status: JobStatus,
    /// Segment ID (the requested one, or the one assigned at completion).
    pub segment_id: Option<String>,
    /// Data rows of the S3 object, when the fake could read it.
    pub rows_in_file: Option<u64>,
    /// GetImportJob answers given for this job.
    pub gets: usize,
    pub(crate) creation_date: String,
    pub(crate) completion_date: Option<String>,
    pub(crate) script: JobScript,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub jobs: HashMap<String, FakeJob>,
    pub order: Vec<String>,
    pub scripts: VecDeque<JobScript>,
    pub default_script: JobScript,
    pub injected: HashMap<FakeOp, VecDeque<u16>>,
    pub create_requests: usize,
    pub get_requests: usize,
    pub list_requests: usize,
    /// Statuses answered by the next CreateImportJob requests after creating their job.
    pub fail_after_create: VecDeque<u16>,
    pub counter: u64,
}

impl State {
    pub fn next_injected(&mut self, op: FakeOp) -> Option<u16> {
        self.injected.get_mut(&op).and_then(VecDeque::pop_front)
    }

    pub fn next_id(&mut self) -> String {
        self.counter += 1;
        format!(
            "{:016x}{:016x}",
            (0x5eed_u64 << 32) | self.counter,
            self.counter
        )
    }

    /// Moves a job one scripted step on (for a GET) and fills in completion data.
    pub fn advance(&mut self, job_id: &str, now: &str) {
        let mut new_segment = None;
        if let Some(job) = self.jobs.get_mut(job_id) {
            if !job.status.is_terminal() {
                if let Some(next) = job.script.steps.get(job.gets).or(job.script.steps.last()) {
                    job.status = next.clone();
                }
                if job.status.is_terminal() {
                    job.completion_date = Some(now.to_owned());
                    if job.status.is_success() && job.segment_id.is_none() {
                        new_segment = Some(job_id.to_owned());
                    }
                }
            }
            job.gets += 1;
        }
        if let Some(job_id) = new_segment {
            let segment_id = self.next_id();
            if let Some(job) = self.jobs.get_mut(&job_id) {
                job.segment_id = Some(segment_id);
            }
        }
    }
}

impl FakeJob {
    pub(crate) fn response(&self) -> WireResponse {
        let mut definition = self.request.clone();
        definition.segment_id = self.segment_id.clone();
        let (completed, failed) = match self.status {
            JobStatus::Completed => (Some(1), Some(0)),
            JobStatus::Failed => (Some(0), Some(1)),
            _ => (None, None),
        };
        let terminal = self.status.is_terminal();
        let failures = (self.status == JobStatus::Failed).then(|| self.script.failures.clone());
        WireResponse {
            id: self.id.clone(),
            application_id: self.application_id.clone(),
            job_status: self.status.as_str().to_owned(),
            creation_date: self.creation_date.clone(),
            job_type: "IMPORT",
            definition,
            completion_date: self.completion_date.clone(),
            completed_pieces: completed,
            failed_pieces: failed,
            total_pieces: terminal.then_some(1),
            total_processed: terminal
                .then(|| self.rows_in_file.unwrap_or(self.script.total_processed)),
            total_failures: failures.as_ref().map(|f| f.len() as u64),
            failures,
        }
    }
}
