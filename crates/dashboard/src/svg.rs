//! A small server-side SVG helper: a size-over-time line chart, entered-vs-exited bars and a
//! sparkline. Axis text is only numbers and ASCII dates (segment names, which may be
//! Japanese, stay in the HTML around the chart). Output is compact: integer coordinates and
//! one `<path>` per series, so 50 segments × 90 days stay far below the page budget.

use crate::format::compact;
use crate::series::Bucket;
use std::fmt::Write;

const ENTER: &str = "#1a7f37";
const EXIT: &str = "#cf4a1d";
const LINE: &str = "#2f5bd3";
const GRID: &str = "#e3e6eb";
const TEXT: &str = "#57606a";

/// Plot area geometry.
struct Frame {
    w: i64,
    h: i64,
    left: i64,
    right: i64,
    top: i64,
    bottom: i64,
}

impl Frame {
    fn new(w: i64, h: i64) -> Frame {
        Frame {
            w,
            h,
            left: 52,
            right: 10,
            top: 10,
            bottom: 22,
        }
    }
    fn plot_w(&self) -> i64 {
        self.w - self.left - self.right
    }
    fn plot_h(&self) -> i64 {
        self.h - self.top - self.bottom
    }
    /// X of slot `i` of `n` (centre).
    fn x(&self, i: usize, n: usize) -> i64 {
        let n = n.max(1) as i64;
        self.left + (2 * i as i64 + 1) * self.plot_w() / (2 * n)
    }
    /// Y of `v` on the scale `lo..=hi`.
    fn y(&self, v: i64, lo: i64, hi: i64) -> i64 {
        let span = (hi - lo).max(1) as f64;
        self.top + self.plot_h() - (((v - lo) as f64 / span) * self.plot_h() as f64).round() as i64
    }
}

/// A "nice" step (1, 2 or 5 × 10^k) splitting `span` into about `parts`.
fn nice_step(span: i64, parts: i64) -> i64 {
    let raw = (span.max(1) as f64 / parts.max(1) as f64).max(1.0);
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    step as i64
}

/// Axis range and ticks covering `min..=max`.
fn axis(min: i64, max: i64, include_zero: bool) -> (i64, i64, Vec<i64>) {
    let (mut min, mut max) = (min, max);
    if include_zero || min > 0 && min <= max / 2 {
        min = min.min(0);
        max = max.max(0);
    }
    if min == max {
        max = min + 1;
    }
    let step = nice_step(max - min, 5);
    let lo = min.div_euclid(step) * step;
    let hi = (max + step - 1).div_euclid(step) * step;
    let ticks = (0..)
        .map(|i| lo + i * step)
        .take_while(|t| *t <= hi)
        .collect();
    (lo, hi, ticks)
}

fn open(out: &mut String, f: &Frame, label: &str) {
    let _ = write!(
        out,
        r#"<svg viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{label}" font-family="sans-serif" font-size="11"><title>{label}</title>"#,
        w = f.w,
        h = f.h,
        label = escape(label)
    );
}

