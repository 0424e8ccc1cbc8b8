//! The PutRecords call as a small trait (so the re-send logic can be tested with a scripted
//! fake; no emulator injects partial failures), its implementation for the SDK client, and
//! the classification of call errors into retryable or permanent.

use std::future::Future;

use audience_retry::Retryable;
use aws_sdk_kinesis::config::http::HttpResponse;
use aws_sdk_kinesis::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;

use crate::batch::OutRecord;

/// The answer for one entry of a PutRecords call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryOutcome {
    /// Written to the stream.
    Accepted,
    /// Not written (e.g. `ProvisionedThroughputExceededException`, `InternalFailure`).
    Failed {
        /// The entry's `ErrorCode`.
        code: String,
        /// The entry's `ErrorMessage`.
        message: String,
    },
}

/// A whole PutRecords call that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("PutRecords on stream {stream}: {message}")]
pub struct CallError {
    /// The stream named in the call.
    pub stream: String,
    /// The service's error code, when it sent one.
    pub code: Option<String>,
    /// What went wrong.
    pub message: String,
    /// Whether trying again may help (throttling, 5xx, timeouts, transport errors).
    pub retryable: bool,
}

impl Retryable for CallError {
    fn is_retryable(&self) -> bool {
        self.retryable
    }
}

/// One PutRecords call. Implemented for [`aws_sdk_kinesis::Client`]; tests implement it to
/// script failures.
pub trait PutRecordsApi: Send + Sync {
    /// Puts `batch` (≤ 500 records, ≤ 5 MiB) on `stream` (a name, or an ARN starting with
    /// `arn:`) and returns one outcome per record, in request order.
    fn put_records(
        &self,
        stream: &str,
        batch: &[&OutRecord],
    ) -> impl Future<Output = Result<Vec<EntryOutcome>, CallError>> + Send;
}

/// Entry error codes worth re-sending (the only two PutRecords documents).
pub(crate) fn retryable_entry_code(code: &str) -> bool {
    matches!(
        code,
        "ProvisionedThroughputExceededException" | "InternalFailure"
    )
}

/// Service error codes for which the call as a whole is worth repeating.
fn retryable_call_code(code: &str) -> bool {
    matches!(
        code,
        "ProvisionedThroughputExceededException"
            | "InternalFailure"
            | "InternalFailureException"
            | "KMSThrottlingException"
            | "ThrottlingException"
            | "LimitExceededException"
            | "ServiceUnavailable"
            | "ServiceUnavailableException"
    )
}

/// Turns an SDK error into a [`CallError`] with a retryable/permanent verdict.
pub(crate) fn classify<E>(stream: &str, err: SdkError<E, HttpResponse>) -> CallError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (code, retryable) = match &err {
        SdkError::ServiceError(se) => {
            let code = se.err().code().map(str::to_owned);
            let status = se.raw().status().as_u16();
            let retryable = status >= 500 || code.as_deref().is_some_and(retryable_call_code);
            (code, retryable)
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            (None, true)
        }
        _ => (None, false),
    };
    CallError {
        stream: stream.to_owned(),
        code,
        message: DisplayErrorContext(&err).to_string(),
        retryable,
    }
}

impl PutRecordsApi for aws_sdk_kinesis::Client {
    async fn put_records(
        &self,
        stream: &str,
        batch: &[&OutRecord],
    ) -> Result<Vec<EntryOutcome>, CallError> {
        let mut entries = Vec::with_capacity(batch.len());
        for r in batch {
            let entry = PutRecordsRequestEntry::builder()
                .partition_key(&r.partition_key)
                .data(Blob::new(r.data.clone()))
                .build()
                .map_err(|e| CallError {
                    stream: stream.to_owned(),
                    code: None,
                    message: format!(
                        "building the entry for partition key {:?}: {e}",
                        r.partition_key
                    ),
                    retryable: false,
                })?;
            entries.push(entry);
        }
        let req = self.put_records().set_records(Some(entries));
        let req = if stream.starts_with("arn:") {
            req.stream_arn(stream)
        } else {
            req.stream_name(stream)
        };
        let out = req.send().await.map_err(|e| classify(stream, e))?;
        Ok(out
            .records()
            .iter()
            .map(|e| match e.error_code() {
                Some(code) if !code.is_empty() => EntryOutcome::Failed {
                    code: code.to_owned(),
                    message: e.error_message().unwrap_or_default().to_owned(),
                },
                _ => EntryOutcome::Accepted,
            })
            .collect())
    }
}
