//! The single-table key layout: partition/sort key builders, order-preserving encodings of
//! days and instants, the stable user hash that buckets hot keys, and attribute names.
//!
//! Everything that decides where an item lives is here, so `docs/dynamodb.md` and the code
//! can be checked against one file.

use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

/// Table partition key attribute.
pub const PK: &str = "PK";
/// Table sort key attribute.
pub const SK: &str = "SK";
/// The overloaded global secondary index: due users and pending sync work by time.
pub const GSI1: &str = "GSI1";
/// GSI1 partition key attribute.
pub const G1PK: &str = "G1PK";
/// GSI1 sort key attribute.
pub const G1SK: &str = "G1SK";
/// Non-key attributes projected into GSI1 (only outbox items carry them).
pub const GSI1_PROJECTED: [&str; 6] = [A_DST, A_SEG, A_USR, A_OP, A_AT, A_CID];
/// TTL attribute (epoch seconds), enabled on the table.
pub const A_TTL: &str = "ttl";

/// Version number of a user item.
pub const A_VERSION: &str = "v";
/// JSON text of a user state, ledger row, batch record or destination state.
pub const A_JSON: &str = "j";
/// Destination kind.
pub const A_DST: &str = "dst";
/// Segment ID.
pub const A_SEG: &str = "seg";
/// User key.
pub const A_USR: &str = "usr";
/// Outbox operation (`add` / `remove`).
pub const A_OP: &str = "op";
/// An instant (epoch milliseconds).
pub const A_AT: &str = "at";
/// Outbox change ID.
pub const A_CID: &str = "cid";
/// Counter delta: enters.
pub const A_ENTERED: &str = "en";
/// Counter delta: exits.
pub const A_EXITED: &str = "ex";
/// User-count delta.
pub const A_COUNT: &str = "n";
/// Dead letter: reason code.
pub const A_REASON: &str = "reason";
/// Dead letter: message.
pub const A_MESSAGE: &str = "msg";
/// Dead letter: raw payload.
pub const A_DATA: &str = "data";

/// Sort key of a user item.
pub const USER_SK: &str = "S";
/// Sort key of a link item.
pub const LINK_SK: &str = "L";
/// Partition key of the segment / outbox registry.
pub const REGISTRY_PK: &str = "REG";
/// Partition key of the sync ledger.
pub const LEDGER_PK: &str = "LEDGER";
/// Partition key of the user-count delta items.
pub const USER_COUNT_PK: &str = "UC";
/// Buckets of the due-for-re-evaluation index (and of per-batch delta items).
pub const BUCKETS: u64 = 16;

/// `U#<user>`: a user's state and its outbox entries.
pub fn user_pk(user: &str) -> String {
    format!("U#{user}")
}

/// The user key back from a `U#<user>` partition key.
pub fn user_of_pk(pk: &str) -> Option<&str> {
    pk.strip_prefix("U#")
}

/// `O#<destination>#<segment>`: an outbox entry's sort key (under the user) and its GSI1
/// partition (pending work of one destination and segment, by time).
pub fn outbox_key(destination: &str, segment: &str) -> String {
    format!("O#{destination}#{segment}")
}

/// `M#<segment>`: the segment's member items (sort key = user key).
pub fn member_pk(segment: &str) -> String {
    format!("M#{segment}")
}

/// `C#<segment>`: the segment's counter delta items.
pub fn counter_pk(segment: &str) -> String {
    format!("C#{segment}")
}

/// Sort key of a counter delta: `<day>#<batch_id>#<bucket>`.
pub fn counter_sk(day: i32, batch_id: &str, bucket: u64) -> String {
    format!("{}#{batch_id}#{bucket:02}", day_code(day))
}

/// Sort key of a user-count delta: `<batch_id>#<bucket>`.
pub fn user_count_sk(batch_id: &str, bucket: u64) -> String {
    format!("{batch_id}#{bucket:02}")
}

/// `L#<endpoint>`: the user an endpoint belongs to.
pub fn link_pk(endpoint: &str) -> String {
    format!("L#{endpoint}")
}

