//! Decoding: the real Pinpoint event of fixtures/seed-002-event.json, every failure kind, campaign and email shapes.

use crate::util::*;
use audience_core::decode::KeyField;
use audience_core::record::{KinesisEnvelope, Payload, RawRecord, RecordId};
use audience_core::{decode_record, DecodeErrorKind, DecodeOptions};
use base64::Engine;
use serde_json::json;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn raw_b64(data: &str) -> RawRecord {
    RawRecord {
        id: RecordId::new("shardId-000000000000", "7"),
        payload: Payload::Base64(data.to_string()),
        arrival_ms: None,
    }
}

fn reason(data: &str) -> DecodeErrorKind {
    decode_record(&raw_b64(data), &DecodeOptions::default(), clock())
        .unwrap_err()
        .kind
}

#[test]
fn seed_002_event_decodes_to_its_user_and_times() {
    let text = std::fs::read_to_string(format!(
        "{}/../../fixtures/seed-002-event.json",
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into())
    ))
    .unwrap();
    let ev = decode_record(
        &raw_b64(&b64(text.as_bytes())),
        &DecodeOptions::default(),
        clock(),
    )
    .unwrap();
    assert_eq!(
        ev.key.id,
        "ap-northeast-1:d473ddb6-e26b-4cfc-8caf-5f3c3790587a"
    );
    assert_eq!(ev.key.field, KeyField::UserId);
    assert_eq!(ev.event.event_type, "_session.stop");
    assert_eq!(ev.event.event_timestamp, 1_567_780_272_608);
    assert_eq!(ev.event.arrival_timestamp, Some(1_567_780_274_582));
    assert_eq!(ev.event.session.start_timestamp, Some(1_567_780_269_946));
    let endpoint = ev.event.endpoint.as_ref().unwrap();
    assert_eq!(
        endpoint.id.as_deref(),
        Some("c3cc0c40-d0ad-11e9-b963-3d4f07405ba8")
    );
    assert_eq!(endpoint.opt_out.as_deref(), Some("ALL"));
    assert_eq!(
        ev.links(&DecodeOptions::default()),
        vec![(
            "c3cc0c40-d0ad-11e9-b963-3d4f07405ba8".to_string(),
            "ap-northeast-1:d473ddb6-e26b-4cfc-8caf-5f3c3790587a".to_string()
        )]
    );
}

#[test]
fn seed_002_kinesis_envelope_names_shard_and_sequence() {
    let text = std::fs::read_to_string(format!(
        "{}/../../fixtures/seed-002-kinesis.json",
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into())
    ))
    .unwrap();
    let env: KinesisEnvelope = serde_json::from_str(&text).unwrap();
    let raw = env.to_raw();
    assert_eq!(raw[0].id.shard, "shardId-000000000000");
    assert_eq!(
        raw[0].id.seq,
        "49599259535682552348557865618060497301418154171654209538"
    );
    let ev = decode_record(&raw[0], &DecodeOptions::default(), clock()).unwrap();
    assert_eq!(ev.event.event_type, "_session.stop");
}

