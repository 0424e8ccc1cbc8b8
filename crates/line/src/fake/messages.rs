//! The fake LINE's message endpoints: push and multicast with LINE's retry-key semantics
//! (a key once accepted answers 409 and delivers nothing again), the monthly quota (a send
//! beyond it answers 429 "You have reached your monthly limit."), and the quota endpoints.
//! Delivered messages are kept, per recipient, for tests to count.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::messages::{
    is_uuid, MAX_MESSAGES, MAX_MULTICAST, MULTICAST_PATH, PUSH_PATH, QUOTA_CONSUMPTION_PATH,
    QUOTA_PATH,
};

use super::routes::{json_body, lock, run, Call, Shared};
use super::state::{is_user_id, Reply, State};
use super::{FakeLine, FakeOp};

/// One message request the fake delivered, per recipient.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveredMessage {
    /// The recipient's LINE user ID.
    pub to: String,
    /// The message objects.
    pub messages: Vec<Value>,
    /// The request's retry key.
    pub retry_key: Option<String>,
    /// `push` or `multicast`.
    pub via: &'static str,
    /// `notificationDisabled`.
    pub notification_disabled: bool,
    /// `customAggregationUnits`.
    pub aggregation_units: Vec<String>,
}

/// Message state: accepted retry keys, deliveries, the quota.
#[derive(Debug, Default)]
pub(crate) struct MessageState {
    accepted_keys: HashMap<String, usize>,
    delivered: Vec<DeliveredMessage>,
    /// The monthly limit (`None`: unlimited).
    limit: Option<i64>,
    /// Messages counted this month.
    usage: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SendReq {
    to: Value,
    messages: Option<Vec<Value>>,
    #[serde(default)]
    notification_disabled: bool,
    #[serde(default)]
    custom_aggregation_units: Option<Vec<String>>,
}

pub(crate) fn router() -> Router<Shared> {
    Router::new()
        .route(PUSH_PATH, post(push))
        .route(MULTICAST_PATH, post(multicast))
        .route(QUOTA_PATH, get(quota))
        .route(QUOTA_CONSUMPTION_PATH, get(consumption))
}

async fn push(AxState(shared): AxState<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    send(shared, headers, body, FakeOp::Push).await
}

async fn multicast(AxState(shared): AxState<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    send(shared, headers, body, FakeOp::Multicast).await
}

async fn send(shared: Shared, headers: HeaderMap, body: Bytes, op: FakeOp) -> Response {
    let parsed = json_body::<SendReq>(&headers, &body);
    let key = headers
        .get("x-line-retry-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let to: Result<Vec<String>, Reply> =
        parsed
            .as_ref()
            .map_err(clone_reply)
            .and_then(|r| match (op, &r.to) {
                (FakeOp::Push, Value::String(id)) => Ok(vec![id.clone()]),
                (FakeOp::Multicast, Value::Array(ids)) => ids
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_owned)
                            .ok_or_else(|| Reply::bad_request("must be a string", Some("to")))
                    })
                    .collect(),
                _ => Err(Reply::bad_request("invalid type", Some("to"))),
            });
    let (path, via) = match op {
        FakeOp::Push => (PUSH_PATH, "push"),
        _ => (MULTICAST_PATH, "multicast"),
    };
    let call = Call {
        op,
        method: "POST",
        path: path.into(),
        headers: &headers,
        needs_auth: true,
        ids: to.as_ref().ok().map(Vec::len),
        audience_group_id: None,
        form_fields: None,
    };
    run(&shared, call, move |st, _now| {
        let result = (|| {
            let req = parsed?;
            let to = to?;
            if let Some(k) = &key {
                if !is_uuid(k) {
                    return Err(Reply::error(
                        400,
                        "The value for the 'X-Line-Retry-Key' header is invalid",
                        &[],
                    ));
                }
                if st.messages.accepted_keys.contains_key(k) {
                    return Err(Reply::error(409, "The retry key is already accepted", &[]));
                }
            }
            let messages = check_messages(req.messages)?;
            check_recipients(st, op, &to)?;
            let units = req.custom_aggregation_units.unwrap_or_default();
            if units.len() > 1
                || units.iter().any(|u| {
                    u.is_empty()
                        || u.len() > 30
                        || !u.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                })
            {
                return Err(Reply::bad_request(
                    "invalid aggregation unit",
                    Some("customAggregationUnits"),
                ));
            }
            let m = &mut st.messages;
            let count = i64::try_from(to.len()).unwrap_or(i64::MAX);
            if m.limit
                .is_some_and(|limit| m.usage.saturating_add(count) > limit)
            {
                return Err(Reply::error(
                    429,
                    "You have reached your monthly limit.",
                    &[],
                ));
            }
            m.usage = m.usage.saturating_add(count);
            if let Some(k) = &key {
                m.accepted_keys.insert(k.clone(), m.delivered.len());
            }
            for id in to {
                m.delivered.push(DeliveredMessage {
                    to: id,
                    messages: messages.clone(),
                    retry_key: key.clone(),
                    via,
                    notification_disabled: req.notification_disabled,
                    aggregation_units: units.clone(),
                });
            }
            Ok(())
        })();
        match result {
            Ok(()) if op == FakeOp::Push => Reply::ok(200, json!({ "sentMessages": [] })),
            Ok(()) => Reply::ok(200, json!({})),
            Err(reply) => reply,
        }
    })
    .await
}

