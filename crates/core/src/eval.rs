//! Condition evaluation over a user's state at an instant, the explanation of a decision, and
//! the next instant a time-based condition can change.

use crate::rules::{AttrScope, AttributeTest, Cond, Rules};
use crate::state::UserState;
use crate::time::{day_of, day_start, format_rfc3339, Millis};
use serde::Serialize;

/// Evaluates every segment in dependency order; returns membership per segment index.
pub fn evaluate_all(state: &UserState, rules: &Rules, now: Millis) -> Vec<bool> {
    let mut members = Vec::with_capacity(rules.segments.len());
    for seg in &rules.segments {
        let holds = eval(&seg.cond, state, rules, now, &members);
        members.push(holds);
    }
    members
}

fn eval(cond: &Cond, state: &UserState, rules: &Rules, now: Millis, members: &[bool]) -> bool {
    match cond {
        Cond::All(c) => c.iter().all(|c| eval(c, state, rules, now, members)),
        Cond::Any(c) => c.iter().any(|c| eval(c, state, rules, now, members)),
        Cond::Not(c) => !eval(c, state, rules, now, members),
        Cond::Attr(scope, test) => attr_holds(state, *scope, test),
        Cond::Count {
            agg,
            days,
            min,
            max,
        } => {
            let (count, _, _) = window(state, rules, *agg, *days, now);
            min.is_none_or(|m| count >= m) && max.is_none_or(|m| count <= m)
        }
        Cond::Metric {
            agg,
            days,
            is_max,
            min,
            max,
        } => {
            let (_, sum, top) = window(state, rules, *agg, *days, now);
            let value = if *is_max { top } else { Some(sum) };
            match value {
                Some(v) => min.is_none_or(|m| v >= m) && max.is_none_or(|m| v <= m),
                None => false,
            }
        }
        Cond::Recency {
            first,
            event_type,
            older,
            bound,
            include_never,
        } => {
            let seen = seen_at(state, *first, event_type.as_deref());
            match seen {
                None => *older && *include_never,
                Some(t) => {
                    let age = now.saturating_sub(*t);
                    if *older {
                        age >= bound.millis()
                    } else {
                        age < bound.millis()
                    }
                }
            }
        }
        Cond::InSegment(i) => members.get(*i).copied().unwrap_or(false),
        Cond::LineLinked(b) => state.active_line_user_id().is_some() == *b,
    }
}

/// When a matching event first (or last) happened; `None` = never. `None` type = any event.
fn seen_at<'a>(state: &'a UserState, first: bool, event_type: Option<&str>) -> Option<&'a Millis> {
    let key = event_type.unwrap_or("*");
    if first {
        state.first_seen.get(key)
    } else {
        state.last_seen.get(key)
    }
}

/// `(count, sum, max)` of an aggregate over the `days`-day window ending today (UTC days).
fn window(
    state: &UserState,
    rules: &Rules,
    agg: usize,
    days: i32,
    now: Millis,
) -> (u64, f64, Option<f64>) {
    let Some(spec) = rules.aggs.get(agg) else {
        return (0, 0.0, None);
    };
    let first_day = window_start(now, days);
    let mut count = 0u64;
    let mut sum = 0.0;
    let mut top: Option<f64> = None;
    if let Some(buckets) = state.aggs.get(&spec.id) {
        for (_, b) in buckets.range(first_day..) {
            count = count.saturating_add(u64::from(b.0));
            sum = crate::limits::add_saturating(sum, b.1);
            if b.0 > 0 {
                top = Some(top.map_or(b.2, |t: f64| t.max(b.2)));
            }
        }
    }
    (count, sum, top)
}

