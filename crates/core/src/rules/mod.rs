//! Segment rules: loading, validation with `file:line:column` errors, and the compiled form
//! the evaluator runs.
//!
//! A rules file is parsed strictly (unknown keys are errors), then checked as a whole: ids,
//! one operator per comparison, whole-day windows ≤ 400 days, references to existing
//! segments, no cycles. The result is a [`Rules`] value whose segments are in dependency order
//! and whose windowed conditions share compact aggregates ([`AggSpec`]).

pub mod model;

use crate::decode::DecodeOptions;
use crate::hash::fnv1a64;
use crate::time::{RuleDuration, TimeBounds};
use crate::zone::Zone;
pub use model::*;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

/// A rules-file problem, located in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct RulesError {
    /// The file name as given.
    pub file: String,
    /// 1-based line (0 when unknown).
    pub line: usize,
    /// 1-based column (0 when unknown).
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for RulesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

impl std::error::Error for RulesError {}

/// An aggregate kept per user per day: matching events of one type (with attribute filters),
/// and optionally the product of some metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct AggSpec {
    /// Short stable ID derived from the definition (the key in user state).
    pub id: String,
    /// Event type counted.
    pub event_type: String,
    /// Attribute equalities an event must satisfy.
    pub where_: Vec<(String, String)>,
    /// Metric names multiplied together for the sum/max; empty for counts only.
    pub factors: Vec<String>,
    /// The longest window of any condition over it, in days: buckets older are dropped.
    pub days: i32,
}

impl AggSpec {
    fn new(
        event_type: &str,
        where_: &BTreeMap<String, String>,
        factors: Vec<String>,
        days: i32,
    ) -> AggSpec {
        let where_: Vec<(String, String)> =
            where_.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let mut canonical = event_type.to_string();
        for (k, v) in &where_ {
            canonical.push('\u{1f}');
            canonical.push_str(k);
            canonical.push('=');
            canonical.push_str(v);
        }
        canonical.push('\u{1e}');
        canonical.push_str(&factors.join("*"));
        AggSpec {
            id: format!("{:08x}", fnv1a64(canonical.as_bytes()) as u32),
            event_type: event_type.to_string(),
            where_,
            factors,
            days,
        }
    }

    /// Whether an event counts towards this aggregate, and its metric value (product of the
    /// factors; `None` when a factor is missing, in which case the event still counts).
    pub fn matches(&self, event: &crate::event::PinpointEvent) -> Option<Option<f64>> {
        if event.event_type != self.event_type {
            return None;
        }
        for (k, v) in &self.where_ {
            if event.attributes.get(k) != Some(v) {
                return None;
            }
        }
        if self.factors.is_empty() {
            return Some(None);
        }
        // Factors are bounded at decode (±1e15); the product saturates, so it stays finite.
        let mut product = 1.0;
        for f in &self.factors {
            match event.metrics.get(f) {
                Some(v) if v.is_finite() => {
                    product = crate::limits::clamp_aggregate(product * v);
                }
                _ => return Some(None),
            }
        }
        Some(Some(product))
    }
}

/// Which attribute map a comparison reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrScope {
    /// `endpoint.User.UserAttributes`
    User,
    /// `endpoint.Attributes`
    Endpoint,
}

impl AttrScope {
    /// The prefix used for this scope's attributes in user state.
    pub fn prefix(self) -> &'static str {
        match self {
            AttrScope::User => "u:",
            AttrScope::Endpoint => "e:",
        }
    }
}

/// A compiled condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// Every child holds.
    All(Vec<Cond>),
    /// Some child holds.
    Any(Vec<Cond>),
    /// The child does not hold.
    Not(Box<Cond>),
    /// Attribute comparison.
    Attr(AttrScope, AttributeTest),
    /// Count within `days` (index into [`Rules::aggs`]).
    Count {
        /// Aggregate index.
        agg: usize,
        /// Window in days.
        days: i32,
        /// Lower bound.
        min: Option<u64>,
        /// Upper bound.
        max: Option<u64>,
    },
    /// Metric sum (or max when `is_max`) within `days`.
    Metric {
        /// Aggregate index.
        agg: usize,
        /// Window in days.
        days: i32,
        /// Max instead of sum.
        is_max: bool,
        /// Lower bound.
        min: Option<f64>,
        /// Upper bound.
        max: Option<f64>,
    },
    /// Recency of the last (or first) matching event.
    Recency {
        /// First instead of last.
        first: bool,
        /// Event type, or any.
        event_type: Option<String>,
        /// True for `older_than`, false for `newer_than`.
        older: bool,
        /// The bound.
        bound: RuleDuration,
        /// Whether "never" counts as older.
        include_never: bool,
    },
    /// Membership of the segment at this index of [`Rules::segments`].
    InSegment(usize),
    /// LINE-linked (true) or not (false).
    LineLinked(bool),
}