fn clone_reply(r: &Reply) -> Reply {
    Reply {
        status: r.status,
        body: r.body.clone(),
        retry_after: r.retry_after,
    }
}

fn check_messages(messages: Option<Vec<Value>>) -> Result<Vec<Value>, Reply> {
    let messages =
        messages.ok_or_else(|| Reply::bad_request("must be specified", Some("messages")))?;
    if messages.is_empty() || messages.len() > MAX_MESSAGES {
        return Err(Reply::bad_request(
            &format!("size must be between 1 and {MAX_MESSAGES}"),
            Some("messages"),
        ));
    }
    for (i, m) in messages.iter().enumerate() {
        let ty = m.get("type").and_then(Value::as_str).unwrap_or_default();
        let at = format!("messages[{i}]");
        match ty {
            "text" => {
                let chars = m
                    .get("text")
                    .and_then(Value::as_str)
                    .map(|t| t.chars().count());
                if !chars.is_some_and(|c| (1..=5_000).contains(&c)) {
                    return Err(Reply::bad_request(
                        "Length must be between 1 and 5000",
                        Some(format!("{at}.text").as_str()),
                    ));
                }
            }
            "flex" => {
                let alt = m
                    .get("altText")
                    .and_then(Value::as_str)
                    .map(|t| t.chars().count());
                if !alt.is_some_and(|c| (1..=1_500).contains(&c))
                    || !m.get("contents").is_some_and(Value::is_object)
                {
                    return Err(Reply::bad_request("invalid flex message", Some(&at)));
                }
            }
            "textV2" | "sticker" | "image" | "video" | "audio" | "location" | "imagemap"
            | "template" | "coupon" => {}
            _ => {
                return Err(Reply::bad_request(
                    "invalid message type",
                    Some(format!("{at}.type").as_str()),
                ))
            }
        }
    }
    Ok(messages)
}

fn check_recipients(st: &State, op: FakeOp, to: &[String]) -> Result<(), Reply> {
    let max = if op == FakeOp::Push { 1 } else { MAX_MULTICAST };
    if to.is_empty() || to.len() > max {
        return Err(Reply::bad_request(
            &format!("size must be between 1 and {max}"),
            Some("to"),
        ));
    }
    if st.config.strict_user_ids {
        if let Some(bad) = to.iter().find(|id| !is_user_id(id)) {
            return Err(Reply::bad_request(
                &format!("invalid user ID {bad}"),
                Some("to"),
            ));
        }
    }
    Ok(())
}

async fn quota(AxState(shared): AxState<Shared>, headers: HeaderMap) -> Response {
    let call = Call {
        op: FakeOp::Quota,
        method: "GET",
        path: QUOTA_PATH.into(),
        headers: &headers,
        needs_auth: true,
        ids: None,
        audience_group_id: None,
        form_fields: None,
    };
    run(&shared, call, |st, _| match st.messages.limit {
        Some(limit) => Reply::ok(200, json!({ "type": "limited", "value": limit })),
        None => Reply::ok(200, json!({ "type": "none" })),
    })
    .await
}

async fn consumption(AxState(shared): AxState<Shared>, headers: HeaderMap) -> Response {
    let call = Call {
        op: FakeOp::QuotaConsumption,
        method: "GET",
        path: QUOTA_CONSUMPTION_PATH.into(),
        headers: &headers,
        needs_auth: true,
        ids: None,
        audience_group_id: None,
        form_fields: None,
    };
    run(&shared, call, |st, _| {
        Reply::ok(200, json!({ "totalUsage": st.messages.usage }))
    })
    .await
}

impl FakeLine {
    /// Every message delivered, one row per recipient, in order.
    pub fn delivered(&self) -> Vec<DeliveredMessage> {
        lock(&self.state).messages.delivered.clone()
    }

    /// How many message requests reached `line_user_id`.
    pub fn delivered_to(&self, line_user_id: &str) -> usize {
        lock(&self.state)
            .messages
            .delivered
            .iter()
            .filter(|d| d.to == line_user_id)
            .count()
    }

    /// Sets the monthly limit (`None`: unlimited, the default).
    pub fn set_message_limit(&self, limit: Option<i64>) {
        lock(&self.state).messages.limit = limit;
    }

    /// Sets this month's usage.
    pub fn set_message_usage(&self, usage: i64) {
        lock(&self.state).messages.usage = usage;
    }

    /// This month's usage.
    pub fn message_usage(&self) -> i64 {
        lock(&self.state).messages.usage
    }
}