fn attr_holds(state: &UserState, scope: AttrScope, t: &AttributeTest) -> bool {
    let key = format!("{}{}", scope.prefix(), t.name);
    let values = state.attr(&key).unwrap_or(&[]);
    let any = |f: &dyn Fn(&str) -> bool| values.iter().any(|v| f(v));
    let num = |f: &dyn Fn(f64) -> bool| values.iter().any(|v| v.trim().parse::<f64>().is_ok_and(f));
    if let Some(x) = &t.eq {
        any(&|v| v == x)
    } else if let Some(x) = &t.ne {
        !any(&|v| v == x)
    } else if let Some(list) = &t.in_ {
        any(&|v| list.iter().any(|x| x == v))
    } else if let Some(b) = t.exists {
        values.iter().any(|v| !v.is_empty()) == b
    } else if let Some(x) = t.gt {
        num(&|v| v > x)
    } else if let Some(x) = t.gte {
        num(&|v| v >= x)
    } else if let Some(x) = t.lt {
        num(&|v| v < x)
    } else if let Some(x) = t.lte {
        num(&|v| v <= x)
    } else if let Some(x) = &t.contains {
        any(&|v| v.contains(x.as_str()))
    } else if let Some(x) = &t.starts_with {
        any(&|v| v.starts_with(x.as_str()))
    } else {
        false
    }
}

/// The earliest instant after `now` at which any segment's time-based condition can change
/// for this state with no new event; `None` when nothing is time-dependent.
pub fn next_flip_at(state: &UserState, rules: &Rules, now: Millis) -> Option<Millis> {
    let mut best: Option<Millis> = None;
    for seg in &rules.segments {
        flips(&seg.cond, state, rules, now, &mut best);
    }
    best
}

fn flips(cond: &Cond, state: &UserState, rules: &Rules, now: Millis, best: &mut Option<Millis>) {
    let mut offer = |t: Millis| {
        if t > now && best.is_none_or(|b| t < b) {
            *best = Some(t);
        }
    };
    match cond {
        Cond::All(c) | Cond::Any(c) => c.iter().for_each(|c| flips(c, state, rules, now, best)),
        Cond::Not(c) => flips(c, state, rules, now, best),
        Cond::Count { agg, days, .. } | Cond::Metric { agg, days, .. } => {
            if let Some(buckets) = rules.aggs.get(*agg).and_then(|s| state.aggs.get(&s.id)) {
                let first_day = window_start(now, *days);
                // The oldest bucket still in the window is the first to leave it.
                if let Some((day, _)) = buckets.range(first_day..).next() {
                    offer(day_start(day.saturating_add(*days)));
                }
            }
        }
        Cond::Recency {
            first,
            event_type,
            bound,
            ..
        } => {
            let seen = seen_at(state, *first, event_type.as_deref());
            if let Some(t) = seen {
                offer(t.saturating_add(bound.millis()));
            }
        }
        Cond::Attr(..) | Cond::InSegment(_) | Cond::LineLinked(_) => {}
    }
}

/// Why a condition holds or fails, with the values that decided it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// The condition, in words.
    pub condition: String,
    /// Whether it holds.
    pub holds: bool,
    /// The values, counts and windows that decided it.
    pub detail: String,
    /// Sub-conditions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Explanation>,
}

/// Explains one segment's decision for a user at `now`.
pub fn explain(
    state: &UserState,
    rules: &Rules,
    segment: usize,
    now: Millis,
) -> Option<Explanation> {
    let members = evaluate_all(state, rules, now);
    let seg = rules.segments.get(segment)?;
    Some(explain_cond(&seg.cond, state, rules, now, &members))
}

