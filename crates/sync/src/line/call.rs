//! One LINE request as the sync runner sends it: paced by the per-endpoint rate limiter,
//! retried under the shared policy (429, 5xx, timeouts; never other 4xx), bounded by the
//! run's deadline, and recorded in the ledger with LINE's message, details and request ID.

use super::state::KIND;
use crate::error::SyncError;
use crate::runner::SyncContext;
use audience_line::LineError;
use audience_retry::{retry, RetryPolicy, Retryable};
use audience_store::{LedgerEntry, LedgerStatus};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::fmt;
use std::future::Future;
use std::num::NonZeroU32;
use std::time::Instant;

/// LINE endpoints, as rate-limit keys (LINE counts each method and path separately).
pub mod endpoint {
    /// `POST /v2/bot/audienceGroup/upload`.
    pub const CREATE: &str = "POST /v2/bot/audienceGroup/upload";
    /// `PUT /v2/bot/audienceGroup/upload`.
    pub const ADD: &str = "PUT /v2/bot/audienceGroup/upload";
    /// `POST /v2/bot/audienceGroup/upload/byFile`.
    pub const CREATE_BY_FILE: &str = "POST /v2/bot/audienceGroup/upload/byFile";
    /// `PUT /v2/bot/audienceGroup/upload/byFile`.
    pub const ADD_BY_FILE: &str = "PUT /v2/bot/audienceGroup/upload/byFile";
    /// `GET /v2/bot/audienceGroup/{id}`.
    pub const GET: &str = "GET /v2/bot/audienceGroup/{id}";
    /// `GET /v2/bot/audienceGroup/list`.
    pub const LIST: &str = "GET /v2/bot/audienceGroup/list";
    /// `DELETE /v2/bot/audienceGroup/{id}`.
    pub const DELETE: &str = "DELETE /v2/bot/audienceGroup/{id}";
}

/// Paces requests per endpoint.
pub type Limiter = DefaultKeyedRateLimiter<&'static str>;

/// A limiter allowing `per_minute` requests per endpoint, `burst` at once.
pub fn limiter(per_minute: u32, burst: u32) -> Limiter {
    let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(burst.min(per_minute.get())).unwrap_or(NonZeroU32::MIN);
    RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst))
}

/// A LINE error as the shared retry mechanism sees it.
pub struct LineFailure(pub LineError);

impl fmt::Display for LineFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Retryable for LineFailure {
    fn is_retryable(&self) -> bool {
        self.0.is_retryable()
    }
    fn retry_after(&self) -> Option<std::time::Duration> {
        self.0.retry_after()
    }
}

/// Why a request did not succeed.
#[derive(Debug)]
pub enum CallError {
    /// LINE refused it permanently (a 4xx other than 429, or a request LINE would refuse).
    Refused(LineError),
    /// Retryable failures outlasted the retry policy.
    Exhausted(LineError),
    /// The run's deadline passed while the request was retried or in flight.
    Deadline,
    /// The ledger could not be written.
    Store(SyncError),
}

impl CallError {
    /// LINE's error, if there is one.
    pub fn line_error(&self) -> Option<&LineError> {
        match self {
            CallError::Refused(e) | CallError::Exhausted(e) => Some(e),
            _ => None,
        }
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Refused(e) => write!(f, "refused: {e}"),
            CallError::Exhausted(e) => write!(f, "gave up after retries: {e}"),
            CallError::Deadline => f.write_str("the run's deadline passed before LINE answered"),
            CallError::Store(e) => write!(f, "{e}"),
        }
    }
}

/// What one request is, for pacing and the ledger.
#[derive(Debug, Clone)]
pub struct Call {
    /// Ledger action: `create`, `add`, `add_by_file`, `rotate`, `check`, `lookup`, `delete`.
    pub action: &'static str,
    /// Rate-limit key.
    pub endpoint: &'static str,
    /// The audience concerned, when known before sending.
    pub target: Option<i64>,
    /// User IDs sent.
    pub users: u64,
    /// Exits this request handles.
    pub exits: u64,
}

/// A successful request.
pub struct Done<T> {
    /// LINE's answer.
    pub value: T,
    /// Attempts made.
    pub attempts: u32,
    /// Time taken, ms.
    pub duration_ms: u64,
}

/// Sends requests for one segment.
pub struct Caller<'c> {
    /// Run context.
    pub ctx: &'c SyncContext<'c>,
    /// Segment ID.
    pub segment: &'c str,
    /// Rate limiter.
    pub limiter: &'c Limiter,
    /// Retry policy.
    pub retry: &'c RetryPolicy,
}

