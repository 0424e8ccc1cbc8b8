//! [`KinesisSender`]: validates records, packs them into PutRecords calls, re-sends only the
//! entries a call marks failed (through [`audience_retry::retry_partial`]), applies the rate
//! limit, and reports what was sent, re-sent and never accepted.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;

use audience_retry::{retry_partial, Partial, RetryPolicy, Retryable};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::api::{retryable_entry_code, CallError, EntryOutcome, PutRecordsApi};
use crate::batch::{plan_batches, validate_record, InvalidRecord, OutRecord, MAX_CALL_RECORDS};

/// How the sender paces and retries.
#[derive(Debug, Clone, Default)]
pub struct SenderOptions {
    /// Most records per second (re-sent records count); `None` = no limit. Calls then carry
    /// at most this many records. Must be ≥ 1 when set.
    pub rate_per_sec: Option<u32>,
    /// Backoff for re-sending failed entries and repeating failed calls.
    pub retry: RetryPolicy,
}

/// A record the stream never accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedRecord {
    /// Its position in the input.
    pub index: usize,
    /// The last `ErrorCode` PutRecords gave for it.
    pub error_code: String,
    /// The last `ErrorMessage`.
    pub message: String,
}

/// What a send did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendReport {
    /// Records the stream accepted.
    pub sent: u64,
    /// Record re-sends (a record re-sent twice counts twice).
    pub retried: u64,
    /// Records never accepted (retries exhausted, or an error code not worth retrying), by index.
    pub failed: Vec<FailedRecord>,
    /// PutRecords calls made.
    pub calls: u64,
}

/// Why a send stopped.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// A record breaks a per-record limit; nothing was sent.
    #[error("nothing sent: {0}")]
    InvalidRecord(#[from] InvalidRecord),
    /// The options cannot work.
    #[error("invalid sender options: {0}")]
    InvalidOptions(String),
    /// A whole call failed permanently, or kept failing after every retry; the send stopped.
    /// `report` says what had been sent before.
    #[error("send stopped at record {first_unsent} after {} records were sent: {source}", report.sent)]
    Call {
        /// Index of the first record of the call that failed.
        first_unsent: usize,
        /// The call's error.
        source: CallError,
        /// What was done before the stop.
        report: SendReport,
    },
}

/// Puts records on one Kinesis stream. `A` is the PutRecords implementation (the SDK client
/// in production).
pub struct KinesisSender<A = aws_sdk_kinesis::Client> {
    api: A,
    stream: String,
    retry: RetryPolicy,
    rate_per_sec: Option<u32>,
    limiter: Option<DefaultDirectRateLimiter>,
}

impl KinesisSender<aws_sdk_kinesis::Client> {
    /// A sender for `stream_name` (a stream name, or its ARN).
    pub fn new(
        client: aws_sdk_kinesis::Client,
        stream_name: impl Into<String>,
        options: SenderOptions,
    ) -> Self {
        Self::with_api(client, stream_name, options)
    }
}

/// One record still to be accepted, with the last entry error it got.
struct Pending {
    index: usize,
    last: Option<(String, String)>,
}

/// Why one attempt left records over.
#[derive(Debug)]
enum AttemptError {
    /// Some entries failed with a retryable code (the last one seen is kept).
    Entries {
        count: usize,
        code: String,
        message: String,
    },
    /// The whole call failed.
    Call(CallError),
}

impl std::fmt::Display for AttemptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AttemptError::Entries {
                count,
                code,
                message,
            } => write!(f, "{count} entries failed ({code}: {message})"),
            AttemptError::Call(e) => e.fmt(f),
        }
    }
}

impl Retryable for AttemptError {
    fn is_retryable(&self) -> bool {
        match self {
            AttemptError::Entries { .. } => true,
            AttemptError::Call(e) => e.retryable,
        }
    }
}

type AttemptResult = Result<Partial<Pending, AttemptError>, (Vec<Pending>, AttemptError)>;

/// Counters shared by the attempts of one send.
#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    retried: AtomicU64,
    calls: AtomicU64,
    /// Entries refused with a code not worth retrying.
    permanent: Mutex<Vec<FailedRecord>>,
}

impl Counters {
    fn report(&self, mut failed: Vec<FailedRecord>) -> SendReport {
        if let Ok(mut p) = self.permanent.lock() {
            failed.append(&mut p);
        }
        failed.sort_by_key(|f| f.index);
        SendReport {
            sent: self.sent.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            failed,
            calls: self.calls.load(Ordering::Relaxed),
        }
    }
}

impl<A: PutRecordsApi> KinesisSender<A> {
    /// A sender over any PutRecords implementation (tests use a scripted fake).
    pub fn with_api(api: A, stream_name: impl Into<String>, options: SenderOptions) -> Self {
        let limiter = options
            .rate_per_sec
            .and_then(NonZeroU32::new)
            .map(|n| RateLimiter::direct(Quota::per_second(n)));
        KinesisSender {
            api,
            stream: stream_name.into(),
            retry: options.retry,
            rate_per_sec: options.rate_per_sec,
            limiter,
        }
    }

    /// The stream this sender writes to.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// The PutRecords implementation.
    pub fn api(&self) -> &A {
        &self.api
    }

