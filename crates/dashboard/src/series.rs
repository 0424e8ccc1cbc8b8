//! Pure arithmetic on a segment's daily history: size over time (reconstructed backwards from
//! the current member count), changes over N days, buckets by day / week / month, and the
//! top growers and decliners.

use audience_core::time::format_day;
use audience_store::DailyCounts;
use serde::Serialize;

/// One day of a segment: its size at the end of the day and that day's enters and exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DayPoint {
    /// UTC day number.
    pub day: i32,
    /// Members at the end of the day.
    pub size: i64,
    /// Enters that day.
    pub entered: u64,
    /// Exits that day.
    pub exited: u64,
}

/// A segment's totals and its last `window` days.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SegmentSeries {
    /// Current members (Σ enters − Σ exits over the whole history).
    pub members: i64,
    /// Enters ever recorded.
    pub entered_total: u64,
    /// Exits ever recorded.
    pub exited_total: u64,
    /// One point per day, oldest first, ending with `today`.
    pub days: Vec<DayPoint>,
}

impl SegmentSeries {
    /// Builds the series from the segment's complete daily history (any order; days may
    /// lie after `today` when clocks disagree — they count in `members` but not in `days`).
    pub fn from_history(history: &[DailyCounts], today: i32, window: i32) -> SegmentSeries {
        let members: i64 = history
            .iter()
            .map(|d| d.entered as i64 - d.exited as i64)
            .sum();
        let entered_total = history.iter().map(|d| d.entered).sum();
        let exited_total = history.iter().map(|d| d.exited).sum();
        let first = today - window.max(1) + 1;
        let mut days: Vec<DayPoint> = (first..=today)
            .map(|day| DayPoint {
                day,
                size: 0,
                entered: 0,
                exited: 0,
            })
            .collect();
        for d in history {
            if (first..=today).contains(&d.day) {
                let p = &mut days[(d.day - first) as usize];
                p.entered += d.entered;
                p.exited += d.exited;
            }
        }
        // Backwards from now: the size at the end of day d is the current size minus every
        // net change recorded after d.
        let after_today: i64 = history
            .iter()
            .filter(|d| d.day > today)
            .map(|d| d.entered as i64 - d.exited as i64)
            .sum();
        let mut size = members - after_today;
        for p in days.iter_mut().rev() {
            p.size = size;
            size -= p.entered as i64 - p.exited as i64;
        }
        SegmentSeries {
            members,
            entered_total,
            exited_total,
            days,
        }
    }

    /// Size at the end of `days_ago` days before today (0 = today), if inside the window.
    pub fn size_days_ago(&self, days_ago: usize) -> Option<i64> {
        let n = self.days.len();
        (days_ago < n).then(|| self.days[n - 1 - days_ago].size)
    }

    /// Today's point.
    pub fn today(&self) -> DayPoint {
        self.days.last().copied().unwrap_or(DayPoint {
            day: 0,
            size: self.members,
            entered: 0,
            exited: 0,
        })
    }

    /// Change between the end of `days` days ago and now.
    pub fn change(&self, days: i32) -> Change {
        let then = self.size_days_ago(days.max(0) as usize);
        let now = self.today().size;
        match then {
            Some(then) => Change {
                days,
                absolute: now - then,
                percent: percent(now - then, then),
            },
            None => Change {
                days,
                absolute: 0,
                percent: None,
            },
        }
    }
}

/// A change in size over a number of days.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Change {
    /// Over how many days.
    pub days: i32,
    /// Members now minus members then.
    pub absolute: i64,
    /// The change as a percentage of the size then (none when it was empty).
    pub percent: Option<f64>,
}

/// `change` as a percentage of `base`, none when `base` is not positive.
pub fn percent(change: i64, base: i64) -> Option<f64> {
    (base > 0).then(|| change as f64 * 100.0 / base as f64)
}

