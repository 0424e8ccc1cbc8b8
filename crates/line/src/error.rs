//! `LineError`: every way a LINE call can fail, and whether retrying can help.
//!
//! The client never retries; the sync runner reads [`LineError::is_retryable`] and
//! [`LineError::retry_after`] to decide. Messages carry the operation and LINE's request ID,
//! never a token or channel secret.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One entry of LINE's error `details` array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ErrorDetail {
    /// Detail message, e.g. `AUDIENCE_GROUP_NOT_FOUND` or a validation message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The request property the detail is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
}

/// LINE's error body: `{"message": ..., "details": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ErrorBody {
    /// Error message.
    #[serde(default)]
    pub message: String,
    /// Error details (omitted by LINE when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<ErrorDetail>,
}

/// A failed LINE call.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// LINE answered with a non-2xx status.
    #[error("LINE {op} failed with HTTP {status}: {message}{} (request id {})", fmt_details(.details), .request_id.as_deref().unwrap_or("none"))]
    Api {
        /// Operation, e.g. `create_upload_audience`.
        op: &'static str,
        /// HTTP status.
        status: u16,
        /// LINE's `message` (or the raw body when it was not LINE's error JSON).
        message: String,
        /// LINE's `details`.
        details: Vec<ErrorDetail>,
        /// The `X-Line-Request-Id` response header.
        request_id: Option<String>,
        /// The `Retry-After` header, when LINE sent one.
        retry_after: Option<Duration>,
    },
    /// The request timed out; the call may or may not have taken effect.
    #[error("LINE {op} timed out: {source}")]
    Timeout {
        /// Operation.
        op: &'static str,
        /// Underlying error.
        #[source]
        source: reqwest::Error,
    },
    /// Connection-level failure (DNS, TLS, reset, ...).
    #[error("LINE {op} transport error: {source}")]
    Transport {
        /// Operation.
        op: &'static str,
        /// Underlying error.
        #[source]
        source: reqwest::Error,
    },
    /// Rejected by client-side validation before anything was sent.
    #[error("LINE {op} request invalid: {reason}")]
    Invalid {
        /// Operation.
        op: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Issuing a channel access token failed (LINE answered non-2xx or an unusable body).
    #[error("LINE token issuance ({kind}) failed{}: {message}", .status.map(|s| format!(" with HTTP {s}")).unwrap_or_default())]
    Token {
        /// Credential kind (`short-lived`, `stateless`).
        kind: &'static str,
        /// HTTP status, when LINE answered.
        status: Option<u16>,
        /// LINE's `error`/`error_description`, or what was wrong with the answer.
        message: String,
    },
    /// A 2xx answer whose body could not be understood. For a create, the audience may exist.
    #[error("LINE {op} answered HTTP {status} with an unreadable body: {reason} (request id {})", .request_id.as_deref().unwrap_or("none"))]
    Decode {
        /// Operation.
        op: &'static str,
        /// HTTP status.
        status: u16,
        /// Parse error.
        reason: String,
        /// The `X-Line-Request-Id` response header.
        request_id: Option<String>,
    },
}

fn fmt_details(details: &[ErrorDetail]) -> String {
    if details.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = details
        .iter()
        .map(|d| match (&d.property, &d.message) {
            (Some(p), Some(m)) => format!("{p}: {m}"),
            (None, Some(m)) => m.clone(),
            (Some(p), None) => p.clone(),
            (None, None) => String::from("?"),
        })
        .collect();
    format!(" [{}]", parts.join("; "))
}

fn retryable_status(status: u16) -> bool {
    status == 429 || status >= 500
}

impl LineError {
    /// True for 429, 5xx, timeouts and transport errors; false for other 4xx, client-side
    /// validation and unreadable 2xx bodies.
    pub fn is_retryable(&self) -> bool {
        match self {
            LineError::Api { status, .. } => {
                retryable_status(*status) && !self.is_monthly_limit_reached()
            }
            LineError::Timeout { .. } | LineError::Transport { .. } => true,
            LineError::Token { status, .. } => status.is_none_or(retryable_status),
            LineError::Invalid { .. } | LineError::Decode { .. } => false,
        }
    }

    /// The delay LINE asked for with `Retry-After`, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            LineError::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The HTTP status LINE answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            LineError::Api { status, .. } | LineError::Decode { status, .. } => Some(*status),
            LineError::Token { status, .. } => *status,
            _ => None,
        }
    }

    /// LINE's `X-Line-Request-Id`, if LINE answered.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            LineError::Api { request_id, .. } | LineError::Decode { request_id, .. } => {
                request_id.as_deref()
            }
            _ => None,
        }
    }

    /// True when LINE refused a message because the retry key was already accepted (409): the
    /// request it repeats was sent, and this one is not sent again.
    pub fn is_retry_key_accepted(&self) -> bool {
        self.status() == Some(409)
    }

    /// True when LINE refused a message because the channel reached its monthly limit (429
    /// with "You have reached your monthly limit."): trying again this month does not help.
    pub fn is_monthly_limit_reached(&self) -> bool {
        matches!(self, LineError::Api { status: 429, message, .. } if message.contains("monthly limit"))
    }

    /// True when LINE rejected the request with 429 (rate limit or too many running jobs).
    pub fn is_rate_limited(&self) -> bool {
        self.status() == Some(429)
    }

    /// True when the request may have taken effect even though no success was seen
    /// (timeouts, transport errors after sending, 5xx, unreadable 2xx). A create that fails
    /// this way must be reconciled (look the audience up by description) before creating again.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            LineError::Timeout { .. } | LineError::Transport { .. } | LineError::Decode { .. } => {
                true
            }
            LineError::Api { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// True when LINE's `details` contain the given code (e.g. `AUDIENCE_GROUP_NOT_FOUND`)
    /// or the message equals it.
    pub fn has_code(&self, code: &str) -> bool {
        match self {
            LineError::Api {
                message, details, ..
            } => message == code || details.iter().any(|d| d.message.as_deref() == Some(code)),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16) -> LineError {
        LineError::Api {
            op: "get_audience",
            status,
            message: "m".into(),
            details: vec![ErrorDetail {
                message: Some("AUDIENCE_GROUP_NOT_FOUND".into()),
                property: None,
            }],
            request_id: Some("req-1".into()),
            retry_after: None,
        }
    }

    #[test]
    fn classification() {
        assert!(api(429).is_retryable());
        assert!(api(500).is_retryable());
        assert!(api(503).is_retryable());
        assert!(!api(400).is_retryable());
        assert!(!api(401).is_retryable());
        assert!(!api(404).is_retryable());
        assert!(api(400).has_code("AUDIENCE_GROUP_NOT_FOUND"));
        let invalid = LineError::Invalid {
            op: "x",
            reason: "y".into(),
        };
        assert!(!invalid.is_retryable());
        let token = LineError::Token {
            kind: "short-lived",
            status: Some(400),
            message: "invalid_client".into(),
        };
        assert!(!token.is_retryable());
    }

    #[test]
    fn display_carries_status_details_and_request_id() {
        let s = api(400).to_string();
        assert!(s.contains("get_audience"), "{s}");
        assert!(s.contains("400"), "{s}");
        assert!(s.contains("AUDIENCE_GROUP_NOT_FOUND"), "{s}");
        assert!(s.contains("req-1"), "{s}");
    }
}
