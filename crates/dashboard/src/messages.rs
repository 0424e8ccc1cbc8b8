//! LINE messages sent per segment per day, from the ledger rows the page already reads (no
//! store read of its own): rows of destination `line_message` with action `push` or
//! `multicast` and status `ok` — one per request LINE accepted (a 409 on its retry key counts:
//! LINE had accepted it, and that row is the only one for the request) — summing their
//! recipients, by calendar day in the rules' time zone. Dry-run, failed and parked rows sent
//! nothing and are left out. Recipients are counts; the ledger holds no user IDs.

use crate::model::MessagesDay;
use audience_core::time::format_day;
use audience_core::Zone;
use audience_store::{LedgerEntry, LedgerStatus};
use std::collections::BTreeMap;

/// The message destination's kind in the ledger (`audience_sync::line_message::KIND`).
pub const MESSAGE_DESTINATION: &str = "line_message";

/// Recipients of one accepted request: `detail.recipients`, else its entries (entered +
/// exited changes), which equal it.
fn recipients(e: &LedgerEntry) -> u64 {
    e.detail
        .get("recipients")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(e.users.saturating_add(e.exits))
}

/// Messages sent per (day, segment), newest day first, segments in ID order.
pub fn messages_per_day(entries: &[LedgerEntry], zone: &Zone) -> Vec<MessagesDay> {
    let mut by: BTreeMap<(std::cmp::Reverse<i32>, &str), (u64, u64)> = BTreeMap::new();
    for e in entries.iter().filter(|e| {
        e.destination == MESSAGE_DESTINATION
            && e.status == LedgerStatus::Ok
            && matches!(e.action.as_str(), "push" | "multicast")
    }) {
        let slot = by
            .entry((std::cmp::Reverse(zone.day_of(e.at)), e.segment.as_str()))
            .or_default();
        slot.0 += 1;
        slot.1 = slot.1.saturating_add(recipients(e));
    }
    by.into_iter()
        .map(
            |((std::cmp::Reverse(day), segment), (requests, sent))| MessagesDay {
                day: format_day(day),
                segment: segment.to_string(),
                requests,
                sent,
            },
        )
        .collect()
}