/// A compiled segment.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// The segment as written.
    pub def: SegmentDef,
    /// Its compiled condition.
    pub cond: Cond,
}

/// A validated, compiled rules file.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    /// Segments in dependency order (a segment comes after every segment it refers to).
    pub segments: Vec<Segment>,
    /// Aggregates the windowed conditions use.
    pub aggs: Vec<AggSpec>,
    /// The longest window of any condition, in days (at least 1).
    pub max_window_days: i32,
    /// Event types whose first/last-seen times a condition reads (`*` is always kept).
    pub recency_types: BTreeSet<String>,
    /// Attributes kept in state (`u:<name>` / `e:<name>`): those conditions read and those
    /// `settings.keep_attributes` names.
    pub kept_attributes: BTreeSet<String>,
    /// `settings.keep_attributes` holds `*`: keep every attribute (at most 64 per user).
    pub keep_all_attributes: bool,
    /// Decoding choices from `settings`.
    pub decode: DecodeOptions,
    /// The calendar time zone of daily history and "today" (`settings.timezone`).
    pub zone: Zone,
}

/// Most attributes a user keeps when `keep_attributes` is `*`.
pub const MAX_KEPT_ATTRIBUTES: usize = 64;

impl Rules {
    /// Loads and validates a rules file. `file` names it in errors.
    pub fn load(text: &str, file: &str) -> Result<Rules, RulesError> {
        let parsed: RulesFile = serde_yaml_ng::from_str(text).map_err(|e| {
            let (line, column) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((0, 0));
            RulesError {
                file: file.to_string(),
                line,
                column,
                message: e.to_string(),
            }
        })?;
        compile(parsed, text, file)
    }

    /// Index of a segment by ID.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.segments.iter().position(|s| s.def.id == id)
    }

    /// The segment with this ID.
    pub fn segment(&self, id: &str) -> Option<&Segment> {
        self.segments.iter().find(|s| s.def.id == id)
    }

    /// Whether an attribute (`u:<name>` / `e:<name>`) is kept in state.
    pub fn keeps_attribute(&self, key: &str) -> bool {
        self.keep_all_attributes || self.kept_attributes.contains(key)
    }

    /// The same rules with the key the LINE webhook function signs its records with.
    pub fn with_record_key(mut self, key: crate::signature::RecordKey) -> Rules {
        self.decode.record_key = Some(key);
        self
    }
}

