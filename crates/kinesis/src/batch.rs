//! Outgoing records, the PutRecords limits, per-record validation and packing records into
//! calls. Pure: no I/O.

use std::ops::Range;

/// Most records in one PutRecords call.
pub const MAX_CALL_RECORDS: usize = 500;
/// Most bytes (partition keys + data) in one PutRecords call: 5 MiB.
pub const MAX_CALL_BYTES: usize = 5 * 1024 * 1024;
/// Most bytes (partition key + data) in one record: 1 MiB, every stream's default maximum
/// record size (raising it with `UpdateMaxRecordSize` is not assumed).
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;
/// Longest partition key, in characters.
pub const MAX_KEY_CHARS: usize = 256;

/// One record to put on the stream.
#[derive(Clone, PartialEq, Eq)]
pub struct OutRecord {
    /// Partition key (1–256 characters); for our events, the user key.
    pub partition_key: String,
    /// The record's bytes, sent as they are (Kinesis Base64-encodes on the wire).
    pub data: Vec<u8>,
}

impl OutRecord {
    /// A record from a key and bytes.
    pub fn new(partition_key: impl Into<String>, data: impl Into<Vec<u8>>) -> Self {
        OutRecord {
            partition_key: partition_key.into(),
            data: data.into(),
        }
    }

    /// Bytes this record counts against the limits: UTF-8 key + data.
    pub fn size(&self) -> usize {
        self.partition_key.len() + self.data.len()
    }
}

impl std::fmt::Debug for OutRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Data can be large; show its size, not its bytes.
        f.debug_struct("OutRecord")
            .field("partition_key", &self.partition_key)
            .field("data_len", &self.data.len())
            .finish()
    }
}

/// A record refused before sending.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidRecord {
    /// Key + data exceed 1 MiB.
    #[error("record {index} (partition key {key:?}) is {size} bytes (key + data), over the {MAX_RECORD_BYTES}-byte (1 MiB) Kinesis record limit")]
    TooLarge {
        /// Position in the input.
        index: usize,
        /// Its partition key (first 64 characters).
        key: String,
        /// Key + data bytes.
        size: usize,
    },
    /// Empty partition key.
    #[error(
        "record {index} has an empty partition key (Kinesis needs 1–{MAX_KEY_CHARS} characters)"
    )]
    EmptyKey {
        /// Position in the input.
        index: usize,
    },
    /// Partition key over 256 characters.
    #[error("record {index} (partition key {key:?}…) has a {chars}-character partition key, over Kinesis's {MAX_KEY_CHARS}")]
    KeyTooLong {
        /// Position in the input.
        index: usize,
        /// Its partition key (first 64 characters).
        key: String,
        /// Characters in the key.
        chars: usize,
    },
}

fn key_prefix(key: &str) -> String {
    key.chars().take(64).collect()
}

/// Checks one record against the per-record limits.
pub fn validate_record(index: usize, record: &OutRecord) -> Result<(), InvalidRecord> {
    let chars = record.partition_key.chars().count();
    if chars == 0 {
        return Err(InvalidRecord::EmptyKey { index });
    }
    if chars > MAX_KEY_CHARS {
        return Err(InvalidRecord::KeyTooLong {
            index,
            key: key_prefix(&record.partition_key),
            chars,
        });
    }
    if record.size() > MAX_RECORD_BYTES {
        return Err(InvalidRecord::TooLarge {
            index,
            key: key_prefix(&record.partition_key),
            size: record.size(),
        });
    }
    Ok(())
}

/// Packs `records`, in order, into index ranges of at most `max_records` (capped at 500)
/// records and 5 MiB each. Records must already be valid (≤ 1 MiB each), so every range holds
/// at least one record.
pub fn plan_batches(records: &[OutRecord], max_records: usize) -> Vec<Range<usize>> {
    let max_records = max_records.clamp(1, MAX_CALL_RECORDS);
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, r) in records.iter().enumerate() {
        let size = r.size();
        if i > start && (i - start == max_records || bytes + size > MAX_CALL_BYTES) {
            out.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < records.len() {
        out.push(start..records.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(key: &str, len: usize) -> OutRecord {
        OutRecord::new(key, vec![7u8; len])
    }

    #[test]
    fn splits_by_record_count() {
        let records: Vec<_> = (0..1234).map(|i| rec(&format!("u{i}"), 10)).collect();
        let plan = plan_batches(&records, MAX_CALL_RECORDS);
        assert_eq!(plan, vec![0..500, 500..1000, 1000..1234]);
        assert_eq!(
            plan_batches(&records, 10_000),
            plan,
            "cap is 500 whatever is asked"
        );
        assert_eq!(plan_batches(&records[..7], 3), vec![0..3, 3..6, 6..7]);
        assert!(plan_batches(&[], 500).is_empty());
    }

    #[test]
    fn splits_by_call_bytes_counting_keys() {
        // Five records of exactly 1 MiB (key + data) fill a call; the sixth starts a new one.
        let data = MAX_RECORD_BYTES - 2;
        let records: Vec<_> = (0..6).map(|i| rec(&format!("k{i}"), data)).collect();
        assert!(records.iter().all(|r| r.size() == MAX_RECORD_BYTES));
        assert_eq!(plan_batches(&records, 500), vec![0..5, 5..6]);
        // One byte more in the first record pushes the fifth out.
        let mut records = records;
        records[0].data.push(0);
        assert_eq!(plan_batches(&records, 500), vec![0..4, 4..6]);
    }

    #[test]
    fn every_call_stays_within_limits() {
        let records: Vec<_> = (0..900)
            .map(|i| rec(&format!("user-{i}"), (i * 7919) % 40_000))
            .collect();
        let plan = plan_batches(&records, 500);
        let mut next = 0;
        for r in &plan {
            assert_eq!(r.start, next, "ranges are contiguous and in order");
            next = r.end;
            assert!(r.len() <= MAX_CALL_RECORDS);
            assert!(
                records[r.clone()]
                    .iter()
                    .map(OutRecord::size)
                    .sum::<usize>()
                    <= MAX_CALL_BYTES
            );
        }
        assert_eq!(next, records.len());
    }

    #[test]
    fn per_record_limits() {
        assert_eq!(validate_record(0, &rec("k", MAX_RECORD_BYTES - 1)), Ok(()));
        let err = validate_record(3, &rec("big-user", MAX_RECORD_BYTES)).unwrap_err();
        assert_eq!(
            err,
            InvalidRecord::TooLarge {
                index: 3,
                key: "big-user".into(),
                size: MAX_RECORD_BYTES + 8
            }
        );
        let msg = err.to_string();
        assert!(
            msg.contains("record 3") && msg.contains("big-user") && msg.contains("1 MiB"),
            "{msg}"
        );
        assert_eq!(
            validate_record(1, &rec("", 1)),
            Err(InvalidRecord::EmptyKey { index: 1 })
        );
        assert!(
            validate_record(0, &rec(&"é".repeat(256), 1)).is_ok(),
            "limit counts characters"
        );
        assert!(matches!(
            validate_record(2, &rec(&"x".repeat(257), 1)),
            Err(InvalidRecord::KeyTooLong {
                index: 2,
                chars: 257,
                ..
            })
        ));
    }

    #[test]
    fn debug_hides_data() {
        let s = format!("{:?}", rec("u1", 3));
        assert!(s.contains("data_len: 3") && !s.contains("[7"), "{s}");
    }
}