    /// Sends `records` in order-preserving calls of ≤ 500 records and ≤ 5 MiB. Every record is
    /// checked first; one over a limit fails the send before any call. Entries a call marks
    /// failed with `ProvisionedThroughputExceededException` / `InternalFailure` are re-sent
    /// (only them) with backoff; those still failing when the policy runs out, or failing
    /// with another code, are listed in [`SendReport::failed`]. A call that fails as a whole
    /// (permanently, or after every retry) stops the send with [`SendError::Call`].
    ///
    /// `progress` is called after each call with the number of records it got accepted (a
    /// delta, e.g. for `ProgressBar::inc`).
    pub async fn send(
        &self,
        records: Vec<OutRecord>,
        progress: impl Fn(u64) + Send + Sync,
    ) -> Result<SendReport, SendError> {
        if self.rate_per_sec == Some(0) {
            return Err(SendError::InvalidOptions(
                "rate_per_sec must be at least 1 record per second".into(),
            ));
        }
        for (i, r) in records.iter().enumerate() {
            validate_record(i, r)?;
        }
        let max_records = self
            .rate_per_sec
            .map_or(MAX_CALL_RECORDS, |r| (r as usize).min(MAX_CALL_RECORDS));
        let counters = Counters::default();
        let mut failed = Vec::new();
        for range in plan_batches(&records, max_records) {
            let items = range
                .clone()
                .map(|index| Pending { index, last: None })
                .collect();
            let attempt_no = AtomicU32::new(0);
            let (left, err, attempts) = retry_partial(&self.retry, items, |items| {
                let resend = attempt_no.fetch_add(1, Ordering::Relaxed) > 0;
                self.attempt(&records, items, resend, &counters, &progress)
            })
            .await;
            match err {
                Some(AttemptError::Call(source)) if !left.is_empty() => {
                    let first_unsent = left.iter().map(|p| p.index).min().unwrap_or(range.start);
                    return Err(SendError::Call {
                        first_unsent,
                        source,
                        report: counters.report(failed),
                    });
                }
                Some(e) if !left.is_empty() => {
                    tracing::warn!(stream = %self.stream, records = left.len(), attempts, error = %e, "records still failing after every retry");
                    failed.extend(left.into_iter().map(|p| {
                        let (error_code, message) =
                            p.last.unwrap_or_else(|| ("Unknown".into(), e.to_string()));
                        FailedRecord {
                            index: p.index,
                            error_code,
                            message,
                        }
                    }));
                }
                _ => {}
            }
        }
        let report = counters.report(failed);
        tracing::info!(stream = %self.stream, sent = report.sent, retried = report.retried, failed = report.failed.len(), calls = report.calls, "PutRecords done");
        Ok(report)
    }

    /// One PutRecords call for `items`; says which of them to send again.
    async fn attempt(
        &self,
        records: &[OutRecord],
        items: Vec<Pending>,
        resend: bool,
        counters: &Counters,
        progress: &(impl Fn(u64) + Send + Sync),
    ) -> AttemptResult {
        if let Some(limiter) = &self.limiter {
            let n = NonZeroU32::new(u32::try_from(items.len()).unwrap_or(u32::MAX))
                .unwrap_or(NonZeroU32::MIN);
            if let Err(e) = limiter.until_n_ready(n).await {
                // Cannot happen: calls never carry more records than the per-second quota.
                let err = CallError {
                    stream: self.stream.clone(),
                    code: None,
                    message: format!(
                        "rate limiter refused a call of {} records: {e}",
                        items.len()
                    ),
                    retryable: false,
                };
                return Err((items, AttemptError::Call(err)));
            }
        }
        if resend {
            counters
                .retried
                .fetch_add(items.len() as u64, Ordering::Relaxed);
        }
        counters.calls.fetch_add(1, Ordering::Relaxed);
        let batch: Vec<&OutRecord> = items.iter().map(|p| &records[p.index]).collect();
        let outcomes = match self.api.put_records(&self.stream, &batch).await {
            Ok(o) => o,
            Err(e) if e.retryable => return Ok(Partial::Retry(items, AttemptError::Call(e))),
            Err(e) => return Err((items, AttemptError::Call(e))),
        };
        if outcomes.len() != items.len() {
            let err = CallError {
                stream: self.stream.clone(),
                code: None,
                message: format!(
                    "PutRecords answered {} entries for {} records (first record {})",
                    outcomes.len(),
                    items.len(),
                    items.first().map_or(0, |p| p.index)
                ),
                retryable: false,
            };
            return Err((items, AttemptError::Call(err)));
        }
        let mut accepted = 0u64;
        let mut again = Vec::new();
        let mut last = None;
        for (mut p, outcome) in items.into_iter().zip(outcomes) {
            match outcome {
                EntryOutcome::Accepted => accepted += 1,
                EntryOutcome::Failed { code, message } if retryable_entry_code(&code) => {
                    last = Some((code.clone(), message.clone()));
                    p.last = Some((code, message));
                    again.push(p);
                }
                EntryOutcome::Failed { code, message } => {
                    tracing::warn!(stream = %self.stream, index = p.index, code = %code, message = %message, "record refused, not retried");
                    if let Ok(mut perm) = counters.permanent.lock() {
                        perm.push(FailedRecord {
                            index: p.index,
                            error_code: code,
                            message,
                        });
                    }
                }
            }
        }
        if accepted > 0 {
            counters.sent.fetch_add(accepted, Ordering::Relaxed);
            progress(accepted);
        }
        match last {
            None => Ok(Partial::Done),
            Some((code, message)) => {
                let count = again.len();
                Ok(Partial::Retry(
                    again,
                    AttemptError::Entries {
                        count,
                        code,
                        message,
                    },
                ))
            }
        }
    }
}
