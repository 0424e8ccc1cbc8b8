//! The on-failure destination messages `recover` reads: what Lambda sends to the event source
//! mapping's SQS queue for a Kinesis batch it gave up on (the shard and sequence range, not the
//! data), alone, as JSON Lines, as the `Body` string of an SQS message, or as the whole
//! `aws sqs receive-message` answer (`{"Messages":[{"Body":"…"}]}`).

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use serde_json::Value;

/// One on-failure destination message (the fields `recover` needs).
#[derive(Debug, Clone, Deserialize)]
pub struct DiscardedBatch {
    /// Who gave up and why.
    #[serde(rename = "requestContext", default)]
    pub request_context: Option<RequestContext>,
    /// The range of records.
    #[serde(rename = "KinesisBatchInfo")]
    pub batch: KinesisBatchInfo,
}

/// `requestContext` of a [`DiscardedBatch`].
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestContext {
    /// The invocation's request ID.
    #[serde(default)]
    pub request_id: Option<String>,
    /// Why the batch was discarded (`RetryAttemptsExhausted`, `RecordAgeExceeded`, …).
    #[serde(default)]
    pub condition: Option<String>,
}

/// `KinesisBatchInfo` of a [`DiscardedBatch`].
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KinesisBatchInfo {
    /// The shard.
    pub shard_id: String,
    /// The batch's first sequence number.
    pub start_sequence_number: String,
    /// The batch's last sequence number (included).
    pub end_sequence_number: String,
    /// Records in the batch, as Lambda counted them.
    #[serde(default)]
    pub batch_size: Option<u64>,
    /// `arn:aws:kinesis:REGION:ACCOUNT:stream/NAME`.
    pub stream_arn: String,
}

/// A message and where it came from, for reports.
#[derive(Debug, Clone)]
pub struct LabelledBatch {
    /// `FILE message N (request ID)`.
    pub label: String,
    /// The message.
    pub message: DiscardedBatch,
}

/// A stream named by its ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamArn {
    /// The stream's region.
    pub region: String,
    /// The stream's name.
    pub name: String,
}

/// Reads `arn:PARTITION:kinesis:REGION:ACCOUNT:stream/NAME`.
pub fn parse_stream_arn(arn: &str) -> Result<StreamArn> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", _, "kinesis", region, _, resource] if !region.is_empty() => {
            match resource.strip_prefix("stream/") {
                Some(name) if !name.is_empty() && !name.contains('/') => Ok(StreamArn {
                    region: (*region).to_owned(),
                    name: name.to_owned(),
                }),
                _ => bail!("`{arn}` is not a Kinesis stream ARN (…:stream/NAME)"),
            }
        }
        _ => bail!(
            "`{arn}` is not a Kinesis stream ARN (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME)"
        ),
    }
}

/// Every message in `text` (read from `source`): JSON documents one after another (JSON
/// Lines, or pretty-printed documents), each a message, an SQS message with a `Body`, a
/// ReceiveMessage answer with `Messages`, an array of any of these, or a string holding one.
pub fn parse_messages(source: &str, text: &str) -> Result<Vec<LabelledBatch>> {
    let mut out = Vec::new();
    for (i, doc) in serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .enumerate()
    {
        let doc = doc.with_context(|| format!("{source}: document {} is not JSON", i + 1))?;
        collect(source, doc, 0, &mut out)?;
    }
    Ok(out)
}

/// How deeply messages may nest (`Messages` → `Body` → string → …).
const MAX_NESTING: u32 = 4;

