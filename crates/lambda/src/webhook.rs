//! The LINE webhook (Lambda Function URL): verify `x-line-signature` on the raw body, put the
//! follow/unfollow events onto the Kinesis stream as Pinpoint-shaped events (partition key =
//! LINE user ID) and answer 200 at once; the consumer applies them like any other event.
//!
//! A follow/unfollow event is keyed `line:<LINE user ID>`, which resolves to the app user
//! through the link learned from app events carrying that LINE ID. Each record is signed with
//! the record key shared with the consumer (`audience_core::signature`): the stream is
//! writable by other producers (apps, backends), and only signed records may claim a LINE
//! identity. LINE's `webhookEventId` goes along, so a redelivered webhook counts once.

use audience_core::decode::LINE_KEY_PREFIX;
use audience_core::signature::{sign_line_event, RecordKey, SIGNATURE_FIELD};
/// The sink the webhook writes through (moved to `audience_kinesis::sink`, shared with the
/// HTTP event collector).
pub use audience_kinesis::EventSink;
use audience_kinesis::OutRecord;
use audience_line::webhook::{parse_follow_events, verify_signature, FollowKind};
use aws_lambda_events::event::lambda_function_urls::{
    LambdaFunctionUrlRequest, LambdaFunctionUrlResponse,
};
use base64::Engine;
use serde_json::json;

/// The signed, Pinpoint-shaped event for one follow/unfollow.
pub fn to_event(
    key: &RecordKey,
    user_id: &str,
    kind: FollowKind,
    timestamp: i64,
    webhook_event_id: &str,
) -> serde_json::Value {
    let event_type = match kind {
        FollowKind::Follow => "line.follow",
        FollowKind::Unfollow => "line.unfollow",
    };
    let client_id = format!("{LINE_KEY_PREFIX}{user_id}");
    let signature = sign_line_event(
        key,
        event_type,
        timestamp,
        &client_id,
        user_id,
        webhook_event_id,
    );
    let mut event = json!({
        "event_type": event_type,
        "event_timestamp": timestamp,
        "arrival_timestamp": timestamp,
        "event_version": "3.1",
        "client": {"client_id": client_id},
        "attributes": {"line_user_id": user_id, "webhook_event_id": webhook_event_id},
    });
    event[SIGNATURE_FIELD] = json!(signature);
    event
}

fn response(status: i64, body: &str) -> LambdaFunctionUrlResponse {
    let mut r = LambdaFunctionUrlResponse::default();
    r.status_code = status;
    r.body = Some(body.to_string());
    r
}

/// Handles one webhook call.
pub async fn handle(
    channel_secret: &[u8],
    record_key: &RecordKey,
    request: &LambdaFunctionUrlRequest,
    sink: &dyn EventSink,
) -> LambdaFunctionUrlResponse {
    let raw = request.body.as_deref().unwrap_or("");
    let body: Vec<u8> = if request.is_base64_encoded {
        match base64::engine::general_purpose::STANDARD.decode(raw) {
            Ok(b) => b,
            Err(_) => return response(400, "body is not Base64"),
        }
    } else {
        raw.as_bytes().to_vec()
    };
    // HeaderMap lookups are case-insensitive.
    let signature = request
        .headers
        .get("x-line-signature")
        .and_then(|v| v.to_str().ok());
    let Some(signature) = signature else {
        tracing::warn!("webhook call without x-line-signature");
        return response(401, "missing signature");
    };
    if !verify_signature(channel_secret, &body, signature) {
        tracing::warn!("webhook call with a bad signature");
        return response(401, "bad signature");
    }
    let events = match parse_follow_events(&body) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = %e, "signed webhook body is not a LINE webhook");
            return response(400, "not a LINE webhook body");
        }
    };
    let records: Vec<OutRecord> = events
        .iter()
        .map(|e| {
            OutRecord::new(
                e.user_id.clone(),
                to_event(
                    record_key,
                    &e.user_id,
                    e.kind,
                    e.timestamp,
                    e.webhook_event_id.as_deref().unwrap_or(""),
                )
                .to_string()
                .into_bytes(),
            )
        })
        .collect();
    let count = records.len();
    if !records.is_empty() {
        if let Err(e) = sink.put(records).await {
            tracing::error!(error = %e, "cannot hand webhook events to Kinesis; LINE will redeliver");
            return response(500, "try again");
        }
    }
    tracing::info!(events = count, "webhook accepted");
    response(200, "OK")
}