/// How a chart groups days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    /// One point per day.
    #[default]
    Day,
    /// One point per ISO week (Monday to Sunday).
    Week,
    /// One point per calendar month.
    Month,
}

impl Granularity {
    /// All of them, in display order.
    pub const ALL: [Granularity; 3] = [Granularity::Day, Granularity::Week, Granularity::Month];

    /// `day`, `week` or `month`.
    pub fn as_str(self) -> &'static str {
        match self {
            Granularity::Day => "day",
            Granularity::Week => "week",
            Granularity::Month => "month",
        }
    }

    /// Parses `day`, `week` or `month`.
    pub fn parse(text: &str) -> Option<Granularity> {
        Granularity::ALL.into_iter().find(|g| g.as_str() == text)
    }

    fn bucket_key(self, day: i32) -> i64 {
        match self {
            Granularity::Day => day as i64,
            // Day 0 (1970-01-01) was a Thursday; +3 makes weeks start on Monday.
            Granularity::Week => (day as i64 + 3).div_euclid(7),
            Granularity::Month => {
                let date = format_day(day);
                let year: i64 = date.get(..4).and_then(|y| y.parse().ok()).unwrap_or(0);
                let month: i64 = date.get(5..7).and_then(|m| m.parse().ok()).unwrap_or(0);
                year * 12 + month
            }
        }
    }
}

/// One chart point: a day, week or month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bucket {
    /// First day of the bucket inside the window (UTC day number).
    pub start_day: i32,
    /// Last day of the bucket inside the window.
    pub end_day: i32,
    /// `2025-11-03` for a day or week (its first day), `2025-11` for a month.
    pub label: String,
    /// Members at the end of the bucket's last day.
    pub size: i64,
    /// Enters in the bucket.
    pub entered: u64,
    /// Exits in the bucket.
    pub exited: u64,
}

/// Groups daily points (oldest first) into buckets.
pub fn buckets(days: &[DayPoint], by: Granularity) -> Vec<Bucket> {
    let mut out: Vec<(i64, Bucket)> = Vec::new();
    for p in days {
        let key = by.bucket_key(p.day);
        match out.last_mut() {
            Some((k, b)) if *k == key => {
                b.end_day = p.day;
                b.size = p.size;
                b.entered += p.entered;
                b.exited += p.exited;
            }
            _ => {
                let date = format_day(p.day);
                let label = match by {
                    Granularity::Month => date.get(..7).unwrap_or(&date).to_string(),
                    _ => date,
                };
                out.push((
                    key,
                    Bucket {
                        start_day: p.day,
                        end_day: p.day,
                        label,
                        size: p.size,
                        entered: p.entered,
                        exited: p.exited,
                    },
                ));
            }
        }
    }
    out.into_iter().map(|(_, b)| b).collect()
}

/// A segment that grew or shrank the most.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mover {
    /// Segment ID.
    pub segment: String,
    /// Members now.
    pub members: i64,
    /// The change.
    pub change: Change,
}

