//! Size alerts: loading `alert:` with located errors, and the pure check of a segment's size
//! now against its size `within` ago.

use audience_core::alert::SizeAlert;
use audience_core::Rules;

const RULES: &str = "segments:
  - id: quiet
    condition: { line_linked: true }
  - id: vip
    condition: { line_linked: true }
    alert: { change_pct: 50, change_abs: 1000, within: 1h }
";

fn alert(pct: Option<f64>, abs: Option<u64>) -> SizeAlert {
    SizeAlert {
        change_pct: pct,
        change_abs: abs,
        within: "1h".parse().unwrap(),
    }
}

#[test]
fn an_alert_loads_with_its_segment() {
    let rules = Rules::load(RULES, "r.yaml").unwrap();
    assert_eq!(rules.segment("quiet").unwrap().def.alert, None);
    let a = rules.segment("vip").unwrap().def.alert.clone().unwrap();
    assert_eq!((a.change_pct, a.change_abs), (Some(50.0), Some(1000)));
    assert_eq!(a.within.millis(), 3_600_000);
}

#[test]
fn bad_alerts_are_errors_at_the_alert_line() {
    for (alert, wanted) in [
        ("{ within: 1h }", "change_pct, change_abs or both"),
        ("{ change_pct: 0, within: 1h }", "change_pct"),
        ("{ change_pct: .nan, within: 1h }", "change_pct"),
        ("{ change_abs: 0, within: 1h }", "change_abs"),
        ("{ change_abs: 5, within: 8d }", "between 1m and 7d"),
        ("{ change_abs: 5, within: 30s }", "between 1m and 7d"),
    ] {
        let text = RULES.replace("{ change_pct: 50, change_abs: 1000, within: 1h }", alert);
        let err = Rules::load(&text, "r.yaml").unwrap_err();
        assert_eq!(err.line, 6, "{alert}: {err}");
        assert!(err.to_string().starts_with("r.yaml:6:"), "{err}");
        assert!(err.message.contains(wanted), "{alert}: {err}");
        assert!(err.message.contains("`vip`"), "{err}");
    }
    // Shape errors come from the parser, located too.
    let text = RULES.replace("within: 1h }", "within: 1h, chnage_pct: 5 }");
    let err = Rules::load(&text, "r.yaml").unwrap_err();
    assert_eq!(err.line, 6, "{err}");
    assert!(err.message.contains("chnage_pct"), "{err}");
    let text = RULES.replace("within: 1h", "within: soon");
    assert_eq!(Rules::load(&text, "r.yaml").unwrap_err().line, 6);
}

#[test]
fn both_thresholds_must_be_met() {
    let a = alert(Some(50.0), Some(1000));
    // Doubled but small: not flagged.
    assert_eq!(a.check(10, 20), None);
    // Large but a small share: not flagged.
    assert_eq!(a.check(100_000, 102_000), None);
    let up = a.check(1_200, 2_600).unwrap();
    assert_eq!((up.before, up.now, up.change), (1_200, 2_600, 1_400));
    assert!(
        up.reason
            .starts_with("grew from 1200 to 2600 (+1400, +116.7%) within 1h"),
        "{}",
        up.reason
    );
    let down = a.check(5_000, 0).unwrap();
    assert_eq!(down.change, -5_000);
    assert_eq!(down.change_pct, Some(-100.0));
    assert!(
        down.reason.starts_with("shrank from 5000 to 0"),
        "{}",
        down.reason
    );
    // Exactly at the thresholds flags.
    assert!(a.check(2_000, 3_000).is_some());
    assert!(a.check(2_000, 2_999).is_none());
}

#[test]
fn one_threshold_alone_and_from_empty() {
    let pct = alert(Some(50.0), None);
    assert!(pct.check(10, 15).is_some());
    assert!(pct.check(10, 14).is_none());
    assert!(pct.check(0, 1).is_some(), "any growth from empty");
    assert_eq!(pct.check(0, 0), None);
    assert_eq!(pct.check(7, 7), None);
    let abs = alert(None, Some(100));
    assert!(abs.check(1_000_000, 999_900).is_some());
    assert!(abs.check(1_000_000, 999_901).is_none());
    // Absurd sizes do not panic or overflow.
    assert!(abs.check(i64::MIN, i64::MAX).is_some());
    assert!(abs.check(i64::MAX, 0).is_some());
}