fn collect(source: &str, doc: Value, depth: u32, out: &mut Vec<LabelledBatch>) -> Result<()> {
    let n = out.len() + 1;
    if depth > MAX_NESTING {
        bail!("{source}: message {n} is nested too deeply");
    }
    match doc {
        // `aws sqs receive-message --query 'Messages[].Body'` on an empty queue.
        Value::Null => {}
        Value::Array(items) => {
            for item in items {
                collect(source, item, depth + 1, out)?;
            }
        }
        Value::String(body) => {
            let inner: Value = serde_json::from_str(&body)
                .with_context(|| format!("{source}: message {n}: the body is not JSON"))?;
            collect(source, inner, depth + 1, out)?;
        }
        Value::Object(mut map) => {
            if let Some(messages) = map.remove("Messages") {
                collect(source, messages, depth + 1, out)?;
            } else if let Some(body) = map.remove("Body") {
                collect(source, body, depth + 1, out)?;
            } else if map.contains_key("KinesisBatchInfo") {
                let message: DiscardedBatch = serde_json::from_value(Value::Object(map))
                    .with_context(|| {
                        format!(
                            "{source}: message {n}: not a Kinesis on-failure destination message"
                        )
                    })?;
                let context = message.request_context.as_ref();
                let about: Vec<&str> = [
                    context.and_then(|c| c.request_id.as_deref()),
                    context.and_then(|c| c.condition.as_deref()),
                ]
                .into_iter()
                .flatten()
                .collect();
                let request = if about.is_empty() {
                    String::new()
                } else {
                    format!(" (request {})", about.join(", "))
                };
                out.push(LabelledBatch {
                    label: format!("{source} message {n}{request}"),
                    message,
                });
            } else {
                bail!(
                    "{source}: message {n} has no KinesisBatchInfo (expected a Lambda on-failure \
                     destination message for a Kinesis batch, an SQS message whose Body is one, \
                     or an `aws sqs receive-message` answer)"
                );
            }
        }
        other => bail!("{source}: message {n} is {other}, not a JSON object"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MESSAGE: &str = r#"{"requestContext":{"requestId":"c9b8fa9f-5a7f-4ab5-b3fb-2e4b0b3a4e3f","functionArn":"arn:aws:lambda:us-east-2:123456789012:function:myfunction","condition":"RetryAttemptsExhausted","approximateInvokeCount":1},"responseContext":{"statusCode":200,"executedVersion":"$LATEST","functionError":"Unhandled"},"version":"1.0","timestamp":"2019-11-14T00:38:06.021Z","KinesisBatchInfo":{"shardId":"shardId-000000000001","startSequenceNumber":"49601189658422359378836298521827638475320189012309704722","endSequenceNumber":"49601189658422359378836298522902373528957594348623495186","approximateArrivalOfFirstRecord":"2019-11-14T00:38:04.835Z","approximateArrivalOfLastRecord":"2019-11-14T00:38:05.580Z","batchSize":500,"streamArn":"arn:aws:kinesis:us-east-2:123456789012:stream/mystream"}}"#;

    #[test]
    fn reads_the_documented_message() {
        let got = parse_messages("m.json", MESSAGE).unwrap();
        assert_eq!(got.len(), 1);
        let b = &got[0].message.batch;
        assert_eq!(b.shard_id, "shardId-000000000001");
        assert_eq!(
            b.start_sequence_number,
            "49601189658422359378836298521827638475320189012309704722"
        );
        assert_eq!(
            b.end_sequence_number,
            "49601189658422359378836298522902373528957594348623495186"
        );
        assert_eq!(b.batch_size, Some(500));
        assert_eq!(
            got[0].label,
            "m.json message 1 (request c9b8fa9f-5a7f-4ab5-b3fb-2e4b0b3a4e3f, RetryAttemptsExhausted)"
        );
        assert_eq!(
            parse_stream_arn(&b.stream_arn).unwrap(),
            StreamArn {
                region: "us-east-2".into(),
                name: "mystream".into()
            }
        );
    }

    #[test]
    fn reads_json_lines_sqs_bodies_and_receive_message_answers() {
        let body = serde_json::to_string(MESSAGE).unwrap();
        let sqs = format!(r#"{{"MessageId":"1","ReceiptHandle":"r","Body":{body}}}"#);
        let receive = format!(r#"{{"Messages":[{sqs},{sqs}]}}"#);
        let text = format!("{MESSAGE}\n{sqs}\n{receive}\n[{body}]\n");
        let got = parse_messages("-", &text).unwrap();
        assert_eq!(got.len(), 5);
        assert!(got
            .iter()
            .all(|m| m.message.batch.shard_id == "shardId-000000000001"));
        assert!(got[4].label.starts_with("- message 5 "), "{}", got[4].label);
        let pretty =
            serde_json::to_string_pretty(&serde_json::from_str::<Value>(MESSAGE).unwrap()).unwrap();
        assert_eq!(parse_messages("p", &pretty).unwrap().len(), 1);
        assert!(parse_messages("empty queue", "null\n").unwrap().is_empty());
    }

    #[test]
    fn other_documents_are_refused_with_their_place() {
        let err = parse_messages("x.json", r#"{"Records":[]}"#).unwrap_err();
        assert!(
            err.to_string()
                .contains("x.json: message 1 has no KinesisBatchInfo"),
            "{err}"
        );
        let err = parse_messages("x.json", "{\"KinesisBatchInfo\":{}}").unwrap_err();
        assert!(format!("{err:#}").contains("shardId"), "{err:#}");
        let err = parse_messages("y", &format!("{MESSAGE}\nnope")).unwrap_err();
        assert!(
            err.to_string().contains("y: document 2 is not JSON"),
            "{err}"
        );
        for bad in [
            "arn:aws:sqs:us-east-1:1:stream/a",
            "arn:aws:kinesis:us-east-1:1:stream/",
            "arn:aws:kinesis::1:stream/a",
            "mystream",
        ] {
            assert!(parse_stream_arn(bad).is_err(), "{bad}");
        }
    }
}
