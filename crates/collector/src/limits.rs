//! The collector's size limits, with their defaults (Segment's HTTP API has the same order of
//! magnitude: 32 KB a call, 500 KB a batch).

/// What one request may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body, bytes; a larger one is refused as a whole (413).
    pub max_body_bytes: usize,
    /// Largest event, bytes (as written to the stream, after the batch context and
    /// `receivedAt` are added); a larger one is rejected on its own.
    pub max_event_bytes: usize,
    /// Most events in one request; more is refused as a whole (413).
    pub max_events: usize,
}

/// 512 KiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 512 * 1024;
/// 32 KiB.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 32 * 1024;
/// 2,500 events.
pub const DEFAULT_MAX_EVENTS: usize = 2_500;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
            max_events: DEFAULT_MAX_EVENTS,
        }
    }
}
