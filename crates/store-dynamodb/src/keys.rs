//! The single-table key layout: partition/sort key builders, order-preserving encodings of
//! days and instants, the stable hash that spreads hot keys, and attribute names.
//!
//! Everything that decides where an item lives is here, so `docs/dynamodb.md` and the code
//! can be checked against one file.

use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

/// Table partition key attribute.
pub const PK: &str = "PK";
/// Table sort key attribute.
pub const SK: &str = "SK";
/// TTL attribute (epoch seconds), enabled on the table.
pub const A_TTL: &str = "ttl";

/// Version number of a user item (or of the user change a membership item records).
pub const A_VERSION: &str = "v";
/// A user's state, binary (`audience_core::codec`).
pub const A_STATE: &str = "b";
/// A user's pending fan-out, binary (`pending`): present from the commit until its
/// membership, counter, outbox and link writes are done.
pub const A_PENDING: &str = "p";
/// JSON text of a ledger row, batch record, destination state or quarantine entry (and of
/// user states written before the binary form).
pub const A_JSON: &str = "j";
/// Destination kind.
pub const A_DST: &str = "dst";
/// Segment ID.
pub const A_SEG: &str = "seg";
/// User key.
pub const A_USR: &str = "usr";
/// An instant (epoch milliseconds).
pub const A_AT: &str = "at";
/// Membership tombstone flag: the user exited (kept so a late, older write cannot
/// re-enter it; expires by TTL).
pub const A_EXITED_FLAG: &str = "x";
/// Counter items: binary set of the IDs of enter changes.
pub const A_ENTERED: &str = "en";
/// Counter items: binary set of the IDs of exit changes.
pub const A_EXITED: &str = "ex";
/// User-count items: binary set of users created.
pub const A_ADDED: &str = "a";
/// User-count items: binary set of identities absorbed (deleted).
pub const A_REMOVED: &str = "r";
/// Outbox items: string set of entries `<op>|<version>|<at>|<user>`.
pub const A_ENTRIES: &str = "e";
/// Due items: string set of `<instant>|<user>`.
pub const A_DUE: &str = "d";
/// A user item being erased: the erasure record (binary, `erase`) that replaced its state
/// until the erasure's exits, counters and outbox entries are written and the item deleted.
pub const A_ERASURE: &str = "er";
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
/// Partition key of the registry (segments, outbox queues, due days).
pub const REGISTRY_PK: &str = "REG";
/// Partition key of the sync ledger.
pub const LEDGER_PK: &str = "LEDGER";
/// Partition key of the user-count items.
pub const USER_COUNT_PK: &str = "UC";
/// Partition key of quarantined users (sort key = user).
pub const QUARANTINE_PK: &str = "Q";
/// Partitions per day of the due index (a batch writes to one, chosen by its fan-out ID).
pub const DUE_SHARDS: u64 = 4;

/// `U#<user>`: a user's state.
pub fn user_pk(user: &str) -> String {
    format!("U#{user}")
}

/// The user key back from a `U#<user>` partition key.
pub fn user_of_pk(pk: &str) -> Option<&str> {
    pk.strip_prefix("U#")
}

/// `O#<destination>#<segment>`: pending sync work of one destination and segment, one item
/// per fan-out (sort key = fan-out ID and chunk, so oldest first). Also the registry key of
/// the queue.
pub fn outbox_key(destination: &str, segment: &str) -> String {
    format!("O#{destination}#{segment}")
}

/// `M#<segment>`: the segment's member items (sort key = user key).
pub fn member_pk(segment: &str) -> String {
    format!("M#{segment}")
}

/// `C#<segment>`: the segment's counter items.
pub fn counter_pk(segment: &str) -> String {
    format!("C#{segment}")
}

/// Sort key of a counter item: `<day>#<fan-out ID>#<chunk>`.
pub fn counter_sk(day: i32, fanout: &str, chunk: usize) -> String {
    format!("{}#{fanout}#{chunk:03}", day_code(day))
}

