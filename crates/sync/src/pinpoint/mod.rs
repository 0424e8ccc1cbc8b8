//! The Pinpoint destination: re-imports a segment's full current membership as a new
//! version of an imported segment (CSV in S3 → CreateImportJob → poll GetImportJob).
//!
//! An import starts only when membership changed since the last completed import, at most
//! once per `min_interval_secs`, and never while the segment's previous job runs. The intent
//! (version, file) is stored before CreateImportJob and the job ID the moment Pinpoint
//! answers, so a restart resumes polling — or finds the job by its file (`intent.rs`) —
//! instead of starting a second job. The outbox entries read before the file was built are
//! acknowledged once the job exists; if that job then fails, `reimport_owed` makes the next
//! run import again.
//!
//! AWS ends Pinpoint's engagement features (segments, campaigns, journeys) on 2026-10-30:
//! this is one [`Destination`] among others, so a successor service is one new crate.

mod csv;
mod intent;
pub mod settings;
pub mod state;

use crate::config::PinpointSyncConfig;
use crate::error::SyncError;
use crate::report::{SegmentOutcome, SegmentReport};
use crate::runner::SyncContext;
use crate::spec::SegmentSettings;
use crate::Destination;
use async_trait::async_trait;
use audience_core::plan::pinpoint::{decide_import, ImportDecision};
use audience_core::rules::Segment;
use audience_pinpoint::{
    Error as PinpointError, ImportJob, ImportJobSpec, PinpointImporter, S3Options, S3Uploader,
    SegmentTarget,
};
use audience_store::{LedgerEntry, LedgerStatus, OutboxEntry};
use state::{save, ImportIntent, StoredPinpointState, KIND};

/// The AWS clients a real run needs.
pub struct PinpointClients {
    /// Puts import files.
    pub s3: S3Uploader,
    /// Creates and polls import jobs.
    pub importer: PinpointImporter,
}

impl PinpointClients {
    /// Clients from the AWS SDK's standard configuration (region, credentials,
    /// `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL_PINPOINT`).
    pub async fn from_env(config: &PinpointSyncConfig) -> Self {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        PinpointClients {
            s3: S3Uploader::new(
                &sdk,
                S3Options {
                    force_path_style: config.s3_force_path_style,
                    ..S3Options::default()
                },
            ),
            importer: PinpointImporter::new(&sdk),
        }
    }
}

/// Syncs segments with a `pinpoint` destination.
pub struct PinpointDestination {
    config: PinpointSyncConfig,
    clients: Option<PinpointClients>,
}

impl PinpointDestination {
    /// A destination sending through `clients` (`None`: dry runs only).
    pub fn new(config: PinpointSyncConfig, clients: Option<PinpointClients>) -> Self {
        PinpointDestination { config, clients }
    }
}

