//! How numbers, changes, instants and durations are written on the page.

use audience_core::time::format_rfc3339;
use audience_core::Millis;

/// `12345` → `12,345`.
pub fn int(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// An unsigned count, with separators.
pub fn count(n: u64) -> String {
    int(i64::try_from(n).unwrap_or(i64::MAX))
}

/// `+1,234`, `-56`, `0`.
pub fn signed(n: i64) -> String {
    if n > 0 {
        format!("+{}", int(n))
    } else {
        int(n)
    }
}

/// `+3.2%`, `-0.5%`, `—` when there is no base.
pub fn pct(p: Option<f64>) -> String {
    match p {
        Some(p) if p.abs() < 0.05 => "0.0%".to_string(),
        Some(p) => format!("{p:+.1}%"),
        None => "—".to_string(),
    }
}

/// A short compact number for chart axes: `950`, `12.5k`, `3.1M`.
pub fn compact(n: i64) -> String {
    let a = n.unsigned_abs() as f64;
    let sign = if n < 0 { "-" } else { "" };
    if a >= 1e6 {
        format!("{sign}{}M", trim(a / 1e6))
    } else if a >= 1e4 {
        format!("{sign}{}k", trim(a / 1e3))
    } else {
        int(n)
    }
}

fn trim(x: f64) -> String {
    let s = format!("{x:.1}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

/// `42 s`, `5 min`, `3 h 12 min`, `2 d 4 h`.
pub fn duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    if ms < 1000 {
        format!("{} ms", ms.max(0))
    } else if s < 60 {
        format!("{s} s")
    } else if s < 3600 {
        format!("{} min", s / 60)
    } else if s < 86_400 {
        format!("{} h {} min", s / 3600, (s % 3600) / 60)
    } else {
        format!("{} d {} h", s / 86_400, (s % 86_400) / 3600)
    }
}

/// `2025-12-01 09:30 UTC`.
pub fn instant(ms: Millis) -> String {
    let text = format_rfc3339(ms);
    match (text.get(..10), text.get(11..16)) {
        (Some(date), Some(time)) => format!("{date} {time} UTC"),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(int(0), "0");
        assert_eq!(int(999), "999");
        assert_eq!(int(1000), "1,000");
        assert_eq!(int(-1234567), "-1,234,567");
        assert_eq!(signed(5), "+5");
        assert_eq!(signed(-5), "-5");
        assert_eq!(pct(Some(3.25)), "+3.2%");
        assert_eq!(pct(Some(-12.0)), "-12.0%");
        assert_eq!(pct(None), "—");
        assert_eq!(compact(12_500), "12.5k");
        assert_eq!(compact(3_000_000), "3M");
        assert_eq!(compact(950), "950");
    }

    #[test]
    fn durations_and_instants() {
        assert_eq!(duration(250), "250 ms");
        assert_eq!(duration(42_000), "42 s");
        assert_eq!(duration(300_000), "5 min");
        assert_eq!(duration(3 * 3_600_000 + 12 * 60_000), "3 h 12 min");
        assert_eq!(duration(2 * 86_400_000 + 4 * 3_600_000), "2 d 4 h");
        assert_eq!(instant(1_764_547_200_000), "2025-12-01 00:00 UTC");
    }
}