fn compile(parsed: RulesFile, text: &str, file: &str) -> Result<Rules, RulesError> {
    let locate = |needle: &str, message: String| {
        let (line, column) = find_line(text, needle);
        RulesError {
            file: file.to_string(),
            line,
            column,
            message,
        }
    };
    if parsed.version != 1 {
        return Err(locate(
            "version",
            format!("unknown rules version {}; only 1 exists", parsed.version),
        ));
    }
    if parsed.segments.is_empty() {
        return Err(locate(
            "segments",
            "the file defines no segments".to_string(),
        ));
    }
    let mut ids: HashMap<&str, usize> = HashMap::new();
    for (i, seg) in parsed.segments.iter().enumerate() {
        let at = |message: String| locate(&format!("id: {}", seg.id), message);
        let valid_id = !seg.id.is_empty()
            && seg.id.len() <= 64
            && seg
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !valid_id {
            return Err(at(format!(
                "segment id `{}` must be 1–64 characters of a-z, 0-9, `-` or `_`",
                seg.id
            )));
        }
        if ids.insert(seg.id.as_str(), i).is_some() {
            return Err(at(format!("segment id `{}` is defined twice", seg.id)));
        }
        validate_destinations(seg).map_err(at)?;
        if let Some(alert) = &seg.alert {
            alert.validate().map_err(|m| {
                let (line, column) = find_key_after(text, &format!("id: {}", seg.id), "alert");
                RulesError {
                    file: file.to_string(),
                    line,
                    column,
                    message: format!("segment `{}`: {m}", seg.id),
                }
            })?;
        }
    }
    let mut found = Found::default();
    let mut compiled = Vec::with_capacity(parsed.segments.len());
    let mut deps: Vec<Vec<usize>> = Vec::new();
    for seg in &parsed.segments {
        let mut seg_deps = Vec::new();
        let cond = compile_cond(&seg.condition, &ids, &mut found, &mut seg_deps).map_err(|m| {
            locate(
                &format!("id: {}", seg.id),
                format!("segment `{}`: {m}", seg.id),
            )
        })?;
        deps.push(seg_deps);
        compiled.push(cond);
    }
    let order = topo_order(&deps).map_err(|cycle| {
        let names: Vec<&str> = cycle
            .iter()
            .map(|i| parsed.segments[*i].id.as_str())
            .collect();
        locate(
            &format!("id: {}", names[0]),
            format!(
                "segments refer to each other in a cycle: {}",
                names.join(" → ")
            ),
        )
    })?;
    // Re-index InSegment references to the new order.
    let mut new_index = vec![0; order.len()];
    for (new, old) in order.iter().enumerate() {
        new_index[*old] = new;
    }
    let mut segments: Vec<Option<Segment>> = vec![None; order.len()];
    for (old, (def, mut cond)) in parsed.segments.into_iter().zip(compiled).enumerate() {
        reindex(&mut cond, &new_index);
        segments[new_index[old]] = Some(Segment { def, cond });
    }
    let settings = &parsed.settings;
    let time_bounds = event_time_bounds(settings, &found)
        .map_err(|m| locate("event_time", format!("settings.event_time: {m}")))?;
    let mut kept_attributes = found.attributes;
    let mut keep_all_attributes = false;
    for name in &settings.keep_attributes {
        if name == "*" {
            keep_all_attributes = true;
        } else if name.is_empty() {
            return Err(locate(
                "keep_attributes",
                "settings.keep_attributes holds an empty name".into(),
            ));
        } else {
            kept_attributes.insert(format!("u:{name}"));
            kept_attributes.insert(format!("e:{name}"));
        }
    }
    let zone = match &settings.timezone {
        None => Zone::utc(),
        Some(name) => {
            Zone::named(name).map_err(|m| locate("timezone", format!("settings.timezone: {m}")))?
        }
    };
    if settings.line_user_id_sources.is_empty() {
        return Err(locate(
            "line_user_id_sources",
            "settings.line_user_id_sources is empty: no user could ever be LINE-linked; list at least one of user_attribute, signed_webhook, event_attribute".into(),
        ));
    }
    settings
        .input
        .validate()
        .map_err(|m| locate("input", format!("settings.input: {m}")))?;
    Ok(Rules {
        segments: segments.into_iter().flatten().collect(),
        aggs: found.aggs,
        max_window_days: found.max_days,
        recency_types: found.recency_types,
        kept_attributes,
        keep_all_attributes,
        decode: DecodeOptions {
            key_order: settings.user_key.clone(),
            line_user_id_attribute: settings.line_user_id_attribute.clone(),
            line_sources: settings.line_user_id_sources.clone(),
            time_bounds,
            input: settings.input.clone(),
            ..DecodeOptions::default()
        },
        zone,
    })
}

/// What compiling the conditions found: aggregates, the longest window and recency bound, the
/// event types and attributes conditions read.
struct Found {
    aggs: Vec<AggSpec>,
    max_days: i32,
    longest_recency: RuleDuration,
    recency_types: BTreeSet<String>,
    attributes: BTreeSet<String>,
}

impl Default for Found {
    fn default() -> Self {
        Found {
            aggs: Vec::new(),
            max_days: 1,
            longest_recency: RuleDuration::days(1),
            recency_types: BTreeSet::new(),
            attributes: BTreeSet::new(),
        }
    }
}

impl Found {
    /// The index of an aggregate, adding it (or widening its window) as needed.
    fn agg_index(&mut self, spec: AggSpec) -> usize {
        self.max_days = self.max_days.max(spec.days);
        if let Some(i) = self.aggs.iter().position(|a| a.id == spec.id) {
            self.aggs[i].days = self.aggs[i].days.max(spec.days);
            i
        } else {
            self.aggs.push(spec);
            self.aggs.len() - 1
        }
    }
}