impl Caller<'_> {
    /// Sends `op` (each attempt paced), retrying retryable failures. Failures are recorded
    /// in the ledger here (`failed` or `parked`); a success is recorded by the caller with
    /// [`Caller::record_ok`] once it knows the result (e.g. the new audience ID).
    pub async fn send<T, F, Fut>(&self, call: &Call, mut op: F) -> Result<Done<T>, CallError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, LineError>>,
    {
        let started = Instant::now();
        let limiter = self.limiter;
        let attempted = tokio::time::timeout(
            self.ctx.remaining(),
            retry(self.retry, || {
                let fut = op();
                async move {
                    limiter.until_key_ready(&call.endpoint).await;
                    fut.await.map_err(LineFailure)
                }
            }),
        )
        .await;
        let duration_ms = started.elapsed().as_millis() as u64;
        let (err, attempts) = match attempted {
            Ok(a) => match a.result {
                Ok(value) => {
                    return Ok(Done {
                        value,
                        attempts: a.attempts,
                        duration_ms,
                    })
                }
                Err(LineFailure(e)) => (e, a.attempts),
            },
            Err(_) => {
                self.record(
                    call,
                    call.target,
                    LedgerStatus::Failed,
                    0,
                    duration_ms,
                    Some(CallError::Deadline.to_string()),
                    serde_json::json!({}),
                )
                .await
                .map_err(CallError::Store)?;
                return Err(CallError::Deadline);
            }
        };
        let retryable = err.is_retryable();
        let status = if retryable {
            LedgerStatus::Failed
        } else {
            LedgerStatus::Parked
        };
        let detail = serde_json::json!({
            "http_status": err.status(),
            "request_id": err.request_id(),
            "endpoint": call.endpoint,
        });
        tracing::warn!(segment = self.segment, action = call.action, target = ?call.target, attempts, error = %err, "LINE request failed");
        self.record(
            call,
            call.target,
            status,
            attempts,
            duration_ms,
            Some(err.to_string()),
            detail,
        )
        .await
        .map_err(CallError::Store)?;
        Err(if retryable {
            CallError::Exhausted(err)
        } else {
            CallError::Refused(err)
        })
    }

    /// Records a successful request.
    pub async fn record_ok<T>(
        &self,
        call: &Call,
        target: Option<i64>,
        done: &Done<T>,
        message: Option<String>,
    ) -> Result<(), SyncError> {
        self.record_ok_with(call, target, done, message, serde_json::Map::new())
            .await
    }

    /// [`Caller::record_ok`] with more detail fields besides the endpoint (e.g. the name of
    /// a created audience, which `audiences` shows after it is gone).
    pub async fn record_ok_with<T>(
        &self,
        call: &Call,
        target: Option<i64>,
        done: &Done<T>,
        message: Option<String>,
        mut detail: serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), SyncError> {
        tracing::info!(segment = self.segment, action = call.action, target = ?target, users = call.users, attempts = done.attempts, "LINE accepted");
        detail.insert("endpoint".into(), call.endpoint.into());
        self.record(
            call,
            target,
            LedgerStatus::Ok,
            done.attempts,
            done.duration_ms,
            message,
            serde_json::Value::Object(detail),
        )
        .await
    }

    /// Records a row that is not the direct result of one request (a skip, a switch).
    pub async fn note(
        &self,
        action: &str,
        target: Option<i64>,
        users: u64,
        exits: u64,
        status: LedgerStatus,
        message: String,
    ) -> Result<(), SyncError> {
        self.note_with(
            action,
            target,
            (users, exits),
            status,
            message,
            serde_json::Value::Null,
        )
        .await
    }

    /// [`Caller::note`] with a detail object.
    pub async fn note_with(
        &self,
        action: &str,
        target: Option<i64>,
        (users, exits): (u64, u64),
        status: LedgerStatus,
        message: String,
        detail: serde_json::Value,
    ) -> Result<(), SyncError> {
        self.ctx
            .store
            .append_ledger(&LedgerEntry {
                at: self.ctx.now,
                destination: KIND.to_string(),
                segment: self.segment.to_string(),
                action: action.to_string(),
                target: target.map(|t| t.to_string()),
                users,
                exits,
                status,
                attempts: 0,
                duration_ms: 0,
                message: Some(message),
                detail,
            })
            .await?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn record(
        &self,
        call: &Call,
        target: Option<i64>,
        status: LedgerStatus,
        attempts: u32,
        duration_ms: u64,
        message: Option<String>,
        detail: serde_json::Value,
    ) -> Result<(), SyncError> {
        self.ctx
            .store
            .append_ledger(&LedgerEntry {
                at: self.ctx.now,
                destination: KIND.to_string(),
                segment: self.segment.to_string(),
                action: call.action.to_string(),
                target: target.map(|t| t.to_string()),
                users: call.users,
                exits: call.exits,
                status,
                attempts,
                duration_ms,
                message,
                detail,
            })
            .await?;
        Ok(())
    }
}
