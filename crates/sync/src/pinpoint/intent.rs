//! Import jobs are started once per version. CreateImportJob has no idempotency token, so the
//! destination records its intent (version, file, time) in the segment's state before calling
//! it, and clears it when the job's ID is saved. A run that finds an intent without a job ID —
//! the previous run stopped in between, or never learned the answer — first looks the job up
//! by its file (GetImportJobs, matched on `S3Url`) and resumes it; only when none exists does
//! the segment import again (the same version, its file rebuilt from current membership).

use super::state::{save, StoredPinpointState};
use super::{PinpointClients, PinpointDestination, KIND};
use crate::error::SyncError;
use crate::report::SegmentReport;
use crate::runner::SyncContext;
use audience_pinpoint::import_job::CLOCK_SKEW_MS;
use audience_pinpoint::Error as PinpointError;
use audience_store::LedgerStatus;

impl PinpointDestination {
    /// Resolves the intent found in `st` at the start of a run (if any) against the application's
    /// import jobs and saves the outcome: the job found becomes the segment's running job, or
    /// (none found) the intent is cleared. A lookup that fails is returned as the inner error
    /// and leaves the intent in place for the next run.
    pub(super) async fn reconcile_intent(
        &self,
        ctx: &SyncContext<'_>,
        clients: &PinpointClients,
        app: &str,
        seg: &str,
        st: &mut StoredPinpointState,
        report: &mut SegmentReport,
    ) -> Result<Result<(), PinpointError>, SyncError> {
        let Some(intent) = st.starting.clone() else {
            return Ok(Ok(()));
        };
        let not_before = intent.at.saturating_sub(CLOCK_SKEW_MS);
        let found = match clients
            .importer
            .find_import_job(app, &intent.s3_url, Some(not_before))
            .await
        {
            Ok(found) => found,
            Err(e) => return Ok(Err(e)),
        };
        st.starting = None;
        let Some(job) = found else {
            save(ctx.store, seg, st).await?;
            report.notes.push(format!(
                "no import job of {} exists (the run that meant to start it stopped first); importing v{} again",
                intent.s3_url, intent.version
            ));
            return Ok(Ok(()));
        };
        st.import.running_job = Some(job.id.clone());
        st.import.version = intent.version;
        st.s3_url = Some(intent.s3_url.clone());
        st.rows = intent.rows;
        st.skipped_users = intent.skipped_users;
        st.started_at = Some(intent.at);
        st.reimport_owed = false;
        save(ctx.store, seg, st).await?;
        let msg = format!(
            "import job {} of {} was started by a run that stopped before recording it: found with GetImportJobs and resumed (no second job)",
            job.id, intent.s3_url
        );
        self.ledger(
            ctx,
            seg,
            "import",
            Some(&job.id),
            &[],
            LedgerStatus::Running,
            msg.clone(),
            serde_json::json!({
                "job_id": job.id, "s3_url": intent.s3_url, "version": intent.version,
                "status": job.status.as_str(), "found_by": "GetImportJobs",
            }),
        )
        .await?;
        tracing::info!(destination = KIND, segment = seg, job_id = %job.id, "resumed an import job found by its file");
        report.notes.push(msg);
        Ok(Ok(()))
    }
}
