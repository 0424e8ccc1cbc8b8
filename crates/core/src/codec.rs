//! The stored form of a [`UserState`]: a format byte, then postcard (a compact, documented,
//! stable binary serde format), deflated when that is smaller. Timestamps are stored relative
//! to the user's newest activity so their varints stay short. A typical user encodes to a few
//! hundred bytes (the JSON of the same state is 2–4× larger), which keeps the common write at
//! one DynamoDB write unit.
//!
//! Reading also accepts the JSON the first versions stored (it starts with `{`), so a table
//! written by an older release migrates user by user as users are written again. A state
//! that decodes to non-finite numbers, or does not decode, is an error: the caller
//! quarantines that user instead of failing a batch.

use crate::limits::MAX_STATE_BYTES;
use crate::state::{Bucket, EndpointInfo, Stamped, UserState};
use serde::{Deserialize, Serialize};

/// Format byte: postcard, not compressed.
const PLAIN: u8 = 1;
/// Format byte: postcard, then raw deflate.
const DEFLATED: u8 = 2;

/// A stored state that cannot be read back.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct CodecError(pub String);

type StampedWire<T> = Option<(T, i64)>;
/// One day of an aggregate: day, count, sum, max.
type BucketWire = (i32, u32, f64, f64);

/// The wire shape (field order is the format: append only, bump the format byte otherwise).
#[derive(Serialize, Deserialize)]
struct Wire {
    user: String,
    version: u64,
    base: i64,
    attrs: Vec<(String, Vec<String>, i64)>,
    line: StampedWire<String>,
    blocked: StampedWire<bool>,
    endpoints: Vec<(String, StampedWire<String>, StampedWire<String>, i64)>,
    aggs: Vec<(String, Vec<BucketWire>)>,
    last_seen: Vec<(String, i64)>,
    first_seen: Vec<(String, i64)>,
    memberships: Vec<(String, i64)>,
    counted: Vec<(i32, Vec<[u8; 8]>)>,
    next_flip: Option<i64>,
}

/// Opt-out and status of the endpoints that have them: (endpoint ID, `OptOut`,
/// `EndpointStatus`). Written after [`Wire`] as a second postcard value, only when not empty,
/// so states without them keep their size and states stored before it still decode.
type EndpointFlagsWire = Vec<(String, StampedWire<String>, StampedWire<String>)>;

/// Encodes a state for storage.
pub fn encode_state(state: &UserState) -> Vec<u8> {
    let base = state.last_seen.get("*").copied().unwrap_or(0);
    let rel = |t: i64| t.wrapping_sub(base);
    let stamped = |s: &Option<Stamped<String>>| s.as_ref().map(|s| (s.v.clone(), rel(s.t)));
    let wire = Wire {
        user: state.user.clone(),
        version: state.version,
        base,
        attrs: state
            .attrs
            .iter()
            .map(|(k, s)| (k.clone(), s.v.clone(), rel(s.t)))
            .collect(),
        line: stamped(&state.line_user_id),
        blocked: state.line_blocked.as_ref().map(|s| (s.v, rel(s.t))),
        endpoints: state
            .endpoints
            .iter()
            .map(|(id, e)| {
                (
                    id.clone(),
                    stamped(&e.channel),
                    stamped(&e.address),
                    rel(e.t),
                )
            })
            .collect(),
        aggs: state
            .aggs
            .iter()
            .map(|(id, days)| {
                let buckets = days.iter().map(|(d, b)| (*d, b.0, b.1, b.2)).collect();
                (id.clone(), buckets)
            })
            .collect(),
        last_seen: state
            .last_seen
            .iter()
            .map(|(k, t)| (k.clone(), rel(*t)))
            .collect(),
        first_seen: state
            .first_seen
            .iter()
            .map(|(k, t)| (k.clone(), rel(*t)))
            .collect(),
        memberships: state
            .memberships
            .iter()
            .map(|(k, t)| (k.clone(), rel(*t)))
            .collect(),
        counted: state
            .counted
            .iter()
            .map(|(d, fps)| (*d, fps.iter().map(|f| f.to_le_bytes()).collect()))
            .collect(),
        next_flip: state.next_flip_at.map(rel),
    };
    // Serialising plain data into a Vec cannot fail; an empty body would fail to decode
    // (and be quarantined) rather than be silently wrong.
    let mut body = postcard::to_allocvec(&wire).unwrap_or_default();
    let flags: EndpointFlagsWire = state
        .endpoints
        .iter()
        .filter(|(_, e)| e.opt_out.is_some() || e.status.is_some())
        .map(|(id, e)| (id.clone(), stamped(&e.opt_out), stamped(&e.status)))
        .collect();
    if !flags.is_empty() {
        body.extend(postcard::to_allocvec(&flags).unwrap_or_default());
    }
    let packed = miniz_oxide::deflate::compress_to_vec(&body, 6);
    let (tag, bytes) = if packed.len() < body.len() {
        (DEFLATED, packed)
    } else {
        (PLAIN, body)
    };
    let mut out = Vec::with_capacity(bytes.len() + 1);
    out.push(tag);
    out.extend_from_slice(&bytes);
    out
}