/// The event-time bounds: as set, or 1 day ahead and (longest window or recency bound + 30
/// days) behind.
fn event_time_bounds(settings: &Settings, found: &Found) -> Result<TimeBounds, String> {
    let longest = RuleDuration::days(i64::from(found.max_days)).max(found.longest_recency);
    let default_behind = RuleDuration::days(longest.millis().div_euclid(crate::time::DAY_MS) + 31);
    let set = settings.event_time.as_ref();
    let bounds = TimeBounds {
        max_ahead: set
            .and_then(|e| e.max_ahead)
            .unwrap_or(RuleDuration::days(1)),
        max_behind: set.and_then(|e| e.max_behind).unwrap_or(default_behind),
    };
    if bounds.max_behind < longest {
        return Err(format!(
            "max_behind {} is shorter than the longest window or recency bound of the rules ({longest}): events the rules count would be set aside",
            bounds.max_behind
        ));
    }
    Ok(bounds)
}

/// The core checks only the shape of `destinations` (kind names, settings maps); each
/// destination crate checks its own settings.
fn validate_destinations(seg: &SegmentDef) -> Result<(), String> {
    for (kind, settings) in &seg.destinations.0 {
        let valid_name = kind.len() <= 32
            && kind.starts_with(|c: char| c.is_ascii_lowercase())
            && kind
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !valid_name {
            return Err(format!(
                "destination kind `{kind}` must be lowercase letters, digits, `-` or `_` (e.g. line, pinpoint, eventbridge)"
            ));
        }
        if !(settings.is_object() || settings.is_null()) {
            return Err(format!(
                "destinations.{kind} must be a map of settings (e.g. `{kind}: {{ … }}`)"
            ));
        }
    }
    Ok(())
}

fn window_days(within: RuleDuration) -> Result<i32, String> {
    within.whole_days().ok_or_else(|| {
        format!("window `{within}` must be whole days (e.g. 30d): aggregates are kept per day")
    })
}

fn compile_cond(
    cond: &Condition,
    ids: &HashMap<&str, usize>,
    found: &mut Found,
    deps: &mut Vec<usize>,
) -> Result<Cond, String> {
    Ok(match cond {
        Condition::All(list) | Condition::Any(list) => {
            if list.is_empty() {
                return Err("`all`/`any` needs at least one condition".into());
            }
            let children = list
                .iter()
                .map(|c| compile_cond(c, ids, found, deps))
                .collect::<Result<Vec<_>, _>>()?;
            if matches!(cond, Condition::All(_)) {
                Cond::All(children)
            } else {
                Cond::Any(children)
            }
        }
        Condition::Not(inner) => Cond::Not(Box::new(compile_cond(inner, ids, found, deps)?)),
        Condition::UserAttribute(t) | Condition::EndpointAttribute(t) => {
            let scope = if matches!(cond, Condition::UserAttribute(_)) {
                AttrScope::User
            } else {
                AttrScope::Endpoint
            };
            let test = check_attr(t)?;
            found
                .attributes
                .insert(format!("{}{}", scope.prefix(), test.name));
            Cond::Attr(scope, test)
        }
        Condition::EventCount(t) => {
            let days = window_days(t.within)?;
            if t.min.is_none() && t.max.is_none() {
                return Err(format!(
                    "event_count of `{}` needs min and/or max",
                    t.event_type
                ));
            }
            if let (Some(lo), Some(hi)) = (t.min, t.max) {
                if lo > hi {
                    return Err(format!("event_count min {lo} is greater than max {hi}"));
                }
            }
            let agg = found.agg_index(AggSpec::new(&t.event_type, &t.where_, Vec::new(), days));
            Cond::Count {
                agg,
                days,
                min: t.min,
                max: t.max,
            }
        }
        Condition::MetricSum(t) | Condition::MetricMax(t) => {
            let days = window_days(t.within)?;
            let factors: Vec<String> = t.metric.split('*').map(|f| f.trim().to_string()).collect();
            if factors.iter().any(|f| f.is_empty()) {
                return Err(format!(
                    "metric `{}` must be a metric name or names joined by `*`",
                    t.metric
                ));
            }
            if t.min.is_none() && t.max.is_none() {
                return Err(format!(
                    "metric condition on `{}` needs min and/or max",
                    t.metric
                ));
            }
            let agg = found.agg_index(AggSpec::new(&t.event_type, &t.where_, factors, days));
            Cond::Metric {
                agg,
                days,
                is_max: matches!(cond, Condition::MetricMax(_)),
                min: t.min,
                max: t.max,
            }
        }
        Condition::LastSeen(t) | Condition::FirstSeen(t) => {
            let (older, bound) = match (t.older_than, t.newer_than) {
                (Some(b), None) => (true, b),
                (None, Some(b)) => (false, b),
                _ => {
                    return Err(
                        "last_seen/first_seen needs exactly one of older_than or newer_than".into(),
                    )
                }
            };
            if let Some(ty) = &t.event_type {
                found.recency_types.insert(ty.clone());
            }
            found.longest_recency = found.longest_recency.max(bound);
            Cond::Recency {
                first: matches!(cond, Condition::FirstSeen(_)),
                event_type: t.event_type.clone(),
                older,
                bound,
                include_never: t.include_never,
            }
        }
        Condition::InSegment(id) => {
            let index = *ids
                .get(id.as_str())
                .ok_or_else(|| format!("in_segment refers to unknown segment `{id}`"))?;
            deps.push(index);
            Cond::InSegment(index)
        }
        Condition::LineLinked(b) => Cond::LineLinked(*b),
    })
}