/// The `n` largest growers and decliners (by absolute change; ties by ID).
pub fn movers(changes: &[(String, i64, Change)], n: usize) -> (Vec<Mover>, Vec<Mover>) {
    let to_mover = |(segment, members, change): &(String, i64, Change)| Mover {
        segment: segment.clone(),
        members: *members,
        change: *change,
    };
    let mut growers: Vec<&(String, i64, Change)> =
        changes.iter().filter(|c| c.2.absolute > 0).collect();
    growers.sort_by(|a, b| b.2.absolute.cmp(&a.2.absolute).then_with(|| a.0.cmp(&b.0)));
    let mut decliners: Vec<&(String, i64, Change)> =
        changes.iter().filter(|c| c.2.absolute < 0).collect();
    decliners.sort_by(|a, b| a.2.absolute.cmp(&b.2.absolute).then_with(|| a.0.cmp(&b.0)));
    (
        growers.into_iter().take(n).map(to_mover).collect(),
        decliners.into_iter().take(n).map(to_mover).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(day: i32, entered: u64, exited: u64) -> DailyCounts {
        DailyCounts {
            day,
            entered,
            exited,
        }
    }

    #[test]
    fn sizes_are_reconstructed_backwards_from_current_members() {
        // 100 entered long ago, then +10/-2 at day 995, +5/-20 today (1000).
        let h = [d(900, 100, 0), d(995, 10, 2), d(1000, 5, 20)];
        let s = SegmentSeries::from_history(&h, 1000, 30);
        assert_eq!(s.members, 93);
        assert_eq!(s.days.len(), 30);
        assert_eq!(s.today().size, 93);
        assert_eq!(s.size_days_ago(1), Some(108));
        assert_eq!(s.size_days_ago(5), Some(108));
        assert_eq!(s.size_days_ago(6), Some(100));
        let c1 = s.change(1);
        assert_eq!(c1.absolute, -15);
        assert!((c1.percent.unwrap() - (-15.0 * 100.0 / 108.0)).abs() < 1e-9);
        let c7 = s.change(7);
        assert_eq!(c7.absolute, -7);
        assert!((c7.percent.unwrap() - -7.0).abs() < 1e-9);
        // Outside the window: no change reported.
        assert_eq!(s.change(30).percent, None);
        assert_eq!(s.change(29).absolute, -7);
    }

    #[test]
    fn percent_is_none_from_empty() {
        let h = [d(1000, 4, 0)];
        let s = SegmentSeries::from_history(&h, 1000, 30);
        let c = s.change(1);
        assert_eq!(c.absolute, 4);
        assert_eq!(c.percent, None);
    }

    #[test]
    fn future_days_count_in_members_only() {
        let h = [d(10, 5, 0), d(12, 3, 0)];
        let s = SegmentSeries::from_history(&h, 11, 5);
        assert_eq!(s.members, 8);
        assert_eq!(s.today().size, 5);
    }

    #[test]
    fn weeks_start_on_monday_and_months_group_by_calendar() {
        // 2025-12-01 is a Monday: day 20423.
        let monday = 20423;
        assert_eq!(format_day(monday), "2025-12-01");
        let days: Vec<DayPoint> = (monday - 3..=monday + 1)
            .map(|day| DayPoint {
                day,
                size: day as i64,
                entered: 1,
                exited: 0,
            })
            .collect();
        let weeks = buckets(&days, Granularity::Week);
        assert_eq!(weeks.len(), 2);
        assert_eq!(weeks[0].entered, 3);
        assert_eq!(weeks[0].label, "2025-11-28");
        assert_eq!(weeks[0].size, (monday - 1) as i64);
        assert_eq!(weeks[1].label, "2025-12-01");
        let months = buckets(&days, Granularity::Month);
        assert_eq!(
            months.iter().map(|b| b.label.as_str()).collect::<Vec<_>>(),
            ["2025-11", "2025-12"]
        );
        assert_eq!(months[1].entered, 2);
        assert_eq!(buckets(&days, Granularity::Day).len(), 5);
    }

    #[test]
    fn movers_pick_largest_changes_each_way() {
        let c = |a: i64| Change {
            days: 7,
            absolute: a,
            percent: None,
        };
        let changes = vec![
            ("a".to_string(), 10, c(5)),
            ("b".to_string(), 10, c(-3)),
            ("c".to_string(), 10, c(9)),
            ("d".to_string(), 10, c(0)),
            ("e".to_string(), 10, c(-8)),
            ("f".to_string(), 10, c(5)),
        ];
        let (g, d) = movers(&changes, 2);
        assert_eq!(
            g.iter().map(|m| m.segment.as_str()).collect::<Vec<_>>(),
            ["c", "a"]
        );
        assert_eq!(
            d.iter().map(|m| m.segment.as_str()).collect::<Vec<_>>(),
            ["e", "b"]
        );
    }
}
