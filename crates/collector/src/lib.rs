//! The HTTP event collector: apps and backends POST analytics events (Segment's HTTP API
//! shapes, or JSON Lines) with a per-source write key, and the collector puts each event on the
//! Kinesis stream the consumer reads, as one record keyed by its user.
//!
//! - [`parse`] (pure): the body as a Segment batch (`{"batch": [...], "context": {...}}`), a
//!   single call object, or JSON Lines; per-item checks (an object, within the size limit), the
//!   batch `context` merged in, `receivedAt` set, the partition key chosen ([`partition`]).
//! - [`auth`] (pure): write keys per source, checked in constant time.
//! - [`handler`] (async): one request → one response, writing through
//!   [`audience_kinesis::EventSink`]. The Lambda function (`collector`) and
//!   `audience-stream collect` are thin adapters over it.

pub mod auth;
pub mod handler;
pub mod limits;
pub mod parse;
pub mod partition;

pub use auth::{AuthError, Source, WriteKeys, WriteKeysError};
pub use handler::{handle, Collector, CollectorRequest, CollectorResponse};
pub use limits::Limits;
pub use parse::{parse_body, BodyError, BodyFormat, Parsed, Rejection};
