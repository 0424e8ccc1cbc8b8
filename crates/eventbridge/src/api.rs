//! The PutEvents call as a small trait (so partial failures, which no emulator injects, can
//! be scripted in tests), its implementation for the SDK client, and which failures are worth
//! another attempt.

use crate::plan::{PlannedEvent, SOURCE};
use async_trait::async_trait;
use audience_retry::Retryable;
use aws_sdk_eventbridge::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

/// The answer for one entry of a PutEvents call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryOutcome {
    /// Put on the bus, with EventBridge's event ID.
    Accepted(String),
    /// Not put (`ErrorCode`, `ErrorMessage`).
    Failed {
        /// The entry's error code (`ThrottlingException`, `InternalFailure`, …).
        code: String,
        /// The entry's error message.
        message: String,
    },
}

impl EntryOutcome {
    /// Whether re-sending this entry may succeed.
    pub fn retryable(&self) -> bool {
        matches!(self, EntryOutcome::Failed { code, .. } if retryable_code(code))
    }
}

/// A whole PutEvents call that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("PutEvents: {message}")]
pub struct CallError {
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

/// One PutEvents call (≤ 10 entries, ≤ 256 KiB); one outcome per entry, in request order.
#[async_trait]
pub trait PutEventsApi: Send + Sync {
    /// Puts the events.
    async fn put_events(&self, events: &[PlannedEvent]) -> Result<Vec<EntryOutcome>, CallError>;
}

/// Error codes (of an entry or a whole call) worth trying again.
fn retryable_code(code: &str) -> bool {
    matches!(
        code,
        "ThrottlingException"
            | "InternalFailure"
            | "InternalException"
            | "ServiceUnavailable"
            | "ServiceUnavailableException"
            | "LimitExceededException"
    )
}

#[async_trait]
impl PutEventsApi for aws_sdk_eventbridge::Client {
    async fn put_events(&self, events: &[PlannedEvent]) -> Result<Vec<EntryOutcome>, CallError> {
        let entries: Vec<PutEventsRequestEntry> = events
            .iter()
            .map(|e| {
                PutEventsRequestEntry::builder()
                    .event_bus_name(&e.bus)
                    .source(SOURCE)
                    .detail_type(e.detail_type)
                    .detail(&e.detail)
                    .time(DateTime::from_millis(e.time_ms))
                    .build()
            })
            .collect();
        let out = self
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|err| {
                let (code, retryable) = match &err {
                    SdkError::ServiceError(se) => {
                        let code = se.err().code().map(str::to_owned);
                        let retryable = se.raw().status().as_u16() >= 500
                            || code.as_deref().is_some_and(retryable_code);
                        (code, retryable)
                    }
                    SdkError::TimeoutError(_)
                    | SdkError::DispatchFailure(_)
                    | SdkError::ResponseError(_) => (None, true),
                    _ => (None, false),
                };
                CallError {
                    code,
                    message: DisplayErrorContext(&err).to_string(),
                    retryable,
                }
            })?;
        let answers = out.entries();
        if answers.len() != events.len() {
            return Err(CallError {
                code: None,
                message: format!(
                    "PutEvents answered {} entries for {} sent",
                    answers.len(),
                    events.len()
                ),
                retryable: true,
            });
        }
        Ok(answers
            .iter()
            .map(|a| match a.error_code().filter(|c| !c.is_empty()) {
                Some(code) => EntryOutcome::Failed {
                    code: code.to_owned(),
                    message: a.error_message().unwrap_or_default().to_owned(),
                },
                None => EntryOutcome::Accepted(a.event_id().unwrap_or_default().to_owned()),
            })
            .collect())
    }
}
