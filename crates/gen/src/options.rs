//! What to generate: [`GenOptions`], the options of `audience-stream gen`.

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenOptions {
    /// Seed for every random choice; the same options always give the same output.
    pub seed: u64,
    /// Number of users (`user-0001` …).
    pub users: usize,
    /// Exact number of events to produce.
    pub events: usize,
    /// Newest event time, Unix epoch milliseconds; one event lands exactly on it.
    pub end_ms: i64,
    /// How many days before `end_ms` the events span.
    pub days: u32,
    /// Kinesis shard count for envelopes built from these events.
    pub shards: u32,
}
