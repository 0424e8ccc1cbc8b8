//! Lambda Kinesis envelopes (`{"Records":[…]}`) carrying generated events, as the event source
//! mapping delivers them: arrival order, random partition keys, per-shard rising sequence
//! numbers.

use crate::catalog::REGION;
use crate::draw::{Draw, Stream};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::{json, Value};

const STREAM_ARN: &str = "arn:aws:kinesis:ap-northeast-1:123456789012:stream/pinpoint-events";
const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/audience-stream-consumer";
/// First 14 digits of every generated sequence number (then 3 shard digits, then 39 counter digits).
const SEQ_PREFIX: &str = "49599259535682";
/// Largest gap between two consecutive sequence numbers of one shard.
const SEQ_STEP_MAX: i64 = 1 << 40;

/// Wraps events in a Lambda Kinesis event (`{"Records":[…]}`), as the event source mapping
/// would deliver them.
///
/// Records appear in arrival order (`arrival_timestamp`, stable), so event times are out of order
/// as in production. Each record gets a random signed-32-bit partition key unrelated to the user
/// (as Pinpoint's are); the shard is a hash of the key. Sequence numbers are 56-digit decimal
/// strings: a fixed 14-digit prefix, the 3-digit shard number, then a 39-digit counter that starts
/// at `first_seq` on every shard and grows by 1..=2^40 per record, so a later envelope built with
/// a larger `first_seq` continues every shard in order. `shards` is clamped to 1..=999. The
/// random choices are keyed by `first_seq` and `shards`, so the same arguments give the same
/// envelope.
pub fn to_kinesis_envelope(events: &[Value], shards: u32, first_seq: u128) -> Value {
    let shards = shards.clamp(1, 999);
    let mut key = first_seq.to_le_bytes().to_vec();
    key.extend_from_slice(&shards.to_le_bytes());
    let mut draw = Draw::new(&key, Stream::Kinesis);
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by_key(|&i| arrival_ms(&events[i]));
    let mut counters = vec![first_seq; shards as usize];
    let mut last_arrival = vec![f64::MIN; shards as usize];
    let mut records = Vec::with_capacity(events.len());
    for i in order {
        let event = &events[i];
        let partition_key = draw.i32().to_string();
        let shard = (fnv1a(partition_key.as_bytes()) % u64::from(shards)) as usize;
        let counter = counters[shard];
        let step = draw.int(1, SEQ_STEP_MAX) as u128;
        counters[shard] = counter.saturating_add(step);
        let sequence = format!("{SEQ_PREFIX}{shard:03}{counter:039}");
        let arrived_ms = arrival_ms(event).unwrap_or(0) + draw.range(20, 900);
        let arrived = (arrived_ms as f64 / 1000.0).max(last_arrival[shard]);
        last_arrival[shard] = arrived;
        records.push(json!({
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": partition_key,
                "sequenceNumber": sequence,
                "data": BASE64.encode(event.to_string()),
                "approximateArrivalTimestamp": arrived,
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": format!("shardId-{shard:012}:{sequence}"),
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": ROLE_ARN,
            "awsRegion": REGION,
            "eventSourceARN": STREAM_ARN,
        }));
    }
    json!({ "Records": records })
}

/// The event's arrival time (falling back to its event time), for ordering records.
fn arrival_ms(event: &Value) -> Option<i64> {
    event
        .get("arrival_timestamp")
        .and_then(Value::as_i64)
        .or_else(|| event.get("event_timestamp").and_then(Value::as_i64))
}

/// FNV-1a, a stable stand-in for Kinesis' MD5 partition-key hashing.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::generate_events;
    use crate::test_support::opts;
    use std::collections::BTreeMap;

    /// Counter part of the first sequence number of kinesis-batch-1.json.
    const BATCH_FIRST_SEQ: u128 = 234_855_786_561_806_049_730_141_815_417_165_420_953;

    #[test]
    fn kinesis_envelope_round_trips_with_per_shard_increasing_sequence_numbers() {
        let events = generate_events(&opts(400));
        let envelope = to_kinesis_envelope(&events, 4, BATCH_FIRST_SEQ);
        let records = envelope["Records"].as_array().unwrap();
        assert_eq!(records.len(), events.len());
        let mut decoded = Vec::new();
        let mut last: BTreeMap<String, String> = BTreeMap::new();
        let mut last_arrival = f64::MIN;
        for r in records {
            let k = &r["kinesis"];
            let bytes = BASE64.decode(k["data"].as_str().unwrap()).unwrap();
            decoded.push(serde_json::from_slice::<Value>(&bytes).unwrap());
            let seq = k["sequenceNumber"].as_str().unwrap();
            assert_eq!(seq.len(), 56);
            assert!(seq.chars().all(|c| c.is_ascii_digit()));
            let (shard, _) = r["eventID"].as_str().unwrap().split_once(':').unwrap();
            assert_eq!(r["eventID"], json!(format!("{shard}:{seq}")));
            if let Some(prev) = last.insert(shard.to_string(), seq.to_string()) {
                assert!(prev.as_str() < seq, "{shard}: {prev} then {seq}");
            }
            let pk = k["partitionKey"].as_str().unwrap();
            assert!(pk.parse::<i32>().is_ok() && !pk.contains("user"));
            assert_eq!(r["eventSource"], "aws:kinesis");
            let arrival = k["approximateArrivalTimestamp"].as_f64().unwrap();
            assert!(arrival > 1.7e9 && arrival < 1.8e9);
            last_arrival = last_arrival.max(arrival);
        }
        assert_eq!(last.len(), 4, "records should spread over all 4 shards");
        // Same events, arrival order.
        let mut sorted_in = events.clone();
        let mut sorted_out = decoded.clone();
        let key = |e: &Value| e.to_string();
        sorted_in.sort_by_key(key);
        sorted_out.sort_by_key(key);
        assert_eq!(sorted_in, sorted_out);
        assert_ne!(
            events, decoded,
            "records are in arrival order, not event order"
        );
        assert_eq!(envelope, to_kinesis_envelope(&events, 4, BATCH_FIRST_SEQ));
        assert_eq!(to_kinesis_envelope(&[], 4, 0), json!({ "Records": [] }));
    }
}
