//! Maps AWS SDK errors to [`StoreError`]: throttling, 5xx, timeouts and connection failures
//! (after the SDK's own retries) are `Unavailable`; everything else is `Other`, always naming
//! the operation and the table.

use audience_store::StoreError;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// Error codes that mean "try again later" rather than "this request is wrong".
const TRANSIENT_CODES: [&str; 6] = [
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionInProgressException",
];

/// True when an SDK error is transient (throttling, 5xx, timeout, connection failure).
pub fn is_transient<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(service) => {
            service
                .err()
                .code()
                .is_some_and(|c| TRANSIENT_CODES.contains(&c))
                || service.raw().status().is_server_error()
        }
        _ => false,
    }
}

/// Converts an SDK error, with what was being done, into a store error.
pub fn sdk_error<E>(what: &str, table: &str, err: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let detail = match &err {
        SdkError::ServiceError(service) => format!(
            "{} (HTTP {}): {}",
            service.err().code().unwrap_or("unknown error"),
            service.raw().status().as_u16(),
            service.err().message().unwrap_or("no message")
        ),
        other => DisplayErrorContext(other).to_string(),
    };
    let message = format!("DynamoDB {what} on table `{table}`: {detail}");
    if is_transient(&err) {
        StoreError::Unavailable(message)
    } else {
        StoreError::Other(message)
    }
}

/// A stored item that does not have the shape this crate writes.
pub fn corrupt(key: impl Into<String>, message: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        key: key.into(),
        message: message.into(),
    }
}