/// Registry sort key of a segment: `S#<segment>`.
pub fn registry_segment_sk(segment: &str) -> String {
    format!("S#{segment}")
}

/// `D#<destination>`: destination state items (sort key = segment).
pub fn destination_pk(destination: &str) -> String {
    format!("D#{destination}")
}

/// `B#<day>`: batch records of a day (sort key = batch ID).
pub fn batch_pk(day: i32) -> String {
    format!("B#{}", day_code(day))
}

/// `DL#<day>`: dead letters of a day (sort key = record).
pub fn dead_letter_pk(day: i32) -> String {
    format!("DL#{}", day_code(day))
}

/// `DUE#<bucket>`: GSI1 partition of the due index.
pub fn due_pk(bucket: u64) -> String {
    format!("DUE#{bucket:02}")
}

/// GSI1 sort key of a due user or an outbox entry: `<instant>#<user>`.
pub fn time_user_sk(at: i64, user: &str) -> String {
    format!("{}#{user}", instant_code(at))
}

/// A UTC day number as 10 digits that sort like the numbers (negative days included).
pub fn day_code(day: i32) -> String {
    format!("{:010}", i64::from(day) + (1i64 << 31))
}

/// The day number back from [`day_code`]'s first 10 characters.
pub fn day_from_code(code: &str) -> Option<i32> {
    let n: i64 = code.get(..10)?.parse().ok()?;
    i32::try_from(n - (1i64 << 31)).ok()
}

/// An instant (epoch ms) as 20 digits that sort like the numbers (negative instants included).
pub fn instant_code(ms: i64) -> String {
    format!("{:020}", (ms as u64) ^ (1u64 << 63))
}

/// `LEASE#<name>`: a named lease (sort key [`LEASE_SK`]).
pub fn lease_pk(name: &str) -> String {
    format!("LEASE#{name}")
}

/// Sort key of a lease item.
pub const LEASE_SK: &str = "L";
/// Lease: the holder's ID.
pub const A_HOLDER: &str = "holder";
/// Lease: held until (epoch ms).
pub const A_UNTIL: &str = "until";

/// A stable 64-bit FNV-1a hash (not std's hasher, whose output may change between releases).
pub fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The bucket (0..[`BUCKETS`]) of a user key.
pub fn bucket_of(user: &str) -> u64 {
    stable_hash(user) % BUCKETS
}

/// A string attribute.
pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// A number attribute.
pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A table key.
pub fn key(pk: impl Into<String>, sk: impl Into<String>) -> HashMap<String, AttributeValue> {
    HashMap::from([(PK.to_string(), s(pk)), (SK.to_string(), s(sk))])
}

/// A string attribute of an item.
pub fn get_s<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v.as_str()),
        _ => None,
    }
}

/// A number attribute of an item, as i64 (integers only).
pub fn get_i64(item: &HashMap<String, AttributeValue>, name: &str) -> Option<i64> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_sort_like_numbers() {
        let days = [i32::MIN, -5, -1, 0, 1, 20_000, i32::MAX];
        for w in days.windows(2) {
            assert!(day_code(w[0]) < day_code(w[1]), "{w:?}");
        }
        for d in days {
            assert_eq!(day_from_code(&day_code(d)), Some(d));
        }
        let instants = [i64::MIN, -1, 0, 1, 1_764_547_200_000, i64::MAX];
        for w in instants.windows(2) {
            assert!(instant_code(w[0]) < instant_code(w[1]), "{w:?}");
            assert_eq!(instant_code(w[0]).len(), 20);
        }
    }

    #[test]
    fn time_keys_of_one_instant_sort_before_the_next_instant() {
        assert!(time_user_sk(5, "\u{10FFFF}zzz") < instant_code(6));
        assert!(time_user_sk(5, "") > instant_code(5));
    }

    #[test]
    fn hash_is_stable_and_spreads() {
        assert_eq!(stable_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash("a"), 0xaf63_dc4c_8601_ec8c);
        let used: std::collections::HashSet<u64> =
            (0..200).map(|i| bucket_of(&format!("user-{i}"))).collect();
        assert_eq!(used.len() as u64, BUCKETS, "200 users use every bucket");
    }
}
