//! Property tests of message planning: every recipient is in exactly one request, requests
//! stay within LINE's limits, and planning the same entries again (in any order) gives the
//! same requests with the same retry keys.

use audience_core::plan::message::{
    plan_messages, PlannedMessage, Recipient, SendKind, MAX_MULTICAST,
};
use audience_core::ChangeKind;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// (LINE ID number, which of 3 message variants) per entry.
fn arb_entries() -> impl Strategy<Value = Vec<(u16, u8)>> {
    prop::collection::vec((0u16..1500, 0u8..3), 0..1400)
}

fn rendered(entries: &[(u16, u8)]) -> Vec<(Recipient, Vec<Value>)> {
    entries
        .iter()
        .enumerate()
        .map(|(i, (id, variant))| {
            (
                Recipient {
                    entry: i,
                    change_id: format!("change-{i}"),
                    line_user_id: format!("U{id:032x}"),
                },
                vec![json!({"type": "text", "text": format!("variant {variant}")})],
            )
        })
        .collect()
}

fn by_key(plan: &[PlannedMessage]) -> Vec<(String, Vec<String>, Vec<Value>)> {
    let mut out: Vec<_> = plan
        .iter()
        .map(|p| (p.retry_key.clone(), p.to.clone(), p.messages.clone()))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_entry_once_within_limits(entries in arb_entries()) {
        let plan = plan_messages("vip", ChangeKind::Entered, rendered(&entries));
        let mut seen: Vec<usize> = plan.iter().flat_map(|p| p.entries.clone()).collect();
        seen.sort_unstable();
        prop_assert_eq!(seen, (0..entries.len()).collect::<Vec<_>>());
        for p in &plan {
            prop_assert!(!p.to.is_empty() && p.to.len() <= MAX_MULTICAST);
            prop_assert_eq!(p.kind == SendKind::Push, p.to.len() == 1);
            let distinct: BTreeSet<&String> = p.to.iter().collect();
            prop_assert_eq!(distinct.len(), p.to.len());
            // Every entry of a request has its LINE ID among the recipients and the
            // request's messages.
            for e in &p.entries {
                let (id, variant) = entries[*e];
                let line_id = format!("U{id:032x}");
                let text = json!(format!("variant {variant}"));
                prop_assert!(p.to.contains(&line_id));
                prop_assert_eq!(&p.messages[0]["text"], &text);
            }
        }
        let keys: BTreeSet<&str> = plan.iter().map(|p| p.retry_key.as_str()).collect();
        prop_assert_eq!(keys.len(), plan.len());
    }

    #[test]
    fn planning_again_in_any_order_gives_the_same_keys(entries in arb_entries(), seed in any::<u64>()) {
        let first = plan_messages("vip", ChangeKind::Entered, rendered(&entries));
        let mut shuffled = rendered(&entries);
        // A deterministic shuffle: rotate and reverse by the seed.
        if !shuffled.is_empty() {
            let k = (seed as usize) % shuffled.len();
            shuffled.rotate_left(k);
            if seed % 2 == 0 {
                shuffled.reverse();
            }
        }
        let again = plan_messages("vip", ChangeKind::Entered, shuffled);
        prop_assert_eq!(by_key(&first), by_key(&again));
    }
}