/// Sort key of a per-fan-out item (outbox, user count): `<fan-out ID>#<chunk>`.
pub fn fanout_sk(fanout: &str, chunk: usize) -> String {
    format!("{fanout}#{chunk:03}")
}

/// Sort key of the folded base item of a `C#<segment>` or `UC` partition: sorts before every
/// delta item (`!` is below the digits) and outside every day range.
pub const BASE_SK: &str = "!base";

/// `H#<segment>`: folded daily history of a segment (sort key = [`day_code`]).
pub fn history_pk(segment: &str) -> String {
    format!("H#{segment}")
}

/// When the fan-out that wrote a counter item (`<day>#<fan-out ID>#<chunk>`) committed.
pub fn counter_sk_written_at(sk: &str) -> Option<i64> {
    instant_from_code(sk.get(11..)?)
}

/// When the fan-out that wrote a per-fan-out item (`<fan-out ID>#<chunk>`) committed.
pub fn fanout_sk_written_at(sk: &str) -> Option<i64> {
    instant_from_code(sk)
}

/// `SZ#<day>`: segment-size snapshots of a UTC day (sort key `<instant>#<chunk>`).
pub fn sizes_pk(day: i32) -> String {
    format!("SZ#{}", day_code(day))
}

/// `DUE#<day>#<shard>`: due-index items of one UTC day.
pub fn due_pk(day: i32, shard: u64) -> String {
    format!("DUE#{}#{shard}", day_code(day))
}

/// An element of a due item: `<instant>|<user>`.
pub fn due_element(at: i64, user: &str) -> String {
    format!("{}|{user}", instant_code(at))
}

/// The instant and user back from a due element.
pub fn parse_due_element(element: &str) -> Option<(i64, &str)> {
    let (code, user) = element.split_once('|')?;
    Some((instant_from_code(code)?, user))
}

/// `L#<endpoint>`: the user an endpoint belongs to.
pub fn link_pk(endpoint: &str) -> String {
    format!("L#{endpoint}")
}

/// Registry sort key of a segment: `S#<segment>`.
pub fn registry_segment_sk(segment: &str) -> String {
    format!("S#{segment}")
}

/// Registry sort key of a due day: `D#<day>`.
pub fn registry_due_sk(day: i32) -> String {
    format!("D#{}", day_code(day))
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

/// The instant back from [`instant_code`].
pub fn instant_from_code(code: &str) -> Option<i64> {
    let n: u64 = code.get(..20)?.parse().ok()?;
    Some((n ^ (1u64 << 63)) as i64)
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

/// A stable 64-bit hash (the project's one, `audience_core::hash`).
pub fn stable_hash(text: &str) -> u64 {
    audience_core::hash::fnv1a64(text.as_bytes())
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
    fn due_elements_round_trip_and_sort_by_time() {
        for t in [i64::MIN, -1, 0, 1_764_547_200_000, i64::MAX] {
            let e = due_element(t, "user|with|bars");
            assert_eq!(parse_due_element(&e), Some((t, "user|with|bars")));
            assert_eq!(instant_from_code(&instant_code(t)), Some(t));
        }
        assert!(due_element(5, "\u{10FFFF}zzz") < due_element(6, ""));
    }

    #[test]
    fn fold_keys_read_the_commit_time_and_base_sorts_first() {
        let fanout = format!("{}#00000000000000ab", instant_code(1_764_547_200_123));
        let sk = counter_sk(20_423, &fanout, 2);
        assert_eq!(counter_sk_written_at(&sk), Some(1_764_547_200_123));
        assert_eq!(day_from_code(&sk), Some(20_423));
        let sk = fanout_sk(&fanout, 0);
        assert_eq!(fanout_sk_written_at(&sk), Some(1_764_547_200_123));
        assert!(BASE_SK < day_code(i32::MIN).as_str() && BASE_SK < sk.as_str());
        assert_eq!(counter_sk_written_at("garbage"), None);
    }

    #[test]
    fn hash_is_the_projects_one() {
        assert_eq!(stable_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash("a"), 0xaf63_dc4c_8601_ec8c);
    }
}
