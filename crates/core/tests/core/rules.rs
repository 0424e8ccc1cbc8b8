//! Rules loading: the shipped file, locations of errors, cycles, bounds.

use crate::util::*;
use audience_core::Rules;

#[test]
fn shipped_rules_file_loads_with_hyogo() {
    let text = std::fs::read_to_string(format!(
        "{}/../../fixtures/segments.yaml",
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into())
    ))
    .unwrap();
    let r = Rules::load(&text, "segments.yaml").unwrap();
    let hyogo = r.segment("hyogo").unwrap();
    assert!(hyogo.def.destinations.has("line"));
    // Dependencies come first.
    let dep = r.index_of("hyogo-line-buyers").unwrap();
    assert!(r.index_of("hyogo").unwrap() < dep && r.index_of("line-linked").unwrap() < dep);
    assert_eq!(r.max_window_days, 90);
}

#[test]
fn unknown_key_is_reported_with_line_and_column() {
    let err = Rules::load(
        "segments:\n  - id: a\n    condition:\n      event_count: { event_type: x, within: 3d, min: 1, mni: 2 }\n",
        "r.yaml",
    )
    .unwrap_err();
    assert_eq!(err.line, 4, "{err}");
    assert!(err.to_string().starts_with("r.yaml:4:"), "{err}");
    assert!(err.message.contains("mni"), "{err}");
}

#[test]
fn semantic_errors_name_the_segment_line() {
    let text = "segments:\n  - id: a\n    condition: { in_segment: b }\n  - id: b\n    condition: { in_segment: a }\n";
    let err = Rules::load(text, "r.yaml").unwrap_err();
    assert!(err.message.contains("cycle"), "{err}");
    assert!(err.line == 2 || err.line == 4, "{err}");

    let err = Rules::load(
        "segments:\n  - id: a\n    condition: { in_segment: nope }\n",
        "r.yaml",
    )
    .unwrap_err();
    assert!(err.message.contains("unknown segment `nope`"), "{err}");
    assert_eq!(err.line, 2);

    let err = Rules::load(
        "segments:\n  - id: a\n    condition: { event_count: { event_type: x, within: 401d, min: 1 } }\n",
        "r.yaml",
    )
    .unwrap_err();
    assert!(err.message.contains("400-day"), "{err}");

    let err = Rules::load(
        "segments:\n  - id: a\n    condition: { event_count: { event_type: x, within: 12h, min: 1 } }\n",
        "r.yaml",
    )
    .unwrap_err();
    assert!(err.message.contains("whole days"), "{err}");

    let err = Rules::load(
        "segments:\n  - id: a\n    condition: { user_attribute: { name: p, eq: x, ne: y } }\n",
        "r.yaml",
    )
    .unwrap_err();
    assert!(err.message.contains("exactly one operator"), "{err}");

    let err = Rules::load(
        "segments:\n  - id: a\n    condition: { line_linked: true }\n  - id: a\n    condition: { line_linked: false }\n",
        "r.yaml",
    )
    .unwrap_err();
    assert!(err.message.contains("defined twice"), "{err}");

    // Destination kinds are an open set: the core checks only their shape; each destination
    // checks its own settings (crates/destinations/tests/registry.rs).
    let open = Rules::load(
        "segments:\n  - id: a\n    condition: { line_linked: true }\n    destinations: { crm-webhook: { url: x } }\n",
        "r.yaml",
    );
    assert!(open.is_ok_and(|r| r.segments[0].def.destinations.has("crm-webhook")));
    let err = Rules::load(
        "segments:\n  - id: a\n    condition: { line_linked: true }\n    destinations: { line: yes }\n",
        "r.yaml",
    )
    .unwrap_err();
    assert!(err.message.contains("must be a map of settings"), "{err}");
}

#[test]
fn aggregates_are_shared_between_conditions_with_the_same_events() {
    let r = rules(
        "segments:\n  - id: a\n    condition: { event_count: { event_type: buy, within: 3d, min: 1 } }\n  - id: b\n    condition: { event_count: { event_type: buy, within: 30d, min: 5 } }\n",
    );
    assert_eq!(r.aggs.len(), 1);
    assert_eq!(r.max_window_days, 30);
}

#[test]
fn timezone_is_an_iana_name_checked_at_load() {
    let seg = "segments:\n  - id: a\n    condition: { line_linked: true }\n";
    let default = Rules::load(seg, "r.yaml").unwrap();
    assert_eq!(default.zone.name(), "UTC");
    let tokyo = Rules::load(
        &format!("settings:\n  timezone: Asia/Tokyo\n{seg}"),
        "r.yaml",
    )
    .unwrap();
    assert_eq!(tokyo.zone.name(), "Asia/Tokyo");
    // 2025-11-30T23:30:00Z is 2025-12-01 in Tokyo.
    let t = 1_764_545_400_000;
    assert_eq!(tokyo.zone.day_of(t), default.zone.day_of(t) + 1);
    let err = Rules::load(
        &format!("settings:\n  timezone: Mars/Olympus\n{seg}"),
        "r.yaml",
    )
    .unwrap_err();
    assert_eq!(err.line, 2, "{err}");
    assert!(err.message.contains("settings.timezone"), "{err}");
    assert!(err.message.contains("Mars/Olympus"), "{err}");
}