#[async_trait]
impl Destination for PinpointDestination {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn sync_segment(
        &self,
        ctx: &SyncContext<'_>,
        segment: &Segment,
    ) -> Result<SegmentReport, SyncError> {
        let seg = segment.def.id.as_str();
        let mut report = SegmentReport::new(KIND, seg);
        let Some(rule) = settings::PinpointSegmentSettings::of(segment) else {
            return Ok(report);
        };
        let rule = rule.map_err(|m| SyncError::Config(format!("segment `{seg}`: {m}")))?;
        let mut st = state::load(ctx.store, seg).await?;
        let entries = ctx
            .store
            .pending(KIND, seg, self.config.max_pending)
            .await?;
        let min_interval_ms =
            i64::try_from(self.config.min_interval_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        let decide = |st: &StoredPinpointState| {
            let changes = entries.len() as u64 + u64::from(st.reimport_owed);
            decide_import(&st.import, changes, min_interval_ms, ctx.now)
        };
        let target = match (&rule.segment_id, &st.import.segment_id) {
            (Some(id), _) | (None, Some(id)) => SegmentTarget::Id(id.clone()),
            (None, None) => SegmentTarget::Name(
                rule.segment_name
                    .clone()
                    .unwrap_or_else(|| format!("audience-stream-{seg}")),
            ),
        };
        if ctx.dry_run {
            let version = st.import.version.saturating_add(1);
            if let Some(intent) = &st.starting {
                report.planned.push(format!(
                    "GetImportJobs: look for a job of {} (v{}) started by an interrupted run, and resume it",
                    intent.s3_url, intent.version
                ));
            }
            return self
                .dry_run(ctx, seg, &decide(&st), version, &target, report)
                .await;
        }
        let Some(clients) = &self.clients else {
            return Err(SyncError::Config(
                "Pinpoint clients are not configured".into(),
            ));
        };
        let (Some(app), Some(bucket), Some(role)) = (
            &self.config.application_id,
            &self.config.bucket,
            &self.config.role_arn,
        ) else {
            return Err(SyncError::Config(format!(
                "segment `{seg}` has a Pinpoint destination but the sync is not configured: set {}",
                self.config.missing().join(", ")
            )));
        };
        if let Err(e) = self
            .reconcile_intent(ctx, clients, app, seg, &mut st, &mut report)
            .await?
        {
            return self.failed(ctx, seg, "lookup", None, &[], e, report).await;
        }
        let decision = decide(&st);
        let version = st.import.version.saturating_add(1);
        let job_id = match decision {
            ImportDecision::Skip { reason } => {
                report.notes.push(reason);
                return Ok(report);
            }
            ImportDecision::Resume { job_id } => {
                report.notes.push(format!("resuming import job {job_id}"));
                job_id
            }
            ImportDecision::Start => {
                let file = csv::build(ctx.store, seg, &self.config.attribute_columns).await?;
                if file.rows == 0 {
                    let msg = format!(
                        "none of the segment's {} members has an endpoint address: nothing to import (an imported segment cannot be emptied by an import)",
                        file.members
                    );
                    self.ledger(
                        ctx,
                        seg,
                        "import",
                        None,
                        &entries,
                        LedgerStatus::Ok,
                        msg.clone(),
                        serde_json::Value::Null,
                    )
                    .await?;
                    report.acked += ctx.store.ack_pending(&entries).await?;
                    report.notes.push(msg);
                    return Ok(report);
                }
                let version_name = format!("v{version}");
                let s3_url = match clients
                    .s3
                    .put_import_file(bucket, &self.config.prefix, seg, &version_name, file.bytes)
                    .await
                {
                    Ok(url) => url,
                    Err(e) => {
                        return self
                            .failed(ctx, seg, "upload", None, &entries, e, report)
                            .await
                    }
                };
                let spec = ImportJobSpec {
                    application_id: app.clone(),
                    s3_url: s3_url.clone(),
                    role_arn: role.clone(),
                    segment: target.clone(),
                    register_endpoints: self.config.register_endpoints,
                    external_id: None,
                };
                // The intent first: a run that stops between CreateImportJob and saving the
                // job's ID leaves it behind, and the next run finds the job by its file.
                st.starting = Some(ImportIntent {
                    version,
                    s3_url: s3_url.clone(),
                    at: ctx.now,
                    rows: file.rows,
                    skipped_users: file.skipped_users,
                });
                save(ctx.store, seg, &st).await?;
                let job = match clients.importer.create_import_job(&spec).await {
                    Ok(job) => job,
                    Err(e) => {
                        if !e.is_retryable() {
                            // Refused: no job was created, nothing to look for.
                            st.starting = None;
                            save(ctx.store, seg, &st).await?;
                        }
                        return self
                            .failed(ctx, seg, "import", None, &entries, e, report)
                            .await;
                    }
                };
                // Remember the job before anything else: a restart resumes it.
                st.starting = None;
                st.import.running_job = Some(job.id.clone());
                st.import.version = version;
                st.s3_url = Some(s3_url.clone());
                st.rows = file.rows;
                st.skipped_users = file.skipped_users;
                st.started_at = Some(ctx.now);
                st.reimport_owed = false;
                save(ctx.store, seg, &st).await?;
                report.sent += 1;
                report
                    .planned
                    .push(format!("CreateImportJob {s3_url} → job {}", job.id));
                let detail = serde_json::json!({
                    "job_id": job.id, "s3_url": s3_url, "rows": file.rows, "members": file.members,
                    "skipped_users_without_address": file.skipped_users, "segment": target_json(&target),
                });
                self.ledger(
                    ctx,
                    seg,
                    "import",
                    Some(&job.id),
                    &entries,
                    LedgerStatus::Running,
                    format!("import job {} created", job.id),
                    detail,
                )
                .await?;
                report.acked += ctx.store.ack_pending(&entries).await?;
                job.id
            }
        };
        self.poll(ctx, clients, app, seg, &job_id, &mut st, &mut report)
            .await?;
        Ok(report)
    }
}

fn target_json(target: &SegmentTarget) -> serde_json::Value {
    match target {
        SegmentTarget::Name(n) => serde_json::json!({ "SegmentName": n }),
        SegmentTarget::Id(i) => serde_json::json!({ "SegmentId": i }),
    }
}

fn job_detail(job: &ImportJob, st: &StoredPinpointState) -> serde_json::Value {
    serde_json::json!({
        "job_id": job.id,
        "status": job.status.as_str(),
        "segment_id": job.segment_id,
        "total_processed": job.total_processed,
        "total_failures": job.total_failures,
        "failures": job.failures,
        "total_pieces": job.total_pieces,
        "failed_pieces": job.failed_pieces,
        "s3_url": st.s3_url,
        "rows": st.rows,
        "skipped_users_without_address": st.skipped_users,
    })
}

impl PinpointDestination {
    #[allow(clippy::too_many_arguments)]
    async fn poll(
        &self,
        ctx: &SyncContext<'_>,
        clients: &PinpointClients,
        app: &str,
        seg: &str,
        job_id: &str,
        st: &mut StoredPinpointState,
        report: &mut SegmentReport,
    ) -> Result<(), SyncError> {
        let mut policy = self.config.poll_policy();
        policy.max_total = policy.max_total.min(ctx.remaining());
        match clients.importer.poll_until_done(app, job_id, &policy).await {
            Ok(job) => {
                st.import.running_job = None;
                let detail = job_detail(&job, st);
                if job.status.is_success() {
                    st.import.last_completed_at = Some(ctx.now);
                    st.import.segment_id = job.segment_id.clone().or(st.import.segment_id.take());
                    save(ctx.store, seg, st).await?;
                    let msg = format!(
                        "import job {job_id} COMPLETED: {} processed, {} failed; segment {}",
                        job.total_processed,
                        job.total_failures,
                        st.import.segment_id.as_deref().unwrap_or("-")
                    );
                    self.ledger(
                        ctx,
                        seg,
                        "import",
                        Some(job_id),
                        &[],
                        LedgerStatus::Ok,
                        msg.clone(),
                        detail,
                    )
                    .await?;
                    report.notes.push(msg);
                } else {
                    st.reimport_owed = true;
                    save(ctx.store, seg, st).await?;
                    let msg = format!(
                        "import job {job_id} {}: {}",
                        job.status,
                        job.failures.join("; ")
                    );
                    self.ledger(
                        ctx,
                        seg,
                        "import",
                        Some(job_id),
                        &[],
                        LedgerStatus::Failed,
                        msg.clone(),
                        detail,
                    )
                    .await?;
                    report.failed += 1;
                    report.incomplete(format!("{msg}; the next run imports again"));
                }
            }
            Err(e @ PinpointError::PollTimeout { .. }) => {
                self.ledger(
                    ctx,
                    seg,
                    "import",
                    Some(job_id),
                    &[],
                    LedgerStatus::Running,
                    e.to_string(),
                    serde_json::Value::Null,
                )
                .await?;
                report.incomplete(format!("{e}; the next run resumes it"));
            }
            Err(e) => {
                self.ledger(
                    ctx,
                    seg,
                    "import",
                    Some(job_id),
                    &[],
                    LedgerStatus::Failed,
                    e.to_string(),
                    serde_json::Value::Null,
                )
                .await?;
                report.failed += 1;
                report.incomplete(format!(
                    "polling job {job_id} failed: {e}; the next run resumes it"
                ));
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn failed(
        &self,
        ctx: &SyncContext<'_>,
        seg: &str,
        action: &str,
        job: Option<&str>,
        entries: &[OutboxEntry],
        e: PinpointError,
        mut report: SegmentReport,
    ) -> Result<SegmentReport, SyncError> {
        let status = if e.is_retryable() {
            LedgerStatus::Failed
        } else {
            LedgerStatus::Parked
        };
        let detail = serde_json::json!({ "request_id": e.request_id() });
        self.ledger(
            ctx,
            seg,
            action,
            job,
            entries,
            status,
            e.to_string(),
            detail,
        )
        .await?;
        report.failed += 1;
        if status == LedgerStatus::Parked {
            report.outcome = SegmentOutcome::Parked;
            report
                .notes
                .push(format!("refused (entries stay pending): {e}"));
        } else {
            report.incomplete(format!("{e}; entries stay pending for the next run"));
        }
        Ok(report)
    }

    #[allow(clippy::too_many_arguments)]
    async fn ledger(
        &self,
        ctx: &SyncContext<'_>,
        seg: &str,
        action: &str,
        job: Option<&str>,
        entries: &[OutboxEntry],
        status: LedgerStatus,
        message: String,
        detail: serde_json::Value,
    ) -> Result<(), SyncError> {
        let exits = entries
            .iter()
            .filter(|e| e.op == audience_core::ChangeKind::Exited)
            .count() as u64;
        ctx.store
            .append_ledger(&LedgerEntry {
                at: ctx.now,
                destination: KIND.to_string(),
                segment: seg.to_string(),
                action: action.to_string(),
                target: job.map(str::to_string),
                users: entries.len() as u64 - exits,
                exits,
                status,
                attempts: 1,
                duration_ms: 0,
                message: Some(message),
                detail,
            })
            .await?;
        Ok(())
    }

    async fn dry_run(
        &self,
        ctx: &SyncContext<'_>,
        seg: &str,
        decision: &ImportDecision,
        version: u32,
        target: &SegmentTarget,
        mut report: SegmentReport,
    ) -> Result<SegmentReport, SyncError> {
        report.outcome = SegmentOutcome::Planned;
        match decision {
            ImportDecision::Skip { reason } => report.notes.push(reason.clone()),
            ImportDecision::Resume { job_id } => report
                .planned
                .push(format!("GetImportJob {job_id} (resume polling)")),
            ImportDecision::Start => {
                let file = csv::build(ctx.store, seg, &self.config.attribute_columns).await?;
                if file.rows == 0 {
                    report.notes.push(format!(
                        "none of the segment's {} members has an endpoint address: nothing to import (a real run acknowledges the changes)",
                        file.members
                    ));
                    return Ok(report);
                }
                let bucket = self.config.bucket.as_deref().unwrap_or("BUCKET");
                let key = audience_pinpoint::import_object_key(
                    &self.config.prefix,
                    seg,
                    &format!("v{version}"),
                )
                .map_err(|e| SyncError::Config(e.to_string()))?;
                let request = serde_json::json!({
                    "operation": "CreateImportJob",
                    "application_id": self.config.application_id.as_deref().unwrap_or("APPLICATION_ID"),
                    "ImportJobRequest": {
                        "Format": "CSV",
                        "S3Url": format!("s3://{bucket}/{key}"),
                        "RoleArn": self.config.role_arn.as_deref().unwrap_or("ROLE_ARN"),
                        "DefineSegment": true,
                        "RegisterEndpoints": self.config.register_endpoints,
                        "SegmentName": match target { SegmentTarget::Name(n) => Some(n), SegmentTarget::Id(_) => None },
                        "SegmentId": match target { SegmentTarget::Id(i) => Some(i), SegmentTarget::Name(_) => None },
                    },
                    "rows": file.rows,
                    "members": file.members,
                    "skipped_users_without_address": file.skipped_users,
                });
                report.planned.push(format!(
                    "PUT s3://{bucket}/{key} ({} rows; {} members without an address left out), then CreateImportJob",
                    file.rows, file.skipped_users
                ));
                if let Some(dir) = &ctx.out_dir {
                    let dir = dir.join("pinpoint").join(seg);
                    let csv_path = dir.join(format!("v{version}.csv"));
                    let req_path = dir.join(format!("v{version}.request.json"));
                    let write = || -> std::io::Result<()> {
                        std::fs::create_dir_all(&dir)?;
                        std::fs::write(&csv_path, &file.bytes)?;
                        std::fs::write(
                            &req_path,
                            serde_json::to_vec_pretty(&request).unwrap_or_default(),
                        )
                    };
                    write().map_err(|source| SyncError::Output {
                        path: dir.display().to_string(),
                        source,
                    })?;
                    report.notes.push(format!(
                        "import file and request written to {}",
                        dir.display()
                    ));
                }
            }
        }
        Ok(report)
    }
}