/// Decodes a stored state (binary, or the JSON of earlier versions).
pub fn decode_state(bytes: &[u8]) -> Result<UserState, CodecError> {
    let state = match bytes.first() {
        Some(b'{') => serde_json::from_slice::<UserState>(bytes)
            .map_err(|e| CodecError(format!("stored JSON state does not parse: {e}")))?,
        Some(&PLAIN) => from_wire(&bytes[1..])?,
        Some(&DEFLATED) => {
            let body = miniz_oxide::inflate::decompress_to_vec_with_limit(
                &bytes[1..],
                MAX_STATE_BYTES * 8,
            )
            .map_err(|e| CodecError(format!("stored state does not inflate: {e:?}")))?;
            from_wire(&body)?
        }
        Some(other) => return Err(CodecError(format!("unknown state format byte {other}"))),
        None => return Err(CodecError("stored state is empty".into())),
    };
    if !state.is_sane() {
        return Err(CodecError(format!(
            "stored state of `{}` holds a non-finite aggregate",
            state.user
        )));
    }
    Ok(state)
}

fn from_wire(body: &[u8]) -> Result<UserState, CodecError> {
    let (w, rest): (Wire, &[u8]) = postcard::take_from_bytes(body)
        .map_err(|e| CodecError(format!("stored state does not decode: {e}")))?;
    let flags: EndpointFlagsWire = if rest.is_empty() {
        Vec::new()
    } else {
        postcard::from_bytes(rest)
            .map_err(|e| CodecError(format!("stored endpoint flags do not decode: {e}")))?
    };
    let abs = |t: i64| t.wrapping_add(w.base);
    let stamped = |s: StampedWire<String>| s.map(|(v, t)| Stamped { v, t: abs(t) });
    let mut state = UserState {
        user: w.user,
        version: w.version,
        attrs: w
            .attrs
            .into_iter()
            .map(|(k, v, t)| (k, Stamped { v, t: abs(t) }))
            .collect(),
        line_user_id: stamped(w.line),
        line_blocked: w.blocked.map(|(v, t)| Stamped { v, t: abs(t) }),
        endpoints: w
            .endpoints
            .into_iter()
            .map(|(id, c, a, t)| {
                let info = EndpointInfo {
                    channel: stamped(c),
                    address: stamped(a),
                    t: abs(t),
                    opt_out: None,
                    status: None,
                };
                (id, info)
            })
            .collect(),
        aggs: w
            .aggs
            .into_iter()
            .map(|(id, days)| {
                let days = days
                    .into_iter()
                    .map(|(d, n, sum, max)| (d, Bucket(n, sum, max)))
                    .collect();
                (id, days)
            })
            .collect(),
        last_seen: w.last_seen.into_iter().map(|(k, t)| (k, abs(t))).collect(),
        first_seen: w.first_seen.into_iter().map(|(k, t)| (k, abs(t))).collect(),
        memberships: w
            .memberships
            .into_iter()
            .map(|(k, t)| (k, abs(t)))
            .collect(),
        counted: w
            .counted
            .into_iter()
            .map(|(d, fps)| (d, fps.into_iter().map(u64::from_le_bytes).collect()))
            .collect(),
        next_flip_at: w.next_flip.map(abs),
    };
    for (id, opt_out, status) in flags {
        if let Some(e) = state.endpoints.get_mut(&id) {
            e.opt_out = stamped(opt_out);
            e.status = stamped(status);
        }
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> UserState {
        let mut s = UserState::new("user-1");
        s.version = 7;
        s.last_seen.insert("*".into(), 1_764_547_200_000);
        s.first_seen.insert("*".into(), 1_760_000_000_000);
        s.attrs.insert(
            "e:pref".into(),
            Stamped {
                v: vec!["兵庫県".into()],
                t: 1_764_000_000_000,
            },
        );
        s.aggs
            .entry("0a1b2c3d".into())
            .or_default()
            .insert(20_423, Bucket(2, 1500.5, 1000.0));
        s.mark_counted(20_423, u64::MAX);
        s.mark_counted(20_423, 3);
        s.memberships.insert("hyogo".into(), 1_764_000_000_000);
        s.next_flip_at = Some(1_765_000_000_000);
        s
    }

    #[test]
    fn round_trips_and_is_smaller_than_json() {
        let s = sample();
        let bytes = encode_state(&s);
        assert_eq!(decode_state(&bytes).unwrap(), s);
        let json = serde_json::to_vec(&s).unwrap();
        assert!(
            bytes.len() < json.len(),
            "{} vs {}",
            bytes.len(),
            json.len()
        );
    }

    #[test]
    fn reads_the_json_of_earlier_versions() {
        let json = r#"{"id":"u","v":3,"w":{"shardId-0":"42"},"m":{"s":5}}"#;
        let s = decode_state(json.as_bytes()).unwrap();
        assert_eq!((s.user.as_str(), s.version), ("u", 3));
        assert_eq!(s.memberships.get("s"), Some(&5));
    }

    #[test]
    fn garbage_and_non_finite_numbers_are_errors() {
        assert!(decode_state(&[]).is_err());
        assert!(decode_state(&[9, 1, 2]).is_err());
        assert!(decode_state(&[DEFLATED, 0xff, 0xff]).is_err());
        let json = r#"{"id":"u","g":{"a":{"1":[1,null,0]}}}"#;
        assert!(decode_state(json.as_bytes()).is_err());
        let mut bad = sample();
        bad.aggs
            .get_mut("0a1b2c3d")
            .unwrap()
            .insert(20_424, Bucket(1, f64::INFINITY, 1.0));
        assert!(decode_state(&encode_state(&bad)).is_err());
    }

    #[test]
    fn endpoint_opt_out_and_status_round_trip_and_older_states_still_decode() {
        let mut s = sample();
        let mut e = EndpointInfo::seen_at(1_764_000_000_000);
        e.channel = Some(Stamped {
            v: "EMAIL".into(),
            t: 1_764_000_000_000,
        });
        let plain = e.clone();
        e.opt_out = Some(Stamped {
            v: "ALL".into(),
            t: 1_764_000_000_001,
        });
        e.status = Some(Stamped {
            v: "INACTIVE".into(),
            t: 1_764_000_000_002,
        });
        s.endpoints.insert("ep-1".into(), e);
        s.endpoints.insert("ep-2".into(), plain);
        let back = decode_state(&encode_state(&s)).unwrap();
        assert_eq!(back, s);
        assert!(!back.endpoints["ep-1"].is_reachable());
        assert!(back.endpoints["ep-2"].is_reachable());
        // A state stored before the flags existed is the same bytes without the trailer.
        let mut old = s.clone();
        for e in old.endpoints.values_mut() {
            e.opt_out = None;
            e.status = None;
        }
        let bytes = encode_state(&old);
        let body = match bytes[0] {
            PLAIN => bytes[1..].to_vec(),
            _ => miniz_oxide::inflate::decompress_to_vec(&bytes[1..]).unwrap(),
        };
        let (_, rest): (Wire, &[u8]) = postcard::take_from_bytes(&body).unwrap();
        assert!(rest.is_empty(), "no trailer without flags");
        assert_eq!(decode_state(&bytes).unwrap(), old);
    }
}