fn y_grid(out: &mut String, f: &Frame, lo: i64, hi: i64, ticks: &[i64]) {
    let mut d = String::new();
    for t in ticks {
        let y = f.y(*t, lo, hi);
        let _ = write!(d, "M{} {}H{}", f.left, y, f.w - f.right);
        let _ = write!(
            out,
            r#"<text x="{}" y="{}" text-anchor="end" fill="{TEXT}">{}</text>"#,
            f.left - 6,
            y + 4,
            compact(*t)
        );
    }
    let _ = write!(out, r#"<path d="{d}" stroke="{GRID}"/>"#);
}

fn x_labels(out: &mut String, f: &Frame, labels: &[&str]) {
    let n = labels.len();
    if n == 0 {
        return;
    }
    let picks: Vec<usize> = if n <= 4 {
        (0..n).collect()
    } else {
        vec![0, n / 3, 2 * n / 3, n - 1]
    };
    for i in picks {
        let anchor = if n > 1 && i == 0 {
            "start"
        } else if n > 1 && i == n - 1 {
            "end"
        } else {
            "middle"
        };
        let x = if n > 1 && i == 0 {
            f.left
        } else if n > 1 && i == n - 1 {
            f.w - f.right
        } else {
            f.x(i, n)
        };
        let _ = write!(
            out,
            r#"<text x="{x}" y="{}" text-anchor="{anchor}" fill="{TEXT}">{}</text>"#,
            f.h - 6,
            escape(labels[i])
        );
    }
}

/// Size at the end of each bucket, as a line over a light area.
pub fn size_chart(buckets: &[Bucket], w: i64, h: i64, label: &str) -> String {
    let f = Frame::new(w, h);
    let mut out = String::new();
    open(&mut out, &f, label);
    let min = buckets.iter().map(|b| b.size).min().unwrap_or(0);
    let max = buckets.iter().map(|b| b.size).max().unwrap_or(0);
    let (lo, hi, ticks) = axis(min, max, false);
    y_grid(&mut out, &f, lo, hi, &ticks);
    let n = buckets.len();
    if n > 0 {
        let mut d = String::new();
        for (i, b) in buckets.iter().enumerate() {
            let _ = write!(
                d,
                "{}{} {}",
                if i == 0 { "M" } else { "L" },
                f.x(i, n),
                f.y(b.size, lo, hi)
            );
        }
        let base = f.y(lo, lo, hi);
        let _ = write!(
            out,
            r#"<path d="{d}V{base}H{}Z" fill="{LINE}" fill-opacity="0.08"/><path d="{d}" fill="none" stroke="{LINE}" stroke-width="2" stroke-linejoin="round"/>"#,
            f.x(0, n)
        );
    }
    let labels: Vec<&str> = buckets.iter().map(|b| b.label.as_str()).collect();
    x_labels(&mut out, &f, &labels);
    out.push_str("</svg>");
    out
}

/// Entered (up, green) vs exited (down, red) per bucket.
pub fn flow_chart(buckets: &[Bucket], w: i64, h: i64, label: &str) -> String {
    let f = Frame::new(w, h);
    let mut out = String::new();
    open(&mut out, &f, label);
    let up = buckets.iter().map(|b| b.entered as i64).max().unwrap_or(0);
    let down = buckets.iter().map(|b| b.exited as i64).max().unwrap_or(0);
    let (lo, hi, ticks) = axis(-down, up, true);
    y_grid(&mut out, &f, lo, hi, &ticks);
    let n = buckets.len();
    let zero = f.y(0, lo, hi);
    let bar = (f.plot_w() / n.max(1) as i64 * 7 / 10).max(1);
    let (mut ent, mut ex) = (String::new(), String::new());
    for (i, b) in buckets.iter().enumerate() {
        let x = f.x(i, n);
        if b.entered > 0 {
            let _ = write!(ent, "M{x} {zero}V{}", f.y(b.entered as i64, lo, hi));
        }
        if b.exited > 0 {
            let _ = write!(ex, "M{x} {zero}V{}", f.y(-(b.exited as i64), lo, hi));
        }
    }
    if !ent.is_empty() {
        let _ = write!(
            out,
            r#"<path d="{ent}" stroke="{ENTER}" stroke-width="{bar}"/>"#
        );
    }
    if !ex.is_empty() {
        let _ = write!(
            out,
            r#"<path d="{ex}" stroke="{EXIT}" stroke-width="{bar}"/>"#
        );
    }
    let _ = write!(
        out,
        r##"<path d="M{} {zero}H{}" stroke="#8c959f"/>"##,
        f.left,
        f.w - f.right
    );
    let labels: Vec<&str> = buckets.iter().map(|b| b.label.as_str()).collect();
    x_labels(&mut out, &f, &labels);
    out.push_str("</svg>");
    out
}

/// A tiny line of sizes for a table cell (no axes).
pub fn sparkline(values: &[i64], w: i64, h: i64) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg viewBox="0 0 {w} {h}" width="{w}" height="{h}" aria-hidden="true">"#
    );
    if values.len() > 1 {
        let min = values.iter().copied().min().unwrap_or(0);
        let max = values.iter().copied().max().unwrap_or(0);
        let span = (max - min).max(1) as f64;
        let mut d = String::new();
        let n = values.len() as i64 - 1;
        for (i, v) in values.iter().enumerate() {
            let x = i as i64 * (w - 2) / n + 1;
            let y = h - 2 - (((v - min) as f64 / span) * (h - 4) as f64).round() as i64;
            let _ = write!(d, "{}{x} {y}", if i == 0 { "M" } else { "L" });
        }
        let _ = write!(
            out,
            r#"<path d="{d}" fill="none" stroke="{LINE}" stroke-width="1.5"/>"#
        );
    }
    out.push_str("</svg>");
    out
}

/// Escapes text for SVG/XML content and attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(label: &str, size: i64, entered: u64, exited: u64) -> Bucket {
        Bucket {
            start_day: 0,
            end_day: 0,
            label: label.into(),
            size,
            entered,
            exited,
        }
    }

    #[test]
    fn axis_is_nice_and_covers_the_data() {
        let (lo, hi, ticks) = axis(0, 93, false);
        assert_eq!((lo, hi), (0, 100));
        assert_eq!(ticks, vec![0, 20, 40, 60, 80, 100]);
        let (lo, hi, _) = axis(9_950, 10_000, false);
        assert!(lo <= 9_950 && hi >= 10_000 && lo > 0);
        let (lo, hi, _) = axis(-7, 12, true);
        assert!(lo <= -7 && hi >= 12);
    }

    #[test]
    fn charts_are_well_formed_svg_with_ascii_axes() {
        let data = [b("2025-11-30", 10, 3, 0), b("2025-12-01", 12, 4, 2)];
        for svg in [
            size_chart(&data, 600, 200, "size <x>"),
            flow_chart(&data, 600, 200, "flow"),
        ] {
            assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
            assert!(svg.contains("2025-12-01"));
            assert!(!svg.contains("<x>"), "labels are escaped");
            assert!(!svg.contains("http"), "inline SVG needs no namespace URL");
        }
        assert!(sparkline(&[1, 2, 3], 80, 20).contains("<path"));
        assert!(!sparkline(&[1], 80, 20).contains("<path"));
    }

    #[test]
    fn empty_data_still_draws_axes() {
        let svg = size_chart(&[], 600, 200, "empty");
        assert!(svg.contains("</svg>"));
        let svg = flow_chart(&[], 600, 200, "empty");
        assert!(svg.contains("</svg>"));
    }
}
