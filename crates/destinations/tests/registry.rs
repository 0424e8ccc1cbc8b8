//! The registry checks what the core leaves open: a segment's destination kinds must be
//! registered, and each kind's settings must be ones its crate accepts.

use audience_core::Rules;
use audience_destinations::{check_rules, DestinationKind, KINDS};

fn check(destinations: &str) -> Result<(), String> {
    let text = format!(
        "segments:\n  - id: s\n    condition: {{ line_linked: true }}\n    destinations: {destinations}\n"
    );
    let rules = Rules::load(&text, "r.yaml").map_err(|e| format!("load: {e}"))?;
    check_rules(&rules)
}

#[test]
fn every_registered_kind_is_accepted_with_its_own_settings() {
    check(r#"{ line: { audience_name: "VIP" }, pinpoint: { segment_id: "abc" }, eventbridge: { bus: crm } }"#)
        .unwrap_or_else(|e| panic!("{e}"));
    check("{ eventbridge: {} }").unwrap_or_else(|e| panic!("{e}"));
    check("{ eventbridge: }").unwrap_or_else(|e| panic!("{e}"));
    let kinds: Vec<&str> = KINDS.iter().map(|k| k.kind).collect();
    let flags: Vec<&str> = DestinationKind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(
        kinds, flags,
        "every registered kind can be chosen with --destination"
    );
}

#[test]
fn unknown_kinds_and_bad_settings_are_refused_naming_segment_and_kind() {
    let long_name = format!("{{ line: {{ audience_name: {} }} }}", "x".repeat(121));
    let cases = [
        (
            "{ lien: { audience_name: x } }",
            "segment `s`: unknown destination `lien` (destinations: line, pinpoint, eventbridge, line_message)",
        ),
        (
            "{ line: { audience_name: x, audience_id: 5 } }",
            "destinations.line: line destination needs exactly one of audience_name or audience_id",
        ),
        (
            "{ line: { audiance_name: x } }",
            "unknown field `audiance_name`",
        ),
        (
            "{ pinpoint: {} }",
            "exactly one of segment_name or segment_id",
        ),
        (
            "{ eventbridge: { bus: \"no spaces\" } }",
            "is not an event bus name",
        ),
        (
            "{ eventbridge: { bus: crm, detail: x } }",
            "unknown field `detail`",
        ),
        ("{ line_message: {} }", "give on_enter or on_exit"),
        (
            "{ line_message: { on_enter: [\"Hi {{name}}\"] } }",
            "is not kept in users' state",
        ),
        ("{ Line: {} }", "load: "),
        ("{ line: [1] }", "must be a map of settings"),
        (
            &long_name,
            "must be 1–120 characters (LINE's limit), it has 121",
        ),
    ];
    for (destinations, want) in cases {
        let err = check(destinations).err().unwrap_or_default();
        assert!(
            err.contains(want),
            "{destinations}: got `{err}`, want `{want}`"
        );
    }
}
