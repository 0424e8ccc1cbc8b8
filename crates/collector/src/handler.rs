//! One collector request → one response (async only where it writes): method, write key,
//! body, then the accepted events through an [`EventSink`]. The Lambda function and
//! `audience-stream collect` translate their requests into a [`CollectorRequest`] and send the
//! [`CollectorResponse`] back as it is.
//!
//! Answers: 200 `{"success": true, "accepted": n, "rejected": [{"index", "reason"}]}`; 401
//! without a valid write key; 405 for a method other than POST; 413 over the body or event
//! count limit; 400 for a body that is not a batch, a call or JSON Lines; 503 when the stream
//! did not take every event (the client sends the request again; the consumer counts an event
//! re-sent with the same `messageId` once).

use std::sync::Arc;

use audience_kinesis::{EventSink, OutRecord};
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::auth::{Source, WriteKeys};
use crate::limits::Limits;
use crate::parse::{parse_body, BodyError};

/// The Segment call types a `/v1/<type>` path names.
const CALL_TYPES: [&str; 6] = ["track", "identify", "page", "screen", "alias", "group"];

/// A request, as the adapters see it.
#[derive(Debug, Clone, Default)]
pub struct CollectorRequest {
    /// `POST`, …
    pub method: String,
    /// The URL path (`/v1/batch`, `/v1/track`, `/`, …).
    pub path: String,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The body, decoded.
    pub body: Vec<u8>,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectorResponse {
    /// HTTP status.
    pub status: u16,
    /// Headers besides `Content-Type: application/json`.
    pub headers: Vec<(&'static str, String)>,
    /// JSON.
    pub body: String,
}

impl CollectorResponse {
    fn json(status: u16, body: serde_json::Value) -> CollectorResponse {
        CollectorResponse {
            status,
            headers: Vec::new(),
            body: body.to_string(),
        }
    }

    fn error(status: u16, message: &str) -> CollectorResponse {
        CollectorResponse::json(status, json!({"success": false, "error": message}))
    }

    fn with_header(mut self, name: &'static str, value: &str) -> CollectorResponse {
        self.headers.push((name, value.to_string()));
        self
    }
}

/// The collector: write keys, limits and where events go.
pub struct Collector {
    keys: WriteKeys,
    limits: Limits,
    sink: Arc<dyn EventSink>,
}

impl Collector {
    /// A collector writing through `sink`.
    pub fn new(keys: WriteKeys, limits: Limits, sink: Arc<dyn EventSink>) -> Collector {
        Collector { keys, limits, sink }
    }

    /// The limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The write-key check alone (an adapter may run it before reading a body): the source,
    /// or the 401 answer. Logs the refusal, never the key.
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<Source, CollectorResponse> {
        self.keys.authenticate(authorization).map_err(|e| {
            tracing::warn!(reason = %e, "collector request refused: not authenticated");
            CollectorResponse::error(401, &e.to_string())
                .with_header("www-authenticate", "Basic realm=\"audience-stream\"")
        })
    }

    /// The 413 answer for a body over the limit that an adapter stopped reading.
    pub fn body_too_large(&self, source: &Source) -> CollectorResponse {
        let e = BodyError::TooLarge {
            size: self.limits.max_body_bytes + 1,
            limit: self.limits.max_body_bytes,
        };
        tracing::warn!(%source, error = %e, "collector request refused");
        CollectorResponse::error(
            413,
            &format!(
                "the body is over the limit of {} bytes",
                self.limits.max_body_bytes
            ),
        )
    }

    /// Handles one request; `now` is the collector's clock (each event's `receivedAt` unless
    /// it has one).
    pub async fn handle(
        &self,
        request: &CollectorRequest,
        now: OffsetDateTime,
    ) -> CollectorResponse {
        if !request.method.eq_ignore_ascii_case("POST") {
            return CollectorResponse::error(405, "send events with POST")
                .with_header("allow", "POST");
        }
        let source = match self.authenticate(request.authorization.as_deref()) {
            Ok(source) => source,
            Err(response) => return response,
        };
        let received_at = now
            .format(&Rfc3339)
            .unwrap_or_else(|_| now.unix_timestamp().to_string());
        let parsed = match parse_body(
            &request.body,
            request.content_type.as_deref(),
            call_type(&request.path),
            &self.limits,
            &received_at,
        ) {
            Ok(parsed) => parsed,
            Err(e) => {
                tracing::warn!(%source, error = %e, "collector request refused");
                return CollectorResponse::error(e.status(), &e.to_string());
            }
        };
        for r in &parsed.rejected {
            tracing::warn!(%source, index = r.index, reason = %r.reason, "collector rejected an event");
        }
        let accepted = parsed.events.len();
        if accepted > 0 {
            let records = parsed
                .events
                .into_iter()
                .map(|e| OutRecord::new(e.partition_key, e.bytes))
                .collect();
            if let Err(e) = self.sink.put(records).await {
                tracing::error!(%source, events = accepted, error = %e, "the stream did not take the events; answering 503");
                return CollectorResponse::error(
                    503,
                    "the event stream did not accept every event; send the request again",
                )
                .with_header("retry-after", "1");
            }
        }
        tracing::info!(%source, format = parsed.format.name(), accepted, rejected = parsed.rejected.len(), "collector request accepted");
        CollectorResponse::json(
            200,
            json!({"success": true, "accepted": accepted, "rejected": parsed.rejected}),
        )
    }
}

/// The call type a path such as `/v1/track` names.
fn call_type(path: &str) -> Option<&'static str> {
    let rest = path.trim_end_matches('/').strip_prefix("/v1/")?;
    CALL_TYPES.iter().copied().find(|t| *t == rest)
}

/// Shorthand for [`Collector::handle`].
pub async fn handle(
    collector: &Collector,
    request: &CollectorRequest,
    now: OffsetDateTime,
) -> CollectorResponse {
    collector.handle(request, now).await
}

#[cfg(test)]
mod tests {
    use super::call_type;

    #[test]
    fn the_path_names_the_call_type() {
        assert_eq!(call_type("/v1/track"), Some("track"));
        assert_eq!(call_type("/v1/identify/"), Some("identify"));
        assert_eq!(call_type("/v1/batch"), None);
        assert_eq!(call_type("/"), None);
        assert_eq!(call_type("/v2/track"), None);
    }
}