fn check_attr(t: &AttributeTest) -> Result<AttributeTest, String> {
    let ops = [
        t.eq.is_some(),
        t.ne.is_some(),
        t.in_.is_some(),
        t.exists.is_some(),
        t.gt.is_some(),
        t.gte.is_some(),
        t.lt.is_some(),
        t.lte.is_some(),
        t.contains.is_some(),
        t.starts_with.is_some(),
    ];
    let count = ops.iter().filter(|b| **b).count();
    if t.name.is_empty() {
        return Err("attribute comparison needs a `name`".into());
    }
    if count != 1 {
        return Err(format!(
            "attribute `{}` needs exactly one operator (eq, ne, in, exists, gt, gte, lt, lte, contains, starts_with), found {count}",
            t.name
        ));
    }
    Ok(t.clone())
}

/// Orders segments so dependencies come first; on a cycle returns its members.
fn topo_order(deps: &[Vec<usize>]) -> Result<Vec<usize>, Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    fn visit(
        n: usize,
        deps: &[Vec<usize>],
        marks: &mut [Mark],
        stack: &mut Vec<usize>,
        out: &mut Vec<usize>,
    ) -> Result<(), Vec<usize>> {
        match marks[n] {
            Mark::Done => return Ok(()),
            Mark::Active => {
                let start = stack.iter().position(|s| *s == n).unwrap_or(0);
                let mut cycle = stack[start..].to_vec();
                cycle.push(n);
                return Err(cycle);
            }
            Mark::New => {}
        }
        marks[n] = Mark::Active;
        stack.push(n);
        for d in &deps[n] {
            visit(*d, deps, marks, stack, out)?;
        }
        stack.pop();
        marks[n] = Mark::Done;
        out.push(n);
        Ok(())
    }
    let mut marks = vec![Mark::New; deps.len()];
    let mut out = Vec::with_capacity(deps.len());
    for n in 0..deps.len() {
        visit(n, deps, &mut marks, &mut Vec::new(), &mut out)?;
    }
    Ok(out)
}

fn reindex(cond: &mut Cond, map: &[usize]) {
    match cond {
        Cond::All(c) | Cond::Any(c) => c.iter_mut().for_each(|c| reindex(c, map)),
        Cond::Not(c) => reindex(c, map),
        Cond::InSegment(i) => *i = map[*i],
        _ => {}
    }
}

/// The 1-based line and column where `needle` (e.g. `id: hyogo`) first appears, ignoring
/// quotes around the value; (0, 0) when not found.
/// The line and column of the first `key:` after the line `anchor` finds (the segment's
/// `id:` line), before the next segment starts; the anchor's position when there is none.
fn find_key_after(text: &str, anchor: &str, key: &str) -> (usize, usize) {
    let (line, column) = find_line(text, anchor);
    if line == 0 {
        return (line, column);
    }
    for (n, l) in text.lines().enumerate().skip(line) {
        let body = l.trim_start();
        if body.starts_with("- id:") {
            break;
        }
        if body
            .strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with(':'))
        {
            return (n + 1, l.find(key).map_or(1, |c| c + 1));
        }
    }
    (line, column)
}

fn find_line(text: &str, needle: &str) -> (usize, usize) {
    let (key, value) = needle
        .split_once(':')
        .map(|(k, v)| (k.trim(), v.trim()))
        .unwrap_or((needle, ""));
    for (n, line) in text.lines().enumerate() {
        let body = line.trim_start().trim_start_matches("- ");
        if let Some(rest) = body.strip_prefix(key) {
            let rest = rest.trim_start();
            if let Some(v) = rest.strip_prefix(':') {
                let v = v.trim().trim_matches(|c| c == '"' || c == '\'');
                if value.is_empty() || v == value {
                    let column = line.find(key).map(|c| c + 1).unwrap_or(1);
                    return (n + 1, column);
                }
            }
        }
    }
    (0, 0)
}
