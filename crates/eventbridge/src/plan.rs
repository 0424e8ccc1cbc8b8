//! What to send, without I/O: one event per outbox entry, packed into PutEvents calls within
//! EventBridge's limits (10 entries and 256 KiB a call, sizes as AWS computes them).

use audience_core::time::format_rfc3339;
use audience_core::ChangeKind;
use audience_store::OutboxEntry;
use serde_json::json;

/// The events' `source`.
pub const SOURCE: &str = "audience-stream";
/// `detail-type` of an entry.
pub const ENTERED: &str = "Segment Entered";
/// `detail-type` of an exit.
pub const EXITED: &str = "Segment Exited";
/// Most entries in one PutEvents call.
pub const MAX_ENTRIES: usize = 10;
/// Most bytes in one PutEvents call (and in one entry).
pub const MAX_CALL_BYTES: usize = 256 * 1024;

/// One event to put.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedEvent {
    /// The outbox entry it stands for (index into the entries planned).
    pub entry: usize,
    /// The bus.
    pub bus: String,
    /// `Segment Entered` / `Segment Exited`.
    pub detail_type: &'static str,
    /// The detail JSON.
    pub detail: String,
    /// When the change happened, epoch ms.
    pub time_ms: i64,
}

impl PlannedEvent {
    /// The entry's size as PutEvents counts it: 14 bytes for `Time`, plus `Source`,
    /// `DetailType` and `Detail` in UTF-8 bytes.
    pub fn size(&self) -> usize {
        14 + SOURCE.len() + self.detail_type.len() + self.detail.len()
    }
}

/// The event for one outbox entry. `line_linked`: whether the user could be reached on LINE
/// when the event was planned.
pub fn event_for(entry: &OutboxEntry, index: usize, bus: &str, line_linked: bool) -> PlannedEvent {
    let (detail_type, change) = match entry.op {
        ChangeKind::Entered => (ENTERED, "entered"),
        ChangeKind::Exited => (EXITED, "exited"),
    };
    let detail = json!({
        "segment": entry.segment,
        "user": entry.user,
        "change": change,
        "change_id": entry.change_id,
        "at": format_rfc3339(entry.at),
        "at_ms": entry.at,
        "line_linked": line_linked,
    });
    PlannedEvent {
        entry: index,
        bus: bus.to_string(),
        detail_type,
        detail: detail.to_string(),
        time_ms: entry.at,
    }
}

/// Packs events, in order, into calls of at most [`MAX_ENTRIES`] entries and
/// [`MAX_CALL_BYTES`] bytes. An event larger than a whole call is returned apart (it can
/// never be sent; the caller records it).
pub fn pack(events: Vec<PlannedEvent>) -> (Vec<Vec<PlannedEvent>>, Vec<PlannedEvent>) {
    let mut calls: Vec<Vec<PlannedEvent>> = Vec::new();
    let mut too_large = Vec::new();
    let mut bytes = 0;
    for event in events {
        let size = event.size();
        if size > MAX_CALL_BYTES {
            too_large.push(event);
            continue;
        }
        match calls.last_mut() {
            Some(call) if call.len() < MAX_ENTRIES && bytes + size <= MAX_CALL_BYTES => {
                bytes += size;
                call.push(event);
            }
            _ => {
                bytes = size;
                calls.push(vec![event]);
            }
        }
    }
    (calls, too_large)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: usize, op: ChangeKind) -> OutboxEntry {
        OutboxEntry {
            destination: "eventbridge".into(),
            segment: "vip".into(),
            user: format!("u{i}"),
            op,
            at: 1_764_547_200_000,
            change_id: format!("c{i}"),
        }
    }

    #[test]
    fn an_event_names_segment_user_change_and_time() {
        let e = event_for(&entry(1, ChangeKind::Exited), 0, "crm", true);
        assert_eq!(e.detail_type, EXITED);
        let detail: serde_json::Value = serde_json::from_str(&e.detail).unwrap_or_default();
        assert_eq!(detail["segment"], "vip");
        assert_eq!(detail["user"], "u1");
        assert_eq!(detail["change"], "exited");
        assert_eq!(detail["change_id"], "c1");
        assert_eq!(detail["at"], "2025-12-01T00:00:00Z");
        assert_eq!(detail["line_linked"], true);
        assert_eq!(e.size(), 14 + SOURCE.len() + EXITED.len() + e.detail.len());
    }

    #[test]
    fn calls_hold_at_most_ten_entries_and_256_kib_in_order() {
        let events: Vec<PlannedEvent> = (0..25)
            .map(|i| event_for(&entry(i, ChangeKind::Entered), i, "default", false))
            .collect();
        let (calls, too_large) = pack(events);
        assert!(too_large.is_empty());
        assert_eq!(
            calls.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![10, 10, 5]
        );
        let order: Vec<usize> = calls.iter().flatten().map(|e| e.entry).collect();
        assert_eq!(order, (0..25).collect::<Vec<_>>());

        let big = |i: usize, kb: usize| PlannedEvent {
            entry: i,
            bus: "default".into(),
            detail_type: ENTERED,
            detail: "x".repeat(kb * 1024),
            time_ms: 0,
        };
        let (calls, too_large) = pack(vec![big(0, 100), big(1, 100), big(2, 100), big(3, 300)]);
        assert_eq!(calls.iter().map(Vec::len).collect::<Vec<_>>(), vec![2, 1]);
        assert_eq!(
            too_large.iter().map(|e| e.entry).collect::<Vec<_>>(),
            vec![3]
        );
    }
}
