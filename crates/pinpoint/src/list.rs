//! Finding import jobs again: GetImportJobs (`GET /v1/apps/{application-id}/jobs/import`,
//! paged with `page-size` and `token`) lists an application's import jobs, and
//! [`PinpointImporter::find_import_job`] picks the one of a given file. CreateImportJob has no
//! idempotency token, so this is how a job whose ID was never recorded (a lost answer, a
//! process that stopped before saving it) is found instead of being started twice.

use crate::error::{Error, Result};
use crate::import_job::{api_error, job_of};
use crate::job::ImportJob;
use crate::PinpointImporter;

const LIST: &str = "GetImportJobs";

/// Jobs asked for per GetImportJobs page.
pub const PAGE_SIZE: u32 = 100;
/// Most pages one lookup reads before giving up with [`Error::LookupIncomplete`].
pub const MAX_PAGES: usize = 50;

/// One page of an application's import jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportJobsPage {
    /// The jobs of this page, in Pinpoint's order.
    pub jobs: Vec<ImportJob>,
    /// The token of the next page, if there is one.
    pub next_token: Option<String>,
}

impl PinpointImporter {
    /// GetImportJobs: one page of the application's import jobs (`token` from the previous
    /// page's `next_token`), retried like the other calls.
    pub async fn list_import_jobs(
        &self,
        application_id: &str,
        token: Option<&str>,
    ) -> Result<ImportJobsPage> {
        let response = self
            .with_retry(LIST, application_id, None, || async {
                self.client
                    .get_import_jobs()
                    .application_id(application_id)
                    .page_size(PAGE_SIZE.to_string())
                    .set_token(token.map(str::to_owned))
                    .send()
                    .await
                    .map_err(|e| api_error(LIST, application_id, None, e))
            })
            .await?;
        let page = response
            .import_jobs_response
            .ok_or_else(|| Error::InvalidResponse {
                operation: LIST,
                application_id: application_id.to_owned(),
                missing: "an ImportJobsResponse",
            })?;
        let jobs = page
            .item
            .unwrap_or_default()
            .into_iter()
            .map(|r| job_of(LIST, application_id, Some(r)))
            .collect::<Result<Vec<_>>>()?;
        Ok(ImportJobsPage {
            jobs,
            next_token: page.next_token.filter(|t| !t.is_empty()),
        })
    }

    /// The newest import job of `application_id` whose file (`Definition.S3Url`) is `s3_url`
    /// and that was created at or after `not_before` (epoch ms; a job whose `CreationDate`
    /// cannot be read is not excluded by it). Reads up to [`MAX_PAGES`] pages; when more
    /// remain and none matched, [`Error::LookupIncomplete`] (never "none": that would start a
    /// second job).
    pub async fn find_import_job(
        &self,
        application_id: &str,
        s3_url: &str,
        not_before: Option<i64>,
    ) -> Result<Option<ImportJob>> {
        let mut token: Option<String> = None;
        let mut best: Option<ImportJob> = None;
        for pages in 1..=MAX_PAGES {
            let page = self
                .list_import_jobs(application_id, token.as_deref())
                .await?;
            for job in page.jobs {
                let recent = match (not_before, job.created_at_ms()) {
                    (Some(bound), Some(created)) => created >= bound,
                    _ => true,
                };
                if job.s3_url.as_deref() == Some(s3_url)
                    && recent
                    && best
                        .as_ref()
                        .is_none_or(|b| job.created_at_ms() > b.created_at_ms())
                {
                    best = Some(job);
                }
            }
            match page.next_token {
                Some(next) => token = Some(next),
                None => return Ok(best),
            }
            if pages == MAX_PAGES && best.is_none() {
                return Err(Error::LookupIncomplete {
                    application_id: application_id.to_owned(),
                    s3_url: s3_url.to_owned(),
                    pages,
                });
            }
        }
        Ok(best)
    }
}