#[test]
fn every_failure_kind_is_named() {
    assert_eq!(reason("not base64 !!").reason(), "not_base64");
    assert_eq!(reason(&b64(&[0xff, 0xfe, b'{'])).reason(), "not_utf8");
    assert_eq!(reason(&b64(b"{\"event_type\": ")).reason(), "not_json");
    assert_eq!(reason(&b64(b"[1,2]")), DecodeErrorKind::NotObject("array"));
    match reason(&b64(br#"{"event_type":"x","event_timestamp":"yesterday"}"#)) {
        DecodeErrorKind::WrongType { field, .. } => assert_eq!(field, "event_timestamp"),
        other => panic!("expected wrong type, got {other:?}"),
    }
    assert_eq!(
        reason(&b64(br#"{"event_type":"x","event_timestamp":1}"#)).reason(),
        "no_user_key"
    );
    let deep = format!(
        r#"{{"event_type":"x","event_timestamp":1,"client":{{"client_id":"c"}},"attributes":{{"a":{}1{}}}}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    assert_eq!(reason(&b64(deep.as_bytes())), DecodeErrorKind::TooDeep(64));
    let opts = DecodeOptions {
        max_bytes: 100,
        ..DecodeOptions::default()
    };
    let big = json!({"event_type": "x", "event_timestamp": 1, "client": {"client_id": "c"}, "attributes": {"pad": "y".repeat(200)}});
    let err =
        decode_record(&raw_b64(&b64(big.to_string().as_bytes())), &opts, clock()).unwrap_err();
    assert_eq!(err.kind.reason(), "too_large");
    assert!(err.to_string().contains("shardId-000000000000:7"), "{err}");
    // An object with no `event_type` is no Pinpoint event: under the default `auto` format it
    // matches no format; declared `pinpoint`, the missing field is named. Never a panic.
    let no_type = br#"{"client":{"client_id":"c"}}"#;
    assert_eq!(reason(&b64(no_type)).reason(), "unknown_format");
    let pinpoint = DecodeOptions {
        input: audience_core::formats::InputSettings {
            format: audience_core::formats::InputFormat::Pinpoint,
            mapping: None,
        },
        ..DecodeOptions::default()
    };
    let err = decode_record(&raw_b64(&b64(no_type)), &pinpoint, clock()).unwrap_err();
    assert_eq!(err.kind.reason(), "wrong_type", "{err}");
}

#[test]
fn campaign_endpoint_string_is_decoded() {
    let endpoint = json!({"Id": "ep-9", "ChannelType": "APNS", "User": {"UserId": "user-9"}});
    let ev = json!({
        "event_type": "_campaign.send", "event_timestamp": NOW,
        "client_context": {"custom": {"endpoint": endpoint.to_string()}},
        "attributes": {"campaign_id": "c1", "treatment_id": 0}
    });
    let d = decoded(&ev, "s", 1);
    assert_eq!(d.key.id, "user-9");
    assert_eq!(
        d.event.attributes.get("treatment_id").map(String::as_str),
        Some("0")
    );
}

#[test]
fn email_event_falls_back_to_client_id() {
    let ev = json!({
        "event_type": "_email.open", "event_timestamp": NOW,
        "client": {"client_id": "ep-42"}, "device": {}, "session": {},
        "facets": {"email_channel": {"mail_event": {"mail": {}}}}
    });
    let d = decoded(&ev, "s", 1);
    assert_eq!(d.key.id, "ep-42");
    assert!(d.key.is_endpoint());
    assert!(d.links(&DecodeOptions::default()).is_empty());
}

#[test]
fn null_maps_and_unknown_fields_are_accepted() {
    let ev = json!({
        "event_type": "custom", "event_timestamp": NOW, "brand_new_field": {"x": 1},
        "attributes": null, "metrics": null, "client": {"client_id": "c"}
    });
    let d = decoded(&ev, "s", 1);
    assert!(d.event.attributes.is_empty());
}

/// The SIMD Base64 decoder accepts exactly what the `base64` crate's STANDARD engine accepts
/// (padded, canonical) and gives the same bytes: valid encodings of random bytes, and random
/// strings over the Base64 alphabet plus padding, whitespace and stray characters.
mod base64_agreement {
    use audience_core::decode::decode_base64;
    use base64::Engine;
    use proptest::prelude::*;

    fn both(text: &str) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
        let mut out = Vec::new();
        let ours = decode_base64(text, &mut out).ok().map(|()| out);
        let theirs = base64::engine::general_purpose::STANDARD.decode(text).ok();
        (ours, theirs)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]
        #[test]
        fn valid_encodings_decode_alike(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let text = base64::engine::general_purpose::STANDARD.encode(&bytes);
            let (ours, theirs) = both(&text);
            prop_assert_eq!(ours.as_deref(), Some(bytes.as_slice()));
            prop_assert_eq!(theirs.as_deref(), Some(bytes.as_slice()));
        }

        #[test]
        fn any_text_is_accepted_or_refused_alike(text in "[A-Za-z0-9+/=\\- _\n.]{0,80}") {
            let (ours, theirs) = both(&text);
            prop_assert_eq!(ours, theirs, "{:?}", text);
        }

        #[test]
        fn a_changed_character_is_accepted_or_refused_alike(
            bytes in proptest::collection::vec(any::<u8>(), 1..200),
            at in any::<prop::sample::Index>(),
            with in prop::sample::select(vec![b'=', b'A', b'/', b'+', b'-', b'_', b' ', b'\n', b'*', 0xc3]),
        ) {
            let mut text = base64::engine::general_purpose::STANDARD.encode(&bytes).into_bytes();
            let i = at.index(text.len());
            text[i] = with;
            let Ok(text) = String::from_utf8(text) else { return Ok(()) };
            let (ours, theirs) = both(&text);
            prop_assert_eq!(ours, theirs, "{:?}", text);
        }
    }
}

#[test]
fn one_decoder_for_many_records_decodes_each_as_alone() {
    let opts = DecodeOptions::default();
    let text = include_str!("../../../../fixtures/events.jsonl");
    let records: Vec<RawRecord> = text
        .lines()
        .take(200)
        .enumerate()
        .map(|(i, l)| RawRecord {
            id: RecordId::new("shardId-000000000000", (i + 1).to_string()),
            payload: if i % 2 == 0 {
                Payload::Base64(b64(l.as_bytes()))
            } else {
                Payload::Json(l.as_bytes().to_vec())
            },
            arrival_ms: None,
        })
        .chain([raw_b64("not base64 !!"), raw_b64(&b64(b"[1]"))])
        .collect();
    let mut decoder = audience_core::Decoder::new(&opts, clock());
    for r in &records {
        let alone = decode_record(r, &opts, clock());
        assert_eq!(decoder.decode(r), alone, "record {}", r.id);
        match decoder.decode_keeping_bytes(r.clone()) {
            Ok((event, kept)) => {
                assert_eq!(Ok(event), alone, "record {}", r.id);
                // What is kept gives back the payload exactly as it came.
                match (&r.payload, kept.into_payload()) {
                    (Payload::Base64(a), Payload::Base64(b)) => assert_eq!(a, &b),
                    (Payload::Json(a), Payload::Json(b)) => assert_eq!(a, &b),
                    (a, b) => panic!("payload changed form: {a:?} → {b:?}"),
                }
            }
            Err(aside) => {
                assert_eq!(Err(aside.error), alone, "record {}", r.id);
                match (&r.payload, aside.payload) {
                    (Payload::Base64(a), Payload::Base64(b)) => assert_eq!(a, &b),
                    (Payload::Json(a), Payload::Json(b)) => assert_eq!(a, &b),
                    (a, b) => panic!("payload changed form: {a:?} → {b:?}"),
                }
            }
        }
    }
}
