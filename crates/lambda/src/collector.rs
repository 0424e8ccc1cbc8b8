//! The HTTP event collector behind a Lambda Function URL: the request translated for
//! [`audience_collector::Collector`] and its answer back, and the configuration read at cold
//! start — write keys from the Secrets Manager secret in
//! `AUDIENCE_STREAM_COLLECTOR_KEYS_SECRET_ARN` (or, for development, the JSON in
//! `AUDIENCE_STREAM_COLLECTOR_KEYS`), limits from `AUDIENCE_STREAM_COLLECTOR_MAX_BODY_BYTES`,
//! `..._MAX_EVENT_BYTES` and `..._MAX_EVENTS`. Keys are never logged; sources are.

use anyhow::{Context, Result};
use audience_collector::{Collector, CollectorRequest, CollectorResponse, Limits, WriteKeys};
use aws_lambda_events::event::lambda_function_urls::{
    LambdaFunctionUrlRequest, LambdaFunctionUrlResponse,
};
use aws_lambda_events::http::{HeaderName, HeaderValue};
use base64::Engine;

/// The write keys: the secret's, else the environment's.
pub async fn write_keys(config: &aws_config::SdkConfig) -> Result<WriteKeys> {
    let text = match std::env::var("AUDIENCE_STREAM_COLLECTOR_KEYS_SECRET_ARN") {
        Ok(arn) if !arn.is_empty() => {
            crate::secret::secret_string(config, &arn, "the collector's write keys secret").await?
        }
        _ => std::env::var("AUDIENCE_STREAM_COLLECTOR_KEYS").context(
            "no write keys: set AUDIENCE_STREAM_COLLECTOR_KEYS_SECRET_ARN (or AUDIENCE_STREAM_COLLECTOR_KEYS) \
             to JSON {\"sources\": {\"NAME\": \"KEY\", ...}}",
        )?,
    };
    let keys = WriteKeys::from_json(&text).context("reading the collector's write keys")?;
    if keys.is_empty() {
        tracing::error!("the write keys name no source: every request will be refused (401)");
    } else {
        let sources: Vec<&str> = keys.sources().collect();
        tracing::info!(sources = ?sources, "collector write keys loaded");
    }
    Ok(keys)
}

/// The limits: the defaults, each overridable by its environment variable.
pub fn limits_from_env() -> Result<Limits> {
    let mut limits = Limits::default();
    for (name, slot) in [
        (
            "AUDIENCE_STREAM_COLLECTOR_MAX_BODY_BYTES",
            &mut limits.max_body_bytes,
        ),
        (
            "AUDIENCE_STREAM_COLLECTOR_MAX_EVENT_BYTES",
            &mut limits.max_event_bytes,
        ),
        (
            "AUDIENCE_STREAM_COLLECTOR_MAX_EVENTS",
            &mut limits.max_events,
        ),
    ] {
        if let Ok(text) = std::env::var(name) {
            *slot = text
                .trim()
                .parse()
                .with_context(|| format!("{name}={text} is not a whole number"))?;
        }
    }
    Ok(limits)
}

/// The Function URL request as the collector sees it; `Err` is the answer to a body that is
/// flagged Base64 but is not.
pub fn to_request(
    request: &LambdaFunctionUrlRequest,
) -> Result<CollectorRequest, CollectorResponse> {
    let raw = request.body.as_deref().unwrap_or("");
    let body = if request.is_base64_encoded {
        base64::engine::general_purpose::STANDARD
            .decode(raw)
            .map_err(|_| CollectorResponse {
                status: 400,
                headers: Vec::new(),
                body: r#"{"success":false,"error":"the body is not Base64"}"#.into(),
            })?
    } else {
        raw.as_bytes().to_vec()
    };
    // HeaderMap lookups are case-insensitive.
    let header = |name: &str| {
        request
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    Ok(CollectorRequest {
        method: request
            .request_context
            .http
            .method
            .clone()
            .unwrap_or_default(),
        path: request
            .raw_path
            .clone()
            .or_else(|| request.request_context.http.path.clone())
            .unwrap_or_else(|| "/".into()),
        content_type: header("content-type"),
        authorization: header("authorization"),
        body,
    })
}

/// The collector's answer as a Function URL response (JSON).
pub fn to_response(response: CollectorResponse) -> LambdaFunctionUrlResponse {
    let mut r = LambdaFunctionUrlResponse::default();
    r.status_code = i64::from(response.status);
    r.headers.insert(
        HeaderName::from_static("content-type"),
        HeaderValue::from_static("application/json"),
    );
    for (name, value) in response.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            r.headers.insert(HeaderName::from_static(name), value);
        }
    }
    r.body = Some(response.body);
    r
}

/// Handles one Function URL invocation at the wall clock.
pub async fn handle(
    collector: &Collector,
    request: &LambdaFunctionUrlRequest,
) -> LambdaFunctionUrlResponse {
    match to_request(request) {
        Ok(request) => to_response(
            collector
                .handle(&request, time::OffsetDateTime::from(audience_clock::now()))
                .await,
        ),
        Err(response) => to_response(response),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: &str, base64_body: bool) -> LambdaFunctionUrlRequest {
        let mut r = LambdaFunctionUrlRequest::default();
        r.raw_path = Some("/v1/batch".into());
        r.request_context.http.method = Some("POST".into());
        r.headers.insert(
            HeaderName::from_static("authorization"),
            HeaderValue::from_static("Bearer k"),
        );
        r.headers.insert(
            HeaderName::from_static("content-type"),
            HeaderValue::from_static("application/x-ndjson"),
        );
        r.body = Some(body.into());
        r.is_base64_encoded = base64_body;
        r
    }

    #[test]
    fn function_url_requests_are_translated_with_their_body_decoded() {
        let plain = to_request(&request("{\"a\":1}\n", false)).unwrap();
        assert_eq!(
            (plain.method.as_str(), plain.path.as_str()),
            ("POST", "/v1/batch")
        );
        assert_eq!(plain.authorization.as_deref(), Some("Bearer k"));
        assert_eq!(plain.content_type.as_deref(), Some("application/x-ndjson"));
        assert_eq!(plain.body, b"{\"a\":1}\n");
        let encoded = base64::engine::general_purpose::STANDARD.encode("{\"a\":1}\n");
        assert_eq!(
            to_request(&request(&encoded, true)).unwrap().body,
            b"{\"a\":1}\n"
        );
        let bad = to_request(&request("%%%", true)).unwrap_err();
        assert_eq!(bad.status, 400);
    }

    #[test]
    fn answers_are_json_with_their_headers() {
        let r = to_response(CollectorResponse {
            status: 503,
            headers: vec![("retry-after", "1".into())],
            body: "{}".into(),
        });
        assert_eq!(r.status_code, 503);
        assert_eq!(r.headers["content-type"], "application/json");
        assert_eq!(r.headers["retry-after"], "1");
        assert_eq!(r.body.as_deref(), Some("{}"));
    }
}
