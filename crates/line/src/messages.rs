//! Sending messages (`POST /v2/bot/message/push`, `/multicast`) with `X-Line-Retry-Key`, and
//! reading the monthly quota (`GET /v2/bot/message/quota`, `/quota/consumption`).
//!
//! Message endpoints are the ones that take a retry key: once LINE accepted a request with a
//! key, a request with the same key is refused with 409 and not sent again
//! ([`LineError::is_retry_key_accepted`]); the caller reads that as "already sent". Limits
//! are checked before sending (1–5 messages, 1–500 recipients, a UUID key); the message
//! objects themselves are the planner's (audience_core::plan::message) to check.

use crate::client::{decode, endpoint, LineClient};
use crate::error::LineError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Path of a push.
pub const PUSH_PATH: &str = "/v2/bot/message/push";
/// Path of a multicast.
pub const MULTICAST_PATH: &str = "/v2/bot/message/multicast";
/// Path of the monthly quota.
pub const QUOTA_PATH: &str = "/v2/bot/message/quota";
/// Path of this month's consumption.
pub const QUOTA_CONSUMPTION_PATH: &str = "/v2/bot/message/quota/consumption";
/// The retry key header.
pub const RETRY_KEY_HEADER: &str = "X-Line-Retry-Key";
/// Most message objects a request.
pub const MAX_MESSAGES: usize = 5;
/// Most recipients of a multicast.
pub const MAX_MULTICAST: usize = 500;

/// What a push or multicast carries besides its recipients.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageRequest<'a> {
    /// 1–5 message objects.
    pub messages: &'a [Value],
    /// `notificationDisabled`.
    pub notification_disabled: bool,
    /// `customAggregationUnits` (one name).
    pub aggregation_unit: Option<&'a str>,
    /// `X-Line-Retry-Key` (a hex UUID).
    pub retry_key: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PushBody<'a> {
    to: &'a str,
    messages: &'a [Value],
    notification_disabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    custom_aggregation_units: Option<[&'a str; 1]>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MulticastBody<'a> {
    to: &'a [String],
    messages: &'a [Value],
    notification_disabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    custom_aggregation_units: Option<[&'a str; 1]>,
}

/// The monthly limit (`GET /v2/bot/message/quota`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct MessageQuota {
    /// `none` (no limit) or `limited`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The limit, when `limited`.
    #[serde(default)]
    pub value: Option<i64>,
}

impl MessageQuota {
    /// The month's limit (`None`: unlimited).
    pub fn limit(&self) -> Option<i64> {
        (self.kind == "limited").then_some(self.value.unwrap_or(0))
    }
}

/// This month's consumption (`GET /v2/bot/message/quota/consumption`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuotaConsumption {
    /// Messages sent this month (a multicast counts once per recipient).
    pub total_usage: i64,
}

/// Whether `key` is a hex UUID (8-4-4-4-12).
pub fn is_uuid(key: &str) -> bool {
    let parts: Vec<&str> = key.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn check_request(op: &'static str, req: &MessageRequest<'_>) -> Result<(), LineError> {
    let invalid = |reason: String| LineError::Invalid { op, reason };
    if req.messages.is_empty() || req.messages.len() > MAX_MESSAGES {
        return Err(invalid(format!(
            "{} messages; LINE takes 1–{MAX_MESSAGES}",
            req.messages.len()
        )));
    }
    if !is_uuid(req.retry_key) {
        return Err(invalid(format!(
            "retry key {:?} is not a hex UUID",
            req.retry_key
        )));
    }
    Ok(())
}

impl LineClient {
    /// Sends messages to one user (`POST /v2/bot/message/push`) with the retry key.
    pub async fn push(&self, to: &str, req: &MessageRequest<'_>) -> Result<(), LineError> {
        const OP: &str = "push_message";
        check_request(OP, req)?;
        if to.is_empty() {
            return Err(LineError::Invalid {
                op: OP,
                reason: "no recipient".into(),
            });
        }
        let body = PushBody {
            to,
            messages: req.messages,
            notification_disabled: req.notification_disabled,
            custom_aggregation_units: req.aggregation_unit.map(|u| [u]),
        };
        let http = self
            .http
            .post(endpoint(&self.api_base, PUSH_PATH))
            .header(RETRY_KEY_HEADER, req.retry_key)
            .json(&body);
        self.send(OP, http).await.map(|_| ())
    }

    /// Sends the same messages to 1–500 users (`POST /v2/bot/message/multicast`) with the
    /// retry key.
    pub async fn multicast(
        &self,
        to: &[String],
        req: &MessageRequest<'_>,
    ) -> Result<(), LineError> {
        const OP: &str = "multicast_message";
        check_request(OP, req)?;
        if to.is_empty() || to.len() > MAX_MULTICAST {
            return Err(LineError::Invalid {
                op: OP,
                reason: format!("{} recipients; LINE takes 1–{MAX_MULTICAST}", to.len()),
            });
        }
        let body = MulticastBody {
            to,
            messages: req.messages,
            notification_disabled: req.notification_disabled,
            custom_aggregation_units: req.aggregation_unit.map(|u| [u]),
        };
        let http = self
            .http
            .post(endpoint(&self.api_base, MULTICAST_PATH))
            .header(RETRY_KEY_HEADER, req.retry_key)
            .json(&body);
        self.send(OP, http).await.map(|_| ())
    }

    /// The month's message limit.
    pub async fn quota(&self) -> Result<MessageQuota, LineError> {
        const OP: &str = "get_message_quota";
        let http = self.http.get(endpoint(&self.api_base, QUOTA_PATH));
        let answer = self.send(OP, http).await?;
        decode(OP, answer)
    }

    /// Messages sent this month.
    pub async fn quota_consumption(&self) -> Result<QuotaConsumption, LineError> {
        const OP: &str = "get_message_quota_consumption";
        let http = self
            .http
            .get(endpoint(&self.api_base, QUOTA_CONSUMPTION_PATH));
        let answer = self.send(OP, http).await?;
        decode(OP, answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_recognised() {
        assert!(is_uuid("123e4567-e89b-12d3-a456-426614174000"));
        assert!(!is_uuid("123e4567e89b12d3a456426614174000"));
        assert!(!is_uuid("123e4567-e89b-12d3-a456-42661417400g"));
    }

    #[test]
    fn quota_limit_reads_the_type() {
        let q: MessageQuota = serde_json::from_str(r#"{"type":"limited","value":1000}"#).unwrap();
        assert_eq!(q.limit(), Some(1000));
        let q: MessageQuota = serde_json::from_str(r#"{"type":"none"}"#).unwrap();
        assert_eq!(q.limit(), None);
    }
}
