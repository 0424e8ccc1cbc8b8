//! Kinesis PutRecords sender and read-back helpers, used by `audience-stream replay
//! --to-kinesis`, `audience-stream recover` (one shard's sequence range, [`RangeReader`]), the
//! LINE webhook Lambda, the HTTP event collector (both through [`sink::EventSink`]) and the
//! end-to-end tests.
//!
//! Design:
//! - Records are checked up front against the per-record limits (partition key 1–256
//!   characters, key + data ≤ 1 MiB): a bad record fails the whole send before any call, with
//!   an error naming its index and key, so a replay never stops half-way over a bad record.
//! - Records are packed in order into calls of at most 500 records and 5 MiB (key + data).
//! - PutRecords answers per entry; only the entries marked failed (`ProvisionedThroughput
//!   ExceededException` / `InternalFailure`) are sent again, with backoff. Re-sending is the
//!   project's one partial-retry mechanism, [`audience_retry::retry_partial`].
//! - The call goes through the small [`PutRecordsApi`] trait (implemented for the SDK client),
//!   so partial failures, which no emulator injects, are tested with a scripted fake.
//! - An optional records-per-second limit (governor) spaces the calls; re-sends count too.

mod api;
mod batch;
mod read;
mod sender;
pub mod sink;

pub use api::{CallError, EntryOutcome, PutRecordsApi};
pub use audience_retry::RetryPolicy;
pub use batch::{
    plan_batches, validate_record, InvalidRecord, OutRecord, MAX_CALL_BYTES, MAX_CALL_RECORDS,
    MAX_KEY_CHARS, MAX_RECORD_BYTES,
};
pub use read::{
    read_all, MissingRange, RangeReader, ReadError, ReadRecord, ShardRange, MAX_EMPTY_RANGE_READS,
};
pub use sender::{FailedRecord, KinesisSender, SendError, SendReport, SenderOptions};
pub use sink::EventSink;
