//! Sync configuration (YAML or JSON; every field optional, unknown keys rejected), validated
//! once into the values the destinations use. Documented in docs/line.md and docs/pinpoint.md.

use crate::error::SyncError;
use audience_core::plan::line::{RotationPolicy, MAX_IDS_PER_FILE, MAX_IDS_PER_JSON};
use audience_retry::RetryPolicy;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;

/// The whole sync configuration file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncConfig {
    /// LINE audiences.
    pub line: LineSyncConfig,
    /// Pinpoint import jobs.
    pub pinpoint: PinpointSyncConfig,
    /// LINE messages on segment entry and exit.
    pub line_message: LineMessageSyncConfig,
}

/// How LINE messages are sent (docs/messages.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LineMessageSyncConfig {
    /// Multicast requests per second (LINE allows 200 per channel).
    pub multicasts_per_second: u32,
    /// Push requests per second (LINE allows 2,000 per channel).
    pub pushes_per_second: u32,
    /// Retries of 429, 5xx and timeouts (never of other 4xx); a retry carries the same key.
    pub retry: RetryPolicy,
    /// Outbox entries read per segment and run.
    pub max_pending: usize,
    /// Most recipients per segment and run; the rest wait for the next run.
    pub max_recipients_per_run: usize,
}

impl Default for LineMessageSyncConfig {
    fn default() -> Self {
        LineMessageSyncConfig {
            multicasts_per_second: 150,
            pushes_per_second: 1_500,
            retry: RetryPolicy::default(),
            max_pending: 100_000,
            max_recipients_per_run: 100_000,
        }
    }
}

/// How LINE audiences are kept in sync.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LineSyncConfig {
    /// When exits justify rebuilding an audience (see docs/line.md).
    pub rotation: RotationPolicy,
    /// Above this many IDs, additions go up as one file instead of JSON batches of 10,000.
    pub file_threshold: usize,
    /// Requests per minute per LINE endpoint (LINE allows 60).
    pub requests_per_minute: u32,
    /// Requests that may go at once before the per-minute pace applies.
    pub burst: u32,
    /// Retries of 429, 5xx and timeouts (never of other 4xx).
    pub retry: RetryPolicy,
    /// Outbox entries read per segment and run.
    pub max_pending: usize,
}

impl Default for LineSyncConfig {
    fn default() -> Self {
        LineSyncConfig {
            rotation: RotationPolicy::default(),
            file_threshold: 30_000,
            requests_per_minute: 60,
            burst: 5,
            retry: RetryPolicy::default(),
            max_pending: 1_000_000,
        }
    }
}

/// How Pinpoint imported segments are kept in sync.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PinpointSyncConfig {
    /// The Pinpoint project (application) ID.
    pub application_id: Option<String>,
    /// The bucket import files go to.
    pub bucket: Option<String>,
    /// Key prefix of import files: `PREFIX/SEGMENT/vN.csv`.
    pub prefix: String,
    /// The role Pinpoint assumes to read the bucket (trusts pinpoint.amazonaws.com).
    pub role_arn: Option<String>,
    /// Whether Pinpoint also registers (creates/updates) the endpoints in the project.
    pub register_endpoints: bool,
    /// At most one import per segment per this many seconds.
    pub min_interval_secs: u64,
    /// User attributes written as `User.UserAttributes.<name>` columns.
    pub attribute_columns: Vec<String>,
    /// Path-style S3 addressing (emulators such as moto need it).
    pub s3_force_path_style: bool,
    /// Longest time one run polls a job; the next run resumes it.
    pub max_poll_secs: u64,
    /// First wait between polls (doubled up to `poll_cap_secs`).
    pub poll_first_wait_secs: f64,
    /// Longest wait between polls.
    pub poll_cap_secs: f64,
    /// Outbox entries read per segment and run.
    pub max_pending: usize,
}

impl Default for PinpointSyncConfig {
    fn default() -> Self {
        PinpointSyncConfig {
            application_id: None,
            bucket: None,
            prefix: "audience-stream/imports".into(),
            role_arn: None,
            register_endpoints: true,
            min_interval_secs: 3_600,
            attribute_columns: Vec::new(),
            s3_force_path_style: false,
            max_poll_secs: 600,
            poll_first_wait_secs: 2.0,
            poll_cap_secs: 60.0,
            max_pending: 1_000_000,
        }
    }
}

impl PinpointSyncConfig {
    /// True when application, bucket and role are all set (needed to send; not to plan).
    pub fn is_complete(&self) -> bool {
        self.application_id.is_some() && self.bucket.is_some() && self.role_arn.is_some()
    }

    /// The poll policy (one run polls at most `max_poll_secs`).
    pub fn poll_policy(&self) -> audience_pinpoint::PollPolicy {
        audience_pinpoint::PollPolicy {
            first_wait: Duration::from_secs_f64(self.poll_first_wait_secs),
            cap: Duration::from_secs_f64(self.poll_cap_secs),
            max_total: Duration::from_secs(self.max_poll_secs),
        }
    }

    /// What is missing to send, as flag names, for error messages.
    pub fn missing(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.application_id.is_none() {
            out.push("--pinpoint-application-id (pinpoint.application_id)");
        }
        if self.bucket.is_none() {
            out.push("--s3-bucket (pinpoint.bucket)");
        }
        if self.role_arn.is_none() {
            out.push("--import-role-arn (pinpoint.role_arn)");
        }
        out
    }
}

