//! Body parsing (pure): batch and context merge, single calls, JSON Lines by type and by
//! shape, per-item rejections, limits, `receivedAt`, partition keys.

use audience_collector::parse::{parse_body, BodyError, BodyFormat, Parsed};
use audience_collector::Limits;
use serde_json::{json, Value};

const AT: &str = "2026-12-07T04:00:00.25Z";

fn parse(body: &str, content_type: Option<&str>) -> Result<Parsed, BodyError> {
    parse_body(body.as_bytes(), content_type, None, &Limits::default(), AT)
}

fn events(parsed: &Parsed) -> Vec<Value> {
    parsed
        .events
        .iter()
        .map(|e| serde_json::from_slice(&e.bytes).unwrap())
        .collect()
}

#[test]
fn batch_context_is_merged_into_items_that_lack_its_keys() {
    let body = json!({
        "batch": [
            {"type": "track", "event": "A", "userId": "u1"},
            {"type": "track", "event": "B", "userId": "u2",
             "context": {"app": {"name": "own"}, "locale": "ja-JP"}},
            {"type": "track", "event": "C", "userId": "u3", "context": null},
            {"type": "track", "event": "D", "userId": "u4", "context": "odd"},
        ],
        "context": {"app": {"name": "batch"}, "library": {"name": "analytics-ios"}},
    });
    let parsed = parse(&body.to_string(), None).unwrap();
    assert_eq!(parsed.format, BodyFormat::Batch);
    assert!(parsed.rejected.is_empty());
    let got = events(&parsed);
    assert_eq!(got.len(), 4);
    assert_eq!(
        got[0]["context"],
        json!({"app": {"name": "batch"}, "library": {"name": "analytics-ios"}})
    );
    // The item's own keys win; the missing ones are added.
    assert_eq!(
        got[1]["context"],
        json!({"app": {"name": "own"}, "locale": "ja-JP", "library": {"name": "analytics-ios"}})
    );
    assert_eq!(got[2]["context"]["library"]["name"], "analytics-ios");
    assert_eq!(got[3]["context"], "odd");
    // No top-level `batch`/`context` leaks into the items.
    assert!(got.iter().all(|e| e.get("batch").is_none()));
    let keys: Vec<&str> = parsed
        .events
        .iter()
        .map(|e| e.partition_key.as_str())
        .collect();
    assert_eq!(keys, ["u1", "u2", "u3", "u4"]);
    assert_eq!(
        parsed.events.iter().map(|e| e.index).collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );
}

#[test]
fn received_at_is_set_only_where_missing() {
    let body = json!({"batch": [
        {"type": "track", "event": "A", "userId": "u1"},
        {"type": "track", "event": "A", "userId": "u1", "receivedAt": "2026-01-01T00:00:00Z"},
        {"type": "track", "event": "A", "userId": "u1", "receivedAt": null},
    ]});
    let got = events(&parse(&body.to_string(), None).unwrap());
    assert_eq!(got[0]["receivedAt"], AT);
    assert_eq!(got[1]["receivedAt"], "2026-01-01T00:00:00Z");
    assert_eq!(got[2]["receivedAt"], AT);
}

#[test]
fn a_single_call_is_one_event_and_a_path_can_name_its_type() {
    let body =
        r#"{"event": "Order Completed", "anonymousId": "anon-7", "properties": {"revenue": 12}}"#;
    let parsed = parse(body, None).unwrap();
    assert_eq!(parsed.format, BodyFormat::Single);
    assert_eq!(parsed.events.len(), 1);
    assert_eq!(parsed.events[0].partition_key, "anon-7");
    assert!(events(&parsed)[0].get("type").is_none());

    let typed = parse_body(body.as_bytes(), None, Some("track"), &Limits::default(), AT).unwrap();
    assert_eq!(events(&typed)[0]["type"], "track");
    // A call's own type wins over the path's.
    let own = parse_body(
        br#"{"type": "page", "userId": "u"}"#,
        None,
        Some("track"),
        &Limits::default(),
        AT,
    )
    .unwrap();
    assert_eq!(events(&own)[0]["type"], "page");
}

#[test]
fn json_lines_by_content_type_or_by_shape() {
    let body = "{\"type\":\"track\",\"event\":\"A\",\"userId\":\"u1\"}\r\n\n  \n{\"type\":\"identify\",\"userId\":\"u2\",\"traits\":{\"pref\":\"兵庫県\"}}\n";
    for content_type in [
        Some("application/x-ndjson"),
        Some("application/jsonl; charset=utf-8"),
        None,
        Some("application/json"),
    ] {
        let parsed = parse(body, content_type).unwrap();
        assert_eq!(parsed.format, BodyFormat::JsonLines, "{content_type:?}");
        assert!(parsed.rejected.is_empty());
        // Indexes are 0-based line numbers; blank lines are skipped.
        assert_eq!(
            parsed.events.iter().map(|e| e.index).collect::<Vec<_>>(),
            [0, 3]
        );
        let got = events(&parsed);
        assert_eq!(got[1]["traits"]["pref"], "兵庫県");
        assert_eq!(got[0]["receivedAt"], AT);
    }
    // One object declared as JSON Lines is one line.
    let one = parse(
        r#"{"type":"track","event":"A","userId":"u1"}"#,
        Some("application/x-ndjson"),
    )
    .unwrap();
    assert_eq!((one.format, one.events.len()), (BodyFormat::JsonLines, 1));
}