fn explain_cond(
    cond: &Cond,
    state: &UserState,
    rules: &Rules,
    now: Millis,
    members: &[bool],
) -> Explanation {
    let holds = eval(cond, state, rules, now, members);
    let leaf = |condition: String, detail: String| Explanation {
        condition,
        holds,
        detail,
        children: Vec::new(),
    };
    match cond {
        Cond::All(c) | Cond::Any(c) => Explanation {
            condition: if matches!(cond, Cond::All(_)) {
                "all of"
            } else {
                "any of"
            }
            .to_string(),
            holds,
            detail: format!(
                "{} of {} hold",
                c.iter()
                    .filter(|c| eval(c, state, rules, now, members))
                    .count(),
                c.len()
            ),
            children: c
                .iter()
                .map(|c| explain_cond(c, state, rules, now, members))
                .collect(),
        },
        Cond::Not(c) => Explanation {
            condition: "not".to_string(),
            holds,
            detail: String::new(),
            children: vec![explain_cond(c, state, rules, now, members)],
        },
        Cond::Attr(scope, t) => {
            let key = format!("{}{}", scope.prefix(), t.name);
            let scope_name = match scope {
                AttrScope::User => "user attribute",
                AttrScope::Endpoint => "endpoint attribute",
            };
            let op = serde_json::to_value(t)
                .ok()
                .and_then(|v| v.as_object().cloned())
                .map(|o| {
                    o.iter()
                        .filter(|(k, _)| k.as_str() != "name")
                        .map(|(k, v)| format!("{k} {v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            let detail = match state.attr(&key) {
                Some(v) => format!("values {v:?}"),
                None => "attribute not set".to_string(),
            };
            leaf(format!("{scope_name} `{}` {op}", t.name), detail)
        }
        Cond::Count {
            agg,
            days,
            min,
            max,
        } => {
            let (count, _, _) = window(state, rules, *agg, *days, now);
            let spec = &rules.aggs[*agg];
            leaf(
                format!(
                    "count of `{}`{} within {days}d {}",
                    spec.event_type,
                    where_text(spec),
                    bounds(min, max)
                ),
                format!("{count} in the window from {}", day_text(now, *days)),
            )
        }
        Cond::Metric {
            agg,
            days,
            is_max,
            min,
            max,
        } => {
            let (count, sum, top) = window(state, rules, *agg, *days, now);
            let spec = &rules.aggs[*agg];
            let what = if *is_max { "max" } else { "sum" };
            leaf(
                format!(
                    "{what} of {} over `{}`{} within {days}d {}",
                    spec.factors.join(" × "),
                    spec.event_type,
                    where_text(spec),
                    bounds(min, max)
                ),
                format!(
                    "{what} = {} over {count} events in the window from {}",
                    if *is_max {
                        top.map_or("none".to_string(), |t| t.to_string())
                    } else {
                        sum.to_string()
                    },
                    day_text(now, *days)
                ),
            )
        }
        Cond::Recency {
            first,
            event_type,
            older,
            bound,
            include_never,
        } => {
            let seen = seen_at(state, *first, event_type.as_deref());
            leaf(
                format!(
                    "{} `{}` {} {bound}{}",
                    if *first { "first" } else { "last" },
                    event_type.as_deref().unwrap_or("any event"),
                    if *older { "older than" } else { "newer than" },
                    if *include_never { " (or never)" } else { "" }
                ),
                match seen {
                    Some(t) => format!(
                        "at {} ({} ago)",
                        format_rfc3339(*t),
                        human_age(now.saturating_sub(*t))
                    ),
                    None => "never".to_string(),
                },
            )
        }
        Cond::InSegment(i) => {
            let id = rules
                .segments
                .get(*i)
                .map(|s| s.def.id.as_str())
                .unwrap_or("?");
            leaf(
                format!("member of segment `{id}`"),
                if holds {
                    "is a member"
                } else {
                    "is not a member"
                }
                .to_string(),
            )
        }
        Cond::LineLinked(b) => leaf(
            format!("LINE-linked is {b}"),
            match (&state.line_user_id, state.active_line_user_id()) {
                (None, _) => "no LINE user ID known".to_string(),
                (Some(_), None) => {
                    "LINE user ID known, but the user blocked the account".to_string()
                }
                (Some(_), Some(_)) => "LINE user ID known".to_string(),
            },
        ),
    }
}

fn where_text(spec: &crate::rules::AggSpec) -> String {
    if spec.where_.is_empty() {
        String::new()
    } else {
        let parts: Vec<String> = spec
            .where_
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!(" where {}", parts.join(", "))
    }
}

fn bounds<T: std::fmt::Display>(min: &Option<T>, max: &Option<T>) -> String {
    match (min, max) {
        (Some(lo), Some(hi)) => format!("between {lo} and {hi}"),
        (Some(lo), None) => format!("at least {lo}"),
        (None, Some(hi)) => format!("at most {hi}"),
        (None, None) => String::new(),
    }
}

fn day_text(now: Millis, days: i32) -> String {
    crate::time::format_day(window_start(now, days))
}

/// The first UTC day of a `days`-day window ending on the day of `now` (saturating).
fn window_start(now: Millis, days: i32) -> i32 {
    day_of(now).saturating_sub(days.saturating_sub(1))
}

fn human_age(ms: Millis) -> String {
    let days = ms / crate::time::DAY_MS;
    if days.abs() >= 1 {
        format!("{days}d")
    } else {
        format!("{}h", ms / 3_600_000)
    }
}