impl SyncConfig {
    /// Reads a YAML (or JSON) file, or the defaults when `path` is `None`, and validates.
    pub fn load(path: Option<&Path>) -> Result<SyncConfig, SyncError> {
        let config = match path {
            None => SyncConfig::default(),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| {
                    SyncError::Config(format!("cannot read sync config {}: {e}", p.display()))
                })?;
                serde_yaml_ng::from_str(&text)
                    .map_err(|e| SyncError::Config(format!("sync config {}: {e}", p.display())))?
            }
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks every value is usable; errors name the field.
    pub fn validate(&self) -> Result<(), SyncError> {
        let bad = |field: &str, why: String| Err(SyncError::Config(format!("{field}: {why}")));
        let l = &self.line;
        let r = &l.rotation;
        if !(r.min_exit_ratio > 0.0 && r.min_exit_ratio <= 1.0) {
            return bad(
                "line.rotation.min_exit_ratio",
                format!("{} is not in (0, 1]", r.min_exit_ratio),
            );
        }
        for (field, v) in [
            ("line.rotation.max_exit_age_ms", r.max_exit_age_ms),
            ("line.rotation.min_interval_ms", r.min_interval_ms),
            ("line.rotation.expiry_margin_ms", r.expiry_margin_ms),
            ("line.rotation.delete_grace_ms", r.delete_grace_ms),
        ] {
            if v < 0 {
                return bad(field, format!("{v} is negative"));
            }
        }
        if r.expiry_margin_ms >= 180 * audience_core::time::DAY_MS {
            return bad(
                "line.rotation.expiry_margin_ms",
                "must be shorter than LINE's 180-day retention".into(),
            );
        }
        if l.file_threshold < MAX_IDS_PER_JSON || l.file_threshold > MAX_IDS_PER_FILE {
            return bad(
                "line.file_threshold",
                format!(
                    "{} is outside {MAX_IDS_PER_JSON}..={MAX_IDS_PER_FILE}",
                    l.file_threshold
                ),
            );
        }
        if l.requests_per_minute == 0 || l.requests_per_minute > 60 {
            return bad(
                "line.requests_per_minute",
                format!(
                    "{} is outside 1..=60 (LINE's limit is 60 per endpoint)",
                    l.requests_per_minute
                ),
            );
        }
        if l.burst == 0 || l.burst > l.requests_per_minute {
            return bad(
                "line.burst",
                format!("{} is outside 1..=requests_per_minute", l.burst),
            );
        }
        let m = &self.line_message;
        if m.multicasts_per_second == 0 || m.multicasts_per_second >= 200 {
            return bad(
                "line_message.multicasts_per_second",
                format!(
                    "{} is outside 1..=199 (LINE's limit is 200 per second)",
                    m.multicasts_per_second
                ),
            );
        }
        if m.pushes_per_second == 0 || m.pushes_per_second >= 2_000 {
            return bad(
                "line_message.pushes_per_second",
                format!(
                    "{} is outside 1..=1999 (LINE's limit is 2,000 per second)",
                    m.pushes_per_second
                ),
            );
        }
        if m.max_pending == 0 || m.max_recipients_per_run == 0 {
            return bad(
                "line_message.max_pending / max_recipients_per_run",
                "must be at least 1".into(),
            );
        }
        if l.max_pending == 0 {
            return bad("line.max_pending", "must be at least 1".into());
        }
        let p = &self.pinpoint;
        if let Some(arn) = &p.role_arn {
            if !arn.starts_with("arn:") || !arn.contains(":role/") {
                return bad(
                    "pinpoint.role_arn",
                    format!("{arn:?} is not an IAM role ARN"),
                );
            }
        }
        if p.bucket
            .as_deref()
            .is_some_and(|b| b.is_empty() || b.contains('/'))
        {
            return bad(
                "pinpoint.bucket",
                "must be a bucket name (no s3://, no /)".into(),
            );
        }
        if p.application_id.as_deref().is_some_and(str::is_empty) {
            return bad("pinpoint.application_id", "is empty".into());
        }
        let waits_ok = p.poll_first_wait_secs.is_finite()
            && p.poll_first_wait_secs >= 0.0
            && p.poll_cap_secs.is_finite()
            && p.poll_cap_secs >= p.poll_first_wait_secs;
        if !waits_ok {
            return bad(
                "pinpoint.poll_first_wait_secs / poll_cap_secs",
                "need 0 ≤ first wait ≤ cap".into(),
            );
        }
        if p.max_pending == 0 {
            return bad("pinpoint.max_pending", "must be at least 1".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_unknown_keys_are_rejected() {
        SyncConfig::default().validate().unwrap();
        let parsed: SyncConfig = serde_yaml_ng::from_str(
            "line:\n  file_threshold: 50000\n  rotation:\n    min_exit_ratio: 0.2\n",
        )
        .unwrap();
        assert_eq!(parsed.line.file_threshold, 50_000);
        assert_eq!(parsed.line.rotation.min_exit_ratio, 0.2);
        assert_eq!(parsed.line.requests_per_minute, 60);
        assert!(serde_yaml_ng::from_str::<SyncConfig>("line:\n  file_treshold: 5\n").is_err());
    }

    #[test]
    fn invalid_values_name_the_field() {
        let mut c = SyncConfig::default();
        c.line.requests_per_minute = 100;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("line.requests_per_minute"));
        let mut c = SyncConfig::default();
        c.line.rotation.min_exit_ratio = 0.0;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("min_exit_ratio"));
        let mut c = SyncConfig::default();
        c.pinpoint.role_arn = Some("my-role".into());
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("pinpoint.role_arn"));
    }
}