#[test]
fn items_that_are_not_objects_or_too_large_are_rejected_one_by_one() {
    let limits = Limits {
        max_event_bytes: 200,
        ..Limits::default()
    };
    let big = "x".repeat(300);
    let body = json!({"batch": [
        {"type": "track", "event": "A", "userId": "u1"},
        42,
        "text",
        null,
        [1, 2],
        {"type": "track", "event": big, "userId": "u2"},
        {"type": "track", "event": "B", "userId": "u3"},
    ]});
    let parsed = parse_body(body.to_string().as_bytes(), None, None, &limits, AT).unwrap();
    assert_eq!(
        parsed.events.iter().map(|e| e.index).collect::<Vec<_>>(),
        [0, 6]
    );
    let rejected: Vec<(usize, &str)> = parsed
        .rejected
        .iter()
        .map(|r| (r.index, r.reason.as_str()))
        .collect();
    assert_eq!(rejected.len(), 5, "{rejected:?}");
    assert_eq!(rejected[0], (1, "not a JSON object (a number)"));
    assert_eq!(rejected[1], (2, "not a JSON object (a string)"));
    assert_eq!(rejected[2], (3, "not a JSON object (a null)"));
    assert_eq!(rejected[3], (4, "not a JSON object (a array)"));
    assert_eq!(rejected[4].0, 5);
    assert!(
        rejected[4].1.contains("over the limit of 200"),
        "{}",
        rejected[4].1
    );

    // JSON Lines: a line that is not JSON is rejected on its own.
    let lines = "{\"userId\":\"u1\",\"type\":\"track\",\"event\":\"A\"}\n{not json\n7\n";
    let parsed = parse(lines, None).unwrap();
    assert_eq!(parsed.events.len(), 1);
    assert_eq!(parsed.rejected[0].index, 1);
    assert!(parsed.rejected[0].reason.starts_with("not JSON"));
    assert_eq!(parsed.rejected[1].index, 2);
    assert_eq!(parsed.rejected[1].reason, "not a JSON object (a number)");
}

#[test]
fn the_event_size_is_judged_as_written() {
    // An event exactly at the limit passes; one byte more (here: the added receivedAt) not.
    let call = json!({"userId": "u1", "receivedAt": AT, "event": "E"});
    let size = serde_json::to_vec(&call).unwrap().len();
    let exact = Limits {
        max_event_bytes: size,
        ..Limits::default()
    };
    let ok = parse_body(call.to_string().as_bytes(), None, None, &exact, AT).unwrap();
    assert_eq!(ok.events.len(), 1);
    let without = json!({"userId": "u1", "event": "E"});
    let tight = Limits {
        max_event_bytes: serde_json::to_vec(&without).unwrap().len(),
        ..Limits::default()
    };
    let refused = parse_body(without.to_string().as_bytes(), None, None, &tight, AT).unwrap();
    assert_eq!((refused.events.len(), refused.rejected.len()), (0, 1));
}

#[test]
fn limits_refuse_the_whole_body() {
    let limits = Limits {
        max_body_bytes: 1_000,
        max_event_bytes: 1_000,
        max_events: 3,
    };
    let item = json!({"type": "track", "event": "A", "userId": "u1"});
    let big = format!("{{\"batch\": [], \"pad\": \"{}\"}}", "x".repeat(1_000));
    let err = parse_body(big.as_bytes(), None, None, &limits, AT).unwrap_err();
    assert!(matches!(err, BodyError::TooLarge { limit: 1_000, .. }));
    assert_eq!(err.status(), 413);

    let four = json!({"batch": [item, item, item, item]}).to_string();
    let err = parse_body(four.as_bytes(), None, None, &limits, AT).unwrap_err();
    assert_eq!(err, BodyError::TooManyEvents { count: 4, limit: 3 });
    assert_eq!(err.status(), 413);
    let three = json!({"batch": [item, item, item]}).to_string();
    assert_eq!(
        parse_body(three.as_bytes(), None, None, &limits, AT)
            .unwrap()
            .events
            .len(),
        3
    );

    let lines = format!("{item}\n{item}\n\n{item}\n{item}\n");
    let err = parse_body(lines.as_bytes(), None, None, &limits, AT).unwrap_err();
    assert_eq!(err, BodyError::TooManyEvents { count: 4, limit: 3 });

    // The defaults.
    let d = Limits::default();
    assert_eq!(
        (d.max_body_bytes, d.max_event_bytes, d.max_events),
        (512 * 1024, 32 * 1024, 2_500)
    );
}

#[test]
fn unreadable_bodies_are_400_with_the_reason() {
    for (body, content_type, want) in [
        ("", None, "the body is empty"),
        ("  \n ", None, "the body is empty"),
        ("{\"userId\": ", None, "the body is not JSON"),
        ("[{\"userId\": \"u\"}]", None, "the body is a JSON array"),
        ("\"text\"", None, "the body is a JSON string, not an object"),
        (
            "{\"batch\": {\"userId\": \"u\"}}",
            None,
            "`batch` is a JSON object, not an array",
        ),
        (
            "{\"batch\": [], \"context\": 3}",
            None,
            "`context` is a JSON number",
        ),
        (
            "garbage\nmore garbage\n",
            None,
            "neither JSON nor JSON Lines (line 1: not JSON",
        ),
        (
            "garbage",
            Some("application/x-ndjson"),
            "neither JSON nor JSON Lines",
        ),
    ] {
        let err = parse(body, content_type).unwrap_err();
        assert_eq!(err.status(), 400, "{body:?}");
        assert!(err.to_string().contains(want), "{body:?}: {err}");
    }
    // Not UTF-8.
    let err = parse_body(&[0xff, 0xfe, b'{'], None, None, &Limits::default(), AT).unwrap_err();
    assert_eq!(err.status(), 400);
}
